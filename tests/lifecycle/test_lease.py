"""The Integration's lease (`status.lease`): a run claims it before it writes to the app, stands aside while
another process holds it, and stops writing the moment it is taken over."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

from idlcm.crds import GROUP, VERSION
from idlcm.states import rfc3339
from lifecycle.conftest import Cluster, OperatorFactory, people, spec_for
from scimapp import ScimApp

NAMES = [f"user{i:03d}" for i in range(50)]


async def _set_lease(cluster: Cluster, name: str, holder: str | None, seconds: int = 30) -> float:
    """Write another process's lease (None: remove it) as its replica would; returns when it expires."""
    renewed = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)
    record: dict[str, Any] | None = None
    if holder is not None:
        stamp = rfc3339(renewed)
        record = {
            "holderIdentity": holder,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseDurationSeconds": seconds,
        }
    await cluster.call(
        cluster.custom.patch_namespaced_custom_object_status,
        GROUP,
        VERSION,
        cluster.namespace,
        "integrations",
        name,
        {"status": {"lease": record}},
    )
    return renewed.timestamp() + seconds


def _slow_spec(app: ScimApp) -> dict[str, Any]:
    """One create at a time, 0.1 s each: the provisioning takes ~5 s."""
    app.configure(bulk=False)
    app.faults.arm(delay=0.1, times=None, methods={"POST"})
    spec = spec_for(app, *people(*NAMES))
    spec["connector"]["scim"]["rateLimit"]["maxConcurrency"] = 1
    return spec


async def _until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_run_whose_lease_is_taken_over_stops_writing_until_it_is_given_back(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator()  # lease of 3 s (FAST): renewed every second while the run writes
    await cluster.create_integration("crm", _slow_spec(scim_app))
    await _until(lambda: len(scim_app.requests.writes) >= 5)

    # Another replica takes the lease over (as if this one's had expired).
    await _set_lease(cluster, "crm", "another-pod/0000", seconds=60)
    await asyncio.sleep(3)  # one renewal (1 s) finds it taken; the create in flight ends
    stopped = len(scim_app.requests.writes)
    await asyncio.sleep(2)
    assert len(scim_app.requests.writes) == stopped, "writes went on after the lease was taken over"
    assert stopped < len(NAMES)
    status = (await cluster.get("integrations", "crm") or {})["status"]
    assert status["lease"]["holderIdentity"] == "another-pod/0000", "the taken-over run wrote status"

    # Given back: the operator takes it again and finishes, each account created once.
    await _set_lease(cluster, "crm", None)
    obj = await cluster.wait_status("crm", "UpToDate", timeout=30)
    assert "lease" not in obj["status"]
    users = sorted(u.user_name for u in scim_app.users())
    assert users == sorted(f"{n}@example.com" for n in NAMES)
    creates = [r for r in scim_app.requests.writes if r.method == "POST" and r.path.endswith("/Users")]
    assert len(creates) == len(NAMES)


async def test_a_live_lease_of_a_vanished_process_keeps_the_operator_off_until_it_expires(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    spec = spec_for(scim_app, *people("alice", "bob"))
    await cluster.create_integration("crm", spec)
    # A replica died holding the lease (no operator ran yet here, so status has nothing else).
    expires = await _set_lease(cluster, "crm", "vanished-pod/0000", seconds=3)

    await operator()
    obj = await cluster.wait_status("crm", "UpToDate", timeout=30)
    first = min(r.time for r in scim_app.requests)
    assert first >= expires - 0.05, "the operator reached the app while another process held the lease"
    assert "lease" not in obj["status"]
    assert {u.user_name for u in scim_app.users()} == {"alice@example.com", "bob@example.com"}


async def test_deleting_waits_for_the_lease_of_another_process_before_deprovisioning(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator()
    spec = spec_for(scim_app, *people("alice"), deprovision={"mode": "Delete", "maxDeletions": 10})
    await cluster.create_integration("crm", spec)
    await cluster.wait_status("crm", "UpToDate")
    scim_app.requests.clear()

    expires = await _set_lease(cluster, "crm", "another-pod/0000", seconds=3)
    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=30)

    deletes = [r for r in scim_app.requests.writes if r.method == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0].time >= expires - 0.05, "deprovisioned while another process held the lease"
    assert scim_app.users() == []
