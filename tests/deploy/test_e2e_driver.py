"""`make e2e` (tests/e2e/run.sh) skips cleanly where Docker or kind is missing, and fails then on request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.conftest import ROOT

RUN = ROOT / "tests" / "e2e" / "run.sh"


def run_without(tmp_path: Path, *, required: bool) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "bin"  # a PATH with the shell's tools but no docker, kind or kubectl
    empty.mkdir(exist_ok=True)
    env = {"PATH": f"{empty}:/usr/bin:/bin", "CONTAINER_TOOL": "idlcm-no-such-docker"}
    if required:
        env["E2E_REQUIRED"] = "1"
    return subprocess.run(
        ["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_missing_docker_skips_with_a_clear_message(tmp_path: Path) -> None:
    result = run_without(tmp_path, required=False)
    assert result.returncode == 0
    assert "e2e skipped: 'idlcm-no-such-docker' not found" in result.stderr


def test_missing_docker_fails_when_e2e_is_required(tmp_path: Path) -> None:
    result = run_without(tmp_path, required=True)
    assert result.returncode == 1
    assert "e2e skipped" in result.stderr


def test_the_kind_config_is_a_kind_cluster() -> None:
    config = yaml.safe_load((ROOT / "tests" / "e2e" / "kind.yaml").read_text())
    assert (config["apiVersion"], config["kind"]) == ("kind.x-k8s.io/v1alpha4", "Cluster")
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]


@pytest.mark.parametrize("target", ["e2e", "image"])
def test_the_makefile_has_the_deployment_targets(target: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"\n{target}:" in makefile
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n", 1)[0]
    assert "e2e" not in test_recipe  # the default gate never needs Docker
