"""Every example passes `idlcm check`, in-process and as the installed command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .runner import EXAMPLES, ROOT, check


def test_there_are_the_examples_the_demos_apply() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "integration-basic.yaml",
        "integration-full.yaml",
        "integration-second.yaml",
        "integration-dryrun.yaml",
        "integration-csv-roster.yaml",
        "integration-local-insecure.yaml",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_is_valid(path: Path) -> None:
    result = check(path)
    assert (result.code, result.err) == (0, ""), result.out
    assert result.out.endswith("all valid\n")


def test_all_examples_at_once() -> None:
    result = check(*EXAMPLES)
    assert result.code == 0, result.out
    assert result.out.splitlines() == [f"{len(EXAMPLES)} documents checked (9 other skipped), all valid"]


def test_only_https_examples_use_no_insecure_tls() -> None:
    for path in EXAMPLES:
        text = path.read_text()
        assert ("http://" in text) == ("insecure: true" in text), path.name


def test_the_installed_command() -> None:
    command = shutil.which("idlcm", path=str(Path(sys.executable).parent))
    argv = (
        [command]
        if command
        else [sys.executable, "-c", "import sys; from idlcm.cli import main; sys.exit(main())"]
    )
    done = subprocess.run(
        [*argv, "check", *map(str, EXAMPLES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.endswith("all valid\n")
