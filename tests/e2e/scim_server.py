"""The SCIM test app (tests/scimapp.py) as a standalone server for the e2e suite, with a small control API.

The operator reaches the app at /v2 as usual; the tests drive it through the API server's service proxy:
`GET /_e2e/state` (token, stored users, number of writes), `POST /_e2e/reset` (fresh storage and
credentials, optional capabilities), `POST /_e2e/faults` (arm a fault: the keyword arguments of
`Faults.arm`). Never expose this outside a throw-away cluster: the state shows the token.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn

from scimapp import Message, Receive, ScimApp, Scope, Send

CONTROL = "/_e2e/"


class ControlledScimApp:
    """ASGI: the control API under /_e2e/, everything else to the SCIM app."""

    def __init__(self, app: ScimApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CONTROL):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message: Message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, payload = self.control(scope["method"], scope["path"].removeprefix(CONTROL), body)
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def control(self, method: str, action: str, body: bytes) -> tuple[int, Any]:
        """Answer one control request: (status, JSON payload)."""
        arguments: dict[str, Any] = json.loads(body) if body else {}
        if method == "GET" and action == "state":
            return 200, self.state()
        if method == "POST" and action == "reset":
            self.app.reset(**arguments)
            return 200, self.state()
        if method == "POST" and action == "faults":
            if "methods" in arguments:
                arguments["methods"] = set(arguments["methods"])
            self.app.faults.arm(**arguments)
            return 200, self.state()
        return 404, {"error": f"no control action {method} {action}"}

    def state(self) -> dict[str, Any]:
        """What the tests may look at: the token to put in a Secret, the stored users, the writes."""
        users = [u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in self.app.users()]
        return {"token": self.app.token, "users": users, "writes": len(self.app.requests.writes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")  # a pod's only interface
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = ScimApp()
    app.host, app.port = args.host, args.port
    uvicorn.run(ControlledScimApp(app), host=args.host, port=args.port, lifespan="off", access_log=False)


if __name__ == "__main__":
    main()
