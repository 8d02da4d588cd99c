"""The canary (`validation.canary: true`): one temporary account created, patched, deleted."""

from __future__ import annotations

from idlcm.validation import ConnectorValidator
from scimapp import ScimApp
from validation.conftest import results, scim_app_target

CANARY = {"validation": {"canary": True}}


def _writes(scim_app: ScimApp) -> list[tuple[str, str]]:
    return [
        (r.method, r.path.rsplit("/", 1)[0] if r.path.count("/") > 2 else r.path)
        for r in scim_app.requests.writes
    ]


async def test_canary_creates_patches_and_deletes_exactly_one_account(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    report = await validator.validate_app(scim_app_target(scim_app, **CANARY))

    assert report.outcome == "Passed", report.message
    assert results(report)["canary"] == "Passed"
    assert _writes(scim_app) == [("POST", "/v2/Users"), ("PATCH", "/v2/Users"), ("DELETE", "/v2/Users")]
    created = scim_app.requests.select("POST", "/v2/Users")[0].json()
    assert created["userName"].startswith("idlcm-canary-")
    assert created["externalId"].startswith("idlcm-canary:team-sales/crm-sales:")
    assert created["active"] is False
    account_id = scim_app.requests.select("DELETE")[0].path.rsplit("/", 1)[1]
    assert scim_app.requests.select("PATCH")[0].path.endswith(account_id)
    assert scim_app.users() == []


async def test_canary_write_forbidden_needs_review(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    scim_app.faults.arm(403, path_prefix="/Users", methods={"POST"})

    report = await validator.validate_app(scim_app_target(scim_app, **CANARY))

    assert (report.outcome, report.reason) == ("NeedsReview", "CanaryWriteForbidden")
    assert "create of the canary account idlcm-canary-" in report.message
    assert scim_app.users() == []


async def test_canary_is_deleted_when_its_patch_is_forbidden(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(403, path_prefix="/Users", methods={"PATCH"})

    report = await validator.validate_app(scim_app_target(scim_app, **CANARY))

    assert (report.outcome, report.reason) == ("NeedsReview", "CanaryWriteForbidden")
    assert "patch of the canary account" in report.message
    assert [m for m, _ in _writes(scim_app)] == ["POST", "PATCH", "DELETE"]
    assert scim_app.users() == []


async def test_canary_whose_create_answer_was_lost_is_found_and_deleted(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(drop=True, passthrough=True, path_prefix="/Users", methods={"POST"})

    report = await validator.validate_app(scim_app_target(scim_app, **CANARY))

    assert report.outcome == "Failed"  # retried: the app may just have hiccuped
    assert scim_app.requests.select("DELETE")
    assert scim_app.users() == []


async def test_canary_that_cannot_be_deleted_says_so(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(403, path_prefix="/Users", methods={"DELETE"})

    report = await validator.validate_app(scim_app_target(scim_app, **CANARY))

    assert (report.outcome, report.reason) == ("NeedsReview", "CanaryWriteForbidden")
    assert "from the app by hand" in report.message
    [left] = scim_app.users()
    assert left.user_name in report.message


async def test_no_canary_unless_asked(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    report = await validator.validate_app(scim_app_target(scim_app))

    assert results(report)["canary"] == "Skipped"
    assert scim_app.requests.writes == []


async def test_no_canary_after_a_failed_check(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    scim_app.faults.arm(503, times=None, path_prefix="/Users", methods={"GET"})

    report = await validator.validate_app(scim_app_target(scim_app, **CANARY))

    assert report.outcome == "Failed"
    assert results(report)["canary"] == "Skipped"
    assert scim_app.requests.writes == []
