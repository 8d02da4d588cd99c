"""Credentials for an app, and the httpx2 auth flows that apply them, so protocol clients never see them.

`repr()` of the credential classes never shows a secret; `secrets()` lists what messages must never show.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import httpx2

from idlcm.connectors.errors import (
    KNOWN_SECRETS,
    NeedsHumanError,
    RetryableError,
    classify,
    parse_retry_after,
)

# Refresh a token this long before it expires (at most), so no request carries an expired one.
REFRESH_MARGIN = 60.0
# Lifetime assumed when the token endpoint does not say (a 401 refreshes earlier anyway).
DEFAULT_TOKEN_LIFETIME = 300.0


@dataclass(frozen=True)
class BearerAuth:
    """A static bearer token."""

    token: str = field(repr=False)

    def secrets(self) -> tuple[str, ...]:
        """The values no message may show."""
        return (self.token,)


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication."""

    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The Authorization header value."""
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def secrets(self) -> tuple[str, ...]:
        """The values no message may show."""
        return (self.password, self.header().split(" ", 1)[1])


@dataclass(frozen=True)
class OAuth2ClientCredentials:
    """OAuth 2.0 client credentials grant; the token is cached until shortly before it expires."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()

    def secrets(self) -> tuple[str, ...]:
        """The values no message may show (issued tokens are added by the flow)."""
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return (self.client_secret, base64.b64encode(pair.encode()).decode())


Credentials = BearerAuth | BasicAuth | OAuth2ClientCredentials


class StaticAuth(httpx2.Auth):
    """Sends one fixed Authorization header (bearer token or basic credentials)."""

    def __init__(self, header: str) -> None:
        self._header = header

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class OAuth2Flow(httpx2.Auth):
    """Client-credentials tokens: fetched once, shared, refreshed early; a 401 refreshes and retries once."""

    def __init__(
        self,
        credentials: OAuth2ClientCredentials,
        token_client: httpx2.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.issued: list[str] = []
        self._client = token_client
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_url={self.credentials.token_url!r})"

    async def token(self, *, rejected: str | None = None) -> str:
        """A valid token: the cached one, unless it is due for refresh or the app just rejected it."""
        async with self._lock:
            if self._token is not None and self._token != rejected and self._clock() < self._refresh_at:
                return self._token
            self._token, lifetime = await self._fetch()
            self.issued.append(self._token)
            KNOWN_SECRETS.hold(self, (self._token,))
            self._refresh_at = self._clock() + lifetime - min(REFRESH_MARGIN, lifetime / 4)
            return self._token

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.token(rejected=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        # Only for the read-only validation client, run after an async request fetched a token.
        if self._token is not None:
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    async def _fetch(self) -> tuple[str, float]:
        creds = self.credentials
        data = {"grant_type": "client_credentials"}
        if creds.scopes:
            data["scope"] = " ".join(creds.scopes)
        # RFC 6749 §2.3.1: client_secret_basic, with the id and secret form-encoded first.
        pair = f"{quote_plus(creds.client_id)}:{quote_plus(creds.client_secret)}"
        headers = {
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
            "Accept": "application/json",
        }
        try:
            response = await self._client.post(creds.token_url, data=data, headers=headers)
        except httpx2.HTTPError as exc:
            raise RetryableError(f"token endpoint: {type(exc).__name__}: {exc}") from None
        if response.status_code in (400, 401) and _oauth_error(response) in _CREDENTIAL_ERRORS:
            raise NeedsHumanError(
                f"token endpoint refused the client credentials ({_oauth_error(response)})",
                problem_class="InvalidCredentials",
                status=response.status_code,
            )
        if response.status_code != 200:
            raise classify(
                response.status_code,
                detail="token endpoint:",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        try:
            payload = response.json()
            token = payload["access_token"]
            lifetime = float(payload.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, KeyError, TypeError):
            raise NeedsHumanError(
                "token endpoint answered without a usable access_token", problem_class="InvalidResponse"
            ) from None
        if not isinstance(token, str) or not token:
            raise NeedsHumanError(
                "token endpoint answered an empty access_token", problem_class="InvalidResponse"
            )
        return token, max(lifetime, 1.0)


_CREDENTIAL_ERRORS = {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope", None}


def _oauth_error(response: httpx2.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) else None
