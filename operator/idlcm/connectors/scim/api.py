"""One SCIM service: scim2-client over a guarded httpx2 client, with errors translated once, here.

Plumbing only (capabilities, paging, lookups, PATCH-or-PUT); `scim.ScimConnector` tells the story on top.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, TypeVar

import httpx2
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import (
    Context,
    Group,
    ListResponse,
    PatchOp,
    Resource,
    ResourceType,
    Schema,
    SearchRequest,
    ServiceProviderConfig,
)

from idlcm.connectors.auth import (
    BasicAuth,
    BearerAuth,
    Credentials,
    OAuth2ClientCredentials,
    OAuth2Flow,
    StaticAuth,
)
from idlcm.connectors.base import Capabilities
from idlcm.connectors.errors import (
    KNOWN_SECRETS,
    ConnectorError,
    NeedsHumanError,
    NotFoundError,
    RetryableError,
    TimedOutError,
    classify,
    scrub,
)
from idlcm.connectors.ratelimit import RateLimit, RateLimiter
from idlcm.connectors.scim import mapping
from idlcm.connectors.scim.errors import is_library_error, translate
from idlcm.connectors.shared import SharedChecks
from idlcm.connectors.transport import GuardedTransport, RequestObserver, Tls

T = TypeVar("T")

READ_RETRIES = 2
"""Tries of a page read, after the first, when it failed in a passing way (see `ScimApi._read_page`)."""
READ_RETRY_BACKOFF = 0.2
"""Seconds before the first try again; doubled for each next one."""
READ_RETRY_WAIT = 5.0
"""The longest Retry-After waited out within a read; a longer one fails the read (the operation then
retries no sooner than asked)."""

# The listings scim2-client reads answers as, built once and kept: pydantic caches a parametrized model only
# while something refers to it, and building one again took ~7 ms whenever the collector had taken the last.
_LISTINGS = (
    ListResponse[mapping.UserModel],
    ListResponse[Group],
    ListResponse[ResourceType],
    ListResponse[Schema],
)

_last_response: contextvars.ContextVar[httpx2.Response | None] = contextvars.ContextVar("last", default=None)


class _Client(AsyncSCIMClient):
    """scim2-client's async client, remembering the current task's last raw response (for a 204's ETag)."""

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        response = await super().request(method, url, **kwargs)
        _last_response.set(response)
        return response


class ScimApi:
    """A SCIM service behind credentials, TLS settings, outbound limits and a response size cap."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        tls: Tls,
        limiter: RateLimiter,
        *,
        timeout: float,
        max_response_bytes: int,
        observe: RequestObserver | None = None,
        shared: SharedChecks | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tls = tls
        self.credentials = credentials
        self.timeout = httpx2.Timeout(timeout)
        self.max_response_bytes = max_response_bytes
        self.verify = tls.verify()
        self._token_client: httpx2.AsyncClient | None = None
        self.auth = self._build_auth(credentials)
        KNOWN_SECRETS.hold(self, credentials.secrets())
        self.observe = observe
        """Told of every request sent to the app (metrics); None: nobody listens."""
        self.shared = shared
        """Passed checks shared with the other connectors of the process (None: nothing is shared)."""
        concurrency = limiter.limit.max_concurrency
        inner = httpx2.AsyncHTTPTransport(
            verify=self.verify,
            retries=0,
            limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.http = httpx2.AsyncClient(
            base_url=self.base_url,
            auth=self.auth,
            transport=GuardedTransport(inner, limiter, max_response_bytes, observe),
            timeout=self.timeout,
            follow_redirects=False,  # a redirect could carry the credentials to another host
            trust_env=False,
            headers={"Accept": "application/scim+json, application/json", "User-Agent": "idlcm"},
        )
        self.client = _Client(self.http, provider=mapping.provider())
        self._capabilities: Capabilities | None = None
        self._capabilities_lock = asyncio.Lock()

    def _build_auth(self, credentials: Credentials) -> httpx2.Auth:
        if isinstance(credentials, BearerAuth):
            return StaticAuth(f"Bearer {credentials.token}")
        if isinstance(credentials, BasicAuth):
            return StaticAuth(credentials.header())
        if isinstance(credentials, OAuth2ClientCredentials):
            token_transport = GuardedTransport(
                httpx2.AsyncHTTPTransport(verify=self.verify, retries=0),
                RateLimiter(RateLimit(requests_per_second=5.0, max_concurrency=1)),  # one token at a time
                self.max_response_bytes,
            )
            self._token_client = httpx2.AsyncClient(
                transport=token_transport, timeout=self.timeout, follow_redirects=False, trust_env=False
            )
            return OAuth2Flow(credentials, self._token_client)
        raise TypeError(f"unsupported credentials: {type(credentials).__name__}")

    def secrets(self) -> list[str]:
        """Every secret held, issued tokens included (what messages must never show)."""
        issued = self.auth.issued if isinstance(self.auth, OAuth2Flow) else []
        return [*self.credentials.secrets(), *issued]

    async def aclose(self) -> None:
        """Release connections."""
        await self.http.aclose()
        if self._token_client is not None:
            await self._token_client.aclose()

    async def call(self, what: str, awaitable: Awaitable[T]) -> T:
        """Await one SCIM call; anything the SCIM/HTTP stack raises leaves as a scrubbed ConnectorError."""
        try:
            return await awaitable
        except ConnectorError as exc:
            error = exc
        except Exception as exc:
            if not is_library_error(exc):
                raise
            error = translate(exc, what, self.secrets())
        # Every part of the message may come from the app (a redirect's host, a content type): scrub it all.
        error.message = scrub(error.message, self.secrets())
        error.args = (error.message,)
        # Raised outside the handler, so the library exception (which may echo credentials) is not chained.
        raise error

    async def capabilities(self) -> Capabilities:
        """What the ServiceProviderConfig says (read once); the client then knows the ETag and Bulk rules."""
        async with self._capabilities_lock:
            if self._capabilities is not None:
                return self._capabilities
            try:
                config = await self.call(
                    "read ServiceProviderConfig", self.client.query(ServiceProviderConfig)
                )
            except NotFoundError:  # none published: the conservative choices (validation says so)
                self._capabilities = mapping.NO_CONFIG
                return self._capabilities
            if not isinstance(config, ServiceProviderConfig):
                raise classify(200, detail="read ServiceProviderConfig:")
            return self._use(config)

    def remember_capabilities(self, response: httpx2.Response) -> None:
        """Take the capabilities from an authenticated ServiceProviderConfig answer read by other means
        (validation's reach check), so that `capabilities()` does not read them again. An answer scim2-client
        would not accept as one is left alone: `capabilities()` reads it again and says what is wrong."""
        if self._capabilities is not None or response.status_code != 200:
            return
        try:
            config = self.client.check_response(
                payload=response.json(),
                status_code=response.status_code,
                headers=response.headers,
                expected_types=[ServiceProviderConfig],
                scim_ctx=Context.RESOURCE_QUERY_RESPONSE,
            )
        except Exception as exc:  # not JSON (ValueError), too deep, or not a valid ServiceProviderConfig
            if isinstance(exc, ValueError | RecursionError) or is_library_error(exc):
                return
            raise
        if isinstance(config, ServiceProviderConfig):
            self._use(config)

    def _use(self, config: ServiceProviderConfig) -> Capabilities:
        self.client.provider = mapping.provider(config)
        self._capabilities = mapping.capabilities(config)
        return self._capabilities

    def if_match(self, version: str | None) -> dict[str, str]:
        """The If-Match header for a version, when the service supports ETags."""
        etag = self._capabilities is not None and self._capabilities.etag
        return {"If-Match": version} if version and etag else {}

    async def pages(
        self, model: type[Resource[Any]], what: str, filter: str | None = None
    ) -> AsyncGenerator[Resource[Any], None]:
        """Every resource of a listing, page after page (startIndex paging at the largest page allowed).

        A listing that repeats itself, or grows past what its first page announced by more than a page, is
        refused (InvalidResponse): a broken or hostile app could otherwise keep the operator reading on."""
        capabilities = await self.capabilities()
        start, announced = 1, None
        seen: set[str] = set()
        while True:
            search = SearchRequest[Any](start_index=start, count=capabilities.max_results, filter=filter)
            page = await self._read_page(model, search, what)
            if not isinstance(page, ListResponse):
                raise classify(200, detail=f"{what}:")
            resources = page.resources or []
            before = len(seen)
            seen.update(str(resource.id) for resource in resources)
            if resources and len(seen) == before:
                raise _endless(what, f"the page at startIndex {start} repeats resources already listed")
            for resource in resources:
                yield resource
            start += len(resources)
            announced = (page.total_results or 0) if announced is None else announced
            if start > announced + max(len(resources), capabilities.max_results) + 1:
                raise _endless(what, f"it goes on past the {announced} resources its first page announced")
            if not resources or start > (page.total_results or 0):
                return

    async def _read_page(self, model: type[Resource[Any]], search: SearchRequest[Any], what: str) -> Any:
        """One page, read again after a short wait when the read failed in a passing way (5xx, 429 with a
        short Retry-After, a dropped connection; not a timeout): a read is safe to repeat, and one fault
        should not cost the whole operation a fresh start."""
        retry = 0
        while True:
            try:
                return await self.call(what, self.client.query(model, search))
            except RetryableError as exc:
                passing = not isinstance(exc, TimedOutError) and (exc.retry_after or 0) <= READ_RETRY_WAIT
                if retry == READ_RETRIES or not passing:
                    raise
            await asyncio.sleep(READ_RETRY_BACKOFF * 2**retry)  # (and the limiter holds any Retry-After)
            retry += 1

    async def find(
        self, model: type[Resource[Any]], attribute: str, value: str, what: str
    ) -> list[Resource[Any]]:
        """The resources whose attribute equals value: a filter if offered, else a scan of the listing."""
        capabilities = await self.capabilities()
        if capabilities.filter:
            return [r async for r in self.pages(model, what, f"{attribute} eq {mapping.quote(value)}")]
        return [r async for r in self.pages(model, what) if mapping.attribute(r, attribute) == value]

    async def change(
        self, model: type[Resource[Any]], id: str, patch: PatchOp[Any], what: str, version: str | None = None
    ) -> tuple[Resource[Any] | None, str | None]:
        """A minimal change: PATCH if offered, else GET, apply, PUT. Returns (resource if sent, ETag)."""
        capabilities = await self.capabilities()
        if capabilities.patch:
            headers = self.if_match(version)
            answer = await self.call(what, self.client.modify(model, id, patch, headers=headers))
            response = _last_response.get()  # a 204 carries the new version in its ETag header only
            etag = response.headers.get("ETag") if response is not None else None
            return (answer if isinstance(answer, Resource) else None), etag
        fresh = await self.call(what, self.client.query(model, id))
        assert isinstance(fresh, Resource)
        patch.patch(fresh)  # the same minimal change, applied here, keeps what idlcm does not manage
        replaced = await self.call(what, self.client.replace(fresh, headers=self.if_match(version)))
        assert isinstance(replaced, Resource)
        return replaced, replaced.meta.version if replaced.meta else None


def _endless(what: str, why: str) -> NeedsHumanError:
    return NeedsHumanError(f"{what}: the app's listing does not end: {why}", problem_class="InvalidResponse")
