"""The CEL rules of our CRDs, each on both sides of its line, with the API server's messages."""

from __future__ import annotations

from typing import Any

import pytest

from idlcm import crds
from idlcm.schema import SchemaValidator

from .objects import integration, integrations, messages, scim

EXACTLY_ONE = (
    'spec.connector.scim.auth: Invalid value: "object": '
    "exactly one of bearerToken, basic, oauth2ClientCredentials must be set"
)
HTTPS = 'spec.connector.scim: Invalid value: "object": baseURL must use https:// unless tls.insecure is true'
TOKEN_HTTPS = (
    'spec.connector.scim: Invalid value: "object": '
    "oauth2ClientCredentials.tokenURL must use https:// unless tls.insecure is true"
)
IMMUTABLE = 'spec.app: Invalid value: "string": app is immutable; create a new Integration for another app'

METHODS: dict[str, Any] = {
    "bearerToken": {"secretRef": {"name": "t"}},
    "basic": {"secretRef": {"name": "b"}},
    "oauth2ClientCredentials": {"tokenURL": "https://login.example.com/token", "secretRef": {"name": "o"}},
}


def with_auth(*methods: str) -> dict[str, Any]:
    obj = integration()
    scim(obj)["auth"] = {m: METHODS[m] for m in methods}
    return obj


def test_every_rule_of_our_crds_compiles() -> None:
    for crd in crds.load():
        stack = [SchemaValidator.for_crd(crd).root]
        while stack:
            node = stack.pop()
            assert [r.error for r in node.rules if r.error] == []
            stack.extend([*node.properties.values(), *(n for n in (node.items, node.additional) if n)])


def test_auth_with_no_method_is_refused() -> None:
    assert messages(integrations().admit(with_auth())) == [EXACTLY_ONE]


@pytest.mark.parametrize("method", list(METHODS))
def test_auth_with_one_method_is_accepted(method: str) -> None:
    assert integrations().admit(with_auth(method)).ok


@pytest.mark.parametrize(
    "methods", [("bearerToken", "basic"), ("basic", "oauth2ClientCredentials"), tuple(METHODS)]
)
def test_auth_with_two_or_three_methods_is_refused(methods: tuple[str, ...]) -> None:
    assert messages(integrations().admit(with_auth(*methods))) == [EXACTLY_ONE]


@pytest.mark.parametrize(
    ("url", "tls", "ok"),
    [
        ("https://crm.example.com/scim/v2", None, True),
        ("http://crm.example.com/scim/v2", None, False),
        ("http://crm.example.com/scim/v2", {"insecure": False}, False),
        ("http://127.0.0.1:8080/scim/v2", {"insecure": True}, True),
        ("https://crm.example.com/scim/v2", {"insecure": True}, True),
    ],
)
def test_base_url_must_be_https_unless_insecure(url: str, tls: dict[str, Any] | None, ok: bool) -> None:
    obj = integration()
    scim(obj)["baseURL"] = url
    if tls is not None:
        scim(obj)["tls"] = tls
    assert messages(integrations().admit(obj)) == ([] if ok else [HTTPS])


@pytest.mark.parametrize(("insecure", "ok"), [(False, False), (True, True)])
def test_token_url_must_be_https_unless_insecure(insecure: bool, ok: bool) -> None:
    obj = with_auth("oauth2ClientCredentials")
    scim(obj)["auth"]["oauth2ClientCredentials"]["tokenURL"] = "http://login.example.com/token"
    scim(obj)["tls"] = {"insecure": insecure}
    assert messages(integrations().admit(obj)) == ([] if ok else [TOKEN_HTTPS])


def test_app_cannot_change_on_update() -> None:
    admission = integrations().admit(integration(app="other-crm"), old=integration(app="acme-crm"))
    assert messages(admission) == [IMMUTABLE]
    assert admission.errors[0].type == "FieldValueInvalid"


def test_app_may_stay_the_same_on_update() -> None:
    assert integrations().admit(integration(suspend=True), old=integration()).ok


def test_app_immutability_is_not_evaluated_on_create() -> None:
    assert integrations().admit(integration(app="other-crm")).ok


def test_app_immutability_is_not_evaluated_when_the_old_object_had_no_app() -> None:
    old = integration()
    del old["spec"]["app"]
    assert integrations().admit(integration(app="other-crm"), old=old).ok


def test_schema_errors_keep_the_cel_rules_from_running() -> None:
    obj = with_auth("bearerToken", "basic")
    obj["spec"]["suspend"] = "no"  # a type error blocks CEL
    assert messages(integrations().admit(obj)) == [
        'spec.suspend: Invalid value: "string": spec.suspend in body must be of type boolean: "string"',
        '<nil>: Invalid value: "null": some validation rules were '
        "not checked because the object was invalid; "
        "correct the existing errors to complete validation",
    ]


def test_non_blocking_schema_errors_let_the_cel_rules_run() -> None:
    obj = with_auth()
    obj["spec"]["app"] = "Bad_Name"  # a pattern error (Invalid) does not block CEL
    assert messages(integrations().admit(obj))[1:] == [EXACTLY_ONE]


def test_the_validator_is_compiled_once_per_crd() -> None:
    crd = crds.find("Integration")
    assert crd is not None
    assert SchemaValidator.for_crd(crd) is SchemaValidator.for_crd(crd)


@pytest.mark.parametrize(
    "url",
    [
        "https://crm example.com/scim/v2",
        "https://c rm.example.com",
        "https://crm.example.com/scim v2",
        "https://",
    ],
)
def test_a_url_with_whitespace_or_no_host_is_refused(url: str) -> None:
    obj = integration()
    scim(obj)["baseURL"] = url
    [message] = messages(integrations().admit(obj))
    assert message.startswith("spec.connector.scim.baseURL: Invalid value:"), message
