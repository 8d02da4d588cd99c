"""The Argo CD health checks of Integration and ExternalApp, run as Argo CD runs them (Lua 5.1, its sandbox)
over the health_test.yaml cases, which must cover every state the CRDs allow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.conftest import ROOT
from deploy.lua import ArgoLua

CUSTOMIZATIONS = ROOT / "manifests" / "argocd" / "resource_customizations" / "idlcm.io"
KINDS = ("Integration", "ExternalApp")


def cases(kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = yaml.safe_load((CUSTOMIZATIONS / kind / "health_test.yaml").read_text())[
        "tests"
    ]
    return found


def load(kind: str, case: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((CUSTOMIZATIONS / kind / case["inputPath"]).read_text())
    return obj


def crd_enum(crd: str, *path: str) -> set[str]:
    schema = yaml.safe_load((ROOT / "crds" / crd).read_text())["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]
    for name in path:
        schema = schema["properties"][name]
    return set(schema["enum"])


@pytest.mark.parametrize(
    ("kind", "case"),
    [(kind, case) for kind in KINDS for case in cases(kind)],
    ids=lambda v: v if isinstance(v, str) else Path(v["inputPath"]).stem,
)
def test_health_matches_the_expected_status_and_message(kind: str, case: dict[str, Any]) -> None:
    result = ArgoLua().run(CUSTOMIZATIONS / kind / "health.lua", load(kind, case))
    assert result == case["healthStatus"]


def test_every_integration_status_has_a_case() -> None:
    seen = {(load("Integration", c).get("status") or {}).get("status") for c in cases("Integration")}
    assert crd_enum("idlcm.io_integrations.yaml", "status", "status") <= seen


def test_every_external_app_state_has_a_case() -> None:
    seen = {(load("ExternalApp", c).get("status") or {}).get("state") for c in cases("ExternalApp")}
    assert crd_enum("idlcm.io_externalapps.yaml", "status", "state") <= seen


@pytest.mark.parametrize(
    ("state", "health"),
    [
        ("UpToDate", "Healthy"),
        ("Validated", "Healthy"),
        ("UnderValidation", "Progressing"),
        ("Validating", "Progressing"),
        ("InProgress", "Progressing"),
        ("Retrying", "Progressing"),
        ("ValidationFailed", "Degraded"),
        ("Failed", "Degraded"),
        ("UnderReview", "Suspended"),
    ],
)
def test_each_status_maps_to_its_health(state: str, health: str) -> None:
    obj = {"metadata": {"generation": 4}, "spec": {}, "status": {"status": state, "observedGeneration": 4}}
    assert ArgoLua().run(CUSTOMIZATIONS / "Integration" / "health.lua", obj) == {
        "status": health,
        "message": state,
    }


def test_suspend_stale_generation_and_no_status_are_covered() -> None:
    expected = {
        "no-status": "Progressing",
        "suspended": "Suspended",
        "stale-generation": "Progressing",
        "suspend-not-yet-observed": "Progressing",
    }
    got = {Path(c["inputPath"]).stem: c["healthStatus"]["status"] for c in cases("Integration")}
    assert got.items() >= expected.items()
    assert {c["healthStatus"]["message"] for c in cases("Integration") if "no-status" in c["inputPath"]} == {
        "Waiting for the operator"
    }


def test_the_sandbox_is_as_bare_as_argo_cds(tmp_path: Path) -> None:
    lua = ArgoLua()
    for body in (
        'return string.upper("x")',
        'return ("x"):upper()',
        "return math.floor(1.5)",
        'return io.open("x")',
    ):
        script = tmp_path / "probe.lua"
        script.write_text(body)
        with pytest.raises(Exception, match=r"nil|attempt to index"):
            lua.run(script, {})
