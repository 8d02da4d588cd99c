"""The four security operations end to end: a real kopf operator, the embedded API, a real SCIM app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from idlcm.connectors import Account, BearerAuth, ScimConnector, Tls
from idlcm.settings import Settings
from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from scimapp import ScimApp


async def start(cluster: Cluster, operator: OperatorFactory, app: ScimApp, settings: Settings = FAST) -> None:
    await cluster.create_secret("acme-token", {"token": app.token})
    await operator(settings)


async def test_provisioning_creates_exactly_the_declared_accounts(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice", "bob", title="Engineer")))

    obj = await cluster.wait_status("crm", "UpToDate")

    users = in_app(scim_app)
    assert set(users) == {"alice@example.com", "bob@example.com"}
    assert users["alice@example.com"]["displayName"] == "Alice"
    assert users["alice@example.com"]["title"] == "Engineer"
    assert users["alice@example.com"]["externalId"].startswith(f"idlcm:{cluster.namespace}/crm:")
    status = obj["status"]
    assert status["accounts"]["summary"] == "2/2"
    assert status["lastOperation"]["type"] == "Provision"
    assert status["lastOperation"]["result"] == "Succeeded"
    assert status["lastOperation"]["counts"]["created"] == 2
    assert status["lastSyncTime"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"


async def test_changing_an_attribute_patches_only_that_attribute(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice", "bob")))
    await cluster.wait_status("crm", "UpToDate")
    writes_before = len(scim_app.requests.writes)

    changed = [{"userName": "alice@example.com", "displayName": "Alice L."}, *people("bob")]
    await cluster.patch_integration("crm", {"spec": {"accounts": changed}})
    obj = await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (
            (o or {}).get("status", {}).get("observedGeneration") == 2 and o["status"]["status"] == "UpToDate"
        ),  # type: ignore[index]
    )

    assert in_app(scim_app)["alice@example.com"]["displayName"] == "Alice L."
    assert obj is not None
    assert obj["status"]["lastOperation"]["type"] == "Update"
    assert obj["status"]["lastOperation"]["counts"]["updated"] == 1
    writes = scim_app.requests.writes[writes_before:]
    assert [w.method for w in writes] == ["PATCH"]


@pytest.mark.parametrize(("mode", "expected"), [("Deactivate", "inactive"), ("Delete", "gone")])
async def test_removing_an_account_deprovisions_it_per_mode(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, mode: str, expected: str
) -> None:
    await start(cluster, operator, scim_app)
    spec = spec_for(scim_app, *people("alice", "bob"), deprovision={"mode": mode})
    await cluster.create_integration("crm", spec)
    await cluster.wait_status("crm", "UpToDate")

    await cluster.patch_integration("crm", {"spec": {"accounts": people("alice")}})
    await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (o or {})["status"].get("observedGeneration") == 2 and o["status"]["status"] == "UpToDate",  # type: ignore[index]
    )

    users = in_app(scim_app)
    if expected == "gone":
        assert set(users) == {"alice@example.com"}
    else:
        assert users["bob@example.com"]["active"] is False
        assert users["alice@example.com"]["active"] is True


async def test_sync_repairs_drift_made_in_the_app(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice"), sync={"interval": "1s"}))
    await cluster.wait_status("crm", "UpToDate")

    # An admin changes the account in the app, out of band.
    connector = ScimConnector(scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True))
    alice = await connector.find_account(user_name="alice@example.com")
    assert alice is not None
    await connector.update(alice, {"display_name": "Tampered", "active": False})
    await connector.aclose()
    assert in_app(scim_app)["alice@example.com"]["displayName"] == "Tampered"

    async def repaired() -> bool:
        while in_app(scim_app)["alice@example.com"].get("displayName") != "Alice":
            await asyncio.sleep(0.1)
        return True

    assert await asyncio.wait_for(repaired(), timeout=10)
    assert in_app(scim_app)["alice@example.com"]["active"] is True
    obj = await cluster.get("integrations", "crm")
    assert obj is not None
    assert obj["status"]["lastOperation"]["type"] == "Sync"


async def test_unowned_account_is_reported_not_touched_unless_adoption_is_asked(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    connector = ScimConnector(scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True))
    await connector.create(Account(user_name="alice@example.com", display_name="Made by hand"))
    await connector.aclose()
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice", "bob")))

    failed = await cluster.wait_status("crm", "Failed")
    failures = failed["status"]["lastOperation"]["failures"]
    assert [f["userName"] for f in failures] == ["alice@example.com"]
    assert "adoptExisting" in failures[0]["message"]
    assert failed["status"]["accounts"]["summary"] == "1/2"
    assert in_app(scim_app)["alice@example.com"]["displayName"] == "Made by hand"
    assert "externalId" not in in_app(scim_app)["alice@example.com"]

    await cluster.patch_integration("crm", {"spec": {"sync": {"adoptExisting": True}}})
    await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (o or {})["status"].get("observedGeneration") == 2 and o["status"]["status"] == "UpToDate",  # type: ignore[index]
    )
    alice = in_app(scim_app)["alice@example.com"]
    assert alice["displayName"] == "Alice"
    assert alice["externalId"].startswith(f"idlcm:{cluster.namespace}/crm:")


async def test_dry_run_publishes_the_plan_and_writes_nothing(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice", "bob"), dryRun=True))

    obj = await cluster.wait_for(
        "integrations", "crm", lambda o: (o or {}).get("status", {}).get("reason") == "DryRun"
    )
    assert obj is not None
    plan = obj["status"]["plan"]
    assert plan["creates"] == 2
    assert {i["userName"] for i in plan["items"]} == {"alice@example.com", "bob@example.com"}
    assert obj["status"]["status"] == "Validated"
    assert scim_app.users() == []
    assert [w for w in scim_app.requests.writes if "/Users" in w.path] == []


async def test_suspend_stops_all_writes(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice"), suspend=True))

    obj = await cluster.wait_for(
        "integrations", "crm", lambda o: (o or {}).get("status", {}).get("reason") == "Suspended"
    )
    assert obj is not None
    assert "suspend" in obj["status"]["message"]
    assert scim_app.users() == []


async def test_mass_deprovision_stops_for_review_until_approved(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    spec = spec_for(scim_app, *people("a", "b", "c", "d"), deprovision={"maxDeletions": 2})
    await cluster.create_integration("crm", spec)
    await cluster.wait_status("crm", "UpToDate")
    writes_before = len(scim_app.requests.writes)

    await cluster.patch_integration("crm", {"spec": {"accounts": people("a")}})
    review = await cluster.wait_status("crm", "UnderReview")

    assert review["status"]["reason"] == "TooManyDeletions"
    assert review["status"]["plan"]["deactivations"] == 3
    assert len(scim_app.requests.writes) == writes_before  # nothing written
    assert all(u["active"] for u in in_app(scim_app).values())

    await cluster.patch_integration("crm", {"metadata": {"annotations": {"idlcm.io/revalidate": "approve"}}})
    await cluster.wait_status("crm", "UpToDate")
    users = in_app(scim_app)
    assert [n for n, u in sorted(users.items()) if u["active"]] == ["a@example.com"]


async def test_retryable_failure_goes_retrying_then_up_to_date(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)
    await start(cluster, operator, scim_app)
    scim_app.faults.arm(503, retry_after=1, times=2, path_prefix="/Users", methods={"POST"})
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))

    retrying = await cluster.wait_status("crm", "Retrying")
    retry = retrying["status"]["retry"]
    assert retry["attempt"] == 1
    assert retry["operation"] == "Provision"
    assert retry["backoffSeconds"] >= 1  # the app's Retry-After wins over a shorter backoff
    assert retry["nextRetryAt"]
    assert "alice@example.com" in retry["lastError"]
    assert "503" in retry["lastError"]

    obj = await cluster.wait_status("crm", "UpToDate", timeout=20)
    assert "retry" not in obj["status"]
    assert set(in_app(scim_app)) == {"alice@example.com"}


async def test_permanent_failure_is_failed_with_the_account_named(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)
    await start(cluster, operator, scim_app)
    scim_app.faults.arm(400, times=None, path_prefix="/Users", methods={"POST"}, detail="userName rejected")
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))

    failed = await cluster.wait_status("crm", "Failed")
    failure = failed["status"]["lastOperation"]["failures"][0]
    assert failure["userName"] == "alice@example.com"
    assert failure["operation"] == "Create"
    assert failure["httpStatus"] == 400
    conditions = {c["type"]: c["status"] for c in failed["status"]["conditions"]}
    assert conditions["Stalled"] == "True"


async def test_deleting_the_integration_deprovisions_its_accounts(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration(
        "crm", spec_for(scim_app, *people("alice", "bob"), deprovision={"mode": "Delete"})
    )
    await cluster.wait_status("crm", "UpToDate")

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None)

    assert scim_app.users() == []


async def test_orphan_policy_leaves_accounts_on_delete(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice"), deletionPolicy="Orphan"))
    await cluster.wait_status("crm", "UpToDate")

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None)

    assert in_app(scim_app)["alice@example.com"]["active"] is True


async def test_recreated_integration_takes_back_the_accounts_of_its_former_self(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    # Under GitOps a delete and re-create is routine: the new Integration (a new uid) finds its own name's
    # accounts and takes them back, instead of a 409 asking for adoptExisting.
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice"), deletionPolicy="Orphan"))
    first = await cluster.wait_status("crm", "UpToDate")
    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None)

    await cluster.create_integration("crm", spec_for(scim_app, *people("alice"), deletionPolicy="Orphan"))
    again = await cluster.wait_status("crm", "UpToDate")
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    assert again["status"]["lastOperation"]["counts"]["adopted"] == 1
    held = in_app(scim_app)
    assert list(held) == ["alice@example.com"]
    meta = again["metadata"]
    assert held["alice@example.com"]["externalId"].startswith(f"idlcm:{meta['namespace']}/crm:{meta['uid']}:")


async def test_token_rotation_through_the_secret_revalidates_and_carries_on(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))
    before = await cluster.wait_status("crm", "UpToDate")

    scim_app.token = "rotated-token-" + scim_app.token[-8:]  # the app now accepts only the new token
    await cluster.update_secret("acme-token", {"token": scim_app.token})

    def revalidated(o: dict[str, Any] | None) -> bool:
        status = (o or {}).get("status", {})
        return status.get("status") == "UpToDate" and status["validation"] != before["status"]["validation"]

    await cluster.wait_for("integrations", "crm", revalidated)
    assert "SecretChanged" in {e.reason for e in await cluster.events_for("crm")}

    await cluster.patch_integration("crm", {"spec": {"accounts": people("alice", "bob")}})
    await cluster.wait_for(
        "integrations", "crm", lambda o: (o or {})["status"].get("accounts", {}).get("summary") == "2/2"
    )
    assert set(in_app(scim_app)) == {"alice@example.com", "bob@example.com"}


async def test_group_membership_follows_the_declared_groups(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    accounts = [*people("alice", groups=["engineering", "oncall"]), *people("bob", groups=["engineering"])]
    await cluster.create_integration("crm", spec_for(scim_app, *accounts))
    await cluster.wait_status("crm", "UpToDate")

    def members() -> dict[str, set[str]]:
        ids = {u.id: u.user_name for u in scim_app.users()}
        return {g.display_name: {ids[m.value] for m in g.members or []} for g in scim_app.groups()}

    assert members() == {
        "engineering": {"alice@example.com", "bob@example.com"},
        "oncall": {"alice@example.com"},
    }

    accounts = [*people("alice", groups=["engineering"]), *people("bob", groups=["engineering", "oncall"])]
    await cluster.patch_integration("crm", {"spec": {"accounts": accounts}})
    await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (o or {})["status"].get("observedGeneration") == 2 and o["status"]["status"] == "UpToDate",  # type: ignore[index]
    )
    assert members() == {
        "engineering": {"alice@example.com", "bob@example.com"},
        "oncall": {"bob@example.com"},
    }


async def test_a_create_whose_answer_was_lost_is_not_duplicated(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)
    await start(cluster, operator, scim_app)
    # The app creates the account, then the connection drops before the answer arrives.
    scim_app.faults.arm(None, drop=True, passthrough=True, times=1, path_prefix="/Users", methods={"POST"})
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))

    await cluster.wait_status("crm", "UpToDate", timeout=20)

    assert [u.user_name for u in scim_app.users()] == ["alice@example.com"]
    posts = [r for r in scim_app.requests.select("POST") if r.path.endswith("/Users")]
    assert len(posts) == 1  # the retry found the account by its externalId instead of creating it again


async def test_a_failing_app_does_not_block_deletion_forever(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.create_integration(
        "crm", spec_for(scim_app, *people("alice"), deprovision={"mode": "Delete"})
    )
    await cluster.wait_status("crm", "UpToDate")
    scim_app.faults.arm(503, times=None, path_prefix="/Users", methods={"DELETE", "PATCH", "PUT"})

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=30)

    warnings = [e for e in await cluster.events_for("crm") if e.type == "Warning"]
    assert any(e.reason == "DeprovisionIncomplete" and "alice@example.com" in e.message for e in warnings)
    assert set(in_app(scim_app)) == {"alice@example.com"}  # left behind, and said so


async def test_accounts_from_a_configmap_follow_its_changes(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    source = {"configMapRef": {"name": "roster", "key": "roster.csv"}}
    await cluster.create_integration("crm", spec_for(scim_app, accountsFrom=[source]))

    # The ConfigMap does not exist yet (GitOps may apply it later): retried, nothing written.
    retrying = await cluster.wait_status("crm", "Retrying")
    assert "ConfigMap" in retrying["status"]["retry"]["lastError"]
    assert scim_app.users() == []

    roster = "userName,displayName,groups\nalice@example.com,Alice,eng\nbob@example.com,Bob,\n"
    await cluster.apply_configmap("roster", {"roster.csv": roster})
    await cluster.wait_for(
        "integrations", "crm", lambda o: (o or {})["status"].get("accounts", {}).get("summary") == "2/2"
    )
    assert set(in_app(scim_app)) == {"alice@example.com", "bob@example.com"}

    await cluster.apply_configmap("roster", {"roster.csv": roster + "carol@example.com,Carol,\n"})
    await cluster.wait_for(
        "integrations", "crm", lambda o: (o or {})["status"].get("accounts", {}).get("summary") == "3/3"
    )
    assert set(in_app(scim_app)) == {"alice@example.com", "bob@example.com", "carol@example.com"}


async def test_a_roster_that_cannot_be_understood_writes_nothing(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await start(cluster, operator, scim_app)
    await cluster.apply_configmap(
        "roster", {"roster.csv": "userName,emial\nalice@example.com,a@example.com\n"}
    )
    source = {"configMapRef": {"name": "roster", "key": "roster.csv"}}
    await cluster.create_integration("crm", spec_for(scim_app, *people("bob"), accountsFrom=[source]))

    failed = await cluster.wait_status("crm", "Failed")
    assert failed["status"]["reason"] == "InvalidAccounts"
    assert "emial" in failed["status"]["message"]
    assert scim_app.users() == []  # not even the inline account: no partial write
