"""The connector pool: one connector per Integration, kept while its spec and Secrets stay, rebuilt after."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from idlcm.api.spec import IntegrationSpec
from idlcm.connections import ConnectorPool, MissingSecretError
from idlcm.connectors import NeedsHumanError, ScimConnector
from idlcm.kube import Secret
from idlcm.validation import ConnectorValidator, Target
from scimapp import ScimApp
from validation.conftest import NAMESPACE, basic_target, scim_app_target, target

TOKEN = "s3cr3t-canary-token-4242"


def oauth_target(app: ScimApp, *, version: str = "1", **data: str) -> Target:
    spec = IntegrationSpec.model_validate(
        {
            "app": "acme-crm",
            "connector": {
                "scim": {
                    "baseURL": app.base_url,
                    "auth": {
                        "oauth2ClientCredentials": {
                            "tokenURL": app.token_url,
                            "secretRef": {"name": "acme-oauth"},
                        }
                    },
                    "tls": {"insecure": True},
                }
            },
        }
    )
    values = {"client_id": app.oauth.client_id, "client_secret": app.oauth.client_secret, **data}
    return Target(NAMESPACE, "crm-sales", spec, {"acme-oauth": Secret("acme-oauth", version, values)})


def with_rate(t: Target, requests_per_second: int) -> Target:
    raw: dict[str, Any] = t.spec.model_dump(by_alias=True, mode="json")
    raw["connector"]["scim"]["rateLimit"]["requestsPerSecond"] = requests_per_second
    return dataclasses.replace(t, spec=IntegrationSpec.model_validate(raw))


async def test_an_integration_keeps_its_connector_and_its_oauth_token(
    scim_app: ScimApp, pool: ConnectorPool
) -> None:
    validator = ConnectorValidator(pool)
    t = oauth_target(scim_app)

    for _ in range(3):
        assert (await validator.validate_integration(t)).outcome == "Passed"

    assert pool.get(t) is pool.get(oauth_target(scim_app))
    assert len(pool) == 1
    assert scim_app.oauth.issued == 1


async def test_a_rotated_secret_rebuilds_the_connector_and_closes_the_old_one(
    scim_app: ScimApp, pool: ConnectorPool
) -> None:
    old = pool.get(target(scim_app.base_url, "old-token-123", version="1"))
    new = pool.get(target(scim_app.base_url, scim_app.token, version="2"))
    await asyncio.sleep(0)  # the old one closes in the background

    assert new is not old
    assert isinstance(old, ScimConnector)
    assert old.api.http.is_closed
    assert pool.get(target(scim_app.base_url, scim_app.token, version="2")) is new
    assert len(pool) == 1


async def test_a_changed_connector_spec_rebuilds_the_connector(
    scim_app: ScimApp, pool: ConnectorPool
) -> None:
    t = scim_app_target(scim_app)

    assert pool.get(with_rate(t, 10)) is not pool.get(t)


async def test_integrations_have_connectors_of_their_own(scim_app: ScimApp, pool: ConnectorPool) -> None:
    sales = pool.get(scim_app_target(scim_app, name="crm-sales"))
    ops = pool.get(scim_app_target(scim_app, name="crm-ops"))

    assert sales is not ops


async def test_forget_closes_the_connector(scim_app: ScimApp, pool: ConnectorPool) -> None:
    connector = pool.get(scim_app_target(scim_app))

    pool.forget(NAMESPACE, "crm-sales")
    await asyncio.sleep(0)

    assert isinstance(connector, ScimConnector)
    assert connector.api.http.is_closed
    assert len(pool) == 0


async def test_aclose_closes_every_connector(scim_app: ScimApp) -> None:
    pool = ConnectorPool()
    connectors = [pool.get(scim_app_target(scim_app, name=n)) for n in ("a", "b")]

    await pool.aclose()

    assert all(isinstance(c, ScimConnector) and c.api.http.is_closed for c in connectors)


def test_a_missing_secret_names_the_secret(scim_app: ScimApp) -> None:
    with pytest.raises(MissingSecretError, match="Secret team-sales/acme-token not found"):
        ConnectorPool().get(target(scim_app.base_url, None))


def test_a_missing_key_names_the_secret_and_key_but_no_value(scim_app: ScimApp) -> None:
    t = oauth_target(scim_app)
    t = dataclasses.replace(t, secrets={"acme-oauth": Secret("acme-oauth", "1", {"client_secret": TOKEN})})

    with pytest.raises(MissingSecretError) as caught:
        ConnectorPool().get(t)

    assert str(caught.value) == "Secret team-sales/acme-oauth has no key 'client_id'"
    assert TOKEN not in repr(caught.value)


def test_a_ca_bundle_that_is_not_pem_needs_a_human(scim_app: ScimApp) -> None:
    raw: dict[str, Any] = scim_app_target(scim_app).spec.model_dump(by_alias=True, mode="json")
    raw["connector"]["scim"]["tls"] = {"caSecretRef": {"name": "acme-ca"}}
    spec = IntegrationSpec.model_validate(raw)
    secrets = {
        "acme-token": Secret("acme-token", "1", {"token": TOKEN}),
        "acme-ca": Secret("acme-ca", "1", {"ca.crt": "not a certificate"}),
    }

    with pytest.raises(NeedsHumanError) as caught:
        ConnectorPool().get(Target(NAMESPACE, "crm-sales", spec, secrets))

    assert caught.value.problem_class == "TLSError"


async def test_a_ca_bundle_that_is_not_pem_fails_the_tls_check(
    scim_app: ScimApp, pool: ConnectorPool
) -> None:
    raw: dict[str, Any] = scim_app_target(scim_app).spec.model_dump(by_alias=True, mode="json")
    raw["connector"]["scim"]["tls"] = {"caSecretRef": {"name": "acme-ca"}}
    spec = IntegrationSpec.model_validate(raw)
    secrets = {
        "acme-token": Secret("acme-token", "1", {"token": TOKEN}),
        "acme-ca": Secret("acme-ca", "1", {"ca.crt": "not a certificate"}),
    }

    report = await ConnectorValidator(pool).validate_app(Target(NAMESPACE, "crm-sales", spec, secrets))

    assert (report.outcome, report.reason) == ("NeedsReview", "TLSError")
    assert [c.name for c in report.checks if c.result == "Failed"] == ["tls"]


async def test_basic_credentials_from_a_secret(scim_app: ScimApp, pool: ConnectorPool) -> None:
    report = await ConnectorValidator(pool).validate_integration(basic_target(scim_app))

    assert report.outcome == "Passed", report.message
