"""Read-only validation of a SCIM app: connectivity, TLS, authentication, discovery, schema, capabilities."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx2
from scim2_models import ListResponse, ResourceType, SearchRequest

from idlcm.connectors import scim_mapping as mapping
from idlcm.connectors.base import CheckResult
from idlcm.connectors.errors import ConnectorError, NeedsHumanError, NotFoundError, scrub
from idlcm.connectors.scim_errors import network_error

if TYPE_CHECKING:
    from idlcm.connectors.scim_api import ScimApi


async def validate(api: ScimApi) -> list[CheckResult]:
    """Run the checks in order; stop after connectivity or TLS fails, since nothing else can pass then."""
    results = await _reach(api)
    if not all(r.passed for r in results):
        return results
    results.append(await _authentication(api))
    results.append(await _discovery(api))
    results.extend(await _schema_and_capabilities(api))
    return results


async def _reach(api: ScimApi) -> list[CheckResult]:
    https = api.base_url.lower().startswith("https://")
    try:
        # No credentials: the ServiceProviderConfig is public (RFC 7644 §4); this only tests the way there.
        await api.http.get("/ServiceProviderConfig", auth=None)
    except httpx2.HTTPError as exc:
        error = network_error(exc, "reach the app", api.secrets())
        if isinstance(error, NeedsHumanError) and error.problem_class == "TLSError":
            return [
                CheckResult("connectivity", True, "the host answers"),
                CheckResult("tls", False, error.message, "TLSError"),
            ]
        problem = error.problem_class if isinstance(error, NeedsHumanError) else "Unreachable"
        return [CheckResult("connectivity", False, error.message, problem)]
    except ConnectorError as exc:
        return [CheckResult("connectivity", False, exc.message, _problem(exc, "Unreachable"))]
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
        return CheckResult("authentication", False, exc.message, _problem(exc, "Unreachable"))
    return CheckResult("authentication", True, "the credentials are accepted")


async def _discovery(api: ScimApi) -> CheckResult:
    try:
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import Status, check_server
    except ImportError:  # pragma: no cover - a packaging problem
        return CheckResult("discovery", False, "scim2-tester is not installed", "MissingDependency")

    def run() -> list[Any]:
        # Its own sync client (scim2-tester replaces the provider); only the read-only "discovery" checks.
        with httpx2.Client(
            base_url=api.base_url,
            auth=api.auth,
            verify=api.verify,
            timeout=api.timeout,
            follow_redirects=False,
            trust_env=False,
        ) as http:
            return list(check_server(SyncSCIMClient(http), include_tags={"discovery"}))

    try:
        results = await asyncio.to_thread(run)
    except Exception as exc:  # scim2-tester reports problems as results; anything else is a failed check
        return CheckResult(
            "discovery", False, scrub(f"{type(exc).__name__}: {exc}", api.secrets()), "DiscoveryFailed"
        )
    errors = [r for r in results if r.status == Status.ERROR]
    if errors:
        summary = "; ".join(f"{r.title}: {r.reason}" for r in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return CheckResult("discovery", False, scrub(summary + more, api.secrets()), "DiscoveryFailed")
    return CheckResult("discovery", True, f"{len(results)} discovery checks passed")


async def _schema_and_capabilities(api: ScimApi) -> list[CheckResult]:
    try:
        capabilities = await api.capabilities()
        listing = await api.call("read ResourceTypes", api.client.query(ResourceType))
    except ConnectorError as exc:
        return [CheckResult("schema", False, exc.message, _problem(exc, "NotScimService"))]
    served = {
        str(rt.endpoint).rstrip("/"): rt
        for rt in ((listing.resources or []) if isinstance(listing, ListResponse) else [])
    }
    missing = [e for e in ("/Users", "/Groups") if e not in served]
    if missing:
        schema = CheckResult(
            "schema", False, f"the app serves no {' or '.join(missing)}", "SchemaIncompatible"
        )
    else:
        extensions = {str(x.schema_) for x in served["/Users"].schema_extensions or []}
        note = (
            ""
            if mapping.ENTERPRISE in extensions
            else " (no Enterprise User extension: department is not kept)"
        )
        schema = CheckResult("schema", True, "Users and Groups are served" + note)
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


def _problem(exc: ConnectorError, default: str) -> str:
    return exc.problem_class if isinstance(exc, NeedsHumanError) else default
