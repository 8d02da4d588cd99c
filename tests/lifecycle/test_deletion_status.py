"""A deleted Integration shows its deprovisioning in status (InProgress, lastOperation Deprovision, counts)
until the finalizer goes, and its Events never say a step happened before the write that does it."""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes.watch

from idlcm.crds import GROUP, VERSION
from lifecycle.conftest import Cluster, OperatorFactory, in_app, people, spec_for
from scimapp import ScimApp

ACCOUNTS = [f"user{i:02d}" for i in range(30)]


def watch_until_deleted(cluster: Cluster, name: str, since: str) -> list[tuple[str, dict[str, Any]]]:
    """Every version of the Integration after `since`, up to and including its deletion (blocking)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        cluster.namespace,
        "integrations",
        field_selector=f"metadata.name={name}",
        resource_version=since,
        timeout_seconds=120,
    ):
        seen.append((event["type"], event["object"]))
        if event["type"] == "DELETED":
            watch.stop()
    return seen


async def start(cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, **extra: Any) -> str:
    """The operator, and an Integration `crm` of ACCOUNTS brought UpToDate; its resourceVersion then."""
    await operator()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.create_integration("crm", spec_for(scim_app, *people(*ACCOUNTS), **extra))
    obj = await cluster.wait_status("crm", "UpToDate", timeout=60)
    assert len(in_app(scim_app)) == len(ACCOUNTS)
    return str(obj["metadata"]["resourceVersion"])


async def test_deletion_shows_in_progress_deprovision_with_counts_then_the_finalizer_goes(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    since = await start(cluster, operator, scim_app, deprovision={"mode": "Delete"})
    watching = asyncio.create_task(asyncio.to_thread(watch_until_deleted, cluster, "crm", since))

    await cluster.delete_integration("crm")
    seen = await asyncio.wait_for(watching, 150)

    assert seen[-1][0] == "DELETED"
    statuses = [obj.get("status") or {} for kind, obj in seen if kind == "MODIFIED"]
    deprovision = [s for s in statuses if (s.get("lastOperation") or {}).get("type") == "Deprovision"]
    running = [s for s in deprovision if s["lastOperation"]["result"] == "Running"]
    done = [s for s in deprovision if s["lastOperation"]["result"] == "Succeeded"]
    assert running, f"no Deprovision running seen in {statuses}"
    assert done, f"no Deprovision done seen in {statuses}"
    assert running[0]["status"] == "InProgress"
    assert running[0]["plan"]["deletions"] == len(ACCOUNTS)
    assert done[-1]["status"] == "InProgress"  # the finalizer is not released yet: still in progress
    assert done[-1]["lastOperation"]["counts"]["deleted"] == len(ACCOUNTS)
    assert statuses.index(running[0]) < statuses.index(done[-1])
    # The finalizer was still on the object in every version that showed the deprovisioning.
    versions = [obj for kind, obj in seen if kind == "MODIFIED"]
    for status in (running[0], done[-1]):
        obj = versions[statuses.index(status)]
        assert "idlcm.io/finalizer" in obj["metadata"].get("finalizers", [])
    assert in_app(scim_app) == {}

    events = await cluster.events_for("crm")
    messages = [e.message for e in events]
    assert not [m for m in messages if "finalizer released" in m]  # kopf's removal comes after any Event
    started = [e for e in events if e.reason == "Deprovision" and e.message.startswith("InProgress: ")]
    assert len(started) == 1
    # The InProgress Event was posted after the status write it reports was accepted (one global counter).
    first_running = versions[statuses.index(running[0])]
    assert int(started[0].metadata.resource_version) > int(first_running["metadata"]["resourceVersion"])
    final = [e for e in events if e.reason == "Deprovisioned"]
    assert [e.message for e in final] == ["accounts deprovisioned; releasing the finalizer"]
    # Posted once the deprovisioning was written; kopf's write that takes the finalizer off comes after the
    # handler returns and may yet be refused: hence "releasing", not "released".
    last_shown = versions[statuses.index(done[-1])]
    assert int(last_shown["metadata"]["resourceVersion"]) < int(final[0].metadata.resource_version)


async def test_orphaned_accounts_are_said_to_be_left_and_no_release_is_claimed(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app, deletionPolicy="Orphan")

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=30)

    events = await cluster.events_for("crm")
    released = [e.message for e in events if e.reason == "Released"]
    assert released == ["accounts left in place (deletionPolicy/validation); releasing the finalizer"]
    assert not [e for e in events if e.reason == "Deprovision"]  # nothing was deprovisioned
    assert len(in_app(scim_app)) == len(ACCOUNTS)
