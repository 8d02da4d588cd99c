"""One SCIM service: scim2-client over a guarded httpx2 client, with errors translated once, here.

Plumbing only (capabilities, paging, lookups, PATCH-or-PUT); `scim.ScimConnector` tells the story on top.
How the app lists and takes changes (its `dialect.Dialect`) is learnt here, from what it answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, TypeVar

import httpx2
from scim2_client.client import RawResponse
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import (
    Context,
    Group,
    GroupMember,
    ListResponse,
    PatchOp,
    PatchOperation,
    Resource,
    ResourceType,
    Schema,
    SearchRequest,
    ServiceProviderConfig,
)

from idlcm import __version__
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
    PermanentError,
    RetryableError,
    TimedOutError,
    classify,
    scrub,
)
from idlcm.connectors.ratelimit import RateLimit, RateLimiter
from idlcm.connectors.scim import mapping
from idlcm.connectors.scim.dialect import DIALECTS, AttributesRefused, Dialect, Needed, canonical_keys
from idlcm.connectors.scim.errors import is_library_error, translate
from idlcm.connectors.shared import SharedChecks
from idlcm.connectors.transport import MEDIA_TYPES, GuardedTransport, RequestObserver, Tls

T = TypeVar("T")

READ_RETRIES = 2
"""Tries of a page read, after the first, when it failed in a passing way (see `ScimApi._read_page`)."""
READ_RETRY_BACKOFF = 0.2
"""Seconds before the first try again; doubled for each next one."""
USER_AGENT = f"idlcm/{__version__}"
"""Sent with every request: some apps refuse requests without one (AWS refuses a PATCH)."""
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
    """scim2-client's async client, remembering the current task's last raw response (for a 204's ETag)
    and reading every answer's top-level SCIM names case-insensitively (`resources` is `Resources`)."""

    def _parse_json(self, response: RawResponse) -> Any:
        return canonical_keys(super()._parse_json(response))

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
        self.dialect: Dialect = DIALECTS.of(self.base_url)
        """What the app is like on the wire, as learnt so far (shared by every connector to the app)."""
        self.media = MEDIA_TYPES.of(self.base_url)
        """The media type request bodies go out as (SCIM's own until the app refuses it)."""
        self.needed: Needed | None = None
        """The accounts the current operation needs, looked up one by one where the app cannot list them all
        (None: nobody said; such an app's listing then fails)."""
        concurrency = limiter.limit.max_concurrency
        self.concurrency = concurrency
        inner = httpx2.AsyncHTTPTransport(
            verify=self.verify,
            retries=0,
            limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.http = httpx2.AsyncClient(
            base_url=self.base_url,
            auth=self.auth,
            transport=GuardedTransport(inner, limiter, max_response_bytes, observe, media=self.media),
            timeout=self.timeout,
            follow_redirects=False,  # a redirect could carry the credentials to another host
            trust_env=False,
            headers={"Accept": "application/scim+json, application/json", "User-Agent": USER_AGENT},
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
                transport=token_transport,
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
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

    def profile(self) -> dict[str, Any]:
        """The app's dialect and media type as JSON-ready data (for status and the ExternalApp)."""
        return self.dialect.to_dict(media_type=self.media.value)

    def need(self, needed: Needed | None) -> None:
        """Name the accounts (and groups) the coming operation needs: where the app cannot list them all,
        its listings bring these, looked up one by one (see `Needed` for what that cannot find)."""
        self.needed = needed

    async def pages(
        self, model: type[Resource[Any]], what: str, filter: str | None = None
    ) -> AsyncGenerator[Resource[Any], None]:
        """Every resource of a listing, in the way the app lists (`Dialect.listing`): startIndex paging at the
        largest page allowed, else `id gt` keyset paging, else one lookup per needed account.

        A listing that repeats itself, or grows past what its first page announced by more than a page, is
        refused (InvalidResponse): a broken or hostile app could otherwise keep the operator reading on.
        A whole listing refused for good (a 4xx on its first page) needs a human: it is never retried."""
        capabilities = await self.capabilities()
        seen: set[str] = set()
        if filter is not None:
            async for resource in self._indexed(model, what, filter, seen):
                yield resource
            return
        listing = self.dialect.listing
        why = self.dialect.notes.get("listing", "")
        # Even where paging is known not to work, the first page is read: it may hold the whole listing.
        known = why or listing if listing in ("keyset", "lookups") else None
        try:
            async for resource in self._indexed(model, what, None, seen, first_only=known):
                yield resource
            return
        except _Unpageable as broken:
            why = broken.why
        if listing != "lookups" and capabilities.filter:
            try:
                async for resource in self._keyset(model, what, seen):
                    yield resource
            except _Unpageable as broken:
                why = f"{why}; nor does it page by `id gt` ({broken.why})"
            else:
                if self.dialect.listing != "keyset":
                    self.dialect.listing = "keyset"
                    self.dialect.note("listing", f"{why}: listings are read by `id gt` keyset paging")
                return
        async for resource in self._looked_up(model, what, why, seen):
            yield resource

    async def _indexed(
        self,
        model: type[Resource[Any]],
        what: str,
        filter: str | None,
        seen: set[str],
        *,
        first_only: str | None = None,
    ) -> AsyncGenerator[Resource[Any], None]:
        """RFC 7644 startIndex paging, by the number of resources each page actually brought; raises
        `_Unpageable` where the app ignores startIndex or refuses a deep one (whole listings only), or, with
        `first_only` (why paging is known not to work), where the first page is not the whole listing."""
        capabilities = await self.capabilities()
        start, announced = 1, None
        first: set[str] = set()
        while True:
            search = SearchRequest[Any](start_index=start, count=capabilities.max_results, filter=filter)
            try:
                page = await self._read_page(model, search, what)
            except PermanentError as exc:
                if filter is not None:
                    raise  # one lookup refused: that account's failure
                if start > 1:
                    raise _Unpageable(f"the app refuses startIndex {start} (HTTP {exc.status})") from None
                raise NeedsHumanError(
                    f"{exc.message}; a listing refused for good is not retried",
                    problem_class="RequestRefused",
                    status=exc.status,
                ) from None
            if not isinstance(page, ListResponse):
                raise classify(200, detail=f"{what}:")
            resources = page.resources or []
            ids = {str(resource.id) for resource in resources}
            if start == 1:
                first = ids
            elif resources and ids <= seen:
                if filter is None and ids == first:
                    raise _Unpageable(f"the app ignores startIndex (the page at {start} repeats the first)")
                raise _endless(what, f"the page at startIndex {start} repeats resources already listed")
            seen.update(ids)
            for resource in resources:
                yield resource
            start += len(resources)
            announced = (page.total_results or 0) if announced is None else announced
            if start > announced + max(len(resources), capabilities.max_results) + 1:
                raise _endless(what, f"it goes on past the {announced} resources its first page announced")
            if not resources or start > (page.total_results or 0):
                return
            if first_only is not None:
                raise _Unpageable(first_only)
            if filter is None and len(resources) < capabilities.max_results:
                self._capped(len(resources), capabilities.max_results)

    def _capped(self, size: int, asked: int) -> None:
        """Note that the app brings fewer resources a page than asked for (paging goes on by what came)."""
        dialect = self.dialect
        if dialect.listing == "rfc" or (dialect.page_size or 0) < size:
            dialect.listing = "capped" if dialect.listing == "rfc" else dialect.listing
            dialect.page_size = max(size, dialect.page_size or 0)
            dialect.note(
                "listing", f"the app brings at most {dialect.page_size} resources a page ({asked} asked)"
            )

    async def _keyset(
        self, model: type[Resource[Any]], what: str, seen: set[str]
    ) -> AsyncGenerator[Resource[Any], None]:
        """Keyset paging: the first page, then `id gt <the last id>` until a page brings nothing. Trusted only
        while each page comes in ascending id order (else resources could be skipped): `_Unpageable`."""
        capabilities = await self.capabilities()
        sort = {"sort_by": "id"} if capabilities.sort else {}
        cursor: str | None = None
        while True:
            filter = None if cursor is None else f"id gt {mapping.quote(cursor)}"
            search = SearchRequest[Any](start_index=1, count=capabilities.max_results, filter=filter, **sort)
            try:
                page = await self._read_page(model, search, what)
            except PermanentError as exc:
                raise _Unpageable(f"HTTP {exc.status}") from None
            if not isinstance(page, ListResponse):
                raise classify(200, detail=f"{what}:")
            ids = [str(resource.id) for resource in page.resources or []]
            if not ids:
                return
            if ids != sorted(set(ids)) or (cursor is not None and ids[0] <= cursor):
                raise _Unpageable("its pages do not come in ascending id order")
            for resource in page.resources or []:
                if str(resource.id) not in seen:
                    seen.add(str(resource.id))
                    yield resource
            cursor = ids[-1]

    async def _looked_up(
        self, model: type[Resource[Any]], what: str, why: str, seen: set[str]
    ) -> AsyncGenerator[Resource[Any], None]:
        """The needed resources, one `eq` lookup each (at most `concurrency` at a time), for an app that
        cannot list them all. Accounts nobody named cannot be found this way (see `Needed`)."""
        kind = "Group" if issubclass(model, Group) else "User"
        if self.dialect.listing != "lookups":
            self.dialect.listing = "lookups"
            self.dialect.note(
                "listing",
                f"{why}: accounts are looked up one by one by userName and owner stamp; an account of the "
                "app that the spec no longer names cannot be found, so it is not deprovisioned",
            )
        if self.needed is None or not (await self.capabilities()).filter:
            lacking = (
                "no accounts were named to look up"
                if self.needed is None
                else "it offers no filter to look up"
            )
            raise NeedsHumanError(
                f"{what}: the app cannot list all its {kind}s ({why}), and {lacking}",
                problem_class="MissingCapability",
            )
        lookups = self.needed.lookups(kind)
        for start in range(0, len(lookups), max(1, self.concurrency)):
            batch = lookups[start : start + max(1, self.concurrency)]
            found = await asyncio.gather(*(self._lookup(model, what, a, v) for a, v in batch))
            for resources in found:
                for resource in resources:
                    if str(resource.id) not in seen:
                        seen.add(str(resource.id))
                        yield resource

    async def _lookup(self, model: type[Resource[Any]], what: str, attribute: str, value: str) -> list[Any]:
        filter = f"{attribute} eq {mapping.quote(value)}"
        return [r async for r in self._indexed(model, what, filter, set())]

    async def _read_page(self, model: type[Resource[Any]], search: SearchRequest[Any], what: str) -> Any:
        """One page, read again after a short wait when the read failed in a passing way (5xx, 429 with a
        short Retry-After, a dropped connection; not a timeout): a read is safe to repeat, and one fault
        should not cost the whole operation a fresh start. A refusal for good (4xx) is never read again."""
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
        """A minimal change, in the way the app takes changes (`Dialect.users_write`/`groups_write`): PATCH
        if offered, else GET, apply, PUT; each falls back to the other where the app refuses it. Returns
        (resource if sent, ETag). A Group's member changes go at most `max_member_changes` a PATCH.

        Raises `AttributesRefused` where the app refused some attributes of a User's change and took the
        others."""
        if issubclass(model, Group):
            answer: Resource[Any] | None = None
            for part in _member_parts(patch, self.dialect.max_member_changes):
                answer, version = await self._change_members(model, id, part, what, version)
            return answer, version
        return await self._change(model, id, patch, what, version)

    async def _change_members(
        self, model: type[Resource[Any]], id: str, patch: PatchOp[Any], what: str, version: str | None
    ) -> tuple[Resource[Any] | None, str | None]:
        """A Group change; member removals by filter (`members[value eq "id"]`, RFC 7644), or by value
        (`remove members value=[{value: id}]`) where the app refused the filter (django-scim2: 501)."""
        by_value = _removals_by_value(patch)
        if self.dialect.member_removal == "value":
            return await self._change(model, id, by_value, what, version)
        try:
            return await self._change(model, id, patch, what, version)
        except ConnectorError as exc:
            if exc.status not in (400, 501) or by_value is patch:
                raise
            status = exc.status
        answer = await self._change(model, id, by_value, what, version)
        self.dialect.member_removal = "value"
        self.dialect.note(
            "member removal", f"the app refuses removing members by filter (HTTP {status}): removed by value"
        )
        return answer

    async def _change(
        self, model: type[Resource[Any]], id: str, patch: PatchOp[Any], what: str, version: str | None
    ) -> tuple[Resource[Any] | None, str | None]:
        capabilities = await self.capabilities()
        kind = "Group" if issubclass(model, Group) else "User"
        method = self.dialect.write_method(kind) or ("patch" if capabilities.patch else "put")
        if method == "patch":
            return await self._patch(model, kind, id, patch, what, version)
        try:
            return await self._put(model, id, patch, what, version)
        except _PutRefused as refused:
            self.dialect.learn_write(
                kind, "patch", f"the app refuses PUT of {kind}s (HTTP {refused.status}): changed by PATCH"
            )
        return await self._patch(model, kind, id, patch, what, version)

    async def _patch(
        self,
        model: type[Resource[Any]],
        kind: str,
        id: str,
        patch: PatchOp[Any],
        what: str,
        version: str | None,
    ) -> tuple[Resource[Any] | None, str | None]:
        """PATCH; refused outright (405, or 501 at an app where no PATCH worked yet) → PUT; a 400/501 on a
        User's change → one PATCH per attribute, so that the app takes what it can (`AttributesRefused`)."""
        operations = patch.operations or []
        user = kind == "User"
        try:
            return self._patched(kind, await self._send_patch(model, id, patch, what, version))
        except ConnectorError as exc:
            if not user and exc.status in (400, 501) and _removals_by_value(patch) is not patch:
                raise  # a removal by filter refused: `_change_members` tries it by value, not as a PUT
            if exc.status == 405 or (
                exc.status == 501 and not self.dialect.patch_works and len(operations) < 2
            ):
                return await self._put_instead(model, kind, id, patch, what, version, exc.status)
            if exc.status not in (400, 501) or not user:
                raise
            if len(operations) < 2:
                refused = {_attribute_of(operations[0]): exc.message} if operations else {}
                raise AttributesRefused(exc.message, refused, version=version, status=exc.status) from None
        refused = {}
        statuses: list[int | None] = []
        answer: Resource[Any] | None = None
        for operation in operations:
            single = type(patch)(operations=[operation])
            try:
                taken, etag = self._patched(kind, await self._send_patch(model, id, single, what, version))
            except ConnectorError as exc:
                if exc.status not in (400, 501):
                    raise
                refused[_attribute_of(operation)] = exc.message
                statuses.append(exc.status)
                continue
            answer = taken or answer
            version = etag or (taken.meta.version if taken is not None and taken.meta else None)
        if len(statuses) == len(operations) and set(statuses) == {501} and not self.dialect.patch_works:
            return await self._put_instead(model, kind, id, patch, what, version, 501)
        if refused:
            raise AttributesRefused(
                f"{what}: the app refused {', '.join(sorted(refused))}"
                + ("; the other changes were applied" if len(refused) < len(operations) else ""),
                refused,
                resource=answer,
                version=version,
                status=statuses[0],
            )
        return answer, version

    def _patched(
        self, kind: str, result: tuple[Resource[Any] | None, str | None]
    ) -> tuple[Resource[Any] | None, str | None]:
        if kind == "User":
            self.dialect.patch_works = True  # a later 501 then refuses an attribute, not PATCH itself
        return result

    async def _put_instead(
        self,
        model: type[Resource[Any]],
        kind: str,
        id: str,
        patch: PatchOp[Any],
        what: str,
        version: str | None,
        status: int | None,
    ) -> tuple[Resource[Any] | None, str | None]:
        """The change as a PUT of the whole resource, for an app that refuses PATCH (remembered)."""
        try:
            answer = await self._put(model, id, patch, what, version)
        except _PutRefused as refused:
            raise NeedsHumanError(
                f"{what}: the app refuses both PATCH (HTTP {status}) and PUT (HTTP {refused.status}) "
                f"of {kind}s",
                problem_class="MissingCapability",
                status=refused.status,
            ) from None
        self.dialect.learn_write(
            kind,
            "put",
            f"the app refuses PATCH of {kind}s (HTTP {status}): changed by PUT of the whole resource",
        )
        return answer

    async def _send_patch(
        self, model: type[Resource[Any]], id: str, patch: PatchOp[Any], what: str, version: str | None
    ) -> tuple[Resource[Any] | None, str | None]:
        answer = await self.call(what, self.client.modify(model, id, patch, headers=self.if_match(version)))
        response = _last_response.get()  # a 204 carries the new version in its ETag header only
        etag = response.headers.get("ETag") if response is not None else None
        return (answer if isinstance(answer, Resource) else None), etag

    async def _put(
        self, model: type[Resource[Any]], id: str, patch: PatchOp[Any], what: str, version: str | None
    ) -> tuple[Resource[Any] | None, str | None]:
        """GET, apply, PUT (with If-Match where ETags are offered); `_PutRefused` where PUT is not routed."""
        fresh = await self.call(what, self.client.query(model, id))
        if not isinstance(fresh, Resource):
            raise classify(200, detail=f"{what}:")
        patch.patch(fresh)  # the same minimal change, applied here, keeps what idlcm does not manage
        try:
            replaced = await self.call(what, self.client.replace(fresh, headers=self.if_match(version)))
        except ConnectorError as exc:
            # Just read, so a 404 means no PUT route (Google answers an HTML 404), not a missing resource.
            if exc.status in (404, 405, 501):
                raise _PutRefused(exc.status) from None
            raise
        if not isinstance(replaced, Resource):
            raise classify(200, detail=f"{what}:")
        return replaced, replaced.meta.version if replaced.meta else None


class _Unpageable(Exception):
    """startIndex (or keyset) paging cannot go on at this app; `why` says so in the user's words."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _PutRefused(Exception):
    """The app has no PUT for this resource type."""

    def __init__(self, status: int | None) -> None:
        super().__init__(status)
        self.status = status


_ATTRIBUTES = {path.casefold(): name for name, path in mapping.PATHS.items()}


def _attribute_of(operation: PatchOperation[Any]) -> str:
    """The account attribute a PATCH operation changes (its SCIM path where idlcm maps none)."""
    path = str(operation.path or "")
    return _ATTRIBUTES.get(path.casefold(), path)


def _member_parts(patch: PatchOp[Any], limit: int) -> list[PatchOp[Any]]:
    """A Group PATCH as PATCHes of at most `limit` member changes each (an add of many values is split)."""
    units: list[PatchOperation[Any]] = []
    for operation in patch.operations or []:
        value = operation.value
        if isinstance(value, list) and len(value) > limit:
            units.extend(
                type(operation)(op=operation.op, path=operation.path, value=value[i : i + limit])
                for i in range(0, len(value), limit)
            )
        else:
            units.append(operation)
    parts: list[list[PatchOperation[Any]]] = [[]]
    weight = 0
    for operation in units:
        size = len(operation.value) if isinstance(operation.value, list) else 1
        if parts[-1] and weight + size > limit:
            parts.append([])
            weight = 0
        parts[-1].append(operation)
        weight += size
    return [type(patch)(operations=operations) for operations in parts if operations]


_BY_FILTER = re.compile(r'^members\[value eq (".*")\]$', re.IGNORECASE)


def _removals_by_value(patch: PatchOp[Any]) -> PatchOp[Any]:
    """The Group PATCH with its `members[value eq "id"]` removals as one removal by value (the same PATCH
    object when it has none). Only for apps that refused the filter: at an RFC app, a `remove` of `members`
    with no filter removes every member."""
    kept: list[PatchOperation[Any]] = []
    values: list[str] = []
    for operation in patch.operations or []:
        match = _BY_FILTER.match(str(operation.path or ""))
        if operation.op == PatchOperation.Op.remove and match:
            values.append(str(json.loads(match[1])))
        else:
            kept.append(operation)
    if not values:
        return patch
    members = [GroupMember(value=value) for value in values]
    removal = PatchOperation[Group](op=PatchOperation.Op.remove, path="members", value=members)
    return type(patch)(operations=[*kept, removal])


def _endless(what: str, why: str) -> NeedsHumanError:
    return NeedsHumanError(f"{what}: the app's listing does not end: {why}", problem_class="InvalidResponse")
