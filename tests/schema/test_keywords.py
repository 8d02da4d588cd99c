"""Each openAPIV3Schema keyword fails with the message the API server gives for it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from idlcm.schema import SchemaValidator

from .objects import integration, integrations, messages, scim


def _errors(schema: dict[str, Any], value: Any) -> list[str]:
    validator = SchemaValidator(
        {"type": "object", "properties": {"spec": {"type": "object", "properties": {"v": schema}}}}
    )
    return messages(validator.admit({"spec": {"v": value}}))


def test_pattern() -> None:
    assert messages(integrations().admit(integration(app="Bad_Name"))) == [
        'spec.app: Invalid value: "Bad_Name": spec.app in body '
        "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
    ]


def test_enum() -> None:
    admission = integrations().admit(integration(deprovision={"mode": "Nuke"}))
    assert messages(admission)[0] == (
        'spec.deprovision.mode: Unsupported value: "Nuke": supported values: "Deactivate", "Delete"'
    )
    assert admission.errors[0].type == "FieldValueNotSupported"
    assert admission.errors[0].value == "Nuke"


def test_required() -> None:
    obj = integration()
    del scim(obj)["auth"]
    admission = integrations().admit(obj)
    assert messages(admission)[0] == "spec.connector.scim.auth: Required value"
    assert admission.errors[0].type == "FieldValueRequired"


def test_max_length_counts_code_points_and_omits_the_value() -> None:
    assert messages(integrations().admit(integration(app="a" * 64)))[0] == (
        "spec.app: Too long: may not be more than 63 bytes"
    )
    name = "é" * 63  # 126 bytes, 63 code points: fits
    obj = integration()
    scim(obj)["auth"]["bearerToken"]["secretRef"]["name"] = name
    assert integrations().admit(obj).ok


def test_min_length() -> None:
    obj = integration(accounts=[{"userName": ""}])
    assert messages(integrations().admit(obj)) == [
        'spec.accounts[0].userName: Invalid value: "": '
        "spec.accounts[0].userName in body should be at least 1 chars long"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "should be greater than or equal to 1"),
        (10001, "should be less than or equal to 10000"),
    ],
)
def test_minimum_and_maximum(value: int, message: str) -> None:
    obj = integration()
    scim(obj)["rateLimit"] = {"requestsPerSecond": value}
    path = "spec.connector.scim.rateLimit.requestsPerSecond"
    assert messages(integrations().admit(obj)) == [
        f"{path}: Invalid value: {value}: {path} in body {message}"
    ]


def test_type() -> None:
    admission = integrations().admit(integration(suspend="yes please", accounts={"userName": "x"}))
    assert messages(admission) == [
        'spec.accounts: Invalid value: "object": spec.accounts in body must be of type array: "object"',
        'spec.suspend: Invalid value: "string": spec.suspend in body must be of type boolean: "string"',
        '<nil>: Invalid value: "null": some validation rules were '
        "not checked because the object was invalid; "
        "correct the existing errors to complete validation",
    ]
    assert {e.type for e in admission.errors[:2]} == {"FieldValueTypeInvalid"}


def test_integer_accepts_integral_floats_only() -> None:
    obj = integration(deprovision={"maxDeletions": 2.5})
    assert messages(integrations().admit(obj))[0] == (
        'spec.deprovision.maxDeletions: Invalid value: "number": '
        'spec.deprovision.maxDeletions in body must be of type integer: "number"'
    )
    assert integrations().admit(integration(deprovision={"maxDeletions": 2.0})).ok


def test_max_items() -> None:
    admission = integrations().admit(
        integration(accountsFrom=[{"configMapRef": {"name": "c", "key": "k"}}] * 51)
    )
    assert messages(admission)[0] == "spec.accountsFrom: Too many: 51: must have at most 50 items"
    assert admission.errors[0].type == "FieldValueTooMany"


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("alice@example.com", True),
        ("Alice Liddell <alice@example.com>", True),
        ("nope", False),
        ("a@", False),
    ],
)
def test_email_format_as_net_mail_parses_it(email: str, valid: bool) -> None:
    admission = integrations().admit(integration(accounts=[{"userName": "a", "email": email}]))
    if valid:
        assert admission.ok
    else:
        assert messages(admission)[0] == (
            f'spec.accounts[0].email: Invalid value: "{email}": '
            f'spec.accounts[0].email in body must be of type email: "{email}"'
        )


@pytest.mark.parametrize(
    ("stamp", "valid"),
    [
        ("2024-02-29T10:00:00Z", True),
        ("2024-02-29T10:00:00.123+02:00", True),
        ("2023-02-29T10:00:00Z", False),
        ("2024-01-01T25:00:00Z", False),
        ("2024-01-01T10:00:00", False),
        ("yesterday", False),
    ],
)
def test_date_time_format(stamp: str, valid: bool) -> None:
    obj = integration()
    obj["status"] = {"lastSyncTime": stamp}
    admission = integrations().admit(obj)
    assert admission.ok is valid
    if not valid:
        assert messages(admission)[0] == (
            f'status.lastSyncTime: Invalid value: "{stamp}": '
            f'status.lastSyncTime in body must be of type date-time: "{stamp}"'
        )


def test_int64_format_is_not_validated_as_the_api_server_strips_it() -> None:
    obj = integration()
    obj["status"] = {"observedGeneration": 2**40}
    assert integrations().admit(obj).ok


def test_uri_format() -> None:
    schema = {"type": "string", "format": "uri"}
    assert _errors(schema, "https://example.com/a?b") == []
    assert _errors(schema, "/just/a/path") == []
    assert _errors(schema, "not a uri") == [
        'spec.v: Invalid value: "not a uri": spec.v in body must be of type uri: "not a uri"'
    ]


def test_nullable() -> None:
    assert _errors({"type": "string", "nullable": True}, None) == []
    validator = SchemaValidator(
        {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}}}}
    )
    assert messages(validator.admit({"l": ["a", None]})) == [
        'l[1]: Invalid value: "null": l[1] in body must be of type string: "null"'
    ]


def test_min_items_multiple_of_and_exclusive_bounds() -> None:
    assert _errors({"type": "array", "minItems": 1, "items": {"type": "string"}}, []) == [
        "spec.v: Invalid value: 0: spec.v in body should have at least 1 items"
    ]
    assert _errors({"type": "integer", "multipleOf": 5}, 12) == [
        "spec.v: Invalid value: 12: spec.v in body should be a multiple of 5"
    ]
    assert _errors({"type": "number", "minimum": 0, "exclusiveMinimum": True}, 0) == [
        "spec.v: Invalid value: 0: spec.v in body should be greater than 0"
    ]
    assert _errors({"type": "number", "maximum": 1.5}, 2.25) == [
        "spec.v: Invalid value: 2.25: spec.v in body should be less than or equal to 1.5"
    ]


def test_max_properties() -> None:
    schema = {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
    assert _errors(schema, {"a": "1", "b": "2"}) == ["spec.v: Too many: 2: must have at most 1 items"]


def test_int_or_string() -> None:
    schema = {"x-kubernetes-int-or-string": True}
    assert _errors(schema, 80) == []
    assert _errors(schema, "http") == []
    assert _errors(schema, True) == [
        'spec.v: Invalid value: "boolean": spec.v in body must be of type integer,string: "boolean"'
    ]


def test_additional_properties_values_are_validated() -> None:
    obj = integration()
    obj["status"] = {"secretVersions": {"acme": 42}}
    assert messages(integrations().admit(obj))[:1] == [
        'status.secretVersions.acme: Invalid value: "integer": '
        'status.secretVersions.acme in body must be of type string: "integer"'
    ]


def test_a_value_of_the_wrong_shape_is_reported_not_raised() -> None:
    admission = integrations().admit(integration(connector=["not", "an", "object"]))
    assert messages(admission)[0] == (
        'spec.connector: Invalid value: "array": spec.connector in body must be of type object: "array"'
    )


def test_the_whole_object_must_be_an_object() -> None:
    admission = integrations().admit(["not", "an", "object"])  # type: ignore[arg-type]
    assert messages(admission) == ['<nil>: Invalid value: "array":  in body must be of type object: "array"']
    assert admission.obj == {}


def test_huge_values_are_checked_in_linear_time() -> None:
    # A backtracking email regex takes hours on this; the API server's RE2 takes microseconds.
    spaces = " " * 200_000
    started = time.monotonic()
    admission = integrations().admit(
        integration(app=spaces, accounts=[{"userName": spaces, "email": spaces}])
    )
    assert time.monotonic() - started < 2
    assert "spec.accounts[0].email: Too long: may not be more than 320 bytes" in messages(admission)
