"""A real SCIM 2.0 app on loopback for tests and demos: scim2-server under uvicorn, with fault injection.

One server runs per test session in a background thread; each test gets fresh storage, configuration,
credentials, faults and request log via `ScimApp.reset()`. Use the `scim_server` / `scim_app` fixtures,
or `running_scim_app()` outside pytest.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import random
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import uvicorn
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Patch,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
)
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage, InMemoryStorage
from scim2_server.requests import ScimRequest
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
from scim2_server.utils import load_default_resource_types, load_default_schemas

from idlcm.connectors.scim.dialect import forget_app

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TOKEN_PATH = "/oauth/token"
BASIC_SCHEME = AuthenticationScheme(
    type=AuthenticationScheme.Type.httpbasic, name="basic", description="HTTP Basic"
)


@dataclass
class Fault:
    """One armed fault: what to match, and what to do instead of (or around) the normal answer."""

    status: int | None = None
    retry_after: str | None = None
    times: int | None = 1
    path_prefix: str = ""
    methods: frozenset[str] | None = None
    delay: float = 0.0
    drop: bool = False
    passthrough: bool = False
    body: bytes | None = None
    content_type: str = "application/scim+json"
    detail: str = "injected fault"
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        """Tell whether a request is hit by this fault."""
        return path.startswith(self.path_prefix) and (self.methods is None or method in self.methods)


FAULT_KINDS = ("429", "503", "500", "slow", "drop")
"""The kinds of fault a `FaultMix` draws from: throttled (with Retry-After), unavailable, server error, an
answer slower than the client waits (the request is handled after the delay), connection closed unanswered."""


@dataclass
class FaultMix:
    """A share of the requests, drawn at random from a seeded generator, answered with a fault."""

    rate: float
    seed: int
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: int = 1
    slow: float = 1.0
    path_prefix: str = ""
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    passed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault for one request, or None (counted in `injected` / `passed`)."""
        if not path.startswith(self.path_prefix) or self._random.random() >= self.rate:
            self.passed += 1
            return None
        kind = self._random.choice(self.kinds)
        self.injected[kind] += 1
        if kind == "slow":
            return Fault(delay=self.slow, detail=kind)
        if kind == "drop":
            return Fault(drop=True, detail=kind)
        status = int(kind)
        retry_after = str(self.retry_after) if status == 429 else None
        return Fault(status=status, retry_after=retry_after, detail=f"injected {kind}")


class Faults:
    """The faults armed for the current test; thread-safe, consumed in arming order, then a random mix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._mix: FaultMix | None = None

    def arm(
        self,
        status: int | None = None,
        *,
        retry_after: float | str | None = None,
        times: int | None = 1,
        path_prefix: str = "",
        methods: set[str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        passthrough: bool = False,
        body: bytes | str | None = None,
        content_type: str = "application/scim+json",
        detail: str = "injected fault",
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Arm a fault for the next `times` matching requests (None: forever).

        `status` answers with that status (a SCIM error body unless `body` is given; `detail` may contain
        `{authorization}` to echo the request's credentials, as a careless app would); `delay` sleeps first
        (alone, it delays a normal answer); `drop` closes the connection mid-answer, after the app handled
        the request when `passthrough` (a lost response) or before it otherwise.
        """
        fault = Fault(
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            times=times,
            path_prefix=path_prefix,
            methods=None if methods is None else frozenset(m.upper() for m in methods),
            delay=delay,
            drop=drop,
            passthrough=passthrough,
            body=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            detail=detail,
            headers=dict(headers or {}),
        )
        with self._lock:
            self._armed.append(fault)
        return fault

    def mix(self, rate: float, *, seed: int, **options: Any) -> FaultMix:
        """From now on, answer a share `rate` of the requests that no armed fault matches with a fault drawn
        at random (options: those of `FaultMix`); returns the mix, which counts what it injected."""
        mix = FaultMix(rate, seed, **options)
        with self._lock:
            self._mix = mix
        return mix

    def take(self, method: str, path: str) -> Fault | None:
        """Return (and consume one use of) the first fault matching a request, else one the mix draws."""
        with self._lock:
            for fault in self._armed:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._armed.remove(fault)
                    return fault
            return self._mix.draw(method, path) if self._mix is not None else None

    def clear(self) -> None:
        """Disarm every fault, and the mix."""
        with self._lock:
            self._armed.clear()
            self._mix = None


@dataclass(frozen=True)
class LoggedRequest:
    """One request the app received: what was sent and how it was answered."""

    method: str
    path: str
    query: str
    status: int | None
    time: float
    duration: float
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The request body as JSON."""
        return json.loads(self.body)

    @property
    def is_write(self) -> bool:
        """Whether the request could change data (token requests excluded)."""
        return self.method in {"POST", "PUT", "PATCH", "DELETE"} and not self.path.startswith(TOKEN_PATH)


class RequestLog:
    """A bounded, thread-safe log of the requests received (credentials redacted)."""

    def __init__(self, maxlen: int = 20_000, max_body: int = 65_536) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[LoggedRequest] = collections.deque(maxlen=maxlen)
        self.max_body = max_body

    def add(self, entry: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def __iter__(self) -> Iterator[LoggedRequest]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def select(self, method: str | None = None, path_prefix: str = "") -> list[LoggedRequest]:
        """The requests with this method (any if None) under this path prefix."""
        return [r for r in self if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    @property
    def writes(self) -> list[LoggedRequest]:
        """The requests that could change data."""
        return [r for r in self if r.is_write]

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._entries.clear()


@dataclass
class Storing:
    """How the app stores what it is sent, for an app that does not store everything as sent (django-scim2
    answers a create without `title`, with `displayName` made from the name parts): applied to each User
    write (POST, PUT, PATCH, and Bulk operations on /Users) before the app sees it, so storage and answer
    agree. `drop`: attributes never stored (top-level names, case-insensitive); `display_name_from_name`:
    a created or replaced user's displayName is `givenName familyName` when it has a name."""

    drop: frozenset[str] = frozenset()
    display_name_from_name: bool = False
    lower_user_name: bool = False
    """userName stored in lower case (SCIM userNames are case-insensitive)."""

    def user(self, user: Any) -> Any:
        """A User body (create or replace) as stored."""
        if not isinstance(user, dict):
            return user
        kept = {k: v for k, v in user.items() if k.casefold() not in self._dropped}
        if self.lower_user_name and isinstance(kept.get("userName"), str):
            kept["userName"] = kept["userName"].lower()
        name = kept.get("name")
        if self.display_name_from_name and isinstance(name, dict):
            parts = [name.get("givenName"), name.get("familyName")]
            if any(parts):
                kept["displayName"] = " ".join(str(p) for p in parts if p)
        return kept

    def patch(self, patch: Any) -> Any:
        """A PatchOp as applied: the operations on dropped attributes left out."""
        if not isinstance(patch, dict):
            return patch
        operations = []
        for operation in patch.get("Operations") or []:
            path = str(operation.get("path") or "")
            if path.casefold() in self._dropped:
                continue
            if not path and isinstance(operation.get("value"), dict):
                operation = {**operation, "value": self.user(operation["value"])}
            if (
                self.lower_user_name
                and path.casefold() == "username"
                and isinstance(operation.get("value"), str)
            ):
                operation = {**operation, "value": operation["value"].lower()}
            operations.append(operation)
        return {**patch, "Operations": operations}

    @property
    def _dropped(self) -> set[str]:
        return {d.casefold() for d in self.drop}

    def request(self, method: str, path: str, body: bytes) -> tuple[str, bytes]:
        """(method, body) as the app handles them; a PATCH left with no operation reads the user instead."""
        if not body or method not in {"POST", "PUT", "PATCH"}:
            return method, body
        data = json.loads(body)
        if path.startswith("/v2/Users"):
            if method == "PATCH":
                data = self.patch(data)
                if not data.get("Operations"):
                    return "GET", b""
            else:
                data = self.user(data)
        elif path.startswith("/v2/Bulk") and isinstance(data, dict):
            for operation in data.get("Operations") or []:
                if str(operation.get("path", "")).startswith("/Users") and "data" in operation:
                    method_ = str(operation.get("method", "")).upper()
                    change = self.patch if method_ == "PATCH" else self.user
                    operation["data"] = change(operation["data"])
        else:
            return method, body
        return method, json.dumps(data).encode()


class OAuthIssuer:
    """A tiny OAuth 2.0 client-credentials token endpoint, served at `TOKEN_PATH`."""

    def __init__(self) -> None:
        self.client_id = "idlcm-test-client"
        self.client_secret = "idlcm-test-secret-" + secrets.token_hex(8)
        self.expires_in = 3600.0
        self.issue_valid_tokens = True
        self.issued = 0
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}

    def issue(self, client_id: str, client_secret: str) -> tuple[int, dict[str, Any]]:
        """Answer a token request: (status, JSON body)."""
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        token = "at-" + secrets.token_hex(12)
        with self._lock:
            self.issued += 1
            if self.issue_valid_tokens:
                self._tokens[token] = time.monotonic() + self.expires_in
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}

    def accepts(self, token: str) -> bool:
        """Whether an issued token is still valid."""
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    def revoke_all(self) -> None:
        """Invalidate every issued token (the next SCIM request gets a 401)."""
        with self._lock:
            self._tokens.clear()


def service_provider_config(
    *,
    patch: bool = True,
    bulk: bool = True,
    max_operations: int = 1000,
    max_payload_size: int = 1_048_576,
    filter: bool = True,
    max_results: int = 1000,
    etag: bool = True,
    sort: bool = True,
) -> ServiceProviderConfig:
    """A ServiceProviderConfig with these capabilities (the defaults are scim2-server's)."""
    return ServiceProviderConfig(
        patch=Patch(supported=patch),
        bulk=Bulk(supported=bulk, max_operations=max_operations, max_payload_size=max_payload_size),
        filter=Filter(supported=filter, max_results=max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=sort),
        etag=ETag(supported=etag),
        authentication_schemes=[BEARER_TOKEN_SCHEME, BASIC_SCHEME],
    )


class _ScimASGI(ASGIApplication):
    """scim2-server's ASGI app with the test credentials checked."""

    def __init__(
        self, storage: AsyncInMemoryStorage, provider: ScimProvider, accepts: Callable[[str | None], bool]
    ) -> None:
        super().__init__(storage, provider)
        self._accepts = accepts

    def check_auth(self, request: ScimRequest) -> None:
        if not self._accepts(request.header("Authorization")):
            raise UnauthorizedException


class ScimApp:
    """The test SCIM app: an ASGI front (log, faults, token endpoint) before scim2-server's app."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.scheme = "http"
        self.faults = Faults()
        self.requests = RequestLog()
        self.oauth = OAuthIssuer()
        self.token = ""
        self.basic_username = ""
        self.basic_password = ""
        self.storage = InMemoryStorage()
        self.storing = Storing()
        self._inner: _ScimASGI | None = None
        self._generation = 0
        self.reset()

    @property
    def base_url(self) -> str:
        """The SCIM base URL, e.g. http://127.0.0.1:PORT/v2."""
        return f"{self.origin}/v2"

    @property
    def origin(self) -> str:
        """The server origin, e.g. http://127.0.0.1:PORT (https when served with certificates)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint."""
        return self.origin + TOKEN_PATH

    def reset(self, **capabilities: Any) -> None:
        """Fresh storage, credentials, faults and log; capabilities as in `service_provider_config()`."""
        self._generation += (
            1  # requests still in flight from before keep to the old storage and stay unlogged
        )
        self.faults.clear()
        self.requests.clear()
        self.oauth = OAuthIssuer()
        self.token = "scim-token-" + secrets.token_hex(12)
        self.basic_username = "scim-user"
        self.basic_password = "scim-password-" + secrets.token_hex(8)
        self.storage = InMemoryStorage()
        self.storing = Storing()
        self.configure(**capabilities)
        if self.port:
            forget_app(self.base_url)  # what idlcm learnt of the last test's app is not this one's

    def configure(self, **capabilities: Any) -> None:
        """Change the advertised (and enforced) capabilities, keeping the stored data."""
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(),
            load_default_resource_types().values(),
            config=service_provider_config(**capabilities),
        )
        self._inner = _ScimASGI(AsyncInMemoryStorage(self.storage), provider, self._accepts)

    def users(self) -> list[Any]:
        """The stored users."""
        return self._stored("User")

    def groups(self) -> list[Any]:
        """The stored groups."""
        return self._stored("Group")

    def _stored(self, resource_type: str) -> list[Any]:
        # The server builds its models from its schemas: they are not scim2_models' User and Group classes.
        return [
            r for r in self.storage.resources if r.meta is not None and r.meta.resource_type == resource_type
        ]

    def _accepts(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value, self.token) or self.oauth.accepts(value)
        if scheme.lower() == "basic":
            expected = base64.b64encode(f"{self.basic_username}:{self.basic_password}".encode()).decode()
            return secrets.compare_digest(value, expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started, clock = time.time(), time.monotonic()
        generation, inner = self._generation, self._inner
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        logged = False

        def log(status: int | None) -> None:
            nonlocal logged
            if logged or generation != self._generation:
                return
            logged = True
            self.requests.add(
                LoggedRequest(
                    method=method,
                    path=path,
                    query=scope.get("query_string", b"").decode(),
                    status=status,
                    time=started,
                    duration=time.monotonic() - clock,
                    headers={k: ("***" if k == "authorization" else v) for k, v in headers.items()},
                    body=body[: self.requests.max_body],
                )
            )

        async def recording_send(message: Message) -> None:
            # Logged before the answer leaves, so a test that got the answer also sees the entry.
            if message["type"] == "http.response.start":
                log(message["status"])
            await send(message)

        try:
            await self._serve(inner, scope, method, path, headers, body, recording_send, send)
        finally:
            log(None)

    async def _serve(
        self,
        inner: _ScimASGI | None,
        scope: Scope,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        unlogged_send: Send,
    ) -> None:
        fault = self.faults.take(method, path.removeprefix("/v2"))
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.drop:
            if fault.passthrough:
                await _call_app(inner, scope, body, _discard)
            await _drop(unlogged_send)  # logged with no status: no answer arrived
            return
        if fault is not None and fault.status is not None:
            await _respond_fault(fault, headers.get("authorization", ""), send)
            return
        if path == TOKEN_PATH and method == "POST":
            await self._token(headers, body, send)
            return
        stored_method, stored_body = self.storing.request(method, path, body)
        if (stored_method, stored_body) != (method, body):
            raw = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            raw.append((b"content-length", str(len(stored_body)).encode()))
            scope = {**scope, "method": stored_method, "headers": raw}
        await _call_app(inner, scope, stored_body, send)

    async def _token(self, headers: dict[str, str], body: bytes, send: Send) -> None:
        form = dict(pair.split("=", 1) for pair in body.decode().split("&") if "=" in pair)
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, client_secret = base64.b64decode(value).decode().partition(":")
        status, payload = self.oauth.issue(unquote_plus(client_id), unquote_plus(client_secret))
        await _send(send, status, json.dumps(payload).encode(), "application/json", {})


async def _call_app(app: _ScimASGI | None, scope: Scope, body: bytes, send: Send) -> None:
    """Call the SCIM app with a body already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    assert app is not None
    await app(scope, receive, send)


async def _discard(message: Message) -> None:
    return None


async def _send(send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
    raw = [(b"content-type", content_type.encode())] + [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Start an answer, then close the connection before its body is complete."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("injected dropped connection")


async def _respond_fault(fault: Fault, authorization: str, send: Send) -> None:
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    body = fault.body
    if body is None:
        assert fault.status is not None
        error = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(fault.status),
            "detail": fault.detail.replace("{authorization}", authorization),
        }
        body = json.dumps(error).encode()
    assert fault.status is not None
    await _send(send, fault.status, body, fault.content_type, headers)


@dataclass(frozen=True)
class ServerCertificates:
    """A throw-away CA and a server certificate it signed for 127.0.0.1 (PEM files)."""

    ca_pem: bytes
    cert_file: str
    key_file: str


def make_certificates(directory: Path) -> ServerCertificates:
    """Make a CA and a 127.0.0.1 server certificate with the openssl command (skips the test without it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(
        "req",
        "-x509",
        *key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=idlcm test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    )
    return ServerCertificates(
        (directory / "ca.pem").read_bytes(), str(directory / "server.pem"), str(directory / "server.key")
    )


class _ServerThread:
    """uvicorn serving a ScimApp on a loopback port (a free one unless given), in a daemon thread."""

    def __init__(self, app: ScimApp, certificates: ServerCertificates | None = None, port: int = 0) -> None:
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that name it; without, each answer's body
        # waited ~40 ms behind its headers (Nagle's algorithm and the client's delayed ACK).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((app.host, port))
        app.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            backlog=2048,
            timeout_graceful_shutdown=1,
            ssl_certfile=certificates.cert_file if certificates else None,
            ssl_keyfile=certificates.key_file if certificates else None,
        )
        app.scheme = "https" if certificates else "http"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the SCIM test app did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


@contextlib.contextmanager
def running_scim_app(
    certificates: ServerCertificates | None = None, app: ScimApp | None = None
) -> Iterator[ScimApp]:
    """Run a SCIM app (a new `ScimApp` unless given, e.g. a subclass) on loopback for the duration of the
    block (over HTTPS with certificates)."""
    app = app or ScimApp()
    server = _ServerThread(app, certificates)
    server.start()
    RUNNING[app.base_url] = app
    try:
        yield app
    finally:
        RUNNING.pop(app.base_url, None)
        server.stop()


RUNNING: dict[str, ScimApp] = {}
"""The apps `running_scim_app` serves now, by base URL (`tests/invariants.py` finds an Integration's app)."""


@pytest.fixture(scope="session")
def scim_server() -> Iterator[ScimApp]:
    """The session's SCIM app (state shared between tests: prefer `scim_app`)."""
    with running_scim_app() as app:
        yield app


@pytest.fixture(scope="session")
def scim_tls_certificates(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificates:
    """A CA and server certificate for the HTTPS SCIM app."""
    return make_certificates(tmp_path_factory.mktemp("scim-tls"))


@pytest.fixture(scope="session")
def scim_tls_server(scim_tls_certificates: ServerCertificates) -> Iterator[ScimApp]:
    """The session's SCIM app over HTTPS, with a certificate from `scim_tls_certificates`."""
    with running_scim_app(scim_tls_certificates) as app:
        yield app


@pytest.fixture
def scim_tls_app(scim_tls_server: ScimApp) -> Iterator[ScimApp]:
    """The HTTPS SCIM app, reset like `scim_app`."""
    scim_tls_server.reset()
    yield scim_tls_server
    scim_tls_server.faults.clear()


@pytest.fixture
def scim_app(scim_server: ScimApp) -> Iterator[ScimApp]:
    """The SCIM app with fresh storage, credentials, default capabilities, no faults and an empty log."""
    scim_server.reset()
    yield scim_server
    scim_server.faults.clear()


def free_port() -> int:
    """A loopback port nothing listens on now (free for a server to take)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (for connection-refused tests)."""
    return free_port()
