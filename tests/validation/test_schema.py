"""Schema compatibility: every attribute an Integration maps exists in the app and is writable."""

from __future__ import annotations

import json

import httpx2

from idlcm.validation import ConnectorValidator, mapped_attributes
from scimapp import ScimApp
from validation.conftest import scim_app_target

USERS_ONLY = json.dumps(
    {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 1,
        "Resources": [
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
            }
        ],
    }
)


def test_an_integration_maps_what_its_accounts_set() -> None:
    spec = scim_app_target(
        ScimApp(),
        accounts=[{"userName": "alice", "title": "Engineer"}, {"userName": "bob", "groups": ["ops"]}],
    ).spec

    assert mapped_attributes(spec) == {"user_name", "external_id", "active", "title", "groups"}


async def test_app_without_groups_is_compatible_until_groups_are_used(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    # The fault answers /ResourceTypes/User too, which upsets scim2-tester: the quick check has no discovery.
    scim_app.faults.arm(200, times=None, path_prefix="/ResourceTypes", body=USERS_ONLY)

    plain = await validator.validate_integration(scim_app_target(scim_app, accounts=[{"userName": "alice"}]))
    grouped = await validator.validate_integration(
        scim_app_target(scim_app, accounts=[{"userName": "bob", "groups": ["engineering"]}])
    )

    assert plain.outcome == "Passed", plain.message
    assert (grouped.outcome, grouped.reason) == ("NeedsReview", "SchemaIncompatible")
    assert "/Groups" in grouped.message


async def test_app_validation_reports_the_missing_groups_too(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(200, times=None, path_prefix="/ResourceTypes", body=USERS_ONLY)

    report = await validator.validate_app(
        scim_app_target(scim_app, accounts=[{"userName": "bob", "groups": ["engineering"]}])
    )

    schema = next(c for c in report.checks if c.name == "schema")
    assert (schema.result, schema.problem_class) == ("Failed", "SchemaIncompatible")
    assert report.outcome == "NeedsReview"


async def test_department_needs_the_enterprise_extension(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    scim_app.faults.arm(200, times=None, path_prefix="/ResourceTypes", body=USERS_ONLY)

    report = await validator.validate_integration(
        scim_app_target(scim_app, accounts=[{"userName": "a", "department": "R&D"}])
    )

    assert (report.outcome, report.reason) == ("NeedsReview", "SchemaIncompatible")
    assert "Enterprise extension" in report.message


async def test_a_mapped_attribute_the_app_keeps_read_only_is_incompatible(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    schemas = httpx2.get(
        scim_app.base_url + "/Schemas", headers={"Authorization": f"Bearer {scim_app.token}"}
    ).json()
    for schema in schemas["Resources"]:
        for attribute in schema["attributes"]:
            if attribute["name"] == "title":
                attribute["mutability"] = "readOnly"
    scim_app.faults.arm(200, times=None, path_prefix="/Schemas", body=json.dumps(schemas))

    untitled = await validator.validate_integration(scim_app_target(scim_app, accounts=[{"userName": "al"}]))
    titled = await validator.validate_integration(
        scim_app_target(scim_app, accounts=[{"userName": "bob", "title": "Engineer"}])
    )

    assert untitled.outcome == "Passed", untitled.message
    assert (titled.outcome, titled.reason) == ("NeedsReview", "SchemaIncompatible")
    assert "title is readOnly" in titled.message


async def test_the_schema_check_names_the_attributes_it_checked(
    scim_app: ScimApp, validator: ConnectorValidator
) -> None:
    report = await validator.validate_integration(
        scim_app_target(scim_app, accounts=[{"userName": "a", "email": "a@example.com", "department": "R&D"}])
    )

    schema = next(c for c in report.checks if c.name == "schema")
    assert schema.result == "Passed"
    for name in ("userName", "active", "emails.value", "department"):
        assert name in schema.message
