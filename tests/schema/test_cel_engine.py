"""The CEL engine on its own: runtime and compile errors, messages, reasons, oldSelf correlation, library."""

from __future__ import annotations

from typing import Any

import pytest

from idlcm.schema import SchemaValidator

from .objects import messages


def validator(rules: list[dict[str, Any]], **properties: Any) -> SchemaValidator:
    """An object schema with `properties` under `spec` and `rules` on `spec`."""
    spec = {"type": "object", "properties": properties, "x-kubernetes-validations": rules}
    return SchemaValidator({"type": "object", "properties": {"spec": spec}})


STRING = {"type": "string"}
INT = {"type": "integer"}


def test_a_rule_that_errors_at_runtime_is_an_error_naming_the_rule() -> None:
    v = validator([{"rule": "self.missing == 'x'"}], name=STRING)
    assert messages(v.admit({"spec": {"name": "a"}})) == [
        "spec: Invalid value: \"object\": no such key: missing evaluating rule: self.missing == 'x'"
    ]


def test_a_division_by_zero_names_the_rule_by_its_message() -> None:
    v = validator([{"rule": "self.a / self.b > 1", "message": "a must exceed b"}], a=INT, b=INT)
    assert messages(v.admit({"spec": {"a": 1, "b": 0}})) == [
        'spec: Invalid value: "object": division by zero evaluating rule: a must exceed b'
    ]


def test_a_type_mismatch_at_runtime_is_a_no_such_overload_error() -> None:
    v = validator([{"rule": "self.name.startsWith(1)"}], name=STRING)
    assert messages(v.admit({"spec": {"name": "a"}})) == [
        "spec: Invalid value: \"object\": 'no such overload': call "
        "arguments did not match a supported operator, "
        "function or macro signature for rule: self.name.startsWith(1)"
    ]


def test_a_rule_that_does_not_compile_is_reported_at_admission() -> None:
    v = validator([{"rule": "self.name =="}], name=STRING)
    admission = v.admit({"spec": {"name": "a"}})
    assert len(admission.errors) == 1
    assert admission.errors[0].message.startswith('spec: Invalid value: "object": rule compile error: ')


def test_default_message_quotes_the_rule() -> None:
    v = validator([{"rule": "self.n > 1"}], n=INT)
    assert messages(v.admit({"spec": {"n": 1}})) == ['spec: Invalid value: "object": failed rule: self.n > 1']


def test_message_expression_is_used_when_it_yields_a_string() -> None:
    rule = {"rule": "self.n > 1", "message": "too small", "messageExpression": "'n is ' + string(self.n)"}
    assert messages(validator([rule], n=INT).admit({"spec": {"n": 1}})) == [
        'spec: Invalid value: "object": n is 1'
    ]


def test_message_expression_falls_back_to_message_when_it_fails() -> None:
    rule = {"rule": "self.n > 1", "message": "too small", "messageExpression": "self.nope"}
    assert messages(validator([rule], n=INT).admit({"spec": {"n": 1}})) == [
        'spec: Invalid value: "object": too small'
    ]


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("FieldValueForbidden", "spec.n: Forbidden: too small"),
        ("FieldValueRequired", "spec.n: Required value: too small"),
        ("FieldValueDuplicate", 'spec.n: Duplicate value: "object"'),
        ("FieldValueInvalid", 'spec.n: Invalid value: "object": too small'),
    ],
)
def test_reason_and_field_path(reason: str, message: str) -> None:
    rule = {"rule": "self.n > 1", "message": "too small", "reason": reason, "fieldPath": ".n"}
    admission = validator([rule], n=INT).admit({"spec": {"n": 1}})
    assert messages(admission) == [message]
    assert admission.errors[0].type == reason


def test_transition_rules_correlate_list_map_items_by_key() -> None:
    item = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": STRING, "size": INT},
        "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "may only grow"}],
    }
    volumes = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": item,
    }
    v = SchemaValidator({"type": "object", "properties": {"volumes": volumes}})
    old = {"volumes": [{"name": "a", "size": 5}, {"name": "b", "size": 5}]}
    new = {"volumes": [{"name": "c", "size": 1}, {"name": "b", "size": 4}, {"name": "a", "size": 6}]}
    assert messages(v.admit(new, old=old)) == ['volumes[1]: Invalid value: "object": may only grow']


def test_transition_rules_in_atomic_lists_never_run() -> None:
    item = {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}
    v = SchemaValidator({"type": "object", "properties": {"l": {"type": "array", "items": item}}})
    assert v.admit({"l": ["b"]}, old={"l": ["a"]}).ok


def test_optional_old_self_runs_on_create_too() -> None:
    rule = {
        "rule": "!oldSelf.hasValue() || self == oldSelf.value()",
        "optionalOldSelf": True,
        "message": "frozen",
    }
    v = SchemaValidator(
        {"type": "object", "properties": {"s": {"type": "string", "x-kubernetes-validations": [rule]}}}
    )
    assert v.admit({"s": "a"}).ok
    assert messages(v.admit({"s": "b"}, old={"s": "a"})) == ['s: Invalid value: "string": frozen']


@pytest.mark.parametrize(
    "rule",
    [
        "self.name.lowerAscii() == 'acme'",
        "self.name.upperAscii() == 'ACME'",
        "self.name.split('c') == ['A', 'me']",
        "['a', 'b'].join('-') == 'a-b'",
        "self.name.substring(1, 3) == 'cm'",
        "self.name.indexOf('m') == 2",
        "self.name.replace('me', 'ne') == 'Acne'",
        "'  x '.trim() == 'x'",
        "[1, 2, 3].isSorted() && [1, 2, 3].sum() == 6 && [3, 1].min() == 1 && [3, 1].max() == 3",
        "self.name.find('[a-z]+') == 'cme'",
        "self.name.matches('^A')",
        "size(self.name) == 4",
        "self.tags.all(t, t.startsWith('t')) && self.tags.exists_one(t, t == 't1')",
        "has(self.name) && !has(self.missing)",
        "duration('1h30m') > duration('90s')",
    ],
)
def test_library_functions(rule: str) -> None:
    v = validator([{"rule": rule}], name=STRING, tags={"type": "array", "items": STRING}, missing=STRING)
    assert v.admit({"spec": {"name": "Acme", "tags": ["t1", "t2"]}}).ok


def test_date_time_strings_are_timestamps_in_cel() -> None:
    stamp = {"type": "string", "format": "date-time"}
    v = validator(
        [{"rule": "self.end > self.start", "message": "ends before it starts"}], start=stamp, end=stamp
    )
    assert v.admit({"spec": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:00:01Z"}}).ok
    assert not v.admit({"spec": {"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}}).ok


def test_property_names_are_escaped_as_cel_identifiers() -> None:
    v = validator(
        [{"rule": "self.max__dash__size > 0 && self.__namespace__ == 'x'"}],
        **{"max-size": INT, "namespace": STRING},
    )
    assert v.admit({"spec": {"max-size": 1, "namespace": "x"}}).ok


def test_maps_are_cel_maps_keyed_by_the_raw_keys() -> None:
    labels = {"type": "object", "additionalProperties": STRING}
    v = validator([{"rule": "self.labels['app.kubernetes.io/name'] == 'crm'"}], labels=labels)
    assert v.admit({"spec": {"labels": {"app.kubernetes.io/name": "crm"}}}).ok
