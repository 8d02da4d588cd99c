"""Read-only validation of a SCIM app: connectivity, TLS, authentication, listing, discovery, schema and
capabilities.

What provisioning depends on (the credentials, listing Users and Groups, the capabilities, the mapped
attributes) fails a check; a non-conformance it does not depend on (missing by-id routes, error bodies,
`totalResults` on discovery listings, absolute endpoints) makes a passed check a warning.

Nothing here writes: scim2-tester runs only its "discovery" checks, through a transport that answers every
method but GET itself (405) instead of sending it to the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import httpx2
from scim2_models import Group, SearchRequest

from idlcm.connectors.auth import OAuth2Flow
from idlcm.connectors.base import ACCOUNT_ATTRIBUTES, Capabilities, CheckResult, failed_check
from idlcm.connectors.errors import (
    ConnectorError,
    NeedsHumanError,
    NotFoundError,
    RetryableError,
    scrub,
)
from idlcm.connectors.scim import mapping, schemas
from idlcm.connectors.scim.errors import network_error
from idlcm.connectors.scim.schemas import CORE_GROUP, CORE_USER, Description
from idlcm.connectors.transport import RequestObserver, read_capped

if TYPE_CHECKING:
    from idlcm.connectors.scim.api import ScimApi

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
    """Run the checks in order; after connectivity, TLS, authentication or the listing fails the rest cannot
    pass."""
    results = await _reach(api)
    if not all(r.passed for r in results):
        return results
    authentication, listing = await _authentication(api)
    results.extend((authentication, listing))
    later = ("discovery", "schema", "capabilities") if discovery else ("schema", "capabilities")
    if not listing.passed:
        why = "the listing failed" if listing.problem_class or listing.retryable else "authentication failed"
        return [*results, *(_skipped(name, why) for name in later)]
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


async def _authentication(api: ScimApi) -> tuple[CheckResult, CheckResult]:
    """(authentication, listing): an OAuth2 token first, then one account listed with the credentials.

    A refusal (401, 403) fails authentication; any other failure of the listing fails the listing, and the
    authentication passed only if a token was issued (a static credential is not judged by a 500)."""
    oauth = isinstance(api.auth, OAuth2Flow)
    if isinstance(api.auth, OAuth2Flow):
        try:
            await api.auth.token()
        except ConnectorError as exc:
            error = failed_check("authentication", exc, "InvalidCredentials")
            return error, _skipped("listing", "authentication failed")
    try:
        await api.call("list one account", api.client.query(mapping.UserModel, SearchRequest(count=1)))
    except NeedsHumanError as exc:
        if exc.problem_class in ("InvalidCredentials", "PermissionDenied"):
            what = "the app refused the token the token endpoint issued: " if oauth else ""
            refused = CheckResult("authentication", False, what + exc.message, exc.problem_class)
            return refused, _skipped("listing", "authentication failed")
        listing = failed_check("listing", exc, "InvalidResponse")
    except NotFoundError as exc:
        message = f"no SCIM /Users endpoint here: {exc.message}"
        listing = CheckResult("listing", False, message, "NotScimService")
    except ConnectorError as exc:
        listing = failed_check("listing", exc, "InvalidResponse")
    else:
        accepted = (
            "the token endpoint issued a token the app accepts" if oauth else "the credentials are accepted"
        )
        return CheckResult("authentication", True, accepted), CheckResult(
            "listing", True, "Users can be listed"
        )
    if oauth:
        return CheckResult("authentication", True, "the token endpoint issued a token"), listing
    unjudged = "not judged: the listing failed before the app said whether it accepts the credentials"
    return CheckResult("authentication", False, unjudged, skipped=True), listing


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
        self.refused: list[ConnectorError] = []
        """Answers idlcm refuses to read (past the size cap): a failure, not a conformance finding."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "GET":
            return httpx2.Response(405, request=request)
        try:
            response = read_capped(request, self._inner.handle_request(request), self._max)
        except httpx2.TransportError as exc:
            self.broken.append(exc)
            self._tell(request.method, "error")
            raise
        except ConnectorError as exc:
            self.refused.append(exc)
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
    except Exception as exc:  # scim2-tester reports problems as results; anything else stopped the run
        if isinstance(exc, httpx2.HTTPError):
            error = network_error(exc, "discovery", api.secrets())
            return failed_check("discovery", error, "DiscoveryFailed")
        if isinstance(exc, ConnectorError):  # an answer idlcm refuses to read (past the size cap)
            return failed_check("discovery", exc, "InvalidResponse")
        unavailable = _unavailable_during(guard)
        if unavailable is not None:
            return unavailable
        # The conformance run could not finish: what provisioning needs is checked by the other checks.
        why = scrub(f"{type(exc).__name__}: {exc}", api.secrets())
        message = f"the read-only conformance checks stopped early ({why}): conformance not fully checked"
        return CheckResult("discovery", True, message, warning=True)
    # The method checks (POST/PUT/PATCH/DELETE answer 405) were answered by the guard, not the app.
    results = [r for r in results if not (r.title or "").endswith("_endpoint_methods")]
    errors = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    ran = sum(r.status != Status.SKIPPED for r in results)
    if errors:
        unavailable = _unavailable_during(guard)
        if unavailable is not None:
            return unavailable
        if guard.refused:
            return failed_check("discovery", guard.refused[0], "InvalidResponse")
        # Conformance only: what provisioning needs is checked by the listing, schema and capabilities checks.
        summary = "; ".join(f"{r.title}: {' '.join(str(r.reason).split())}" for r in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        message = f"{len(errors)} of {ran} read-only conformance checks found problems provisioning does not "
        message += f"depend on: {summary}{more}"
        return CheckResult("discovery", True, scrub(message, api.secrets()), warning=True)
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
    if capabilities is mapping.NO_CONFIG:  # no ServiceProviderConfig
        message = (
            "the app publishes no ServiceProviderConfig: assumed the conservative choices (no Bulk, no "
            f"filter, no ETag, PATCH tried first); page size {capabilities.max_results}"
        )
        return [schema, CheckResult("capabilities", True, message, warning=True)]
    return [schema, CheckResult("capabilities", True, describe_capabilities(capabilities))]


def describe_capabilities(capabilities: Capabilities) -> str:
    """The capabilities in one line: PATCH yes, Bulk no, filter yes, ETag no; page size 100."""
    flags = ", ".join(
        f"{name} {'yes' if on else 'no'}"
        for name, on in (
            ("PATCH", capabilities.patch),
            ("Bulk", capabilities.bulk),
            ("filter", capabilities.filter),
            ("ETag", capabilities.etag),
        )
    )
    return f"{flags}; page size {capabilities.max_results}"


async def _schema(api: ScimApi, wanted: frozenset[str]) -> CheckResult:
    """The app serves the endpoints the accounts need, and the mapped attributes exist and are writable.

    Passed with a warning when the app's description was incomplete (what was assumed is said), or did not
    conform in ways provisioning does not depend on."""
    try:
        described = await schemas.describe(api)
        problems = await _missing_endpoints(api, described, wanted)
    except ConnectorError as exc:
        return failed_check("schema", exc, "NotScimService")
    notes = list(described.findings)
    labels: list[str] = []
    if described.schemas is None:
        notes.append("the app publishes no /Schemas: RFC 7643's core schemas assumed, attributes not checked")
    else:
        labels, found, unchecked = _attribute_problems(described.schemas, wanted)
        problems.extend(found)
        if unchecked:
            notes.append(
                f"/Schemas does not describe {', '.join(unchecked)}: RFC 7643's core schemas assumed there"
            )
    if problems:
        return CheckResult("schema", False, "; ".join(problems), "SchemaIncompatible")
    served = described.endpoints
    endpoints = "Users and Groups are served" if served is None or "/Groups" in served else "Users are served"
    detail = f"; the mapped attributes exist and are writable: {', '.join(labels)}" if labels else ""
    sent = describe_profile(schemas.profile_of(described.schemas or {}))
    message = endpoints + detail + (f"; {sent}" if sent else "")
    if notes:
        return CheckResult("schema", True, f"{message}; warnings: {'; '.join(notes)}", warning=True)
    return CheckResult("schema", True, message)


def describe_profile(profile: mapping.SchemaProfile) -> str:
    """How what idlcm sends follows the app's schema profile, in words ('' when it is RFC 7643's core)."""
    notes = []
    if profile.name_formatted:
        notes.append("name.formatted is required: sent, made from the name parts")
    if profile.display_name:
        notes.append("displayName is required: sent, made from the name (else the userName)")
    if not profile.email_type or not profile.email_primary:
        lacking = [
            s for s, on in (("type", profile.email_type), ("primary", profile.email_primary)) if not on
        ]
        notes.append(f"emails has no {' or '.join(lacking)}: not sent")
    if not profile.member_type:
        notes.append("Group members have no type: not sent")
    if profile.members_required:
        notes.append("Group members are required: a group is created with its first members")
    return "; ".join(notes)


async def _missing_endpoints(api: ScimApi, described: Description, wanted: Collection[str]) -> list[str]:
    """What the accounts need that the app does not serve. Without /ResourceTypes, Groups are looked for by
    listing one (the listing check found the Users)."""
    problems: list[str] = []
    served = described.endpoints
    if served is None:
        described.findings.append(
            "the app publishes no /ResourceTypes: RFC 7643's /Users and /Groups assumed"
        )
        if "groups" in wanted:
            try:
                await api.call("list one group", api.client.query(Group, SearchRequest(count=1)))
            except NotFoundError:
                problems.append("the app serves no /Groups, but the accounts have groups")
        return problems
    if "/Users" not in served:
        # The listing check read /Users: the app serves it, its description does not say so.
        described.findings.append("/ResourceTypes lists no /Users endpoint (it answers)")
    if "groups" in wanted and "/Groups" not in served:
        problems.append("the app serves no /Groups, but the accounts have groups")
    if "department" in wanted and "/Users" in served and mapping.ENTERPRISE.lower() not in served["/Users"]:
        problems.append("the app's Users lack the Enterprise extension, but accounts have a department")
    return problems


def _attribute_problems(
    published: Mapping[str, Mapping[str, Any]], wanted: Collection[str]
) -> tuple[list[str], list[str], list[str]]:
    """(the SCIM names of the attributes checked, what is wrong with them, those the schemas do not cover)."""
    labels: list[str] = []
    problems: list[str] = []
    unchecked: list[str] = []
    for attribute in sorted(wanted):
        if attribute not in SCHEMA_PATHS:
            continue
        urn, name, sub = SCHEMA_PATHS[attribute]
        label = f"{name}.{sub}" if sub else name
        schema = published.get(urn.lower())
        if schema is None:
            if urn != mapping.ENTERPRISE:  # a missing extension is reported with the endpoints
                unchecked.append(label)
            continue
        labels.append(label)
        parent = schemas.attribute(schemas.get(schema, "attributes"), name)
        found = schemas.attribute(schemas.get(parent, "subAttributes"), sub) if parent and sub else parent
        if found is None:
            problems.append(f"{label} does not exist in {schemas.get(schema, 'name') or urn}")
            continue
        for part in (parent, found):
            mutability = str(schemas.get(part, "mutability") or "")
            if mutability.lower() == "readonly" or (
                mutability.lower() == "immutable" and attribute not in _SET_ONCE
            ):
                problems.append(f"{label} is {mutability}: idlcm cannot write it")
                break
    stamp = schemas.attribute(schemas.get(published.get(CORE_USER.lower()), "attributes"), "externalId")
    if "external_id" in wanted and str(schemas.get(stamp, "mutability") or "").lower() == "readonly":
        problems.append(
            "externalId is readOnly in the app's User schema: idlcm's owner stamp cannot be stored, so idlcm "
            "could not tell the accounts it manages from the others"
        )
    return labels, problems, unchecked


def scim_name(attribute: str) -> str:
    """The SCIM name of an account attribute (name.givenName), or the attribute's own if none."""
    if attribute == "groups":
        return "groups (Group members)"
    if attribute not in SCHEMA_PATHS:
        return attribute
    _, name, sub = SCHEMA_PATHS[attribute]
    return f"{name}.{sub}" if sub else name


async def attribute_support(api: ScimApi, attributes: Collection[str]) -> dict[str, str]:
    """Account attribute -> whether the app can store it, in words ("yes", "no: why", or "not described"),
    from its /ResourceTypes and /Schemas (for a probe: the attributes no spec has chosen yet)."""
    described = await schemas.describe(api)
    support: dict[str, str] = {}
    for attribute in sorted(attributes):
        problems = await _missing_endpoints(api, described, {attribute})
        urn = SCHEMA_PATHS[attribute][0] if attribute in SCHEMA_PATHS else None
        if described.schemas is not None and urn is not None:
            labels, found, _ = _attribute_problems(described.schemas, {attribute})
            problems.extend(found)
            if not labels and not problems:
                support[attribute] = "not described by the app's /Schemas"
                continue
        elif urn is not None and not problems:
            support[attribute] = "not described (no /Schemas)"
            continue
        support[attribute] = f"no: {'; '.join(problems)}" if problems else "yes"
    return support


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, f"not run: {why}", skipped=True)
