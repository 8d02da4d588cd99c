"""manifests/argocd/applications.yaml installs what the README says: idlcm from manifests/, then a team's
Integrations, with the sync options a CRD-carrying install needs."""

from __future__ import annotations

from typing import Any

import yaml

from deploy.conftest import ROOT, only, render

APPLICATIONS = ROOT / "manifests" / "argocd" / "applications.yaml"


def applications() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(APPLICATIONS.read_text()) if d]
    assert {(d["apiVersion"], d["kind"]) for d in docs} == {("argoproj.io/v1alpha1", "Application")}
    return {d["metadata"]["name"]: d for d in docs}


def test_the_idlcm_application_installs_the_cluster_wide_manifests() -> None:
    app = applications()["idlcm"]["spec"]
    assert (ROOT / app["source"]["path"] / "kustomization.yaml").is_file()
    namespace = only(render("cluster"), "Namespace")["metadata"]["name"]
    assert app["destination"]["namespace"] == namespace
    # The CRDs are too large for the last-applied annotation of a client-side apply.
    assert "ServerSideApply=true" in app["syncPolicy"]["syncOptions"]


def test_the_integrations_application_syncs_after_idlcm() -> None:
    apps = applications()
    waves = {
        name: int(a["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0))
        for name, a in apps.items()
    }
    assert waves["team-sales-integrations"] > waves["idlcm"]
    options = apps["team-sales-integrations"]["spec"]["syncPolicy"]["syncOptions"]
    assert "SkipDryRunOnMissingResource=true" in options
