"""The dialects real SCIM apps speak, emulated in front of the test app (scim2-server of `scimapp`).

`DialectApp` is a `ScimApp` whose requests and answers first pass a `Dialect`, switchable per test: pages
capped below the count asked for (AWS IAM Identity Center: 50), startIndex ignored (AWS) or refused past a
depth (Salesforce), eq-only filters, lower-case ListResponse keys, one media type only (415), a User-Agent
required, 409 without scimType (Sentry), no PUT (Google Cloud Identity: an HTML 404), no PATCH, attributes a
PATCH may not touch (501), at most N member changes per Group PATCH and no `replace` of members.

Use the `dialect_app` fixture (fresh storage, no dialect) and set `dialect_app.dialect = Dialect(...)`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from scimapp import Message, Receive, ScimApp, Scope, Send, running_scim_app

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
_LIST_KEYS = ("Resources", "totalResults", "itemsPerPage", "startIndex", "schemas")


@dataclass
class Dialect:
    """How the emulated app departs from RFC 7644 (every field off: the RFC, as scim2-server speaks it)."""

    page_cap: int | None = None
    """At most this many resources a page, whatever `count` says."""
    ignore_start_index: bool = False
    """Every listing answers from the first resource on."""
    max_start_index: int | None = None
    """A startIndex past this is refused: 400 "Start index too big" (Salesforce, about 2,000)."""
    sorted_by_id: bool = False
    """Listings come in ascending id order (as Salesforce's do), which `id gt` keyset paging relies on."""
    eq_filters_only: bool = False
    """A filter with anything but `eq` and `and` is refused with 400 invalidFilter (AWS)."""
    list_key_case: str | None = None
    """ListResponse keys as "lower" (`resources`, `totalresults`, ...) or "pascal" case (`Schemas`,
    `TotalResults`, as .NET serializers write them)."""
    only_media_type: str | None = None
    """Bodies of any other media type are refused with 415."""
    require_user_agent: bool = False
    """A request without a User-Agent is refused with 400 (AWS refuses PATCH without one)."""
    conflict_without_scim_type: bool = False
    """A 409 carries neither scimType nor status, only a detail (Sentry)."""
    no_put: bool = False
    """PUT of a User or Group answers an HTML 404 (Google Cloud Identity)."""
    no_patch: bool = False
    """PATCH answers 405."""
    says_no_patch: bool = False
    """The ServiceProviderConfig says PATCH is not supported (though it is)."""
    patch_refuses: frozenset[str] = frozenset()
    """A PATCH of a User touching any of these paths answers 501, changing nothing (django-scim2)."""
    max_member_changes: int | None = None
    """A Group PATCH with more member values than this answers 400; one replacing `members`, too."""
    remove_members_by_value_only: bool = False
    """Members leave a Group only as `remove members value=[{value: id}]`; a filtered path answers 501
    (django-scim2)."""


@dataclass
class Seen:
    """One request as it reached the dialect layer (what idlcm sent), and the status answered."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    user_agent: str
    status: int = 0
    body: bytes = b""

    def json(self) -> Any:
        """The request body as JSON."""
        return json.loads(self.body)


@dataclass
class _Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class DialectApp(ScimApp):
    """The test SCIM app behind a `Dialect` layer; `seen` lists the requests as idlcm sent them."""

    def __init__(self) -> None:
        self.dialect = Dialect()
        self.seen: list[Seen] = []
        self._seen_lock = threading.Lock()
        super().__init__()

    def reset(self, **capabilities: Any) -> None:
        """As `ScimApp.reset`, and the RFC dialect again."""
        self.dialect = Dialect()
        self.seen = []
        super().reset(**capabilities)

    def requests_seen(self, method: str | None = None, path_prefix: str = "") -> list[Seen]:
        """The requests seen with this method (any if None) under this path prefix."""
        with self._seen_lock:
            seen = list(self.seen)
        return [s for s in seen if (method is None or s.method == method) and s.path.startswith(path_prefix)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        seen = Seen(
            scope["method"],
            scope["path"],
            dict(query),
            headers.get("content-type", ""),
            headers.get("user-agent", ""),
            body=body,
        )
        with self._seen_lock:
            self.seen.append(seen)
        answer = self._refusal(self.dialect, seen, body) or await self._forward(
            scope, self._rewrite_query(self.dialect, seen), self._rewrite_body(self.dialect, seen, body)
        )
        answer = self._reshape(self.dialect, seen, answer)
        seen.status = answer.status
        raw = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
        raw.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": raw})
        await send({"type": "http.response.body", "body": answer.body})

    # -- what the dialect refuses before the app sees the request --------------------------------------------

    def _refusal(self, dialect: Dialect, seen: Seen, body: bytes) -> _Answer | None:
        method, path = seen.method, seen.path.removeprefix("/v2")
        if dialect.require_user_agent and not seen.user_agent:
            return _error(400, "User-Agent header is required")
        if body and dialect.only_media_type is not None:
            kind = seen.content_type.partition(";")[0].strip().lower()
            if kind != dialect.only_media_type:
                return _error(415, f"Unsupported Media Type: {kind or 'none'}")
        listing = method == "GET" and path in ("/Users", "/Groups")
        deep = int(seen.query.get("startIndex", "1")) > (dialect.max_start_index or 1 << 62)
        if listing and deep:
            return _error(
                400,
                "Start index too big. Consider filtering down your result set, e.g. id gt ...",
                "invalidValue",
            )
        if listing and dialect.eq_filters_only and "filter" in seen.query:
            words = set(re.findall(r"\b(or|co|sw|ew|pr|gt|ge|lt|le|ne|not)\b", seen.query["filter"], re.I))
            if words:
                return _error(400, f"Unsupported filter operator {sorted(words)[0]}", "invalidFilter")
        user = path.startswith("/Users/")
        group = path.startswith("/Groups/")
        if method == "PUT" and (user or group) and dialect.no_put:
            return _Answer(404, [(b"content-type", b"text/html")], b"<html><body>Not Found</body></html>")
        if method == "PATCH" and (user or group) and dialect.no_patch:
            return _error(405, "Method not allowed")
        if method == "PATCH" and user and dialect.patch_refuses:
            paths = {str(op.get("path", "")).casefold() for op in json.loads(body).get("Operations", [])}
            refused = paths & {p.casefold() for p in dialect.patch_refuses}
            if refused:
                return _error(501, f"PATCH of {sorted(refused)[0]} is not implemented")
        if method == "PATCH" and group and dialect.remove_members_by_value_only:
            for op in json.loads(body).get("Operations", []):
                if str(op.get("op", "")).lower() == "remove" and "[" in str(op.get("path", "")):
                    return _error(501, "Not Implemented")
        if method == "PATCH" and group and dialect.max_member_changes is not None:
            operations = json.loads(body).get("Operations", [])
            changes = 0
            for op in operations:
                if str(op.get("path", "")).startswith("members"):
                    if str(op.get("op", "")).lower() == "replace":
                        return _error(400, "replace of members is not supported", "invalidValue")
                    value = op.get("value")
                    changes += len(value) if isinstance(value, list) else 1
            if changes > dialect.max_member_changes:
                return _error(
                    400, f"at most {dialect.max_member_changes} member changes per request", "tooMany"
                )
        return None

    def _rewrite_body(self, dialect: Dialect, seen: Seen, body: bytes) -> bytes:
        if not (dialect.remove_members_by_value_only and seen.method == "PATCH" and "/Groups/" in seen.path):
            return body
        operations = []
        for op in json.loads(body).get("Operations", []):  # by value, as the RFC app behind understands it
            if str(op.get("op", "")).lower() == "remove" and op.get("path") == "members" and op.get("value"):
                operations.extend(
                    {"op": "remove", "path": f"members[value eq {json.dumps(m['value'])}]"}
                    for m in op["value"]
                )
            else:
                operations.append(op)
        return json.dumps({**json.loads(body), "Operations": operations}).encode()

    def _rewrite_query(self, dialect: Dialect, seen: Seen) -> dict[str, str]:
        query = dict(seen.query)
        if not (seen.method == "GET" and seen.path.removeprefix("/v2") in ("/Users", "/Groups")):
            return query
        if dialect.page_cap is not None:
            query["count"] = str(min(int(query.get("count", dialect.page_cap)), dialect.page_cap))
        if dialect.ignore_start_index:
            query.pop("startIndex", None)
        if dialect.sorted_by_id:
            query.setdefault("sortBy", "id")
        return query

    async def _forward(self, scope: Scope, query: dict[str, str], body: bytes) -> _Answer:
        inner_scope = {**scope, "query_string": urlencode(query).encode()}
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        answer = _Answer(500, [])

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer.body += message.get("body", b"")

        await ScimApp.__call__(self, inner_scope, receive, capture)
        return answer

    # -- how the dialect answers ----------------------------------------------------------------------------

    def _reshape(self, dialect: Dialect, seen: Seen, answer: _Answer) -> _Answer:
        if dialect.says_no_patch and seen.path == "/v2/ServiceProviderConfig" and answer.status == 200:
            config = answer.json()
            config["patch"] = {"supported": False}
            return _Answer(answer.status, answer.headers, json.dumps(config).encode())
        if dialect.conflict_without_scim_type and answer.status == 409:
            return _error(409, "User already exists in the database.", None, status_in_body=False)
        if dialect.list_key_case and seen.method == "GET" and answer.status == 200:
            payload = answer.json()
            if isinstance(payload, dict) and ("Resources" in payload or "totalResults" in payload):
                spell = str.lower if dialect.list_key_case == "lower" else (lambda k: k[:1].upper() + k[1:])
                cased = {(spell(k) if k in _LIST_KEYS else k): v for k, v in payload.items()}
                return _Answer(answer.status, answer.headers, json.dumps(cased).encode())
        return answer


def _error(status: int, detail: str, scim_type: str | None = None, *, status_in_body: bool = True) -> _Answer:
    error: dict[str, Any] = {"schemas": [ERROR], "detail": detail}
    if status_in_body:
        error["status"] = str(status)
    if scim_type:
        error["scimType"] = scim_type
    return _Answer(status, [(b"content-type", b"application/scim+json")], json.dumps(error).encode())


@pytest.fixture(scope="session")
def dialect_server() -> Iterator[DialectApp]:
    """The session's SCIM app behind a dialect layer (state shared between tests: prefer `dialect_app`)."""
    with running_scim_app(app=DialectApp()) as app:
        yield app  # type: ignore[misc]


@pytest.fixture
def dialect_app(dialect_server: DialectApp) -> Iterator[DialectApp]:
    """The dialect app with fresh storage, default capabilities, the RFC dialect and empty logs."""
    dialect_server.reset()
    yield dialect_server
    dialect_server.faults.clear()


__all__ = ["Dialect", "DialectApp", "Seen", "dialect_app", "dialect_server"]
