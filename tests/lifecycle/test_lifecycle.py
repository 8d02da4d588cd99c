"""The operator moves Integrations through the documented states, with status, Events and a finalizer."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from idlcm.backoff import BackoffPolicy
from idlcm.settings import Settings
from lifecycle.conftest import FAST, Cluster, OperatorFactory, spec_for
from scimapp import ScimApp


async def test_first_integration_of_an_app_goes_under_validation_then_validated(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.create_integration("crm-sales", spec_for(scim_app))

    obj = await cluster.wait_status("crm-sales", "UpToDate")

    assert await cluster.announced("crm-sales", "UpToDate") == [
        "UnderValidation",
        "Validating",
        "Validated",
        "InProgress",
        "UpToDate",
    ]
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Validated"]["status"] == "True"
    assert conditions["Reconciling"]["status"] == "False"
    assert conditions["Stalled"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    checks = {c["name"]: c["result"] for c in status["validation"]["checks"]}
    # The app's first validation ran through this Integration: its checks show here too.
    assert checks.pop("canary") == "Skipped"  # only with validation.canary: true
    assert set(checks.values()) == {"Passed"}
    assert {"spec", "credentials", "connectivity", "tls", "authentication", "discovery"} <= set(checks)
    assert "idlcm.io/finalizer" in obj["metadata"]["finalizers"]

    # The count is written in the background (one listing for a burst of Integrations).
    app = await cluster.wait_for(
        "externalapps", "acme-crm", lambda a: (a or {})["status"].get("integrations") == 1
    )
    assert app is not None
    assert app["status"]["state"] == "Validated"
    assert app["status"]["validatedThrough"]["name"] == "crm-sales"
    assert scim_app.token not in str(obj) + str(app) + str(await cluster.events_for("crm-sales"))


async def test_second_integration_of_validated_app_skips_under_validation(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.create_integration("crm-sales", spec_for(scim_app))
    await cluster.wait_status("crm-sales", "UpToDate")

    await cluster.create_integration("crm-ops", spec_for(scim_app))
    await cluster.wait_status("crm-ops", "UpToDate")

    assert await cluster.announced("crm-ops", "UpToDate") == [
        "Validating",
        "Validated",
        "InProgress",
        "UpToDate",
    ]
    app = await cluster.wait_for(
        "externalapps", "acme-crm", lambda a: (a or {})["status"].get("integrations") == 2
    )
    assert app is not None
    assert app["status"]["validatedThrough"]["name"] == "crm-sales"


async def test_integrations_created_together_share_one_app_validation(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    names = [f"crm-{i}" for i in range(4)]
    for name in names:
        await cluster.create_integration(name, spec_for(scim_app))
    await operator()

    for name in names:
        await cluster.wait_status(name, "UpToDate")
    app = await cluster.wait_for(
        "externalapps", "acme-crm", lambda a: (a or {})["status"].get("integrations") == 4
    )
    assert app is not None
    owner = app["status"]["validatedThrough"]["name"]
    assert owner in names
    assert (await cluster.announced(owner, "UpToDate"))[:3] == [
        "UnderValidation",
        "Validating",
        "Validated",
    ]
    for name in names:
        # The others waited in UnderValidation, or started after the app was validated and skipped it.
        seen = await cluster.announced(name, "UpToDate")
        assert seen[-4:] == ["Validating", "Validated", "InProgress", "UpToDate"]


async def test_missing_secret_fails_validation_then_retries_until_it_appears(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    slow_retries = Settings(
        validation_backoff=BackoffPolicy(base=1.0, factor=1.0, cap=1.0, max_attempts=20),
        tick=0.2,
        field_validation="Strict",
    )
    await operator(slow_retries)
    await cluster.create_integration("crm-sales", spec_for(scim_app))

    failed = await cluster.wait_status("crm-sales", "ValidationFailed")
    status = failed["status"]
    assert "acme-token" in status["message"]
    assert status["retry"]["operation"] == "Validate"
    assert status["retry"]["attempt"] >= 1
    assert status["retry"]["maxAttempts"] == 20
    assert 0 <= status["retry"]["backoffSeconds"] <= 1.0
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "False", "Validated": "False", "Reconciling": "True", "Stalled": "False"}

    await cluster.create_secret("acme-token", {"token": scim_app.token})
    obj = await cluster.wait_status("crm-sales", "UpToDate")
    assert "retry" not in obj["status"]


async def test_a_secret_applied_with_its_integration_is_not_a_change(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    # Applied together (kustomize, Argo CD): the Secret's watch event may arrive after the first
    # validation has read it. That version is the one validated, so it restarts nothing.
    await operator(FAST)
    await cluster.create_secret("acme-token", {"token": "not-the-token"})
    await cluster.create_integration("crm-sales", spec_for(scim_app))

    review = await cluster.wait_status("crm-sales", "UnderReview")
    assert review["status"]["reason"] == "InvalidCredentials"
    assert set(review["status"]["secretVersions"]) == {"acme-token"}
    await asyncio.sleep(1.0)  # the Secret's events have long been seen
    assert "SecretChanged" not in {e.reason for e in await cluster.events_for("crm-sales")}

    await cluster.update_secret("acme-token", {"token": scim_app.token})
    await cluster.wait_status("crm-sales", "UpToDate")
    assert "SecretChanged" in {e.reason for e in await cluster.events_for("crm-sales")}


async def test_a_secret_reapplied_unchanged_validates_nothing_again(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, caplog: pytest.LogCaptureFixture
) -> None:
    # `kubectl apply` of the same Secret adds only its last-applied annotation; a key the Integration does
    # not read may change too. Neither is a reason to validate and run an Update again.
    caplog.set_level(logging.INFO, logger="idlcm.handlers")
    await operator(FAST)
    await cluster.create_secret("acme-token", {"token": scim_app.token, "other": "a"})
    await cluster.create_integration("crm-sales", spec_for(scim_app))
    before = (await cluster.wait_status("crm-sales", "UpToDate"))["status"]

    annotation = {"kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Secret"}'}
    await cluster.call(
        cluster.core.patch_namespaced_secret,
        "acme-token",
        cluster.namespace,
        {"metadata": {"annotations": annotation}},
    )
    await cluster.update_secret("acme-token", {"other": "b"})
    deadline = time.monotonic() + 10
    while sum("not in the keys crm-sales reads" in r.getMessage() for r in caplog.records) < 2:
        assert time.monotonic() < deadline, "the Secret's changes were not looked at"
        await asyncio.sleep(0.05)
    assert "SecretChanged" not in {e.reason for e in await cluster.events_for("crm-sales")}
    after = (await cluster.get("integrations", "crm-sales") or {})["status"]
    assert after["lastOperation"] == before["lastOperation"]
    assert after["validation"] == before["validation"]

    # A new value of the key it reads is a change.
    scim_app.token = "rotated-" + scim_app.token
    await cluster.update_secret("acme-token", {"token": scim_app.token})
    deadline = time.monotonic() + 15
    while "SecretChanged" not in {e.reason for e in await cluster.events_for("crm-sales")}:
        assert time.monotonic() < deadline, "the new token was not validated"
        await asyncio.sleep(0.05)
    await cluster.wait_status("crm-sales", "UpToDate")


async def test_repeated_validation_failure_stops_for_review_until_a_human_acts(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator(FAST)
    await cluster.create_integration("crm-sales", spec_for(scim_app))
    await cluster.create_integration("crm-ops", spec_for(scim_app))

    review = await cluster.wait_status("crm-sales", "UnderReview")
    assert review["status"]["reason"] == "ValidationRetriesExhausted"
    conditions = {c["type"]: c["status"] for c in review["status"]["conditions"]}
    assert conditions["Stalled"] == "True"
    assert conditions["Reconciling"] == "False"
    await cluster.wait_status("crm-ops", "UnderReview")

    await asyncio.sleep(1.0)  # many ticks: automation stays stopped while nothing changes
    assert (await cluster.get("integrations", "crm-sales") or {})["status"]["status"] == "UnderReview"

    # The referenced Secret appearing is a change a human made: both validate again.
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.wait_status("crm-sales", "UpToDate")
    await cluster.wait_status("crm-ops", "UpToDate")
    assert "SecretChanged" in {e.reason for e in await cluster.events_for("crm-sales")}

    # So is the revalidate annotation, from any state.
    await cluster.patch_integration("crm-sales", {"metadata": {"annotations": {"idlcm.io/revalidate": "1"}}})
    deadline = time.monotonic() + 10
    while "RevalidateRequested" not in {e.reason for e in await cluster.events_for("crm-sales")}:
        assert time.monotonic() < deadline, "the revalidate annotation was not acted on"
        await asyncio.sleep(0.05)
    await cluster.wait_status("crm-sales", "UpToDate")


async def test_spec_the_schema_accepts_but_the_operator_cannot_use_goes_under_review(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    accounts = [{"userName": "Alice@example.com"}, {"userName": "alice@example.com"}]
    await cluster.create_integration("crm-sales", spec_for(scim_app, *accounts))

    review = await cluster.wait_status("crm-sales", "UnderReview")
    assert review["status"]["reason"] == "InvalidSpec"
    assert "duplicate userName" in review["status"]["message"]

    await cluster.patch_integration("crm-sales", {"spec": {"accounts": [{"userName": "alice@example.com"}]}})
    obj = await cluster.wait_status("crm-sales", "UpToDate")
    assert obj["status"]["observedGeneration"] == 2
    assert [u.user_name for u in scim_app.users()] == ["alice@example.com"]


async def test_deleting_an_integration_releases_its_finalizer_and_updates_the_app(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.create_integration("crm-sales", spec_for(scim_app))
    await cluster.create_integration("crm-ops", spec_for(scim_app))
    await cluster.wait_status("crm-sales", "UpToDate")
    await cluster.wait_status("crm-ops", "UpToDate")

    await cluster.delete_integration("crm-sales")

    await cluster.wait_for("integrations", "crm-sales", lambda o: o is None)
    # Counts are spaced by twenty times the last listing's duration (appcounts.SHARE): on a loaded machine
    # the recount may come many seconds later, so the bound is generous.
    app = await cluster.wait_for(
        "externalapps", "acme-crm", lambda a: (a or {})["status"].get("integrations") == 1, timeout=60
    )
    assert app is not None
    assert app["status"]["integrationNames"] == ["crm-ops"]
