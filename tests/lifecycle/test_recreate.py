"""An Integration deleted and re-created (Argo CD replace, a namespace restored from backup) takes back its
accounts: stamped by the same namespace and name, they are this one's now, with an Event saying so."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from scimapp import ScimApp


async def _events(cluster: Cluster, name: str, reason: str) -> list[Any]:
    """The Events of that reason, once there is one (kopf posts them in the background)."""
    deadline = time.monotonic() + 10
    while not (found := [e for e in await cluster.events_for(name) if e.reason == reason]):
        assert time.monotonic() < deadline, f"no {reason} Event on {name}"
        await asyncio.sleep(0.05)
    return found


async def test_a_re_created_integration_takes_back_its_accounts_and_says_so(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator(FAST)
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    names = ("alice", "bob", "carol")
    first = await cluster.create_integration("crm-ops", spec_for(scim_app, *people(*names)))
    await cluster.wait_status("crm-ops", "UpToDate")
    old_uid = first["metadata"]["uid"]
    stamp = f"idlcm:{cluster.namespace}/crm-ops:{old_uid}:"
    assert all(u["externalId"].startswith(stamp) for u in in_app(scim_app).values())

    # Deleted (its accounts deactivated, stamped with the old uid), then applied again.
    await cluster.delete_integration("crm-ops")
    await cluster.wait_for("integrations", "crm-ops", lambda o: o is None)
    assert not any(u["active"] for u in in_app(scim_app).values())
    second = await cluster.create_integration("crm-ops", spec_for(scim_app, *people(*names)))
    new_uid = second["metadata"]["uid"]
    assert new_uid != old_uid

    done = await cluster.wait_status("crm-ops", "UpToDate")
    assert done["status"]["lastOperation"]["counts"]["adopted"] == 3, done["status"]["lastOperation"]
    held = in_app(scim_app)
    assert sorted(held) == [f"{n}@example.com" for n in names]
    assert all(u["active"] for u in held.values())
    assert all(new_uid in u["externalId"] and old_uid not in u["externalId"] for u in held.values())
    events = await _events(cluster, "crm-ops", "AccountsTakenBack")
    assert len(events) == 1
    assert "took back 3 accounts" in events[0].message
    assert f"{cluster.namespace}/crm-ops" in events[0].message


async def test_accounts_of_another_live_integration_stay_refused(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator(FAST)
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.create_integration("crm-ops", spec_for(scim_app, *people("alice")))
    await cluster.wait_status("crm-ops", "UpToDate")

    await cluster.create_integration("crm-rival", spec_for(scim_app, *people("alice")))
    failed = await cluster.wait_status("crm-rival", "Failed")
    assert "managed by Integration" in str(failed["status"]["lastOperation"]["failures"])
    assert "AccountsTakenBack" not in {e.reason for e in await cluster.events_for("crm-rival")}
    assert in_app(scim_app)["alice@example.com"]["externalId"].startswith(
        f"idlcm:{cluster.namespace}/crm-ops:"
    )
