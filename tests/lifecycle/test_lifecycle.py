"""The operator moves Integrations through the documented states, with status, Events and a finalizer."""

from __future__ import annotations

import asyncio
import time

from idlcm.backoff import BackoffPolicy
from idlcm.settings import Settings
from lifecycle.conftest import FAST, Cluster, OperatorFactory, scim_spec

TOKEN = "s3cr3t-canary-token-4242"


async def statuses_from_events(cluster: Cluster, name: str, until: str, timeout: float = 10.0) -> list[str]:
    """The sequence of states the operator announced in Events for this Integration."""
    deadline = time.monotonic() + timeout
    while True:
        events = await cluster.events_for(name)
        seen = [e.message.split(":", 1)[0] for e in events if e.message and ":" in e.message]
        if until in seen or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.05)


async def test_first_integration_of_an_app_goes_under_validation_then_validated(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": TOKEN})
    await cluster.create_integration("crm-sales", scim_spec())

    obj = await cluster.wait_status("crm-sales", "Validated")

    assert await statuses_from_events(cluster, "crm-sales", "Validated") == [
        "UnderValidation",
        "Validating",
        "Validated",
    ]
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Validated"]["status"] == "True"
    assert conditions["Reconciling"]["status"] == "False"
    assert conditions["Stalled"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    assert {c["name"]: c["result"] for c in status["validation"]["checks"]} == {
        "spec": "Passed",
        "credentials": "Passed",
    }
    assert "idlcm.io/finalizer" in obj["metadata"]["finalizers"]

    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "Validated"
    assert app["status"]["validatedThrough"]["name"] == "crm-sales"
    assert app["status"]["integrations"] == 1
    assert TOKEN not in str(obj) + str(app) + str(await cluster.events_for("crm-sales"))


async def test_second_integration_of_validated_app_skips_under_validation(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": TOKEN})
    await cluster.create_integration("crm-sales", scim_spec())
    await cluster.wait_status("crm-sales", "Validated")

    await cluster.create_integration("crm-ops", scim_spec())
    await cluster.wait_status("crm-ops", "Validated")

    assert await statuses_from_events(cluster, "crm-ops", "Validated") == ["Validating", "Validated"]
    app = await cluster.wait_for(
        "externalapps", "acme-crm", lambda a: (a or {})["status"].get("integrations") == 2
    )
    assert app is not None
    assert app["status"]["validatedThrough"]["name"] == "crm-sales"


async def test_integrations_created_together_share_one_app_validation(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    await cluster.create_secret("acme-token", {"token": TOKEN})
    names = [f"crm-{i}" for i in range(4)]
    for name in names:
        await cluster.create_integration(name, scim_spec())
    await operator()

    for name in names:
        await cluster.wait_status(name, "Validated")
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    owner = app["status"]["validatedThrough"]["name"]
    assert owner in names
    assert app["status"]["integrations"] == 4
    assert await statuses_from_events(cluster, owner, "Validated") == [
        "UnderValidation",
        "Validating",
        "Validated",
    ]
    for name in names:
        # The others waited in UnderValidation, or started after the app was validated and skipped it.
        assert (await statuses_from_events(cluster, name, "Validated"))[-2:] == ["Validating", "Validated"]


async def test_missing_secret_fails_validation_then_retries_until_it_appears(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    slow_retries = Settings(
        validation_backoff=BackoffPolicy(base=1.0, factor=1.0, cap=1.0, max_attempts=20),
        app_validation_poll=0.2,
    )
    await operator(slow_retries)
    await cluster.create_integration("crm-sales", scim_spec())

    failed = await cluster.wait_status("crm-sales", "ValidationFailed")
    status = failed["status"]
    assert "acme-token" in status["message"]
    assert status["retry"]["operation"] == "Validate"
    assert status["retry"]["attempt"] >= 1
    assert status["retry"]["maxAttempts"] == 20
    assert 0 <= status["retry"]["backoffSeconds"] <= 1.0
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "False", "Validated": "False", "Reconciling": "True", "Stalled": "False"}

    await cluster.create_secret("acme-token", {"token": TOKEN})
    obj = await cluster.wait_status("crm-sales", "Validated")
    assert "retry" not in obj["status"]


async def test_repeated_validation_failure_stops_for_review_until_revalidate(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    await operator(FAST)
    await cluster.create_integration("crm-sales", scim_spec())

    review = await cluster.wait_status("crm-sales", "UnderReview")
    assert review["status"]["reason"] == "ValidationRetriesExhausted"
    conditions = {c["type"]: c["status"] for c in review["status"]["conditions"]}
    assert conditions["Stalled"] == "True"
    assert conditions["Reconciling"] == "False"

    await cluster.create_secret("acme-token", {"token": TOKEN})
    await asyncio.sleep(1.0)  # a Secret alone is not a way out of UnderReview
    assert (await cluster.get("integrations", "crm-sales") or {})["status"]["status"] == "UnderReview"

    await cluster.patch_integration("crm-sales", {"metadata": {"annotations": {"idlcm.io/revalidate": "1"}}})
    await cluster.wait_status("crm-sales", "Validated")


async def test_spec_the_schema_accepts_but_the_operator_cannot_use_goes_under_review(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": TOKEN})
    accounts = [{"userName": "Alice@example.com"}, {"userName": "alice@example.com"}]
    await cluster.create_integration("crm-sales", scim_spec(accounts=accounts))

    review = await cluster.wait_status("crm-sales", "UnderReview")
    assert review["status"]["reason"] == "InvalidSpec"
    assert "duplicate userName" in review["status"]["message"]

    await cluster.patch_integration("crm-sales", {"spec": {"accounts": [{"userName": "alice@example.com"}]}})
    obj = await cluster.wait_status("crm-sales", "Validated")
    assert obj["status"]["observedGeneration"] == 2


async def test_deleting_an_integration_releases_its_finalizer_and_updates_the_app(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": TOKEN})
    await cluster.create_integration("crm-sales", scim_spec())
    await cluster.create_integration("crm-ops", scim_spec())
    await cluster.wait_status("crm-sales", "Validated")
    await cluster.wait_status("crm-ops", "Validated")

    await cluster.delete_integration("crm-sales")

    await cluster.wait_for("integrations", "crm-sales", lambda o: o is None)
    app = await cluster.wait_for(
        "externalapps", "acme-crm", lambda a: (a or {})["status"].get("integrations") == 1
    )
    assert app is not None
    assert app["status"]["integrationNames"] == ["crm-ops"]
