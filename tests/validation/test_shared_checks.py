"""Integrations that reach one app the same way share its passed schema check for a minute; each still
reaches the app and proves its own credentials itself."""

from __future__ import annotations

import asyncio

from idlcm.connections import ConnectorPool
from idlcm.connectors.base import CheckResult
from idlcm.connectors.shared import SharedChecks
from idlcm.validation import ConnectorValidator
from scimapp import ScimApp
from validation.conftest import basic_target, scim_app_target
from validation.test_schema import USERS_ONLY

DESCRIPTION = ("/v2/ResourceTypes", "/v2/Schemas")


def _reads(scim_app: ScimApp, path: str) -> int:
    return len(scim_app.requests.select("GET", path))


async def test_integrations_of_one_app_share_its_schema_check_but_not_their_own_checks(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    names = ("crm-sales", "crm-ops", "crm-support")
    reports = [await validator.validate_integration(scim_app_target(scim_app, name=n)) for n in names]

    assert [r.outcome for r in reports] == ["Passed"] * 3, [r.message for r in reports]
    assert len({next(c.message for c in r.checks if c.name == "schema") for r in reports}) == 1
    assert [_reads(scim_app, path) for path in DESCRIPTION] == [1, 1]
    assert _reads(scim_app, "/v2/ServiceProviderConfig") == 3  # each reaches the app
    assert _reads(scim_app, "/v2/Users") == 3  # each proves its own credentials


async def test_other_credentials_or_other_attributes_ask_the_app_again(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    await validator.validate_integration(scim_app_target(scim_app))
    grouped = scim_app_target(scim_app, name="crm-ops", accounts=[{"userName": "bob", "groups": ["ops"]}])
    await validator.validate_integration(grouped)
    basic = await validator.validate_integration(basic_target(scim_app, name="crm-basic"))
    assert basic.outcome == "Passed", basic.message

    assert [_reads(scim_app, path) for path in DESCRIPTION] == [3, 3]


async def test_a_failed_schema_check_is_not_kept(scim_app: ScimApp, validator: ConnectorValidator) -> None:
    grouped = [{"userName": "bob", "groups": ["engineering"]}]
    scim_app.faults.arm(200, times=None, path_prefix="/ResourceTypes", body=USERS_ONLY)
    first = await validator.validate_integration(scim_app_target(scim_app, accounts=grouped))
    scim_app.faults.clear()  # a person has made the app serve /Groups
    second = await validator.validate_integration(scim_app_target(scim_app, accounts=grouped))

    assert (first.outcome, first.reason) == ("NeedsReview", "SchemaIncompatible")
    assert second.outcome == "Passed", second.message


async def test_integrations_validated_at_once_wait_for_one_reading(scim_app: ScimApp) -> None:
    pool = ConnectorPool(timeout=5.0)
    try:
        validator = ConnectorValidator(pool)
        targets = [scim_app_target(scim_app, name=f"crm-{i}") for i in range(8)]
        reports = await asyncio.gather(*(validator.validate_integration(t) for t in targets))
    finally:
        await pool.aclose()

    assert {r.outcome for r in reports} == {"Passed"}
    assert [_reads(scim_app, path) for path in DESCRIPTION] == [1, 1]


async def test_a_kept_check_expires_after_its_time() -> None:
    now = [0.0]
    shared = SharedChecks(ttl=60.0, clock=lambda: now[0])
    runs: list[float] = []

    async def run() -> CheckResult:
        runs.append(now[0])
        return CheckResult("schema", True, "ok")

    for at in (0.0, 59.0, 60.0, 61.0):
        now[0] = at
        await shared.get("key", run)

    assert runs == [0.0, 60.0]


async def test_only_the_most_recently_used_checks_are_kept() -> None:
    shared = SharedChecks(max_entries=2)

    async def run() -> CheckResult:
        return CheckResult("schema", True, "ok")

    for key in ("a", "b", "a", "c"):
        await shared.get(key, run)

    assert len(shared) == 2
    ran: list[str] = []

    async def counted() -> CheckResult:
        ran.append("x")
        return CheckResult("schema", True, "ok")

    await shared.get("a", counted)  # kept: used after b
    await shared.get("b", counted)  # dropped for c
    assert ran == ["x"]
