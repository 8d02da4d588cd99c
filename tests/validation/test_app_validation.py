"""The app's first validation against a real SCIM app: what passes, what is retried, what needs a human."""

from __future__ import annotations

import pytest

from idlcm.validation import ConnectorValidator
from scimapp import ScimApp
from validation.conftest import results, scim_app_target, target

CANARY_TOKEN = "s3cr3t-canary-token-4242"


async def test_healthy_app_passes_every_check_and_writes_nothing(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    report = await validator.validate_app(scim_app_target(scim_app))

    assert report.outcome == "Passed", report.message
    assert results(report) == {
        "credentials": "Passed",
        "connectivity": "Passed",
        "tls": "Passed",
        "authentication": "Passed",
        "listing": "Passed",
        "discovery": "Passed",
        "schema": "Passed",
        "capabilities": "Passed",
        "canary": "Skipped",
    }
    assert scim_app.requests.writes == []  # not even the 405 probes of the discovery endpoints
    assert scim_app.users() == []


async def test_wrong_token_is_retried_once_then_needs_review(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    wrong = target(scim_app.base_url, "wrong-token-123")

    first = await validator.validate_app(wrong)
    second = await validator.validate_app(wrong)

    assert (first.outcome, first.reason) == ("Failed", "InvalidCredentials")
    assert "mid-rotation" in first.message
    assert (second.outcome, second.reason) == ("NeedsReview", "InvalidCredentials")
    assert results(second)["discovery"] == "Skipped"


async def test_a_rotated_secret_gets_its_own_retry(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    await validator.validate_app(target(scim_app.base_url, "wrong-token-123", version="1"))

    rotated = await validator.validate_app(target(scim_app.base_url, "still-wrong-456", version="2"))

    assert (rotated.outcome, rotated.reason) == ("Failed", "InvalidCredentials")


@pytest.mark.parametrize(
    ("status", "reason"), [(503, "AppUnavailable"), (500, "AppUnavailable"), (429, "Throttled")]
)
async def test_an_app_answering_errors_is_retried_never_reviewed(
    scim_app: ScimApp, validator: ConnectorValidator, status: int, reason: str
) -> None:
    scim_app.faults.arm(status, times=None)

    for _ in range(3):
        report = await validator.validate_app(scim_app_target(scim_app))
        assert (report.outcome, report.reason) == ("Failed", reason), report.message


async def test_an_outage_during_discovery_is_retried(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(503, times=None, path_prefix="/Schemas")

    report = await validator.validate_app(scim_app_target(scim_app))

    assert (report.outcome, report.reason) == ("Failed", "AppUnavailable"), report.message
    assert results(report)["authentication"] == "Passed"
    assert results(report)["discovery"] == "Failed"


async def test_nothing_listening_is_retried(unused_port: int, validator: ConnectorValidator) -> None:
    report = await validator.validate_app(target(f"http://127.0.0.1:{unused_port}/v2", "t0ken-abc"))

    assert (report.outcome, report.reason) == ("Failed", "Unreachable")


async def test_missing_secret_is_retried_without_asking_the_app(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    report = await validator.validate_app(target(scim_app.base_url, None))

    assert (report.outcome, report.reason) == ("Failed", "MissingSecret")
    assert "Secret team-sales/acme-token not found" in report.message
    assert len(scim_app.requests) == 0


async def test_wrong_path_is_not_a_scim_service(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    report = await validator.validate_app(target(scim_app.origin + "/not-scim", scim_app.token))

    assert (report.outcome, report.reason) == ("NeedsReview", "NotScimService")


@pytest.mark.parametrize("capabilities", [{"patch": False}, {"bulk": False}, {"patch": False, "bulk": False}])
async def test_missing_patch_or_bulk_is_only_informational(
    scim_app: ScimApp, validator: ConnectorValidator, capabilities: dict[str, bool]
) -> None:
    scim_app.reset(**capabilities)

    report = await validator.validate_app(scim_app_target(scim_app))

    assert report.outcome == "Passed", report.message
    message = next(c.message for c in report.checks if c.name == "capabilities")
    for name in capabilities:
        assert f"{'PATCH' if name == 'patch' else 'Bulk'} no" in message


async def test_no_secret_value_in_any_message(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    # A careless app that echoes the Authorization header in its errors.
    scim_app.faults.arm(401, times=None, path_prefix="/Users", detail="bad credentials: {authorization}")
    scim_app.faults.arm(500, times=None, path_prefix="/Schemas", detail="oops {authorization}")
    reports = [
        await validator.validate_app(target(scim_app.base_url, CANARY_TOKEN, validation={"canary": True}))
        for _ in range(2)
    ]
    reports.append(await validator.validate_integration(target(scim_app.base_url, CANARY_TOKEN)))

    text = repr(reports) + "".join(r.message for r in reports)
    assert "bad credentials" in text
    assert CANARY_TOKEN not in text
