"""Connectors: one module per external-app protocol behind the `Connector` interface of `base`."""

from idlcm.connectors.auth import BasicAuth, BearerAuth, Credentials, OAuth2ClientCredentials
from idlcm.connectors.base import ACCOUNT_ATTRIBUTES, Account, Capabilities, CheckResult, Connector
from idlcm.connectors.errors import (
    ConflictError,
    ConnectorError,
    NeedsHumanError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
    classify,
)
from idlcm.connectors.ratelimit import RateLimit, RateLimiter
from idlcm.connectors.scim import ScimConnector
from idlcm.connectors.transport import Tls

__all__ = [
    "ACCOUNT_ATTRIBUTES",
    "Account",
    "BasicAuth",
    "BearerAuth",
    "Capabilities",
    "CheckResult",
    "ConflictError",
    "Connector",
    "ConnectorError",
    "Credentials",
    "NeedsHumanError",
    "NotFoundError",
    "OAuth2ClientCredentials",
    "PermanentError",
    "PreconditionFailedError",
    "RateLimit",
    "RateLimiter",
    "RetryableError",
    "ScimConnector",
    "Tls",
    "classify",
]
