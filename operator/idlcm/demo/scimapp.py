"""The demo's external app: scim2-server's SCIM 2.0 app under uvicorn on 127.0.0.1, behind a bearer token.

    with scimapp.serve_in_thread(port=0) as app:
        app.base_url, app.token      # http://127.0.0.1:PORT/scim/v2, the one token it accepts

Users and groups live in memory and go with the process. (The test suite's app, `tests/scimapp.py`, adds
fault injection, a request log and other credentials on top of the same scim2-server app.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from scim2_models import (
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

HOST = "127.0.0.1"
PREFIX = "/scim"  # the SCIM endpoints are under /scim/v2, as in the examples' placeholder URL

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class ScimApp:
    """A running SCIM app: where it answers and the bearer token it wants."""

    port: int
    token: str

    @property
    def base_url(self) -> str:
        """The SCIM base URL, e.g. http://127.0.0.1:PORT/scim/v2."""
        return f"http://{HOST}:{self.port}{PREFIX}/v2"


class _BearerApp(ASGIApplication):
    """scim2-server's ASGI app, refusing any request without the one bearer token."""

    def __init__(self, token: str) -> None:
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(),
            load_default_resource_types().values(),
            config=ServiceProviderConfig(
                patch=Patch(supported=True),
                bulk=Bulk(supported=True, max_operations=1000, max_payload_size=1_048_576),
                filter=Filter(supported=True, max_results=1000),
                change_password=ChangePassword(supported=False),
                sort=Sort(supported=True),
                etag=ETag(supported=True),
                authentication_schemes=[BEARER_TOKEN_SCHEME],
            ),
        )
        super().__init__(AsyncInMemoryStorage(InMemoryStorage()), provider)
        self._expected = f"Bearer {token}".encode()

    def check_auth(self, request: ScimRequest) -> None:
        if not hmac.compare_digest((request.header("Authorization") or "").encode(), self._expected):
            raise UnauthorizedException

    async def routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the SCIM endpoints under `PREFIX`; anything else is not found."""
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            await self({**scope, "root_path": PREFIX}, receive, send)
            return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})


@contextlib.contextmanager
def serve_in_thread(port: int = 0) -> Iterator[ScimApp]:
    """Serve a fresh SCIM app on 127.0.0.1 (a free port by default) in a thread; stop it and free the port."""
    token = "demo-" + secrets.token_urlsafe(18)
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that name it; without, each answer's body
    # waited ~40 ms behind its headers (Nagle's algorithm and the client's delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(
        _BearerApp(token).routed,
        interface="asgi3",  # a bound method: uvicorn would guess ASGI 2
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="scim-app", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the demo's SCIM app did not start")
            time.sleep(0.01)
        yield ScimApp(port=sock.getsockname()[1], token=token)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
