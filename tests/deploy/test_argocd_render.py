"""manifests/argocd/argocd-cm-patch.yaml is exactly what render.py makes of the Lua files: no drift."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import kubernetes_validate
import yaml

from deploy.conftest import ROOT
from deploy.test_argocd_health import CUSTOMIZATIONS

RENDER = ROOT / "manifests" / "argocd" / "render.py"


def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("argocd_render", RENDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_patch_is_up_to_date() -> None:
    module = render_module()
    assert module.PATCH.read_text() == module.render(), "run: python manifests/argocd/render.py"
    assert module.main(["--check"]) == 0


def test_the_patch_carries_every_script_verbatim() -> None:
    patch = yaml.safe_load((ROOT / "manifests" / "argocd" / "argocd-cm-patch.yaml").read_text())
    data = patch["data"]
    for kind in ("Integration", "ExternalApp"):
        assert (
            data[f"resource.customizations.health.idlcm.io_{kind}"]
            == (CUSTOMIZATIONS / kind / "health.lua").read_text()
        )
    actions = yaml.safe_load(data["resource.customizations.actions.idlcm.io_Integration"])
    folder = CUSTOMIZATIONS / "Integration" / "actions"
    assert actions["discovery.lua"] == (folder / "discovery.lua").read_text()
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        p.parent.name: p.read_text() for p in folder.glob("*/action.lua")
    }
    assert (
        "resource.customizations.actions.idlcm.io_ExternalApp" not in data
    )  # the operator owns ExternalApps


def test_the_patch_is_a_valid_configmap() -> None:
    patch = yaml.safe_load((ROOT / "manifests" / "argocd" / "argocd-cm-patch.yaml").read_text())
    assert (patch["kind"], patch["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    kubernetes_validate.validate(patch, "1.30.0", strict=True)
