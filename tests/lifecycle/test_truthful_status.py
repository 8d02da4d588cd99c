"""A status that never claims more than the app holds, end to end: real operator, embedded API, SCIM app.

The app is made to store less than it is sent with `ScimApp.storing` (as django-scim2 answers a create without
`title`). Every wait for UpToDate here (and in every lifecycle test) also checks the app's storage: see
`tests/invariants.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from invariants import app_differences
from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from scimapp import ScimApp, Storing

TITLED = [f"t{i}" for i in range(8)]
PLAIN = ["p0", "p1"]


async def start(cluster: Cluster, operator: OperatorFactory, app: ScimApp) -> None:
    await cluster.create_secret("acme-token", {"token": app.token})
    await operator(FAST)


def user_patches(app: ScimApp) -> list[Any]:
    return [r for r in app.requests.select("PATCH", "/v2/Users/")]


async def operation_after(cluster: Cluster, end_time: str | None, *, timeout: float = 20) -> dict[str, Any]:
    """The Integration once an operation that ended after `end_time` has ended (a settled state)."""

    def ended(o: dict[str, Any] | None) -> bool:
        last = ((o or {}).get("status") or {}).get("lastOperation") or {}
        settled = ((o or {}).get("status") or {}).get("status") in ("Failed", "UpToDate")
        return settled and bool(last.get("endTime")) and last.get("endTime") != end_time

    obj = await cluster.wait_for("integrations", "crm", ended, timeout=timeout)
    assert obj is not None
    return obj


async def test_an_attribute_the_app_does_not_store_is_named_and_not_sent_again(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.storing = Storing(drop=frozenset({"title"}))
    await start(cluster, operator, scim_app)
    accounts = [*people(*TITLED, title="Engineer"), *people(*PLAIN)]
    await cluster.create_integration("crm", spec_for(scim_app, *accounts, sync={"interval": "1s"}))

    obj = await cluster.wait_status("crm", "Failed", timeout=20)
    status = obj["status"]
    assert status["reason"] == "AttributesNotStored"
    assert "the app does not store title: 8 accounts" in status["message"]
    failures = status["lastOperation"]["failures"]
    assert {f["userName"] for f in failures} == {f"{n}@example.com" for n in TITLED}
    assert {(f["attribute"], f["sent"], f.get("held")) for f in failures} == {("title", "Engineer", None)}
    assert status["lastOperation"]["counts"]["failed"] == 8
    assert status["lastOperation"]["counts"]["created"] == 10
    assert status["accounts"]["provisioned"] == 2
    # What the status says is what the app holds: every account, none with a title.
    assert set(in_app(scim_app)) == {f"{n}@example.com" for n in [*TITLED, *PLAIN]}
    assert all("title" not in u for u in in_app(scim_app).values())
    assert len(app_differences(obj, scim_app)) == 8

    # The next syncs (every second) send nothing: the refusal is known; the status still names it.
    patches = len(user_patches(scim_app))
    again = await operation_after(cluster, status["lastOperation"]["endTime"])
    again = await operation_after(cluster, again["status"]["lastOperation"]["endTime"])
    assert again["status"]["status"] == "Failed"
    assert again["status"]["reason"] == "AttributesNotStored"
    assert {f["attribute"] for f in again["status"]["lastOperation"]["failures"]} == {"title"}
    assert len(user_patches(scim_app)) == patches

    # The app now stores titles and the spec changes: the titles are sent again and all is UpToDate.
    scim_app.storing = Storing()
    accounts = [*people(*TITLED, title="Engineer"), *people(*PLAIN, title="Lead")]
    await cluster.patch_integration("crm", {"spec": {"accounts": accounts}})
    obj = await cluster.wait_status("crm", "UpToDate", timeout=20)
    assert {u["title"] for u in in_app(scim_app).values()} == {"Engineer", "Lead"}
    assert obj["status"].get("notStored") is None


async def test_a_rewritten_display_name_is_reported_with_both_values(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.storing = Storing(display_name_from_name=True)
    await start(cluster, operator, scim_app)
    ann = {"userName": "ann@example.com", "displayName": "Ann", "givenName": "Ann", "familyName": "Lee"}
    await cluster.create_integration("crm", spec_for(scim_app, ann, *people("bob")))

    obj = await cluster.wait_status("crm", "Failed", timeout=20)
    [failure] = obj["status"]["lastOperation"]["failures"]
    assert failure["userName"] == "ann@example.com"
    assert (failure["attribute"], failure["sent"], failure["held"]) == ("displayName", "Ann", "Ann Lee")
    assert "displayName: 1 account" in obj["status"]["message"]


async def test_an_undeclared_attribute_the_app_fills_itself_is_left_alone(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    # django-scim2 makes displayName from the name parts; the spec declares none: not idlcm's to remove.
    scim_app.storing = Storing(display_name_from_name=True)
    await start(cluster, operator, scim_app)
    ann = {"userName": "ann@example.com", "givenName": "Ann", "familyName": "Lee"}
    await cluster.create_integration("crm", spec_for(scim_app, ann, sync={"interval": "1s"}))
    obj = await cluster.wait_status("crm", "UpToDate", timeout=20)
    assert in_app(scim_app)["ann@example.com"]["displayName"] == "Ann Lee"
    assert len(obj["status"]["notStored"]["computed"]) == 1

    # The next syncs leave it alone (no PATCH) and stay UpToDate.
    again = await operation_after(cluster, obj["status"]["lastOperation"]["endTime"])
    assert again["status"]["status"] == "UpToDate"
    assert again["status"]["lastOperation"]["type"] == "Sync"
    assert user_patches(scim_app) == []


async def test_a_user_name_the_app_stores_in_lower_case_converges(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    # userName is case-insensitive (caseExact false): an app may keep its own case; that is no change to send.
    scim_app.storing = Storing(lower_user_name=True)
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("Ann"), sync={"interval": "1s"}))
    obj = await cluster.wait_status("crm", "UpToDate", timeout=20)
    assert set(in_app(scim_app)) == {"ann@example.com"}
    again = await operation_after(cluster, obj["status"]["lastOperation"]["endTime"])
    assert again["status"]["status"] == "UpToDate"
    assert user_patches(scim_app) == []


@pytest.mark.parametrize("bulk", [True, False])
async def test_each_group_member_is_added_once(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, bulk: bool
) -> None:
    scim_app.configure(bulk=bulk)
    await start(cluster, operator, scim_app)
    names = [f"u{i}" for i in range(6)]
    await cluster.create_integration("crm", spec_for(scim_app, *people(*names, groups=["staff", "oncall"])))
    await cluster.wait_status("crm", "UpToDate", timeout=20)

    added: list[str] = []
    for request in scim_app.requests.select("PATCH", "/v2/Groups/"):
        for operation in request.json()["Operations"]:
            if operation["op"].lower() == "add":
                added.extend(m["value"] for m in operation["value"])
    ids = {str(u.id) for u in scim_app.users()}
    assert sorted(added) == sorted([*ids, *ids])  # each account once to each of its two groups
    for group in scim_app.groups():
        values = [m.value for m in group.members or []]
        assert sorted(values) == sorted(ids), group.display_name


async def test_an_account_failing_in_two_steps_is_one_failed_account(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    names = ["ann", "bob", "cy"]
    await cluster.create_integration("crm", spec_for(scim_app, *people(*names)))
    await cluster.wait_status("crm", "UpToDate")

    # Each account now fails twice: its update (title) and its group add (staff).
    scim_app.faults.arm(400, times=None, path_prefix="/Users/", methods={"PATCH", "PUT"}, detail="no")
    scim_app.faults.arm(400, times=None, path_prefix="/Groups/", methods={"PATCH", "PUT"}, detail="no")
    await cluster.patch_integration(
        "crm", {"spec": {"accounts": people(*names, title="X", groups=["staff"])}}
    )
    obj = await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (
            (o or {}).get("status", {}).get("observedGeneration") == 2 and o["status"]["status"] == "Failed"
        ),  # type: ignore[index]
        timeout=20,
    )
    assert obj is not None
    assert obj["status"]["lastOperation"]["counts"]["failed"] == 3
    assert obj["status"]["accounts"]["failed"] == 3
    assert obj["status"]["accounts"]["summary"] == "0/3"
    assert {f["operation"] for f in obj["status"]["lastOperation"]["failures"]} == {"Update", "Group"}
