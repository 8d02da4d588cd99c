"""The validation process end to end: a real kopf operator, the embedded API, a real SCIM app."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from idlcm.backoff import BackoffPolicy
from idlcm.settings import Settings
from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from scimapp import ScimApp

PATIENT = Settings(
    validation_backoff=BackoffPolicy(base=0.2, factor=1.0, cap=0.2, max_attempts=50),
    tick=0.2,
    field_validation="Strict",
    seed=7,
)
APP_CHECKS = [
    "credentials",
    "connectivity",
    "tls",
    "authentication",
    "listing",
    "discovery",
    "schema",
    "capabilities",
]
QUICK_CHECKS = [
    "spec",
    "credentials",
    "connectivity",
    "tls",
    "authentication",
    "listing",
    "schema",
    "capabilities",
]


def suspended(app: ScimApp, **extra: Any) -> dict[str, Any]:
    """An Integration of the loopback app, suspended so that it rests in Validated (no operation runs)."""
    return spec_for(app, suspend=True, **extra)


def checks(obj: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["result"] for c in obj["status"]["validation"]["checks"]}


async def test_the_first_integration_validates_the_app_then_itself(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator(FAST)
    await cluster.create_integration("crm-sales", suspended(scim_app))

    sales = await cluster.wait_status("crm-sales", "Validated")

    assert (await cluster.announced("crm-sales", "Validated"))[:3] == [
        "UnderValidation",
        "Validating",
        "Validated",
    ]
    # The app's checks ran through crm-sales, so they show on it beside its own quick ones.
    assert checks(sales) == {**{name: "Passed" for name in [*QUICK_CHECKS, "discovery"]}, "canary": "Skipped"}
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    findings = {f["name"]: f["result"] for f in app["status"]["findings"]}
    assert findings == {**{name: "Passed" for name in APP_CHECKS}, "canary": "Skipped"}
    assert app["status"]["state"] == "Validated"
    assert scim_app.requests.writes == []

    scim_app.requests.clear()
    await cluster.create_integration("crm-ops", suspended(scim_app))
    ops = await cluster.wait_status("crm-ops", "Validated")

    assert (await cluster.announced("crm-ops", "Validated"))[:2] == ["Validating", "Validated"]
    assert checks(ops) == {name: "Passed" for name in QUICK_CHECKS}
    assert not scim_app.requests.select("GET", "/v2/ResourceTypes/")  # no discovery run the second time


async def test_a_less_conformant_app_is_validated_with_warnings_and_provisioned(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    # As django-scim2 answers: no by-id discovery routes (HTML 404s), and no /Schemas at all.
    html = {"status": 404, "body": "<h1>Not Found</h1>", "content_type": "text/html", "times": None}
    scim_app.faults.arm(**html, path_prefix="/ResourceTypes/")
    scim_app.faults.arm(**html, path_prefix="/Schemas")
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator(FAST)
    await cluster.create_integration("crm-sales", spec_for(scim_app, *people("ada", "bob")))

    done = await cluster.wait_status("crm-sales", "UpToDate")

    assert "UnderReview" not in await cluster.announced("crm-sales", "UpToDate")
    assert {k: v for k, v in checks(done).items() if v == "Warning"} == {
        "discovery": "Warning",
        "schema": "Warning",
    }
    schema = next(c for c in done["status"]["validation"]["checks"] if c["name"] == "schema")
    assert "RFC 7643's core schemas assumed" in schema["message"]
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "Validated"
    assert {f["name"] for f in app["status"]["findings"] if f["result"] == "Warning"} == {
        "discovery",
        "schema",
    }
    assert "with warnings" in app["status"]["message"]
    assert sorted(in_app(scim_app)) == ["ada@example.com", "bob@example.com"]


@pytest.mark.parametrize(
    ("fix", "revalidate"),
    [
        pytest.param("data", True, id="data-then-revalidate"),
        pytest.param("stringData", True, id="stringData-then-revalidate"),  # the demo's kubectl patch
        pytest.param("stringData", False, id="stringData-alone"),  # the Secret's watch event is enough
    ],
)
async def test_a_refused_token_is_retried_once_then_reviewed_until_fixed(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, fix: str, revalidate: bool
) -> None:
    await cluster.create_secret("acme-token", {"token": "wrong-token-123"})
    await operator(FAST)
    await cluster.create_integration("crm-sales", suspended(scim_app))

    review = await cluster.wait_status("crm-sales", "UnderReview")

    seen = await cluster.announced("crm-sales", "UnderReview")
    assert seen == ["UnderValidation", "ValidationFailed", "UnderValidation", "UnderReview"]
    status = review["status"]
    assert status["reason"] == "InvalidCredentials"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Stalled"] == "True"
    assert checks(review)["authentication"] == "Failed"
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "UnderReview"
    refused = next(f for f in app["status"]["findings"] if f["name"] == "authentication")
    assert refused["problemClass"] == "InvalidCredentials"
    assert "wrong-token-123" not in str(review) + str(app) + str(await cluster.events_for("crm-sales"))

    if fix == "data":
        patch = {"data": {"token": base64.b64encode(scim_app.token.encode()).decode()}}
    else:
        patch = {"stringData": {"token": scim_app.token}}
    await cluster.call(cluster.core.patch_namespaced_secret, "acme-token", cluster.namespace, patch)
    if revalidate:
        await cluster.patch_integration(
            "crm-sales", {"metadata": {"annotations": {"idlcm.io/revalidate": "1"}}}
        )

    fixed = await cluster.wait_status("crm-sales", "Validated")
    assert checks(fixed)["authentication"] == "Passed"
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "Validated"


async def test_an_unavailable_app_is_retried_until_it_answers(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    scim_app.faults.arm(503, times=None)
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator(PATIENT)
    await cluster.create_integration("crm-sales", suspended(scim_app))

    failed = await cluster.wait_status("crm-sales", "ValidationFailed")

    status = failed["status"]
    assert status["reason"] == "AppUnavailable"
    assert status["retry"]["operation"] == "Validate"
    assert status["retry"]["attempt"] >= 1
    assert "503" in status["retry"]["lastError"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Reconciling"] == "True"

    scim_app.faults.clear()

    validated = await cluster.wait_status("crm-sales", "Validated")
    assert "retry" not in validated["status"]
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "Validated"
