"""Each Integration's own quick check: its credentials and mapped attributes; no discovery, no writes."""

from __future__ import annotations

from idlcm.validation import ConnectorValidator
from scimapp import ScimApp
from validation.conftest import results, scim_app_target, target


async def test_quick_check_passes_with_one_authenticated_request_and_no_writes(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    report = await validator.validate_integration(scim_app_target(scim_app))

    assert report.outcome == "Passed", report.message
    assert results(report) == {
        "spec": "Passed",
        "credentials": "Passed",
        "connectivity": "Passed",
        "tls": "Passed",
        "authentication": "Passed",
        "listing": "Passed",
        "schema": "Passed",
        "capabilities": "Passed",
    }
    paths = sorted({r.path for r in scim_app.requests})
    assert paths == ["/v2/ResourceTypes", "/v2/Schemas", "/v2/ServiceProviderConfig", "/v2/Users"]
    assert len(scim_app.requests.select("GET", "/v2/Users")) == 1
    assert scim_app.requests.writes == []


async def test_quick_check_reads_the_service_provider_config_once_with_its_credentials(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    report = await validator.validate_integration(scim_app_target(scim_app))

    assert report.outcome == "Passed", report.message
    [config] = scim_app.requests.select("GET", "/v2/ServiceProviderConfig")
    assert config.headers.get("authorization") == "***"  # sent with the credentials (redacted in the log)
    assert len(scim_app.requests) == 4  # the configuration, one account, the resource types, the schemas


async def test_quick_check_uses_this_integrations_own_credentials(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    good = await validator.validate_integration(scim_app_target(scim_app, name="crm-sales"))
    wrong = target(scim_app.base_url, "wrong-token-123", name="crm-ops")
    first = await validator.validate_integration(wrong)
    second = await validator.validate_integration(wrong)

    assert good.outcome == "Passed"
    assert (first.outcome, first.reason) == ("Failed", "InvalidCredentials")
    assert (second.outcome, second.reason) == ("NeedsReview", "InvalidCredentials")


async def test_quick_check_of_an_unavailable_app_is_retried(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(503, times=None, retry_after=1)

    report = await validator.validate_integration(scim_app_target(scim_app))

    assert (report.outcome, report.reason) == ("Failed", "AppUnavailable")
    assert results(report)["schema"] == "Skipped"


async def test_a_passing_check_forgets_an_earlier_refusal(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    wrong = target(scim_app.base_url, "wrong-token-123")
    await validator.validate_integration(wrong)
    assert (await validator.validate_integration(scim_app_target(scim_app, version="2"))).outcome == "Passed"

    again = await validator.validate_integration(wrong)

    assert again.outcome == "Failed"  # a fresh refusal gets its retry again
