"""Faults at the app: 30% of the requests throttled, unavailable, failing, too slow or dropped.

A real kopf operator against the embedded API provisions, then changes, accounts in the real SCIM app while a
seeded share of the app's answers are faults. It must converge to UpToDate with exactly the declared accounts,
wait out every Retry-After, and show each retry in its status and Events with the right attempt numbers.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from lifecycle import conftest as lifecycle
from lifecycle.conftest import Cluster, OperatorFactory, people, spec_for
from reliability.appfaults import PATIENT, REQUEST_TIMEOUT, announcements, quiet_after
from scimapp import FAULT_KINDS, ScimApp

FAULT_RATE = 0.3
SEED = 42
RETRY_AFTER = 1  # seconds, as the 429s say
CONCURRENCY = 2
GROUPS = ("sales", "support", "ops")

embedded = lifecycle.embedded
cluster = lifecycle.cluster
operator = lifecycle.operator


def roster(names: list[str], leads: int = 0) -> list[dict[str, Any]]:
    """Declared accounts, each in one of the groups; the first `leads` titled Lead, the others Engineer."""
    return [
        {**account, "title": "Lead" if i < leads else "Engineer", "groups": [GROUPS[i % len(GROUPS)]]}
        for i, account in enumerate(people(*names))
    ]


def spec(app: ScimApp, names: list[str]) -> dict[str, Any]:
    body = spec_for(app, *roster(names), deprovision={"mode": "Delete", "maxDeletions": 100})
    body["connector"]["scim"]["rateLimit"]["maxConcurrency"] = CONCURRENCY
    return body


def assert_app_holds_exactly(app: ScimApp, cluster: Cluster, declared: list[dict[str, Any]]) -> None:
    """The app holds each declared account once, stamped by the Integration, titled and grouped as declared,
    and nothing else: no duplicate, none missing, none left behind."""
    users = list(app.users())
    prefix = f"idlcm:{cluster.namespace}/crm:"
    assert all((u.external_id or "").startswith(prefix) for u in users), "an account not the operator's"
    assert Counter(u.user_name for u in users) == Counter(a["userName"] for a in declared)
    assert {u.user_name: u.title for u in users} == {a["userName"]: a["title"] for a in declared}
    ids = {u.user_name: u.id for u in users}
    members = {  # scim2-server leaves a deleted user in its groups (a real app would not): only live ones
        g.display_name: {m.value for m in g.members or []} & set(ids.values())
        for g in app.groups()
        if g.display_name in GROUPS
    }
    for account in declared:
        assert ids[account["userName"]] in members[account["groups"][0]], account["userName"]
    assert sum(len(m) for m in members.values()) == len(declared), "a member too many in a group"


async def converge(cluster: Cluster, generation: int) -> tuple[dict[str, Any], float]:
    """The Integration once UpToDate at this generation, and how long that took."""
    started = time.monotonic()
    obj = await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (
            (o or {}).get("status", {}).get("status") == "UpToDate"
            and o["status"].get("observedGeneration") == generation  # type: ignore[index]
        ),
        timeout=40,
    )
    assert obj is not None
    return obj, time.monotonic() - started


async def test_converges_to_the_exact_accounts_under_30_percent_faults(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)  # one request per account: more requests, more faults
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator(PATIENT)
    # The app's first validation (a few dozen discovery reads) runs before the faults start: an app that
    # fails 30% of its requests seldom passes all of them in a row, and that is validation's business.
    await cluster.create_integration("warmup", spec_for(scim_app))
    await cluster.wait_status("warmup", "UpToDate")
    scim_app.requests.clear()
    mix = scim_app.faults.mix(FAULT_RATE, seed=SEED, retry_after=RETRY_AFTER, slow=2 * REQUEST_TIMEOUT)

    first = [f"user{i:02d}" for i in range(6)]
    await cluster.create_integration("crm", spec(scim_app, first))
    provisioned, provision_seconds = await converge(cluster, 1)
    provision_requests = len(scim_app.requests)

    # Then a change under the same faults: 2 accounts dropped (deleted), 2 added, 2 retitled.
    changed = roster([f"user{i:02d}" for i in range(2, 8)], leads=2)
    await cluster.patch_integration("crm", {"spec": {"accounts": changed}})
    updated, update_seconds = await converge(cluster, 2)
    scim_app.faults.clear()
    requests = list(scim_app.requests)

    assert_app_holds_exactly(scim_app, cluster, changed)
    assert updated["status"]["accounts"]["summary"] == "6/6"
    assert updated["status"]["lastOperation"]["result"] == "Succeeded"
    assert updated["status"].get("retry") is None

    # Every kind of fault happened, about 30% of the time.
    assert set(mix.injected) == set(FAULT_KINDS), mix.injected
    faults = sum(mix.injected.values())
    assert 0.2 < faults / (faults + mix.passed) < 0.4

    # Retry-After honoured: after each 429, only a request already on its way may reach the app before the
    # pause ends (at most one per other connection); the operator sends nothing new.
    throttled = quiet_after(requests, 429, RETRY_AFTER)
    assert throttled
    for refused, too_soon in throttled:
        assert len(too_soon) <= CONCURRENCY - 1, (refused, too_soon)

    # On the way, Retrying with the fruitless attempts counted 1, 2, 3... per operation: back to 1 after an
    # attempt that wrote accounts (it got closer), and for the next operation.
    seen = await announcements(cluster, "crm", last="UpToDate")
    retries: dict[str, list[tuple[int, int]]] = {}
    operation = ""
    for announced in seen:
        if announced.status == "InProgress":
            operation = announced.reason
        if announced.status == "Retrying":
            attempt = announced.attempt
            assert attempt is not None, announced
            assert attempt[1] == PATIENT.operation_backoff.max_attempts
            retries.setdefault(operation, []).append((attempt[0], announced.written))
    assert retries, [a.status for a in seen]
    for attempts in retries.values():
        previous = 0
        for number, written in attempts:
            assert number == (1 if written else previous + 1), retries
            previous = number
    assert [a.status for a in seen][-1] == "UpToDate"
    assert provisioned["status"]["lastOperation"]["type"] == "Provision"
    assert updated["status"]["lastOperation"]["type"] == "Update"

    print(
        f"\n30% faults ({dict(mix.injected)} of {faults + mix.passed} requests): provision of 6 accounts "
        f"UpToDate in {provision_seconds:.1f}s ({provision_requests} requests), update (2 deleted, "
        f"2 created, 2 changed) in {update_seconds:.1f}s ({len(requests) - provision_requests} requests); "
        f"retries per operation: { {op: len(a) for op, a in retries.items()} }; "
        f"{len(throttled)} Retry-After pauses honoured"
    )
