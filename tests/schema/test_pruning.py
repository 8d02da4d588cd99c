"""Pruning: fields the schema does not declare are dropped and reported, as the API server decodes a CR."""

from __future__ import annotations

from idlcm.schema import SchemaValidator, strict_decoding_error, unknown_field

from .objects import integration, integrations, scim


def test_unknown_fields_are_dropped_and_reported_sorted() -> None:
    obj = integration(foo="bar", accounts=[{"userName": "alice", "nickname": "al"}])
    scim(obj)["auth"]["bearerToken"]["secretRef"]["namespace"] = "elsewhere"
    admission = integrations().admit(obj)
    assert admission.pruned == [
        "spec.accounts[0].nickname",
        "spec.connector.scim.auth.bearerToken.secretRef.namespace",
        "spec.foo",
    ]
    assert "foo" not in admission.obj["spec"]
    assert admission.obj["spec"]["accounts"][0] == {"userName": "alice", "active": True}
    assert admission.ok  # pruning alone never fails admission (fieldValidation=Ignore)


def test_unknown_nested_object_is_dropped_whole() -> None:
    admission = integrations().admit(integration(extras={"a": {"b": [1, 2]}}))
    assert admission.pruned == ["spec.extras"]
    assert "extras" not in admission.obj["spec"]


def test_unknown_top_level_field_is_dropped() -> None:
    obj = integration()
    obj["data"] = {"x": 1}
    admission = integrations().admit(obj)
    assert admission.pruned == ["data"]
    assert "data" not in admission.obj


def test_api_version_kind_and_object_meta_are_kept_although_metadata_is_just_an_object() -> None:
    obj = integration()
    obj["metadata"] = {
        "name": "crm-sales",
        "namespace": "team-sales",
        "labels": {"team": "sales"},
        "annotations": {"idlcm.io/revalidate": "1"},
        "finalizers": ["idlcm.io/finalizer"],
        "resourceVersion": "7",
    }
    admission = integrations().admit(obj)
    assert admission.pruned == []
    assert admission.obj["metadata"] == obj["metadata"]
    assert admission.obj["apiVersion"] == "idlcm.io/v1alpha1"
    assert admission.obj["kind"] == "Integration"


def test_fields_outside_object_meta_are_dropped_from_metadata() -> None:
    obj = integration()
    obj["metadata"]["owner"] = "sales"
    admission = integrations().admit(obj)
    assert admission.pruned == ["metadata.owner"]
    assert "owner" not in admission.obj["metadata"]


def test_additional_properties_keep_any_key() -> None:
    obj = integration()
    obj["status"] = {"secretVersions": {"acme-crm-scim": "42", "acme-ca": "7"}}
    admission = integrations().admit(obj)
    assert admission.pruned == []
    assert admission.obj["status"]["secretVersions"] == {"acme-crm-scim": "42", "acme-ca": "7"}


def test_preserve_unknown_fields_keeps_unknown_but_prunes_declared_children() -> None:
    validator = SchemaValidator(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
                }
            },
        }
    )
    admission = validator.admit({"spec": {"free": {"x": 1}, "known": {"a": "1", "b": "2"}}})
    assert admission.obj["spec"] == {"free": {"x": 1}, "known": {"a": "1"}}
    assert admission.pruned == ["spec.known.b"]


def test_input_is_never_mutated() -> None:
    obj = integration(foo="bar")
    before = repr(obj)
    integrations().admit(obj)
    assert repr(obj) == before


def test_strict_field_validation_message_names_every_pruned_field() -> None:
    pruned = integrations().admit(integration(foo=1, bar=2)).pruned
    assert strict_decoding_error(pruned) == (
        'strict decoding error: unknown field "spec.bar", unknown field "spec.foo"'
    )
    assert unknown_field("spec.foo") == 'unknown field "spec.foo"'


def test_null_in_a_non_nullable_field_without_default_is_dropped() -> None:
    admission = integrations().admit(integration(accounts=[{"userName": "alice", "email": None}]))
    assert admission.obj["spec"]["accounts"] == [{"userName": "alice", "active": True}]
    assert admission.ok


def test_integral_float_in_an_integer_field_is_accepted_and_stored_as_int() -> None:
    obj = integration()
    scim(obj)["rateLimit"] = {"requestsPerSecond": 10.0}
    admission = integrations().admit(obj)
    assert admission.ok
    value = admission.obj["spec"]["connector"]["scim"]["rateLimit"]["requestsPerSecond"]
    assert value == 10
    assert type(value) is int
