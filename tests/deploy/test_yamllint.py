"""The deployment's YAML sources pass yamllint (tests/deploy/yamllint.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from yamllint import linter
from yamllint.config import YamlLintConfig

from deploy.conftest import ROOT

CONFIG = YamlLintConfig(file=str(Path(__file__).with_name("yamllint.yaml")))
SOURCES = sorted(
    [
        *(ROOT / "manifests").rglob("*.yaml"),
        *(ROOT / "crds").glob("*.yaml"),
        *(ROOT / "tests" / "e2e").rglob("*.yaml"),
    ]
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_passes_yamllint(path: Path) -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{p.line}:{p.column}: {p.desc} ({p.rule})"
        for p in linter.run(path.read_text(), CONFIG, str(path))
    ]
    assert problems == []


def test_the_lint_covers_the_whole_deployment() -> None:
    assert len(SOURCES) > 40  # manifests, Argo CD fixtures, CRDs, the e2e overlay
