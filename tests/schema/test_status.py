"""The 422 Status body and the Go-style value printing of messages."""

from __future__ import annotations

import pytest

from idlcm.schema import FieldError, gofmt, invalid_status

from .objects import integration, integrations


def test_invalid_status_body_is_the_api_servers() -> None:
    errors = integrations().admit(integration(app="Bad_Name", deprovision={"mode": "Nuke"})).errors
    status = invalid_status("Integration", "idlcm.io", "crm-sales", errors)
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            'Integration.idlcm.io "crm-sales" is invalid: ['
            'spec.app: Invalid value: "Bad_Name": spec.app in body '
            "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', "
            'spec.deprovision.mode: Unsupported value: "Nuke": supported values: "Deactivate", "Delete", '
            '<nil>: Invalid value: "null": some validation rules were '
            "not checked because the object was invalid; "
            "correct the existing errors to complete validation]"
        ),
        "reason": "Invalid",
        "details": {
            "name": "crm-sales",
            "group": "idlcm.io",
            "kind": "Integration",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": (
                        'Invalid value: "Bad_Name": spec.app in body should '
                        "match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
                    ),
                    "field": "spec.app",
                },
                {
                    "reason": "FieldValueNotSupported",
                    "message": 'Unsupported value: "Nuke": supported values: "Deactivate", "Delete"',
                    "field": "spec.deprovision.mode",
                },
                {
                    "reason": "FieldValueInvalid",
                    "message": (
                        'Invalid value: "null": some validation rules were '
                        "not checked because the object was "
                        "invalid; correct the existing errors to complete validation"
                    ),
                    "field": "<nil>",
                },
            ],
        },
        "code": 422,
    }


def test_a_single_error_is_not_bracketed() -> None:
    status = invalid_status("Integration", "idlcm.io", "x", [FieldError("spec.app", "FieldValueRequired")])
    assert status["message"] == 'Integration.idlcm.io "x" is invalid: spec.app: Required value'


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ('a"b\n', '"a\\"b\\n"'),
        (None, '"null"'),
        (True, "true"),
        (12, "12"),
        (2.5, "2.5"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (0.00001, "1e-05"),
        ({"b": 1, "a": "x"}, 'map[string]interface {}{"a":"x", "b":1}'),
        (["a", 1], '[]interface {}{"a", 1}'),
    ],
)
def test_values_print_as_go_prints_them(value: object, printed: str) -> None:
    assert gofmt.value(value) == printed
