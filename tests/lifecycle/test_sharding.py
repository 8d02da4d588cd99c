"""Sharding: each operator handles only its shard's Integrations, with a kopf peering object per shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes.client
import yaml

from idlcm.settings import SYNC_NOW_ANNOTATION
from idlcm.shards import SHARD_LABEL, Shard
from lifecycle.conftest import Cluster, OperatorFactory, spec_for
from scimapp import ScimApp

PEERING_CRDS = Path(__file__).parents[2] / "manifests" / "base" / "kopf-peering-crds.yaml"


async def _install_peering(cluster: Cluster, *names: str) -> None:
    """kopf's peering CRDs and one ClusterKopfPeering per name (as the sharded overlay installs them)."""
    extensions = kubernetes.client.ApiextensionsV1Api(cluster.client)
    for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
        if crd:
            await cluster.call(extensions.create_custom_resource_definition, crd)
    for name in names:
        body = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
        await cluster.call(
            cluster.custom.create_cluster_custom_object, "kopf.dev", "v1", "clusterkopfpeerings", body
        )


async def _create(cluster: Cluster, name: str, spec: dict[str, Any], shard: str | None) -> None:
    body = {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": {"name": name, "labels": {SHARD_LABEL: shard} if shard else {}},
        "spec": spec,
    }
    await cluster.call(
        cluster.custom.create_namespaced_custom_object,
        "idlcm.io",
        "v1alpha1",
        cluster.namespace,
        "integrations",
        body,
    )


async def test_two_shards_each_take_their_integrations_and_share_the_apps_validation(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await _install_peering(cluster, "idlcm-a", "idlcm-b")
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    alice = [{"userName": "alice@example.com"}]
    bob = [{"userName": "bob@example.com"}]
    await _create(cluster, "crm-a", spec_for(scim_app, *alice), "a")
    await _create(cluster, "crm-b", spec_for(scim_app, *bob), "b")
    await _create(cluster, "crm-unlabelled", spec_for(scim_app, {"userName": "carol@example.com"}), None)

    await operator(shard=Shard.named("a"), peering="idlcm", priority=1)
    stop_b = await operator(shard=Shard.named("b"), peering="idlcm", priority=1)  # shards never conflict

    a = await cluster.wait_status("crm-a", "UpToDate", timeout=30)
    b = await cluster.wait_status("crm-b", "UpToDate", timeout=30)
    assert sorted(u.user_name for u in scim_app.users()) == ["alice@example.com", "bob@example.com"]
    # Each shard's replica lists itself in its own shard's peering object (the base `idlcm` does not exist:
    # an operator using it would wait, paused).
    peers = {
        name: (
            await cluster.call(
                cluster.custom.get_cluster_custom_object, "kopf.dev", "v1", "clusterkopfpeerings", name
            )
        ).get("status")
        or {}
        for name in ("idlcm-a", "idlcm-b")
    }
    assert all(len(p) == 1 for p in peers.values()), peers

    # One app, validated once, through whichever shard claimed it first.
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "Validated"
    owner = app["status"]["validatedThrough"]["name"]
    discovered = {
        obj["metadata"]["name"]
        for obj in (a, b)
        if any(c["name"] == "discovery" for c in obj["status"]["validation"]["checks"])
    }
    assert discovered == {owner}

    # Neither shard touched the Integration without the label: no status, not even the finalizer.
    unlabelled = await cluster.get("integrations", "crm-unlabelled")
    assert unlabelled is not None
    assert "status" not in unlabelled or not unlabelled["status"]
    assert not unlabelled["metadata"].get("finalizers")

    # The shard for the rest takes it (the recipe for unlabelled Integrations).
    await operator(shard=Shard.named("rest", f"!{SHARD_LABEL}"))
    await cluster.wait_status("crm-unlabelled", "UpToDate", timeout=30)
    assert "carol@example.com" in {u.user_name for u in scim_app.users()}

    # Relabelled, an Integration moves: with shard b stopped, shard a now serves crm-b (a sync on request).
    await stop_b()
    await cluster.patch_integration("crm-b", {"metadata": {"labels": {SHARD_LABEL: "a"}}})
    synced = b["status"]["lastSyncTime"]
    await cluster.patch_integration("crm-b", {"metadata": {"annotations": {SYNC_NOW_ANNOTATION: "1"}}})
    moved = await cluster.wait_for(
        "integrations",
        "crm-b",
        # The sync has ended, not merely started: `type` is already Sync while it is InProgress.
        lambda o: (
            ((o or {}).get("status") or {}).get("lastOperation", {}).get("type") == "Sync"
            and bool(((o or {}).get("status") or {}).get("lastOperation", {}).get("endTime"))
            and (o or {}).get("status", {}).get("status") != "InProgress"
        ),
        timeout=30,
    )
    assert moved is not None
    assert moved["status"]["status"] == "UpToDate"
    assert moved["status"]["lastSyncTime"] >= synced
