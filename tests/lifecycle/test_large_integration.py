"""The largest Integration the CRD allows, end to end: 5,000 declared accounts with every field are created,
provisioned and deleted (finalizer released, every account deprovisioned), as on a real cluster, where
kopf's record of the spec in one annotation once made such an Integration impossible to delete.

About three minutes of CPU (10,000 requests to the test app), so part of `make soak`, not of the ten-minute
`make test`; there, `test_kopf_storage.py` runs 2,000 such accounts (600 KB, twice the annotation limit)
through creation, an update and the deletion."""

from __future__ import annotations

import dataclasses
import os

import pytest

from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, spec_for
from lifecycle.test_kopf_storage import every_field
from scimapp import ScimApp

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(
        os.environ.get("IDLCM_SOAK") != "1", reason="soak run only: `make soak` (IDLCM_SOAK=1)"
    ),
]

COUNT = 5000
# Generous: the condition is what is awaited, the timeout only ends a run that would never get there.
TIMEOUT = 300.0
POLL = 1.0  # each read of a 1.3 MB object costs the API and the test: not twenty a second


async def test_5000_accounts_with_every_field_are_provisioned_and_deprovisioned_on_delete(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    # A status write of a 1.3 MB object is slow on a loaded machine: a lease as long as in production.
    await operator(dataclasses.replace(FAST, lease_seconds=60))
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    accounts = every_field(COUNT)
    # Deleted rather than deactivated at the end: the same finalizer work, cheaper for the test app.
    spec = spec_for(scim_app, *accounts)
    spec["deprovision"] = {"mode": "Delete", "maxDeletions": 10}
    await cluster.create_integration("crm", spec)

    done = await cluster.wait_status("crm", "UpToDate", timeout=TIMEOUT, interval=POLL)
    assert done["status"]["accounts"]["summary"] == f"{COUNT}/{COUNT}"
    held = in_app(scim_app)
    assert len(held) == COUNT
    for declared in (accounts[0], accounts[2718], accounts[-1]):
        user = held[declared["userName"]]
        assert user["displayName"] == declared["displayName"]
        assert user["title"] == declared["title"]
        assert user["emails"][0]["value"] == declared["email"]
    annotations = done["metadata"].get("annotations") or {}
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096  # nowhere near the 256 KiB limit

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=TIMEOUT, interval=POLL)
    assert in_app(scim_app) == {}  # every account deprovisioned (deleted)
    reasons = [e.reason for e in await cluster.events_for("crm")]
    assert "DeprovisionIncomplete" not in reasons
