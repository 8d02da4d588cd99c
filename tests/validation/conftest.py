"""Fixtures for the validation tests: the real SCIM app on loopback, Integrations pointed at it, a pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest

from idlcm.api.spec import IntegrationSpec
from idlcm.connections import ConnectorPool
from idlcm.kube import Secret
from idlcm.validation import ConnectorValidator, Target
from scimapp import ScimApp, scim_app, scim_server, unused_port

__all__ = ["scim_app", "scim_server", "unused_port"]

NAMESPACE = "team-sales"


def target(
    base_url: str,
    token: str | None,
    *,
    name: str = "crm-sales",
    version: str = "1",
    accounts: Iterable[Mapping[str, Any]] = (),
    **spec: Any,
) -> Target:
    """An Integration with a bearer token in Secret `acme-token` (None: the Secret is missing)."""
    body: dict[str, Any] = {
        "app": "acme-crm",
        "connector": {
            "scim": {
                "baseURL": base_url,
                "auth": {"bearerToken": {"secretRef": {"name": "acme-token", "key": "token"}}},
                "tls": {"insecure": True},
                "rateLimit": {"requestsPerSecond": 1000, "maxConcurrency": 8},
            }
        },
        "accounts": list(accounts),
        **spec,
    }
    secrets = {"acme-token": None if token is None else Secret("acme-token", version, {"token": token})}
    return Target(NAMESPACE, name, IntegrationSpec.model_validate(body), secrets)


@pytest.fixture
async def pool() -> AsyncIterator[ConnectorPool]:
    """A connector pool with short timeouts, closed after the test."""
    pool = ConnectorPool(timeout=5.0)
    yield pool
    await pool.aclose()


@pytest.fixture
def validator(pool: ConnectorPool) -> ConnectorValidator:
    """The validation process on the pool's connectors."""
    return ConnectorValidator(pool)


def results(report: Any) -> dict[str, str]:
    """check name -> result."""
    return {c.name: c.result for c in report.checks}


def scim_app_target(app: ScimApp, **kwargs: Any) -> Target:
    """An Integration of the test app with its valid token."""
    return target(app.base_url, app.token, **kwargs)


def basic_target(app: ScimApp, *, name: str = "crm-sales") -> Target:
    """An Integration of the test app with basic credentials (Secret `acme-basic`)."""
    raw: dict[str, Any] = scim_app_target(app).spec.model_dump(by_alias=True, mode="json")
    raw["connector"]["scim"]["auth"] = {"basic": {"secretRef": {"name": "acme-basic"}}}
    secret = Secret("acme-basic", "1", {"username": app.basic_username, "password": app.basic_password})
    return Target(NAMESPACE, name, IntegrationSpec.model_validate(raw), {"acme-basic": secret})
