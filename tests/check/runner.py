"""Run the `idlcm check` logic in-process and capture what it prints."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from idlcm.check import run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))


@dataclasses.dataclass(frozen=True)
class Result:
    """Exit code and output of one `idlcm check` run."""

    code: int
    out: str
    err: str


def check(*paths: str | Path) -> Result:
    """`idlcm check PATH...`, in-process."""
    out, err = io.StringIO(), io.StringIO()
    code = run([str(p) for p in paths], out, err)
    return Result(code, out.getvalue(), err.getvalue())


def expectations(path: Path) -> list[str]:
    """The `# expect: ...` lines of a bad fixture: fragments its report must contain."""
    prefix = "# expect: "
    return [line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)]
