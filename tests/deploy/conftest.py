"""The deployment as kubectl renders it: `kubectl kustomize` of manifests/, its overlays, the e2e overlay."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"

# Everything `kubectl kustomize` must render, by a short name for test ids.
TARGETS = {
    "cluster": MANIFESTS,
    "namespaced": MANIFESTS / "overlays" / "namespaced",
    "ha": MANIFESTS / "overlays" / "ha",
    "sharded": MANIFESTS / "overlays" / "sharded",
    "e2e": ROOT / "tests" / "e2e" / "overlay",
}

Document = dict[str, Any]


@functools.cache
def _render(target: str) -> tuple[Document, ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(TARGETS[target])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {TARGETS[target]} failed:\n{result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def render(target: str) -> list[Document]:
    """The documents of one target (rendered once per session), skipping without kubectl."""
    if shutil.which("kubectl") is None:
        pytest.skip("the kubectl binary (with its built-in kustomize) is not on PATH")
    return list(_render(target))


def only(documents: list[Document], kind: str, name: str | None = None) -> Document:
    """The one document of this kind (and name)."""
    found = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(params=sorted(TARGETS))
def target(request: pytest.FixtureRequest) -> str:
    """Each kustomize target in turn."""
    name: str = request.param
    return name
