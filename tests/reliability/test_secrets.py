"""Secrets: canary credentials run through every main flow, and nothing the operator says ever shows one.

The canaries are bearer tokens, a basic password, an OAuth client secret and the access tokens issued for it.
The operator runs validation (passing and refused), provisioning with each auth method, updates through
apps that echo the request's credentials in their errors (5xx with Retry-After, 400 per account, 401, an
OAuth token endpoint echoing the client secret), retries, and deletion while the app keeps failing. Then
every log record (all loggers, DEBUG and up, tracebacks included), Event, status and ExternalApp seen on
the way, the `/metrics` text and the errors the connectors raise are scanned for each canary, plain and in
base64. Lowercase-only canaries make sure no credential-looking pattern hides them by luck: only the
operator's knowledge of what it holds can.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
import urllib.request
from collections.abc import AsyncIterator, Iterable
from typing import Any

import kopf
import pytest
from kopf._core.actions.loggers import make_formatter

from idlcm.api.spec import IntegrationSpec
from idlcm.connections import build
from idlcm.kube import Secret
from idlcm.metrics import Metrics
from lifecycle import conftest as lifecycle
from lifecycle.conftest import FAST, Cluster, OperatorFactory, people, spec_for
from scimapp import ScimApp

embedded = lifecycle.embedded
cluster = lifecycle.cluster
operator = lifecycle.operator

BEARER = "zqxcanarybearertokenvaluekept"
ROTATED = "zqxcanaryrotatedbearertoken"
WRONG = "zqxcanarywrongtokenvaluerefused"
GARBLED = "zqxcanarygarbledfirst\nzqxcanarygarbledsecond"  # two lines: no HTTP header can carry it
BASIC_USER = "zqx-basic-user"
BASIC_PASSWORD = "zqxcanarybasicpasswordvalue"
OAUTH_SECRET = "zqxcanaryoauthclientsecretvalue"
JSON = make_formatter(kopf.LogFormat.JSON)  # what `idlcm run --log-format json` prints


class Canaries:
    """The secret values of the run, in every form they could leak in."""

    def __init__(self, app: ScimApp) -> None:
        self.values = [BEARER, ROTATED, WRONG, BASIC_PASSWORD, OAUTH_SECRET, *GARBLED.split("\n")]
        self.issued: list[str] = []  # OAuth access tokens the app hands out
        self._pair = f"{BASIC_USER}:{BASIC_PASSWORD}"
        issue = app.oauth.issue

        def issuing(client_id: str, client_secret: str) -> tuple[int, dict[str, Any]]:
            status, body = issue(client_id, client_secret)
            if "access_token" in body:
                self.issued.append(body["access_token"])
            return status, body

        app.oauth.issue = issuing  # type: ignore[method-assign]

    def forms(self) -> dict[str, str]:
        """Each leak to look for -> what it is."""
        found = {v: "canary" for v in [*self.values, *self.issued]}
        for value in [*self.values, self._pair]:
            found[base64.b64encode(value.encode()).decode()] = f"base64 of {value!r}"
        return found

    def assert_absent(self, texts: Iterable[tuple[str, str]]) -> int:
        """No text (where, text) holds a canary; returns how many texts were scanned."""
        forms = self.forms()
        scanned = 0
        for where, text in texts:
            scanned += 1
            for form, what in forms.items():
                assert form not in text, f"{what} leaked in {where}: {text[:2000]}"
        return scanned


def canary_app(app: ScimApp) -> Canaries:
    """Give the SCIM app the canary credentials (bearer, basic, OAuth client secret)."""
    app.token = BEARER
    app.basic_username, app.basic_password = BASIC_USER, BASIC_PASSWORD
    app.oauth.client_secret = OAUTH_SECRET
    return Canaries(app)


def _auth(kind: str, app: ScimApp) -> dict[str, Any]:
    if kind == "basic":
        return {"basic": {"secretRef": {"name": "basic"}}}
    if kind == "oauth":
        return {
            "oauth2ClientCredentials": {
                "tokenURL": app.token_url,
                "scopes": ["scim"],
                "secretRef": {"name": "oauth"},
            }
        }
    return {"bearerToken": {"secretRef": {"name": kind}}}


def _spec(app: ScimApp, kind: str, *names: str) -> dict[str, Any]:
    spec = spec_for(app, *people(*names))
    spec["app"] = f"{kind}-app"
    spec["connector"]["scim"]["auth"] = _auth(kind, app)
    return spec


class Watcher:
    """Every distinct Integration and ExternalApp seen in the namespace while the test runs."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.seen: dict[str, str] = {}

    async def run(self) -> None:
        while True:
            await self.snapshot()
            await asyncio.sleep(0.05)

    async def snapshot(self) -> None:
        for plural in ("integrations", "externalapps"):
            found = await self.cluster.call(
                self.cluster.custom.list_namespaced_custom_object,
                "idlcm.io",
                "v1alpha1",
                self.cluster.namespace,
                plural,
            )
            for obj in found.get("items", []):
                text = json.dumps(obj, ensure_ascii=False)
                self.seen.setdefault(text, f"{plural}/{obj['metadata']['name']}")


@pytest.fixture
async def watcher(cluster: Cluster) -> AsyncIterator[Watcher]:
    found = Watcher(cluster)
    task = asyncio.create_task(found.run())
    yield found
    task.cancel()


def _records(records: list[logging.LogRecord]) -> Iterable[tuple[str, str]]:
    for r in records:
        where = f"log record of {r.name} ({r.levelname})"
        yield where, r.getMessage()
        yield where + " as JSON", JSON.format(r)
        if r.exc_info or r.exc_text:
            yield where + " traceback", logging.Formatter().format(r)


async def _settled(cluster: Cluster, name: str, generation: int, states: set[str]) -> dict[str, Any]:
    def done(obj: dict[str, Any] | None) -> bool:
        status = (obj or {}).get("status") or {}
        return status.get("observedGeneration") == generation and status.get("status") in states

    obj = await cluster.wait_for("integrations", name, done, timeout=30)
    assert obj is not None
    return obj


async def test_no_canary_in_logs_events_status_metrics_through_the_main_flows(
    cluster: Cluster,
    operator: OperatorFactory,
    scim_app: ScimApp,
    watcher: Watcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    canaries = canary_app(scim_app)
    metrics = Metrics()
    await operator(FAST, metrics=metrics, metrics_port=0)
    await cluster.create_secret("bearer", {"token": BEARER})
    await cluster.create_secret("wrong", {"token": WRONG})
    await cluster.create_secret("pasted", {"token": BEARER + "\n"})  # as `echo TOKEN | base64` stores it
    await cluster.create_secret("garbled", {"token": GARBLED})
    await cluster.create_secret("basic", {"username": BASIC_USER, "password": BASIC_PASSWORD})
    await cluster.create_secret(
        "oauth", {"client_id": scim_app.oauth.client_id, "client_secret": OAUTH_SECRET}
    )

    # Validation and provisioning with each auth method; a refused token ends in review.
    kinds = ("bearer", "basic", "oauth")
    for kind in kinds:
        await cluster.create_integration(kind, _spec(scim_app, kind, f"{kind}-ann", f"{kind}-ben"))
    for kind in ("wrong", "pasted", "garbled"):
        await cluster.create_integration(kind, _spec(scim_app, kind, f"{kind}-ann"))
    for kind in (*kinds, "pasted"):
        await _settled(cluster, kind, 1, {"UpToDate"})
    for kind in ("wrong", "garbled"):
        refused = await _settled(cluster, kind, 1, {"UnderReview"})
        assert refused["status"]["reason"] == "InvalidCredentials"
    assert "holds no usable bearer token" in refused["status"]["message"]  # garbled's
    assert canaries.issued, "the OAuth Integration never got a token"

    # Apps that echo the credentials they were sent: 5xx with Retry-After, 400 per account, a 401, and
    # an OAuth token endpoint echoing the client secret; the OAuth tokens are revoked to make it ask.
    echo = "the request carried {authorization}"
    scim_app.faults.arm(503, retry_after=0.2, path_prefix="/Users", methods={"GET"}, times=3, detail=echo)
    scim_app.faults.arm(400, path_prefix="/Bulk", methods={"POST"}, times=1, detail=echo)
    scim_app.faults.arm(500, path_prefix="/Users/", methods={"PATCH"}, times=2, detail=echo)
    scim_app.faults.arm(401, path_prefix="/Schemas", times=1, detail=echo)
    leaky = {"error": "invalid_client", "error_description": f"client_secret={OAUTH_SECRET} is not {BEARER}"}
    scim_app.faults.arm(
        400, path_prefix="/oauth/token", times=1, body=json.dumps(leaky), content_type="application/json"
    )
    scim_app.oauth.revoke_all()
    for kind in kinds:
        await cluster.patch_integration(kind, {"spec": _spec(scim_app, kind, f"{kind}-ann", f"{kind}-cy")})
    for kind in kinds:
        await _settled(cluster, kind, 2, {"UpToDate", "Failed", "UnderReview"})
    answered = {(r.path.split("/")[-1] or r.path, r.status) for r in scim_app.requests}
    assert {("Users", 503), ("Bulk", 400), ("token", 400)} <= answered, "the echoing faults never fired"

    # The token rotates (app first, then the Secret): the Integration validates again with the new one.
    scim_app.faults.clear()
    before = (await cluster.get("integrations", "bearer") or {})["status"]["secretVersions"]["bearer"]
    scim_app.token = ROTATED
    await cluster.update_secret("bearer", {"token": ROTATED})
    await cluster.wait_for(
        "integrations",
        "bearer",
        lambda o: (
            ((o or {}).get("status") or {}).get("secretVersions", {}).get("bearer") != before
            and (o or {})["status"]["status"] == "UpToDate"
        ),
        timeout=30,
    )

    # Deletion while the app keeps failing (and echoing): the operator gives up and says what it left.
    scim_app.faults.clear()
    scim_app.faults.arm(500, path_prefix="/Users", times=None, detail=echo)
    await cluster.delete_integration("bearer")
    await cluster.wait_for("integrations", "bearer", lambda o: o is None, timeout=30)
    scim_app.faults.clear()
    for name in ("basic", "oauth", "wrong", "pasted", "garbled"):
        await cluster.delete_integration(name)
    for name in ("basic", "oauth", "wrong", "pasted", "garbled"):
        await cluster.wait_for("integrations", name, lambda o: o is None, timeout=30)
    reasons = {e.reason for e in await cluster.events_for("bearer")}
    assert "DeprovisionIncomplete" in reasons

    await watcher.snapshot()
    events = await cluster.call(cluster.core.list_namespaced_event, cluster.namespace)
    event_texts = [
        (
            f"Event {e.reason} on {e.involved_object.name}",
            json.dumps(cluster.client.sanitize_for_serialization(e)),
        )
        for e in events.items
    ]
    scraped = await asyncio.to_thread(_scrape, metrics)

    scanned = canaries.assert_absent(
        [
            *_records(caplog.records),
            *event_texts,
            *((where, text) for text, where in watcher.seen.items()),
            ("/metrics", scraped),
        ]
    )
    # The scan saw the flows it claims to: plenty of records, Events of each kind, statuses on the way.
    assert len(caplog.records) > 100, scanned
    assert len(event_texts) > 10
    assert len(watcher.seen) > 20
    states = {(json.loads(text).get("status") or {}).get("status") for text in watcher.seen}
    assert {"Retrying", "ValidationFailed", "UnderReview", "UpToDate"} <= states, states
    assert any(r.name.startswith("httpx2") for r in caplog.records)
    assert any(r.name.startswith("kopf") for r in caplog.records)
    # The echoes did reach the operator: they show redacted.
    assert any("***" in text for text in watcher.seen), "no echo reached a status"


# -- the errors the connectors raise, through every failure the test app can make


def _connector(app: ScimApp, kind: str) -> Any:
    spec = IntegrationSpec.model_validate(_spec(app, kind))
    secrets = {
        "bearer": Secret("bearer", "1", {"token": BEARER}),
        "wrong": Secret("wrong", "1", {"token": WRONG}),
        "garbled": Secret("garbled", "1", {"token": GARBLED}),
        "basic": Secret("basic", "1", {"username": BASIC_USER, "password": BASIC_PASSWORD}),
        "oauth": Secret("oauth", "1", {"client_id": app.oauth.client_id, "client_secret": OAUTH_SECRET}),
    }
    return build("team", spec, secrets, timeout=1.0)


def _scrape(metrics: Metrics) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics.port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def _failure_text(error: BaseException) -> Iterable[tuple[str, str]]:
    where = f"{type(error).__name__}"
    yield where + " str", str(error)
    yield where + " repr", repr(error)
    yield where + " traceback", "".join(traceback.format_exception(error))  # causes and contexts too
    for name, value in vars(error).items():
        yield f"{where}.{name}", repr(value)


async def test_connector_errors_never_carry_a_credential(scim_app: ScimApp) -> None:
    canaries = canary_app(scim_app)
    echo = "you sent {authorization}"
    leaky = json.dumps({"error": "invalid_client", "error_description": f"bad client_secret {OAUTH_SECRET}"})
    faults: list[dict[str, Any]] = [
        {"status": 401, "detail": echo},
        {"status": 403, "detail": echo},
        {"status": 500, "detail": echo},
        {"status": 503, "detail": echo, "retry_after": 0},
        {"status": 429, "detail": echo, "retry_after": 600},  # a long pause: answered at once, not sent again
        {"status": 400, "detail": echo},
        {
            "status": 502,
            "body": f"<html>upstream said Authorization: Bearer {BEARER}</html>",
            "content_type": "text/html",
        },
        {"drop": True},
    ]
    texts: list[tuple[str, str]] = []
    errors = 0
    for kind in ("bearer", "basic", "oauth", "wrong", "garbled"):
        for fault in faults:
            scim_app.faults.clear()
            scim_app.oauth.revoke_all()
            if kind == "oauth":
                scim_app.faults.arm(
                    400, path_prefix="/oauth/token", times=1, body=leaky, content_type="application/json"
                )
            scim_app.faults.arm(path_prefix="/", times=None, **fault)
            try:
                connector = _connector(scim_app, kind)
            except Exception as e:  # a credential no request can carry
                errors += 1
                texts.extend(_failure_text(e))
                continue
            try:
                for call in _calls(connector):
                    try:
                        await call
                    except Exception as e:
                        errors += 1
                        texts.extend(_failure_text(e))
                checks = await connector.validate(discovery=kind == "bearer")
                texts.extend((f"check {c.name}", repr(c)) for c in checks)
            finally:
                await connector.aclose()
    scim_app.faults.clear()
    assert errors > 50
    canaries.assert_absent(texts)


def _calls(connector: Any) -> Iterable[Any]:
    """A read, a list, a lookup and a write, each to be awaited."""
    yield connector.capabilities()
    yield _first(connector.list_accounts())
    yield connector.find_account(user_name="ann@example.com")
    yield connector.ensure_group("staff")


async def _first(accounts: Any) -> None:
    async for _ in accounts:
        return
