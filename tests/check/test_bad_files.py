"""Each bad fixture fails `idlcm check` with the message its `# expect:` lines name, at the right line."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runner import BAD, check, expectations


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_file_is_refused_with_its_message(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    result = check(path)
    assert result.code == 1
    assert result.err == ""
    for fragment in expected:
        assert fragment in result.out, f"{fragment!r} not in:\n{result.out}"
    assert "error(s)" in result.out.splitlines()[-1]


def test_every_error_line_names_file_line_object_and_field() -> None:
    path = next(p for p in BAD if p.name == "two-auth-methods.yaml")
    first = check(path).out.splitlines()[0]
    assert first == (
        f'{path}:12: Integration team-sales/crm-sales: spec.connector.scim.auth: Invalid value: "object": '
        "exactly one of bearerToken, basic, oauth2ClientCredentials must be set"
    )


def test_valid_documents_beside_invalid_ones_are_not_reported() -> None:
    path = next(p for p in BAD if p.name == "mixed-with-valid.yaml")
    out = check(path).out
    assert "crm-sales" not in out
    assert out.splitlines()[-1] == "2 documents checked (1 other skipped): 1 error(s)"


def test_notes_do_not_count_as_errors() -> None:
    path = next(p for p in BAD if p.name == "wrong-type.yaml")
    lines = check(path).out.splitlines()
    assert "note: some validation rules were not checked" in lines[0]  # at the document's line
    assert lines[-1] == "1 document checked: 1 error(s)"
