"""Defaulting: missing fields and whole missing objects get their defaults, on writes and on reads."""

from __future__ import annotations

from .objects import external_apps, integration, integrations, scim


def test_minimal_integration_gets_every_default() -> None:
    admission = integrations().admit(integration(accounts=[{"userName": "alice"}]))
    spec = admission.obj["spec"]
    assert admission.ok
    assert spec["sync"] == {"interval": "10m", "adoptExisting": False}
    assert spec["deprovision"] == {"mode": "Deactivate", "maxDeletions": 10}
    assert spec["validation"] == {"canary": False, "interval": "24h"}
    assert spec["connector"]["scim"]["tls"]["insecure"] is False
    assert spec["connector"]["scim"]["rateLimit"] == {"requestsPerSecond": 25, "maxConcurrency": 8}
    assert spec["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["key"] == "token"
    assert spec["accounts"][0]["active"] is True
    assert spec["deletionPolicy"] == "Deprovision"
    assert spec["suspend"] is False
    assert spec["dryRun"] is False


def test_a_partly_given_object_gets_its_other_defaults() -> None:
    obj = integration(sync={"interval": "1h"})
    scim(obj)["tls"] = {"caSecretRef": {"name": "acme-ca"}}
    spec = integrations().admit(obj).obj["spec"]
    assert spec["sync"] == {"interval": "1h", "adoptExisting": False}
    assert spec["connector"]["scim"]["tls"] == {
        "insecure": False,
        "caSecretRef": {"name": "acme-ca", "key": "ca.crt"},
    }


def test_given_values_win_over_defaults() -> None:
    spec = integrations().admit(integration(deprovision={"mode": "Delete", "maxDeletions": 0})).obj["spec"]
    assert spec["deprovision"] == {"mode": "Delete", "maxDeletions": 0}


def test_null_in_a_field_with_a_default_gets_the_default() -> None:
    spec = integrations().admit(integration(suspend=None, sync=None)).obj["spec"]
    assert spec["suspend"] is False
    assert spec["sync"] == {"interval": "10m", "adoptExisting": False}


def test_defaults_of_list_items_and_nested_secret_refs() -> None:
    obj = integration(accountsFrom=[{"configMapRef": {"name": "roster", "key": "roster.csv"}}])
    scim(obj)["auth"] = {
        "oauth2ClientCredentials": {"tokenURL": "https://t.example.com", "secretRef": {"name": "o"}}
    }
    spec = integrations().admit(obj).obj["spec"]
    assert spec["accountsFrom"] == [
        {"configMapRef": {"name": "roster", "key": "roster.csv", "optional": False}, "format": "Auto"}
    ]
    ref = spec["connector"]["scim"]["auth"]["oauth2ClientCredentials"]["secretRef"]
    assert ref == {"name": "o", "clientIDKey": "client_id", "clientSecretKey": "client_secret"}


def test_read_applies_defaults_without_validating() -> None:
    stored = integration(app="NOT A DNS LABEL")
    read = integrations().read(stored)
    assert read["spec"]["app"] == "NOT A DNS LABEL"
    assert read["spec"]["sync"]["interval"] == "10m"


def test_external_app_protocol_defaults_to_scim() -> None:
    app = {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "ExternalApp",
        "metadata": {"name": "acme-crm"},
        "spec": {},
    }
    admission = external_apps().admit(app)
    assert admission.ok
    assert admission.obj["spec"] == {"protocol": "SCIM"}
