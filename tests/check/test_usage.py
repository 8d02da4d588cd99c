"""`idlcm check` on missing files, stdin, odd YAML and objects of other kinds."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from .runner import EXAMPLES, check


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = check(EXAMPLES[0], missing)
    assert result.code == 2
    assert result.out == ""
    assert result.err == f"idlcm check: {missing}: No such file or directory\n"


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = check(tmp_path)
    assert result.code == 2
    assert str(tmp_path) in result.err


def test_no_files_is_a_usage_error() -> None:
    assert check().code == 2


def test_a_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: \xff\n")
    result = check(path)
    assert result.code == 2
    assert "not UTF-8 text" in result.err


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(EXAMPLES[0].read_text()))
    result = check("-")
    assert result.code == 0
    assert result.out.endswith("all valid\n")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: idlcm.io/v1alpha1\nkind: Integration\nspec:\n  app: [unclosed\n")
    result = check(path)
    assert result.code == 1
    assert result.out.startswith(f"{path}:5: YAML syntax error: ")


def test_other_kinds_and_empty_documents_are_skipped_silently(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {weird: [1]}\n")
    result = check(path)
    assert (result.code, result.out) == (0, "0 documents checked (1 other skipped), all valid\n")


def test_a_list_kind_is_checked_item_by_item(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: idlcm.io/v1alpha1\n  kind: Integration\n  metadata: {name: x}\n  spec: {app: acme}\n"
    )
    result = check(path)
    assert result.code == 1
    assert "Integration x: spec.connector: Required value" in result.out


def test_dates_stay_strings_as_kubectl_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "dated.yaml"
    spec = EXAMPLES[0].read_text().replace("app: acme-crm", "app: 2024-05-01")
    path.write_text(spec)
    assert check(path).code == 0


def test_status_is_dropped_on_create_but_its_unknown_fields_still_fail(tmp_path: Path) -> None:
    path = tmp_path / "status.yaml"
    path.write_text(
        "apiVersion: idlcm.io/v1alpha1\nkind: ExternalApp\nmetadata: {name: acme-crm}\n"
        "status: {state: Bogus, extra: 1}\n"
    )
    result = check(path)
    assert result.out.splitlines() == [
        f'{path}:4: ExternalApp acme-crm: status.extra: unknown field "status.extra"',
        "1 document checked: 1 error(s)",
    ]


def test_a_document_without_kind_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("replicas: 3\n")
    result = check(path)
    assert result.code == 1
    assert "document 1: not a Kubernetes object: apiVersion and kind are required" in result.out


def test_as_a_real_subprocess_a_missing_file_exits_2(tmp_path: Path) -> None:
    code = "import sys; from idlcm.check import run; sys.exit(run(sys.argv[1:], sys.stdout, sys.stderr))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "nope.yaml")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr
