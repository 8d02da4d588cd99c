"""`x-kubernetes-list-type`: map keys and set items must be unique, reported as `Duplicate value`."""

from __future__ import annotations

from idlcm.schema import SchemaValidator

from .objects import integration, integrations, messages


def test_duplicate_user_name_in_the_accounts_map() -> None:
    admission = integrations().admit(
        integration(
            accounts=[{"userName": "alice"}, {"userName": "bob"}, {"userName": "alice", "title": "x"}]
        )
    )
    assert messages(admission) == [
        'spec.accounts[2]: Duplicate value: map[string]interface {}{"userName":"alice"}'
    ]
    assert admission.errors[0].type == "FieldValueDuplicate"
    assert admission.errors[0].value == {"userName": "alice"}


def test_only_the_second_appearance_of_a_key_is_reported() -> None:
    admission = integrations().admit(integration(accounts=[{"userName": "a"}] * 3))
    assert messages(admission) == [
        'spec.accounts[1]: Duplicate value: map[string]interface {}{"userName":"a"}'
    ]


def test_duplicate_group_in_a_set() -> None:
    admission = integrations().admit(integration(accounts=[{"userName": "a", "groups": ["x", "y", "x"]}]))
    assert messages(admission) == ['spec.accounts[0].groups[2]: Duplicate value: "x"']


def test_duplicate_condition_type_in_status() -> None:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "Ok",
        "message": "",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }
    obj = integration()
    obj["status"] = {"conditions": [condition, dict(condition, status="False")]}
    assert messages(integrations().admit(obj)) == [
        'status.conditions[1]: Duplicate value: map[string]interface {}{"type":"Ready"}'
    ]


def test_set_compares_by_type_and_value() -> None:
    validator = SchemaValidator(
        {
            "type": "object",
            "properties": {
                "s": {
                    "type": "array",
                    "x-kubernetes-list-type": "set",
                    "items": {"x-kubernetes-int-or-string": True},
                }
            },
        }
    )
    assert validator.admit({"s": [1, "1"]}).ok
    assert messages(validator.admit({"s": [1, 2, 1]})) == ["s[2]: Duplicate value: 1"]


def test_map_with_two_keys() -> None:
    validator = SchemaValidator(
        {
            "type": "object",
            "properties": {
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"},
                        },
                    },
                }
            },
        }
    )
    assert validator.admit({"ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}]}).ok
    admission = validator.admit({"ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]})
    assert messages(admission) == [
        'ports[1]: Duplicate value: map[string]interface {}{"port":80, "protocol":"TCP"}'
    ]
