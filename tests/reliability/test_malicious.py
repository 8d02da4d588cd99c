"""Malicious app responses: endless bodies, invalid JSON, wrong content types, redirects to another host,
listings that never end, accounts the operator does not own.

A real kopf operator against the embedded API; each hostile app is a real SCIM app on loopback whose answers
to one endpoint are replaced. Every case must end in a clear status and Event, with no crash, nothing followed
to another host, and the operator still serving the other Integrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from lifecycle import conftest as lifecycle
from lifecycle.conftest import Cluster, OperatorFactory, in_app, people, spec_for
from reliability.appfaults import PATIENT, announcements
from scimapp import Message, Receive, ScimApp, Scope, Send, running_scim_app

embedded = lifecycle.embedded
cluster = lifecycle.cluster
operator = lifecycle.operator

MAX_RESPONSE_BYTES = 256 * 1024
SETTINGS = dataclasses.replace(PATIENT, max_response_bytes=MAX_RESPONSE_BYTES)
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
STREAM_LIMIT = 256 * 1024 * 1024
"""Where the endless answer gives up by itself (the test then fails: the operator read on)."""


class EndlessGroups(ScimApp):
    """A SCIM app whose answer to a /Groups listing never ends: it streams until the client hangs up."""

    def __init__(self) -> None:
        super().__init__()
        self.streamed = 0
        self.hung_up = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/Groups"):
            await super().__call__(scope, receive, send)
            return
        message: Message = {"more_body": True}
        while message.get("more_body"):
            message = await receive()
        gone = asyncio.ensure_future(receive())  # the next message is the disconnect
        headers = [(b"content-type", b"application/scim+json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        chunk = b'{"schemas": ["%s"], "Resources": [' % LIST.encode()
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        chunk = b'{"schemas": ["%s"], "id": "g", "displayName": "x"},' % CORE_GROUP.encode()
        chunk *= 256
        while not gone.done() and self.streamed < STREAM_LIMIT:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.streamed += len(chunk)
            await asyncio.sleep(0)
        gone.cancel()
        if self.streamed < STREAM_LIMIT:
            self.hung_up.set()


@dataclasses.dataclass
class Hostile:
    """One hostile case: its app, what it does, and what the operator must say about it."""

    name: str
    app: ScimApp
    reason: str
    says: str


@pytest.fixture
def elsewhere() -> Iterator[ScimApp]:
    """Another host (a real SCIM app on another port) that a redirect points to."""
    with running_scim_app() as app:
        yield app


@pytest.fixture
def hostile(elsewhere: ScimApp) -> Iterator[list[Hostile]]:
    """The hostile apps, each its own server, each answering its listings with something bad."""
    with contextlib.ExitStack() as stack:
        endless = stack.enter_context(running_scim_app(app=EndlessGroups()))
        invalid, html, redirect, looping = (stack.enter_context(running_scim_app()) for _ in range(4))
        groups = {"times": None, "path_prefix": "/Groups", "methods": {"GET"}}
        same = {"schemas": [CORE_USER], "id": "u1", "userName": "someone"}
        page = {"schemas": [LIST], "totalResults": 10**9, "Resources": [same]}
        looping.faults.arm(200, body=json.dumps(page), times=None, path_prefix="/Users", methods={"GET"})
        invalid.faults.arm(200, body=b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Lis', **groups)
        html.faults.arm(200, body=b"<html><body>Sign in</body></html>", content_type="text/html", **groups)
        to = {"Location": elsewhere.base_url + "/Groups"}
        redirect.faults.arm(302, body=b"", content_type="text/plain", headers=to, **groups)
        for app in (endless, invalid, html, redirect):  # an app without accounts has no groups to read
            seed(app, {"someone@example.org": "hr-system:1"}, group=None)
            app.requests.clear()
        yield [
            Hostile("endless", endless, "InvalidResponse", f"exceeds {MAX_RESPONSE_BYTES} bytes"),
            Hostile("invalid-json", invalid, "InvalidResponse", "(HTTP 200, application/scim+json)"),
            Hostile(
                "html",
                html,
                "InvalidResponse",
                "answer is not valid SCIM: Unexpected response content format (HTTP 200, text/html)",
            ),
            Hostile("redirect", redirect, "InvalidURL", f"redirect (HTTP 302) to {elsewhere.origin}"),
            # The same page whatever is asked: startIndex ignored (a dialect: the declared accounts are then
            # looked up one by one), and every lookup answered with that page too: no listing ends there.
            Hostile("looping", looping, "InvalidResponse", "the app's listing does not end"),
        ]


async def integration_of(cluster: Cluster, name: str, app: ScimApp, *names: str) -> None:
    """An Integration of its own app (own name, own token Secret) with these accounts."""
    await cluster.create_secret(f"{name}-token", {"token": app.token})
    spec = spec_for(app, *people(*names))
    spec["app"] = name
    spec["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["name"] = f"{name}-token"
    await cluster.create_integration(name, spec)


async def test_hostile_answers_fail_clearly_and_the_operator_serves_the_others(
    cluster: Cluster,
    operator: OperatorFactory,
    hostile: list[Hostile],
    elsewhere: ScimApp,
    scim_app: ScimApp,
) -> None:
    await operator(SETTINGS)
    started = time.monotonic()
    for case in hostile:
        await integration_of(cluster, case.name, case.app, "alice", "bob")

    for case in hostile:
        obj = await cluster.wait_status(case.name, "Failed", timeout=30)
        status = obj["status"]
        assert status["reason"] == case.reason, (case.name, status["message"])
        assert case.says in status["message"], (case.name, status["message"])
        assert {c["type"]: c["status"] for c in status["conditions"]}["Stalled"] == "True"
        failed = [a for a in await announcements(cluster, case.name, last="Failed") if a.status == "Failed"]
        assert failed, case.name
        assert failed[-1].reason == case.reason
        assert case.says in failed[-1].message
        # Nothing was written to an app whose answers cannot be trusted.
        assert not [r for r in case.app.requests.writes if r.path.startswith(("/v2/Users", "/v2/Groups"))]

    stopped = time.monotonic() - started
    # The endless answer was cut at the cap: the operator hung up rather than read on.
    endless = hostile[0].app
    assert isinstance(endless, EndlessGroups)
    assert await asyncio.to_thread(endless.hung_up.wait, 10)
    assert endless.streamed < 32 * 1024 * 1024  # the cap, plus what the sockets' buffers took
    # The redirect was not followed: the other host never saw a request, so never the credentials.
    assert list(elsewhere.requests) == []

    # The operator keeps serving: a healthy Integration created now is provisioned.
    await integration_of(cluster, "healthy", scim_app, "carol", "dave")
    await cluster.wait_status("healthy", "UpToDate", timeout=20)
    assert set(in_app(scim_app)) == {"carol@example.com", "dave@example.com"}
    print(
        f"\n{len(hostile)} hostile apps: all Failed with a clear reason within {stopped:.1f}s; the endless "
        f"answer was cut after {endless.streamed / 2**20:.1f} MiB sent (cap {MAX_RESPONSE_BYTES // 1024} KiB)"
    )


def seed(app: ScimApp, users: dict[str, str | None], group: str | None) -> dict[str, str]:
    """Create these users (userName -> externalId) and a group holding them all (unless None), over the app's
    API, before the operator starts; returns userName -> id."""
    ids: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {app.token}", "Content-Type": "application/scim+json"}
    with httpx2.Client(base_url=app.base_url, headers=headers) as http:
        for user_name, external_id in users.items():
            body: dict[str, Any] = {"schemas": [CORE_USER], "userName": user_name}
            if external_id:
                body["externalId"] = external_id
            ids[user_name] = http.post("/Users", content=json.dumps(body)).raise_for_status().json()["id"]
        if group is not None:
            members = [{"value": id} for id in ids.values()]
            body = {"schemas": [CORE_GROUP], "displayName": group, "members": members}
            http.post("/Groups", content=json.dumps(body)).raise_for_status()
    return ids


async def test_accounts_it_does_not_own_are_never_touched(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    unowned = seed(
        scim_app,
        {
            "alice@example.com": "hr-system:1001",  # declared below, but someone else's
            "bob@example.com": "idlcm:other-team/crm:0f3c1a8e:bob@example.com",  # another Integration's
            "mallory@example.com": None,  # undeclared, no externalId
            # our namespace and name, not our uid
            "eve@example.com": f"idlcm:{cluster.namespace}/crm:forged-uid:eve@example.com",
        },
        group="sales",
    )
    before = {name: user for name, user in in_app(scim_app).items()}
    scim_app.requests.clear()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator(SETTINGS)
    # Delete mode and room for many deletions: a wrong idea of ownership would delete mallory and eve.
    accounts = people("alice", "bob", "carol", groups=["sales"])
    spec = spec_for(scim_app, *accounts, deprovision={"mode": "Delete", "maxDeletions": 10})
    await cluster.create_integration("crm", spec)

    obj = await cluster.wait_status("crm", "Failed")
    status = obj["status"]
    assert status["reason"] == "AccountsFailed"
    failures = {f["userName"]: f["message"] for f in status["lastOperation"]["failures"]}
    assert "not managed by this Integration" in failures["alice@example.com"]
    assert "managed by Integration other-team/crm" in failures["bob@example.com"]
    assert set(failures) == {"alice@example.com", "bob@example.com"}
    assert status["lastOperation"]["counts"]["created"] == 1
    carol = in_app(scim_app)["carol@example.com"]
    sales = next(g for g in scim_app.groups() if g.display_name == "sales")
    assert {m.value for m in sales.members or []} == {*unowned.values(), carol["id"]}

    # Deleting the Integration deprovisions what it owns (carol), nothing else.
    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=20)
    assert in_app(scim_app) == before
    touched = [
        r
        for r in scim_app.requests.writes
        if any(id in r.path or id.encode() in r.body for id in unowned.values())
    ]
    assert touched == []
    assert [r.method for r in scim_app.requests.writes if carol["id"] in r.path] == ["DELETE"]
