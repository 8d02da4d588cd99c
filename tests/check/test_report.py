"""`idlcm check` reports: nothing to check is an error, lines come in order, no CEL echo of a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runner import check

HEAD = "apiVersion: idlcm.io/v1alpha1\nkind: Integration\nmetadata: {name: crm, namespace: team}\n"
SCIM = "  connector:\n    scim:\n      baseURL: https://crm.example.com/scim/v2\n"
AUTH = "      auth: {bearerToken: {secretRef: {name: s}}}\n"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n---\n# nothing\n"])
def test_a_file_without_documents_fails_and_is_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    result = check(path)
    assert result.code == 1
    assert result.out.splitlines()[0] == f"{path}:1: nothing to check: no YAML documents in the file"


def test_errors_come_in_line_order() -> None:
    path = Path(__file__).parent / "bad" / "wrong-type.yaml"  # a note at the document's line, an error below
    lines = [int(line.split(":")[1]) for line in check(path).out.splitlines()[:-1]]
    assert len(lines) == 2
    assert lines == sorted(lines)


def test_a_refused_value_is_not_also_a_cel_error(tmp_path: Path) -> None:
    path = tmp_path / "forever.yaml"
    path.write_text(HEAD + "spec:\n  app: acme-crm\n" + SCIM + AUTH + "  sync: {interval: forever}\n")
    result = check(path)
    assert result.code == 1
    assert "evaluating rule" not in result.out
    assert result.out.splitlines()[-1] == "1 document checked: 1 error(s)"
