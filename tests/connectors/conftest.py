"""Fixtures for the connector tests: a real SCIM app on loopback and a connector pointed at it."""

from collections.abc import AsyncIterator

import pytest

from idlcm.connectors import BearerAuth, RateLimit, ScimConnector, Tls
from scimapp import ScimApp


@pytest.fixture
async def connector(scim_app: ScimApp) -> AsyncIterator[ScimConnector]:
    """A connector with the app's bearer token and generous limits."""
    connector = ScimConnector(
        scim_app.base_url,
        BearerAuth(scim_app.token),
        Tls(insecure=True),
        RateLimit(requests_per_second=10_000, max_concurrency=16),
        timeout=5.0,
    )
    yield connector
    await connector.aclose()
