"""The app's description of itself (/ResourceTypes, /Schemas), read tolerantly; the schema profile from it.

Read as plain JSON with keys matched case-insensitively (RFC 7643 §2.1): real apps answer `resources` in
lower case, leave out `totalResults` or `schemas`, or give absolute endpoints. Each such non-conformance is
noted as a finding (advisory), never a reason to refuse the app.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2

from idlcm.connectors.errors import (
    ConnectorError,
    NeedsHumanError,
    RetryableError,
    classify,
    parse_retry_after,
)
from idlcm.connectors.scim.errors import network_error
from idlcm.connectors.scim.mapping import CORE_PROFILE, SchemaProfile

if TYPE_CHECKING:
    from idlcm.connectors.scim.api import ScimApi

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

Json = Mapping[str, Any]


@dataclass
class Description:
    """What the app says of itself; None where it publishes nothing (a 404)."""

    endpoints: dict[str, frozenset[str]] | None = None
    """Endpoint (relative to the base URL, e.g. /Users) -> the schema extension URNs of its resource type."""
    schemas: dict[str, Json] | None = None
    """Schema URN (lower case) -> the Schema resource as the app sent it."""
    findings: list[str] = field(default_factory=list)
    """Non-conformances provisioning does not depend on, in the user's words."""


async def describe(api: ScimApi) -> Description:
    """Read /ResourceTypes and /Schemas; raises `ConnectorError` when either answers but not usably."""
    described = Description()
    resource_types = await read_listing(api, "/ResourceTypes", described.findings)
    if resource_types is not None:
        described.endpoints = {}
        for rt in resource_types:
            endpoint = _relative(str(get(rt, "endpoint") or ""), api.base_url, rt, described.findings)
            extensions = get(rt, "schemaExtensions")
            described.endpoints[endpoint] = frozenset(
                str(get(x, "schema") or "").lower()
                for x in (extensions if isinstance(extensions, list) else ())
                if isinstance(x, dict)
            )
    schemas = await read_listing(api, "/Schemas", described.findings)
    if schemas is not None:
        described.schemas = {str(get(s, "id")).lower(): s for s in schemas if get(s, "id")}
        if any(not get(s, "schemas") for s in schemas):
            described.findings.append("/Schemas: Schema resources without `schemas` (RFC 7643 §7)")
    _PROFILES[api] = profile_of(described.schemas or {})
    return described


async def read_listing(api: ScimApi, path: str, findings: list[str]) -> list[Json] | None:
    """The resources of a discovery listing (None: the app has no such endpoint); its findings appended."""
    what = f"read {path.lstrip('/')}"
    try:
        response = await api.http.get(path)
    except httpx2.HTTPError as exc:
        raise network_error(exc, what, api.secrets()) from None
    if response.status_code == 404:
        if not _is_scim_error(response):
            findings.append(f"{path}: a 404 without a SCIM error body (RFC 7644 §3.12)")
        return None
    if response.status_code != 200:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        location = response.headers.get("Location")
        raise classify(response.status_code, detail=f"{what}:", retry_after=retry_after, location=location)
    try:
        payload = response.json()
    except ValueError:
        raise NeedsHumanError(f"{what}: the answer is not JSON", problem_class="InvalidResponse") from None
    if isinstance(payload, list):  # a bare array of resources
        findings.append(f"{path}: a bare JSON array, not a ListResponse (RFC 7644 §3.4.2)")
        return [r for r in payload if isinstance(r, dict)]
    if not isinstance(payload, dict):
        raise NeedsHumanError(f"{what}: the answer is not a ListResponse", problem_class="InvalidResponse")
    resources = get(payload, "Resources")
    if "Resources" not in payload and resources is not None:
        key = next(k for k in payload if k.lower() == "resources")
        findings.append(f"{path}: its resources under {key!r}, not 'Resources' (RFC 7644 §3.4.2)")
    if get(payload, "totalResults") is None:
        findings.append(f"{path}: a listing without totalResults (RFC 7644 §3.4.2)")
    if resources is None:
        if get(payload, "totalResults") in (None, 0, "0"):
            return []
        raise NeedsHumanError(f"{what}: a listing without resources", problem_class="InvalidResponse")
    if not isinstance(resources, list):
        raise NeedsHumanError(f"{what}: its resources are not a list", problem_class="InvalidResponse")
    return [r for r in resources if isinstance(r, dict)]


def get(resource: object, name: str) -> Any:
    """An attribute of a JSON resource by its name, case-insensitively (RFC 7643 §2.1); None if absent."""
    if not isinstance(resource, dict):
        return None
    if name in resource:
        return resource[name]
    lowered = name.lower()
    return next((v for k, v in resource.items() if isinstance(k, str) and k.lower() == lowered), None)


def attribute(attributes: object, name: str) -> Json | None:
    """The attribute definition with this name in a Schema's `attributes` or `subAttributes` list."""
    found = (
        a
        for a in (attributes if isinstance(attributes, list) else ())
        if isinstance(a, dict) and str(get(a, "name") or "").lower() == name.lower()
    )
    return next(found, None)


def required(definition: Json | None) -> bool:
    """The attribute definition marks it required (true, or "true" as some apps write it)."""
    return definition is not None and str(get(definition, "required")).lower() == "true"


def profile_of(schemas: Mapping[str, Json]) -> SchemaProfile:
    """What the published core User and Group schemas ask of what idlcm sends (RFC 7643's core when absent).

    A sub-attribute is left out only where the schema lists the parent's sub-attributes without it."""
    user = get(schemas.get(CORE_USER.lower()), "attributes")
    group = get(schemas.get(CORE_GROUP.lower()), "attributes")
    name = get(attribute(user, "name"), "subAttributes")
    emails = get(attribute(user, "emails"), "subAttributes")
    members = attribute(group, "members")
    member_parts = get(members, "subAttributes")

    def lacks(parts: object, sub: str) -> bool:
        return isinstance(parts, list) and bool(parts) and attribute(parts, sub) is None

    return SchemaProfile(
        name_formatted=required(attribute(name, "formatted")),
        display_name=required(attribute(user, "displayName")),
        email_type=not lacks(emails, "type"),
        email_primary=not lacks(emails, "primary"),
        member_type=not lacks(member_parts, "type"),
        members_required=required(members),
    )


# Connector's API -> the app's schema profile, as its validation or its first write read it.
_PROFILES: weakref.WeakKeyDictionary[ScimApi, SchemaProfile] = weakref.WeakKeyDictionary()
# One read at a time per connector (its requests share one event loop); concurrent first creates wait for it.
_LOCKS: weakref.WeakKeyDictionary[ScimApi, asyncio.Lock] = weakref.WeakKeyDictionary()
# Failures of a /Schemas read that stop the write too (they stop every request); any other refusal, or an
# answer that is no usable listing, leaves what idlcm sends at RFC 7643's core.
_STOPPING = frozenset({"InvalidURL", "InvalidCredentials", "TLSError"})


async def schema_profile(api: ScimApi) -> SchemaProfile:
    """The app's schema profile: as this connector's validation read it, else from /Schemas read once now.

    A read that may pass later, or a failure every request would meet, raises (and nothing is kept)."""
    known = _PROFILES.get(api)
    if known is not None:
        return known
    async with _LOCKS.setdefault(api, asyncio.Lock()):
        if api not in _PROFILES:
            try:
                schemas = await read_listing(api, "/Schemas", [])
            except RetryableError:
                raise
            except NeedsHumanError as exc:
                if exc.problem_class in _STOPPING:
                    raise
                schemas = None
            except ConnectorError:
                schemas = None
            published = {str(get(s, "id")).lower(): s for s in schemas or () if get(s, "id")}
            _PROFILES[api] = profile_of(published) if published else CORE_PROFILE
        return _PROFILES[api]


def _relative(endpoint: str, base_url: str, resource_type: Json, findings: list[str]) -> str:
    """An endpoint relative to the base URL (/Users), also when the app gives it as an absolute path
    (/scim/v2/Users) or URL, which is noted."""
    parts = urlsplit(endpoint)
    path = parts.path or "/"
    base = urlsplit(base_url).path.rstrip("/")
    name = get(resource_type, "name") or get(resource_type, "id") or "?"
    if parts.scheme or parts.netloc or (base and (path == base or path.startswith(base + "/"))):
        relative = "/" + path.removeprefix(base).strip("/") if path.startswith(base) else path
        findings.append(
            f"ResourceType {name}: endpoint {endpoint!r} given absolute, read as {relative!r} "
            "(RFC 7643 §6: relative to the base URL)"
        )
        return relative.rstrip("/") or "/"
    if not path.startswith("/"):
        return "/" + path.rstrip("/")
    return path.rstrip("/") or "/"


def _is_scim_error(response: httpx2.Response) -> bool:
    try:
        payload = json.loads(response.content)
    except ValueError:
        return False
    schemas = get(payload, "schemas")
    return isinstance(schemas, list) and _ERROR in schemas
