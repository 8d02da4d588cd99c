"""The Integration spec as the operator reads it (defaults mirror the CRD's)."""

from __future__ import annotations

import re
from typing import Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import Field, field_validator, validate_email

from idlcm.api._base import Model

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration such as `10m`, `1h30m` or `500ms`."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use e.g. 90s, 10m, 24h")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


EMAIL_REFUSED = "SCIM apps do not take this address (e.g. no dot or a reserved name after the @)"
"""What an address `is_email` refuses is told, in status, in roster errors and by `idlcm check` alike."""


def is_email(address: str) -> bool:
    """Whether a SCIM app can take this address: the syntax of SCIM's `emails.value` (EmailStr), no DNS.

    Stricter than the CRD's `format: email`, which admits e.g. `a@b` or `a@corp.local`; no display name."""
    if _plain_email(address):
        return True  # EmailStr takes every such address: the full check (~60 µs) is for the rest
    if "<" in address:
        return False
    try:
        validate_email(address)
    except ValueError:
        return False
    return True


_LOCAL_PART = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TOP_LABEL = re.compile(r"[A-Za-z]{2,63}")


def _plain_email(address: str) -> bool:
    """The common shape, `first.last+tag@mail.example.com`: ASCII dot-atom, hostname labels without `--`
    (no IDNA), a top-level label of letters that is not special-use (`.local`, `.test`, ...)."""
    local, _, domain = address.partition("@")
    labels = domain.split(".")
    return (
        len(local) <= 64
        and len(address) <= 254
        and len(labels) >= 2
        and _LOCAL_PART.fullmatch(local) is not None
        and all(_LABEL.fullmatch(label) and "--" not in label for label in labels[:-1])
        and _TOP_LABEL.fullmatch(labels[-1]) is not None
        and labels[-1].lower() not in SPECIAL_USE_DOMAIN_NAMES
    )


class SecretKeyRef(Model):
    """One key of a Secret in the Integration's own namespace."""

    name: str
    key: str = "token"


class BearerTokenAuth(Model):
    """A static bearer token."""

    secret_ref: SecretKeyRef


class BasicSecretRef(Model):
    """The Secret holding a username and a password."""

    name: str
    username_key: str = "username"
    password_key: str = "password"


class BasicAuth(Model):
    """HTTP basic authentication."""

    secret_ref: BasicSecretRef


class OAuth2SecretRef(Model):
    """The Secret holding an OAuth2 client id and secret."""

    name: str
    client_id_key: str = Field("client_id", alias="clientIDKey")
    client_secret_key: str = "client_secret"


class OAuth2ClientCredentials(Model):
    """OAuth 2.0 client credentials grant."""

    token_url: str = Field(alias="tokenURL")
    scopes: tuple[str, ...] = ()
    secret_ref: OAuth2SecretRef


class Auth(Model):
    """Exactly one authentication method (the CRD's CEL rule enforces it)."""

    bearer_token: BearerTokenAuth | None = None
    basic: BasicAuth | None = None
    oauth2_client_credentials: OAuth2ClientCredentials | None = None

    def secret_names(self) -> tuple[str, ...]:
        """Names of the Secrets this method reads."""
        method = self.bearer_token or self.basic or self.oauth2_client_credentials
        return (method.secret_ref.name,) if method else ()


class CASecretRef(Model):
    """A Secret key holding a PEM CA bundle."""

    name: str
    key: str = "ca.crt"


class TLS(Model):
    """TLS options; verification is on unless `insecure`."""

    insecure: bool = False
    ca_secret_ref: CASecretRef | None = None


class RateLimit(Model):
    """Outbound limits towards the app."""

    requests_per_second: int = 25
    max_concurrency: int = 8


class ScimConnector(Model):
    """A SCIM 2.0 service provider."""

    base_url: str = Field(alias="baseURL")
    auth: Auth
    tls: TLS = TLS()
    rate_limit: RateLimit = RateLimit()


class Connector(Model):
    """How to reach the app: one protocol."""

    scim: ScimConnector


class Validation(Model):
    """How and how often the connection is validated."""

    canary: bool = False
    interval: str = "24h"

    @property
    def interval_seconds(self) -> float:
        """The re-validation interval in seconds."""
        return parse_duration(self.interval)


class Account(Model):
    """One declared user account."""

    user_name: str
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    active: bool = True
    title: str | None = None
    department: str | None = None
    groups: tuple[str, ...] = ()

    @field_validator("email")
    @classmethod
    def _deliverable_email(cls, email: str | None) -> str | None:
        # Checked here, not when the account is sent: a spec with one such address writes nothing.
        if email is not None and not is_email(email):
            raise ValueError(EMAIL_REFUSED)
        return email


class ConfigMapKeyRef(Model):
    """One key of a ConfigMap in the Integration's own namespace."""

    name: str
    key: str
    optional: bool = False


class AccountsSource(Model):
    """A ConfigMap key holding accounts as CSV (header row) or a YAML list."""

    config_map_ref: ConfigMapKeyRef
    format: Literal["Auto", "CSV", "YAML"] = "Auto"


class Sync(Model):
    """Periodic full reconciliation."""

    interval: str = "10m"
    adopt_existing: bool = False

    @property
    def interval_seconds(self) -> float:
        """The sync interval in seconds."""
        return parse_duration(self.interval)


class Deprovision(Model):
    """How accounts leave the app, and the safety threshold."""

    mode: Literal["Deactivate", "Delete"] = "Deactivate"
    max_deletions: int = 10


class IntegrationSpec(Model):
    """The desired state of one Integration."""

    app: str
    connector: Connector
    validation: Validation = Validation()
    accounts: tuple[Account, ...] = ()
    accounts_from: tuple[AccountsSource, ...] = ()
    sync: Sync = Sync()
    deprovision: Deprovision = Deprovision()
    deletion_policy: Literal["Deprovision", "Orphan"] = "Deprovision"
    suspend: bool = False
    dry_run: bool = False

    @field_validator("accounts")
    @classmethod
    def _unique_user_names(cls, accounts: tuple[Account, ...]) -> tuple[Account, ...]:
        # SCIM compares userName case-insensitively; the CRD's list-map key cannot.
        seen: set[str] = set()
        for account in accounts:
            key = account.user_name.casefold()
            if key in seen:
                raise ValueError(f"duplicate userName {account.user_name!r} (userNames are case-insensitive)")
            seen.add(key)
        return accounts

    def secret_keys(self) -> dict[str, tuple[str, ...]]:
        """The keys this Integration reads of each Secret (all in its own namespace)."""
        scim = self.connector.scim
        keys: dict[str, list[str]] = {}
        auth = scim.auth
        if auth.bearer_token:
            keys.setdefault(auth.bearer_token.secret_ref.name, []).append(auth.bearer_token.secret_ref.key)
        if auth.basic:
            ref = auth.basic.secret_ref
            keys.setdefault(ref.name, []).extend((ref.username_key, ref.password_key))
        if auth.oauth2_client_credentials:
            oauth = auth.oauth2_client_credentials.secret_ref
            keys.setdefault(oauth.name, []).extend((oauth.client_id_key, oauth.client_secret_key))
        if scim.tls.ca_secret_ref:
            keys.setdefault(scim.tls.ca_secret_ref.name, []).append(scim.tls.ca_secret_ref.key)
        return {name: tuple(dict.fromkeys(used)) for name, used in keys.items()}

    def secret_names(self) -> tuple[str, ...]:
        """Every Secret this Integration reads (all in its own namespace)."""
        scim = self.connector.scim
        names = list(scim.auth.secret_names())
        if scim.tls.ca_secret_ref:
            names.append(scim.tls.ca_secret_ref.name)
        return tuple(dict.fromkeys(names))
