"""Many SCIM apps in one process of its own: `/t/<tenant>/v2/...` is tenant's own app (own storage), for B5.

    python bench/scim_tenants.py

Prints one JSON line (`{"origin": ..., "token": ...}`) once it listens, serves until its stdin closes. Every
tenant is the tests' SCIM app (`tests/scimapp.py`: scim2-server, Bulk offered), created on its first
request and sharing one bearer token. A process of its own keeps its work off the embedded API's and the
operator's interpreter lock, as a real app would be.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from scim2_server.memory import AsyncInMemoryStorage, InMemoryStorage

from scimapp import ScimApp, _ScimASGI


class Tenants:
    """The ASGI app: routes `/t/<tenant>/...` to that tenant's SCIM app, made on first use."""

    def __init__(self) -> None:
        self.template = ScimApp()  # schemas, capabilities and the token, shared by every tenant
        self.apps: dict[str, _ScimASGI] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        parts = scope["path"].split("/", 3)  # "", "t", tenant, rest
        if len(parts) < 4 or parts[1] != "t":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        tenant = parts[2]
        app = self.apps.get(tenant)
        if app is None:
            inner = self.template._inner
            assert inner is not None
            app = _ScimASGI(AsyncInMemoryStorage(InMemoryStorage()), inner.provider, self.template._accepts)
            self.apps[tenant] = app
        await app({**scope, "root_path": f"/t/{tenant}"}, receive, send)


def main() -> None:
    tenants = Tenants()
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY; without, each answer waited ~40 ms (Nagle, delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(tenants, lifespan="off", log_config=None, log_level="warning", backlog=2048)
    server = uvicorn.Server(config)

    def stop_at_eof() -> None:
        sys.stdin.read()
        server.should_exit = True

    def announce() -> None:
        while not server.started:
            threading.Event().wait(0.01)
        print(json.dumps({"origin": f"http://127.0.0.1:{port}", "token": tenants.template.token}), flush=True)

    threading.Thread(target=stop_at_eof, daemon=True).start()
    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
