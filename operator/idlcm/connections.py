"""The connector of each Integration, built from its spec and Secrets, and kept between reconciles.

Kept, so that an OAuth token and the HTTP keep-alive connections outlive one reconcile; rebuilt (the old one
closed) when the connector spec or a referenced Secret changes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx2

from idlcm.api.spec import IntegrationSpec
from idlcm.connectors.auth import BasicAuth, BearerAuth, Credentials, OAuth2ClientCredentials
from idlcm.connectors.base import Connector
from idlcm.connectors.errors import NeedsHumanError, RetryableError
from idlcm.connectors.ratelimit import RateLimit
from idlcm.connectors.scim import ScimConnector
from idlcm.connectors.shared import SharedChecks
from idlcm.connectors.transport import DEFAULT_MAX_RESPONSE_BYTES, RequestObserver, Tls
from idlcm.kube import Secret

if TYPE_CHECKING:
    from idlcm.validation import Target


class MissingSecretError(RetryableError):
    """A referenced Secret or one of its keys is missing; retried, as GitOps tools apply in any order."""


class ConnectorPool:
    """One connector per Integration (namespace/name), reused while its connector spec and Secrets stay."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        observer: Callable[[str, str], RequestObserver] | None = None,
        shared: SharedChecks | None = None,
    ) -> None:
        self._timeout = timeout
        # Passed schema checks, shared by the connectors of Integrations that reach one app the same way.
        self.shared = SharedChecks() if shared is None else shared
        self._max_response_bytes = max_response_bytes
        self._observer = observer  # (namespace, app) -> what each connector tells of its requests (metrics)
        self._entries: dict[tuple[str, str], tuple[str, Connector]] = {}
        self._specs: dict[tuple[str, str], IntegrationSpec] = {}  # what each connector was built for
        self._retired: list[Connector] = []
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, target: Target) -> Connector:
        """The Integration's connector as its spec and Secrets are now; raises `ConnectorError` if none can be
        built (`MissingSecretError`, or needs-human: InvalidURL, TLSError, InvalidSpec)."""
        key = (target.namespace, target.name)
        fingerprint = _fingerprint(target.spec, target.secrets)
        kept = self._entries.get(key)
        if kept is not None and kept[0] == fingerprint:
            return kept[1]
        observe = self._observer(target.namespace, target.spec.app) if self._observer else None
        connector = build(
            target.namespace,
            target.spec,
            target.secrets,
            timeout=self._timeout,
            max_response_bytes=self._max_response_bytes,
            observe=observe,
            shared=self.shared,
        )
        if kept is not None:
            self._retire(kept[1])
        self._entries[key] = (fingerprint, connector)
        self._specs[key] = target.spec
        return connector

    def reads_new_data(self, namespace: str, name: str, secret: Secret) -> bool | None:
        """Whether `secret` differs, in the keys the Integration reads, from what its connector was built
        from; None when this process has built none from that Secret yet (the caller decides otherwise)."""
        spec = self._specs.get((namespace, name))
        keys = spec.secret_keys().get(secret.name) if spec is not None else None
        kept = self._entries.get((namespace, name))
        if keys is None or kept is None:
            return None
        return f"{secret.name}={used_digest(secret, keys)}" not in kept[0].splitlines()

    def forget(self, namespace: str, name: str) -> None:
        """Drop (and close) the connector of an Integration that is gone."""
        kept = self._entries.pop((namespace, name), None)
        self._specs.pop((namespace, name), None)
        if kept is not None:
            self._retire(kept[1])

    async def aclose(self) -> None:
        """Close every connector (at shutdown)."""
        connectors = [*self._retired, *(connector for _, connector in self._entries.values())]
        self._entries.clear()
        self._specs.clear()
        self._retired.clear()
        await asyncio.gather(*self._closing, *(c.aclose() for c in connectors), return_exceptions=True)

    def __len__(self) -> int:
        return len(self._entries)

    def _retire(self, connector: Connector) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): closed by aclose()
            self._retired.append(connector)
            return
        task = loop.create_task(connector.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def build(
    namespace: str,
    spec: IntegrationSpec,
    secrets: Mapping[str, Secret | None],
    *,
    timeout: float = 30.0,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    observe: RequestObserver | None = None,
    shared: SharedChecks | None = None,
) -> Connector:
    """A new connector from the Integration's spec and the Secrets of its namespace (name -> Secret)."""
    scim = spec.connector.scim

    def value(name: str, key: str) -> str:
        secret = secrets.get(name)
        if secret is None:
            raise MissingSecretError(f"Secret {namespace}/{name} not found")
        problem = secret.lacks(key)
        if problem:
            raise MissingSecretError(f"Secret {namespace}/{name} {problem}")
        return secret.data[key]

    auth = scim.auth
    credentials: Credentials
    if auth.bearer_token:
        ref = auth.bearer_token.secret_ref
        credentials = BearerAuth(
            _bearer(value(ref.name, ref.key), f"Secret {namespace}/{ref.name} key {ref.key!r}")
        )
    elif auth.basic:
        basic = auth.basic.secret_ref
        credentials = BasicAuth(value(basic.name, basic.username_key), value(basic.name, basic.password_key))
    elif auth.oauth2_client_credentials:
        oauth = auth.oauth2_client_credentials
        ref2 = oauth.secret_ref
        credentials = OAuth2ClientCredentials(
            token_url=oauth.token_url,
            client_id=value(ref2.name, ref2.client_id_key),
            client_secret=value(ref2.name, ref2.client_secret_key),
            scopes=tuple(oauth.scopes),
        )
    else:
        raise NeedsHumanError("spec.connector.scim.auth names no method", problem_class="InvalidSpec")
    ca = scim.tls.ca_secret_ref
    tls = Tls(insecure=scim.tls.insecure, ca_pem=value(ca.name, ca.key).encode() if ca else None)
    try:
        limit = RateLimit(float(scim.rate_limit.requests_per_second), scim.rate_limit.max_concurrency)
    except ValueError as exc:
        raise NeedsHumanError(f"spec.connector.scim.rateLimit: {exc}", problem_class="InvalidSpec") from None
    try:
        return ScimConnector(
            scim.base_url,
            credentials,
            tls,
            limit,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            observe=observe,
            shared=shared,
        )
    except httpx2.InvalidURL:
        raise NeedsHumanError(
            "spec.connector.scim.baseURL is not a valid URL", problem_class="InvalidURL"
        ) from None


def _bearer(token: str, where: str) -> str:
    """The token as an Authorization header carries it: without the line break `echo TOKEN | base64` adds.

    A token of other than visible ASCII characters (RFC 6750), e.g. two lines, needs a human; the message
    never shows it (the HTTP client's error about such a header would)."""
    token = token.strip()
    if not token or any(not "!" <= char <= "~" for char in token):
        raise NeedsHumanError(
            f"{where} holds no usable bearer token (empty, or spaces, line breaks, control or non-ASCII "
            "characters inside); its value is not shown",
            problem_class="InvalidCredentials",
        )
    return token


def _fingerprint(spec: IntegrationSpec, secrets: Mapping[str, Secret | None]) -> str:
    """What the connector is built from: the connector spec and the content of the Secret keys it reads
    (not their resourceVersion: a re-applied Secret with the same data, or a change of a key the
    Integration does not read, builds no new connector)."""
    parts = [spec.connector.model_dump_json()]
    for name, keys in spec.secret_keys().items():
        secret = secrets.get(name)
        parts.append(f"{name}={used_digest(secret, keys) if secret is not None else '-'}")
    return "\n".join(parts)


def used_digest(secret: Secret, keys: tuple[str, ...]) -> str:
    """A digest of the keys an Integration reads of a Secret, kept in memory only (never shown: a digest
    of a weak password could be guessed offline)."""
    digest = hashlib.sha256()
    for key in keys:
        if key in secret.data:
            data = secret.data[key]
            digest.update(f"{len(key)}:{key}{len(data)}:{data}".encode())
        elif key in secret.unreadable:
            digest.update(f"{len(key)}:{key}unreadable".encode())
        else:
            digest.update(f"{len(key)}:{key}missing".encode())
    return digest.hexdigest()
