"""Kubernetes Events: one per state change, reasons as in conditions; Warnings for failed accounts, capped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from idlcm.metrics import Metrics
from idlcm.operations import MAX_FAILURES
from lifecycle.conftest import Cluster, people, spec_for
from scimapp import ScimApp


async def _events(cluster: Cluster, name: str, reason: str, count: int, timeout: float = 10.0) -> list[Any]:
    """The Events of this reason, once there are `count` (kopf posts them in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in await cluster.events_for(name) if e.reason == reason]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def _condition_reasons(obj: dict[str, Any]) -> set[str]:
    return {c["reason"] for c in obj["status"]["conditions"]}


async def test_each_state_change_posts_an_event_whose_reason_a_condition_carries(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp
) -> None:
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))
    obj = await cluster.wait_status("crm", "UpToDate")

    assert await cluster.announced("crm", "UpToDate") == [
        "UnderValidation",
        "Validating",
        "Validated",
        "InProgress",
        "UpToDate",
    ]
    last = (await cluster.events_for("crm"))[-1]
    assert (last.type, last.reason) == ("Normal", "UpToDate")
    assert last.reason in _condition_reasons(obj)
    validated = next(e for e in await cluster.events_for("crm") if e.message.startswith("Validated:"))
    assert validated.reason == "ValidationPassed"  # the Validated condition's reason


async def test_failed_accounts_get_a_warning_each_up_to_the_cap_and_one_for_the_rest(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)
    scim_app.faults.arm(400, times=None, path_prefix="/Users", methods={"POST"}, detail="userName rejected")
    names = [f"user{i:02d}" for i in range(MAX_FAILURES + 5)]
    await cluster.create_integration("crm", spec_for(scim_app, *people(*names)))
    failed = await cluster.wait_status("crm", "Failed")

    warnings = await _events(cluster, "crm", "AccountFailed", MAX_FAILURES + 1)
    await asyncio.sleep(0.5)  # none more comes
    warnings = await _events(cluster, "crm", "AccountFailed", MAX_FAILURES + 1)
    assert len(warnings) == MAX_FAILURES + 1
    assert all(e.type == "Warning" for e in warnings)
    each, rest = warnings[:-1], warnings[-1]
    named = {e.message.split()[1].rstrip(":") for e in each}
    assert len(named) == MAX_FAILURES
    assert named <= {f"{n}@example.com" for n in names}
    assert all(e.message.startswith("Create ") and "userName rejected" in e.message for e in each)
    assert rest.message.startswith("5 more account actions failed")

    transition = [e for e in await cluster.events_for("crm") if e.message.startswith("Failed:")]
    assert [(e.type, e.reason) for e in transition] == [("Warning", "AccountsFailed")]
    assert "AccountsFailed" in _condition_reasons(failed)
