"""Read-only validation of a SCIM app: connectivity, TLS, authentication, discovery, schema, capabilities.

Nothing here writes: scim2-tester runs only its "discovery" checks, through a transport that answers every
method but GET itself (405) instead of sending it to the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import httpx2
from scim2_models import ListResponse, ResourceType, Schema, SearchRequest

from idlcm.connectors.auth import OAuth2Flow
from idlcm.connectors.base import ACCOUNT_ATTRIBUTES, CheckResult, failed_check
from idlcm.connectors.errors import (
    ConnectorError,
    NeedsHumanError,
    NotFoundError,
    RetryableError,
    classify,
    scrub,
)
from idlcm.connectors.scim import mapping
from idlcm.connectors.scim.errors import network_error
from idlcm.connectors.transport import RequestObserver, read_capped

if TYPE_CHECKING:
    from idlcm.connectors.scim.api import ScimApi

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

# Account attribute -> (schema, attribute, sub-attribute) that stores it. externalId is common to every
# resource (RFC 7643 §3.1), so no schema lists it.
SCHEMA_PATHS: dict[str, tuple[str, str, str | None]] = {
    "user_name": (CORE_USER, "userName", None),
    "display_name": (CORE_USER, "displayName", None),
    "given_name": (CORE_USER, "name", "givenName"),
    "family_name": (CORE_USER, "name", "familyName"),
    "email": (CORE_USER, "emails", "value"),
    "active": (CORE_USER, "active", None),
    "title": (CORE_USER, "title", None),
    "department": (mapping.ENTERPRISE, "department", None),
    "groups": (CORE_GROUP, "members", None),
}
# Set when the account is created and never changed afterwards: `immutable` is enough for these.
_SET_ONCE = frozenset({"user_name"})


async def validate(
    api: ScimApi, attributes: Collection[str] | None = None, *, discovery: bool = True
) -> list[CheckResult]:
    """Run the checks in order; after connectivity, TLS or authentication fails the rest cannot pass."""
    results = await _reach(api)
    if not all(r.passed for r in results):
        return results
    authentication = await _authentication(api)
    results.append(authentication)
    later = ("discovery", "schema", "capabilities") if discovery else ("schema", "capabilities")
    if not authentication.passed:
        return [*results, *(_skipped(name, "authentication failed") for name in later)]
    if discovery:
        results.append(await _discovery(api))
    wanted = ACCOUNT_ATTRIBUTES if attributes is None else frozenset(attributes)
    results.extend(await _schema_and_capabilities(api, wanted))
    return results


async def _reach(api: ScimApi) -> list[CheckResult]:
    """Any answer to a read of the ServiceProviderConfig passes: this tests the way there.

    With a static header (bearer token, basic) the read is the one the capabilities check needs, sent with
    the credentials as that check would: one read serves both. An OAuth2 token is first asked for by the
    authentication check, so that the token endpoint's problems are reported there: this read goes without
    credentials then (the ServiceProviderConfig is public, RFC 7644 §4), and the capabilities are read later.
    """
    https = api.base_url.lower().startswith("https://")
    static = not isinstance(api.auth, OAuth2Flow)
    try:
        response = await api.http.get(
            "/ServiceProviderConfig", auth=httpx2.USE_CLIENT_DEFAULT if static else None
        )
    except httpx2.HTTPError as exc:
        error = network_error(exc, "reach the app", api.secrets())
        if isinstance(error, NeedsHumanError) and error.problem_class == "TLSError":
            return [
                CheckResult("connectivity", True, "the host answers"),
                CheckResult("tls", False, error.message, "TLSError"),
            ]
        return [failed_check("connectivity", error, "Unreachable")]
    except ConnectorError as exc:
        return [failed_check("connectivity", exc, "Unreachable")]
    if static:
        api.remember_capabilities(response)
    if not https:
        tls = CheckResult("tls", True, "plain HTTP: traffic is not encrypted (allowed by tls.insecure)")
    elif api.tls.insecure:
        tls = CheckResult("tls", True, "certificate NOT verified (tls.insecure)")
    else:
        tls = CheckResult("tls", True, "certificate verified")
    return [CheckResult("connectivity", True, "the app answers over HTTP"), tls]


async def _authentication(api: ScimApi) -> CheckResult:
    try:
        await api.call("list one account", api.client.query(mapping.UserModel, SearchRequest(count=1)))
    except NotFoundError as exc:
        return CheckResult(
            "authentication", False, f"no SCIM /Users endpoint here: {exc.message}", "NotScimService"
        )
    except ConnectorError as exc:
        return failed_check("authentication", exc, "InvalidResponse")
    return CheckResult("authentication", True, "the credentials are accepted")


class _ReadOnly(httpx2.BaseTransport):
    """Sends GETs only (answering any other method itself with 405), reads at most `max_response_bytes` of
    each answer, and notes how the app answered."""

    def __init__(
        self, inner: httpx2.BaseTransport, max_response_bytes: int, observe: RequestObserver | None = None
    ) -> None:
        self._inner = inner
        self._max = max_response_bytes
        self._observe = observe
        self.statuses: list[int] = []
        self.broken: list[httpx2.TransportError] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "GET":
            return httpx2.Response(405, request=request)
        try:
            response = read_capped(request, self._inner.handle_request(request), self._max)
        except httpx2.TransportError as exc:
            self.broken.append(exc)
            self._tell(request.method, "error")
            raise
        self.statuses.append(response.status_code)
        self._tell(request.method, str(response.status_code))
        return response

    def _tell(self, method: str, code: str) -> None:
        if self._observe is not None:
            self._observe(method, code, 0.0)  # a few discovery GETs, outside the rate limiter

    def close(self) -> None:
        self._inner.close()


async def _discovery(api: ScimApi) -> CheckResult:
    try:
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import Status, check_server
    except ImportError:  # pragma: no cover - a packaging problem
        return CheckResult("discovery", False, "scim2-tester is not installed", "MissingDependency")

    guard = _ReadOnly(httpx2.HTTPTransport(verify=api.verify, retries=0), api.max_response_bytes, api.observe)

    def run() -> list[Any]:
        # Its own sync client (scim2-tester replaces the provider); only the "discovery" checks run.
        with httpx2.Client(
            base_url=api.base_url,
            auth=api.auth,
            transport=guard,
            timeout=api.timeout,
            follow_redirects=False,
            trust_env=False,
        ) as http:
            return list(check_server(SyncSCIMClient(http), include_tags={"discovery"}))

    results: list[Any] = []
    try:
        for attempt in range(1, _SPURIOUS_TRIES + 1):
            try:
                results = await asyncio.to_thread(run)
            except SystemError as exc:
                if attempt == _SPURIOUS_TRIES or not _spurious(str(exc)):
                    raise
                continue
            if attempt == _SPURIOUS_TRIES or not any(_spurious(str(r.reason)) for r in results):
                break
    except Exception as exc:  # scim2-tester reports problems as results; anything else is a failed check
        if isinstance(exc, httpx2.HTTPError):
            error = network_error(exc, "discovery", api.secrets())
            return failed_check("discovery", error, "DiscoveryFailed")
        return CheckResult(
            "discovery", False, scrub(f"{type(exc).__name__}: {exc}", api.secrets()), "DiscoveryFailed"
        )
    # The method checks (POST/PUT/PATCH/DELETE answer 405) were answered by the guard, not the app.
    results = [r for r in results if not (r.title or "").endswith("_endpoint_methods")]
    errors = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    if errors:
        unavailable = _unavailable_during(guard)
        if unavailable is not None:
            return unavailable
        summary = "; ".join(f"{r.title}: {r.reason}" for r in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return CheckResult("discovery", False, scrub(summary + more, api.secrets()), "DiscoveryFailed")
    ran = sum(r.status != Status.SKIPPED for r in results)
    return CheckResult("discovery", True, f"{ran} read-only discovery checks passed")


_SPURIOUS_TRIES = 3
_SPURIOUS = "AST constructor recursion depth mismatch"


def _spurious(text: str) -> bool:
    """CPython 3.11/3.12 raise this SystemError when two threads build ASTs at once (pydantic reads model
    docstrings with `ast` while scim2-tester builds its models in the discovery thread): not the app's
    fault, so the discovery runs again rather than sending the app to review (cpython gh-106905)."""
    return _SPURIOUS in text


def _unavailable_during(guard: _ReadOnly) -> CheckResult | None:
    """A retryable failure when the app was down or throttling during discovery (not its conformance)."""
    if guard.broken:
        error = network_error(guard.broken[0], "discovery", ())
        return failed_check("discovery", error, "Unreachable")
    busy = [s for s in guard.statuses if s in (408, 425, 429) or s >= 500]
    if busy:
        error = RetryableError(f"discovery: the app answered HTTP {busy[0]}", status=busy[0])
        return failed_check("discovery", error, "AppUnavailable")
    return None


async def _schema_and_capabilities(api: ScimApi, wanted: frozenset[str]) -> list[CheckResult]:
    try:
        capabilities = await api.capabilities()
    except ConnectorError as exc:
        schema = failed_check("schema", exc, "NotScimService")
        return [schema, _skipped("capabilities", "the schema check failed")]
    if api.shared is None:
        schema = await _schema(api, wanted)
    else:  # the same question asked of the same app the same way a moment ago: its passed answer
        key = ("schema", api.base_url, api.credentials, api.tls, wanted)
        schema = await api.shared.get(key, lambda: _schema(api, wanted))
    if schema.problem_class not in (None, "SchemaIncompatible"):  # the app's description could not be read
        return [schema, _skipped("capabilities", "the schema check failed")]
    flags = ", ".join(
        f"{name} {'yes' if on else 'no'}"
        for name, on in (
            ("PATCH", capabilities.patch),
            ("Bulk", capabilities.bulk),
            ("filter", capabilities.filter),
            ("ETag", capabilities.etag),
        )
    )
    return [schema, CheckResult("capabilities", True, f"{flags}; page size {capabilities.max_results}")]


async def _schema(api: ScimApi, wanted: frozenset[str]) -> CheckResult:
    """The app serves the endpoints the accounts need, and the mapped attributes exist and are writable."""
    try:
        listing = await api.call("read ResourceTypes", api.client.query(ResourceType))
        schemas = await _schemas(api)
    except ConnectorError as exc:
        return failed_check("schema", exc, "NotScimService")
    served = {
        str(rt.endpoint).rstrip("/"): rt
        for rt in ((listing.resources or []) if isinstance(listing, ListResponse) else [])
    }
    problems = _missing_endpoints(served, wanted)
    labels: list[str] = []
    if schemas is not None:
        labels, found = _attribute_problems(schemas, wanted)
        problems.extend(found)
    if problems:
        return CheckResult("schema", False, "; ".join(problems), "SchemaIncompatible")
    endpoints = "Users and Groups are served" if "/Groups" in served else "Users are served"
    detail = (
        f"; the mapped attributes exist and are writable: {', '.join(labels)}"
        if schemas is not None
        else "; the app publishes no /Schemas, so attributes were not checked"
    )
    return CheckResult("schema", True, endpoints + detail)


async def _schemas(api: ScimApi) -> dict[str, Mapping[str, Any]] | None:
    """The schemas the app publishes, by URN, as the JSON it sent; None when it has no /Schemas endpoint.

    Plain JSON: the check reads a few names and flags, and building the scim2-models objects of every schema
    cost more than the rest of an Integration's validation (each Integration reads them)."""
    try:
        listing = await api.call("read Schemas", api.client.query(Schema, check_response_payload=False))
    except NotFoundError:
        return None
    resources = listing.get("Resources", []) if isinstance(listing, dict) else None
    if not isinstance(resources, list):
        raise classify(200, detail="read Schemas:")
    return {str(s["id"]): s for s in resources if isinstance(s, dict) and s.get("id")}


def _missing_endpoints(served: Mapping[str, ResourceType], wanted: Collection[str]) -> list[str]:
    problems = []
    if "/Users" not in served:
        problems.append("the app serves no /Users")
    if "groups" in wanted and "/Groups" not in served:
        problems.append("the app serves no /Groups, but the accounts have groups")
    if "department" in wanted and "/Users" in served:
        extensions = {str(x.schema_) for x in served["/Users"].schema_extensions or []}
        if mapping.ENTERPRISE not in extensions:
            problems.append("the app's Users lack the Enterprise extension, but accounts have a department")
    return problems


def _attribute_problems(
    schemas: Mapping[str, Mapping[str, Any]], wanted: Collection[str]
) -> tuple[list[str], list[str]]:
    """(the SCIM names of the attributes checked, what is wrong with them)."""
    labels: list[str] = []
    problems: list[str] = []
    for attribute in sorted(wanted):
        if attribute not in SCHEMA_PATHS:
            continue
        urn, name, sub = SCHEMA_PATHS[attribute]
        label = f"{name}.{sub}" if sub else name
        schema = schemas.get(urn)
        if schema is None:
            continue  # not published (a missing extension or /Groups is reported above)
        labels.append(label)
        parent = _find(schema.get("attributes"), name)
        found = _find(parent.get("subAttributes"), sub) if parent is not None and sub else parent
        if found is None:
            problems.append(f"{label} does not exist in {schema.get('name') or urn}")
            continue
        for part in (parent, found):
            mutability = str((part or {}).get("mutability") or "")
            if mutability.lower() == "readonly" or (
                mutability.lower() == "immutable" and attribute not in _SET_ONCE
            ):
                problems.append(f"{label} is {mutability}: idlcm cannot write it")
                break
    return labels, problems


def _find(attributes: object, name: str) -> Mapping[str, Any] | None:
    # SCIM attribute names are case-insensitive (RFC 7643 §2.1).
    found = (
        a
        for a in (attributes if isinstance(attributes, list) else ())
        if isinstance(a, dict) and str(a.get("name") or "").lower() == name.lower()
    )
    return next(found, None)


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, f"not run: {why}", skipped=True)
