"""Failures of a real SCIM app, classified where they enter: retryable, permanent or needs-human."""

import asyncio
import email.utils
import itertools
import json
import time

import pytest

from idlcm.connectors import (
    Account,
    BearerAuth,
    ConflictError,
    ConnectorError,
    NeedsHumanError,
    OAuth2ClientCredentials,
    RetryableError,
    ScimConnector,
    Tls,
)
from idlcm.connectors.scim.api import READ_RETRIES
from idlcm.connectors.transport import THROTTLE_RETRIES
from scimapp import ScimApp

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def _connector(scim_app: ScimApp, **kwargs: object) -> ScimConnector:
    return ScimConnector(scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), **kwargs)  # type: ignore[arg-type]


async def test_throttling_with_retry_after_seconds(scim_app: ScimApp, connector: ScimConnector) -> None:
    # A 429 did nothing: the create is sent again after the pause the app asked for, at a lowered rate.
    scim_app.faults.arm(429, retry_after=1, times=2, path_prefix="/Users", methods={"POST"})
    assert (await connector.create(Account(user_name="alice"))).id
    posts = scim_app.requests.select("POST", "/v2/Users")
    assert [p.status for p in posts] == [429, 429, 201]
    assert all(b.time - a.time >= 1.0 for a, b in itertools.pairwise(posts))  # each pause waited out
    assert connector.limiter.throttled == 2  # counted apart from failures
    assert [u.user_name for u in scim_app.users()] == ["alice"]

    # Throttled past THROTTLE_RETRIES sends: the 429 is the answer, and the operation retries later.
    scim_app.faults.arm(
        429, retry_after=1, times=THROTTLE_RETRIES + 1, path_prefix="/Users", methods={"POST"}
    )
    with pytest.raises(RetryableError) as caught:
        await connector.create(Account(user_name="bob"))
    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)


async def test_throttling_with_retry_after_date_and_no_scim_body(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    scim_app.faults.arm(429, retry_after=when, body=b"slow down", content_type="text/plain")
    with pytest.raises(RetryableError) as caught:
        await connector.find_account(user_name="alice")
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert 25 < caught.value.retry_after <= 30


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, None), (500, None), (502, b"<html>Bad Gateway</html>"), (504, b"")],
)
async def test_server_errors_are_retryable(
    scim_app: ScimApp, connector: ScimConnector, status: int, body: bytes | None
) -> None:
    scim_app.faults.arm(status, retry_after=5 if status == 503 else None, body=body, content_type="text/html")
    with pytest.raises(RetryableError) as caught:
        await connector.create(Account(user_name="alice"))
    assert caught.value.status == status
    assert caught.value.retry_after == (5.0 if status == 503 else None)


async def test_not_implemented_needs_a_human(scim_app: ScimApp, connector: ScimConnector) -> None:
    scim_app.faults.arm(501, path_prefix="/Users")
    with pytest.raises(NeedsHumanError) as caught:
        await connector.find_account(user_name="alice")
    assert caught.value.problem_class == "MissingCapability"


async def test_connection_refused_is_retryable(unused_port: int) -> None:
    connector = ScimConnector(f"http://127.0.0.1:{unused_port}/v2", BearerAuth("t0ken-x"), Tls(insecure=True))
    try:
        with pytest.raises(RetryableError) as caught:
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()
    assert caught.value.status is None


async def test_timeout_is_retryable(scim_app: ScimApp) -> None:
    connector = _connector(scim_app, timeout=0.3)
    await connector.capabilities()
    scim_app.faults.arm(delay=1.0, path_prefix="/Users")
    try:
        with pytest.raises(RetryableError, match="timed out"):
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()


async def test_lost_create_answer_is_retryable_and_recoverable(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    scim_app.faults.arm(drop=True, passthrough=True, path_prefix="/Users", methods={"POST"})
    with pytest.raises(RetryableError):
        await connector.create(Account(user_name="alice", external_id="emp-1"))
    recovered = await connector.find_account(user_name="alice")
    assert recovered is not None
    assert recovered.external_id == "emp-1"


@pytest.mark.parametrize("bulk", [False, True])
async def test_creating_again_after_a_lost_answer_gives_the_account_created(
    scim_app: ScimApp, bulk: bool
) -> None:
    scim_app.configure(bulk=bulk)
    connector = _connector(scim_app)
    alice = Account(user_name="alice", external_id="idlcm:ns/crm:uid:alice", groups=("sales",))
    try:
        scim_app.faults.arm(drop=True, passthrough=True, path_prefix="/Users", methods={"POST"})
        with pytest.raises(RetryableError):
            await connector.create(alice)  # created there, its answer lost here, not yet in its group
        bob = Account(user_name="bob", external_id="idlcm:ns/crm:uid:bob", groups=("sales",))
        results = await connector.create_many([alice, bob])
    finally:
        await connector.aclose()
    assert all(isinstance(r, Account) and r.groups == ("sales",) for r in results), results
    users = {u.user_name: u.id for u in scim_app.users()}
    assert sorted(users) == ["alice", "bob"]
    (sales,) = scim_app.groups()
    assert sorted(m.value for m in sales.members or []) == sorted(users.values())


async def test_creating_over_someone_elses_account_is_still_a_conflict(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    await connector.create(Account(user_name="alice", external_id="hr-system:1001"))
    with pytest.raises(ConflictError):
        await connector.create(Account(user_name="alice", external_id="idlcm:ns/crm:uid:alice"))
    (alice,) = scim_app.users()
    assert alice.external_id == "hr-system:1001"


async def test_a_lookup_answering_another_user_name_is_no_proof_of_an_earlier_create(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    await connector.capabilities()
    stamp = "idlcm:ns/crm:uid:alice"
    scim_app.faults.arm(409, path_prefix="/Users", methods={"POST"})
    lie = {"schemas": [CORE_USER], "id": "m1", "userName": "mallory", "externalId": stamp}
    listing = {"schemas": [LIST], "totalResults": 1, "Resources": [lie]}
    scim_app.faults.arm(200, body=json.dumps(listing), path_prefix="/Users", methods={"GET"})
    with pytest.raises(ConflictError):
        await connector.create(Account(user_name="alice", external_id=stamp))


async def test_dropped_connection_is_retryable(scim_app: ScimApp, connector: ScimConnector) -> None:
    await connector.capabilities()
    scim_app.faults.arm(drop=True, times=None, path_prefix="/Users")
    with pytest.raises(RetryableError):
        await connector.find_account(user_name="alice")
    assert scim_app.users() == []
    assert len(scim_app.requests.select("GET", "/v2/Users")) == 1 + READ_RETRIES  # a read is tried again


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (429, 1), (None, None)])
async def test_a_read_failing_once_is_read_again(
    scim_app: ScimApp, connector: ScimConnector, status: int | None, retry_after: int | None
) -> None:
    await connector.capabilities()
    scim_app.faults.arm(status, retry_after=retry_after, drop=status is None, path_prefix="/Users")
    assert await connector.find_account(user_name="alice") is None
    first, second = scim_app.requests.select("GET", "/v2/Users")
    assert second.time - first.time >= (retry_after or 0)


async def test_a_read_is_not_tried_again_after_a_timeout_or_a_long_retry_after(scim_app: ScimApp) -> None:
    connector = _connector(scim_app, timeout=0.3)
    try:
        await connector.capabilities()
        scim_app.faults.arm(delay=0.6, path_prefix="/Users")
        with pytest.raises(RetryableError, match="timed out"):
            await connector.find_account(user_name="alice")
        scim_app.faults.arm(503, retry_after=60, path_prefix="/Users")
        with pytest.raises(RetryableError):
            await connector.find_account(user_name="alice")
        await asyncio.sleep(0.6)  # the slow one is logged once answered
    finally:
        await connector.aclose()
    assert len(scim_app.requests.select("GET", "/v2/Users")) == 2


async def test_redirects_are_never_followed(scim_app: ScimApp, connector: ScimConnector) -> None:
    await connector.capabilities()
    scim_app.requests.clear()
    scim_app.faults.arm(307, headers={"Location": "http://127.0.0.2:1/v2/Users"}, body=b"")
    with pytest.raises(NeedsHumanError, match=r"redirect .* to http://127\.0\.0\.2:1;") as caught:
        await connector.create(Account(user_name="alice"))
    assert caught.value.status == 307
    assert caught.value.problem_class == "InvalidURL"
    assert len(scim_app.requests) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": ',
            "application/scim+json",
        ),
        (b"<html>login page</html>", "text/html"),
        (b"[1, 2, 3]", "application/scim+json"),
    ],
)
async def test_answers_that_are_not_scim_need_a_human(
    scim_app: ScimApp, connector: ScimConnector, body: bytes, content_type: str
) -> None:
    await connector.capabilities()
    scim_app.faults.arm(200, body=body, content_type=content_type, path_prefix="/Users")
    with pytest.raises(NeedsHumanError) as caught:
        await connector.find_account(user_name="alice")
    assert caught.value.problem_class == "InvalidResponse"
    assert caught.value.message.endswith(f"(HTTP 200, {content_type})")


async def test_oversized_answer_is_refused(scim_app: ScimApp) -> None:
    connector = _connector(scim_app, max_response_bytes=4000)
    try:
        await connector.create_many(
            [Account(user_name=f"user{i}", display_name="x" * 100) for i in range(30)]
        )
        with pytest.raises(NeedsHumanError, match="exceeds 4000 bytes"):
            [a async for a in connector.list_accounts()]
    finally:
        await connector.aclose()


async def test_announced_oversized_answer_is_refused_before_reading(scim_app: ScimApp) -> None:
    connector = _connector(scim_app, max_response_bytes=4000)
    try:
        await connector.capabilities()
        scim_app.faults.arm(200, body=b" " * 5000, path_prefix="/Users")
        with pytest.raises(NeedsHumanError, match="GET /v2/Users: the app's answer exceeds 4000 bytes"):
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()


async def test_oversized_discovery_answer_fails_the_check(scim_app: ScimApp) -> None:
    connector = _connector(scim_app, max_response_bytes=100_000)
    try:
        scim_app.faults.arm(200, body=b" " * 200_000, times=None, path_prefix="/Schemas/")
        results = {r.name: r for r in await connector.validate()}
    finally:
        await connector.aclose()
    assert not results["discovery"].passed
    assert "exceeds 100000 bytes" in results["discovery"].message


async def test_oversized_token_answer_is_refused(scim_app: ScimApp) -> None:
    credentials = OAuth2ClientCredentials(
        scim_app.token_url, scim_app.oauth.client_id, scim_app.oauth.client_secret
    )
    connector = ScimConnector(scim_app.base_url, credentials, Tls(insecure=True), max_response_bytes=4000)
    try:
        scim_app.faults.arm(200, body=b" " * 5000, content_type="application/json", path_prefix="/oauth")
        with pytest.raises(NeedsHumanError, match="exceeds 4000 bytes") as caught:
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()
    assert caught.value.problem_class == "InvalidResponse"


def _page(total: int, *ids: str) -> bytes:
    resources = [{"schemas": [CORE_USER], "id": id, "userName": f"user-{id}"} for id in ids]
    return json.dumps({"schemas": [LIST], "totalResults": total, "Resources": resources}).encode()


async def test_a_listing_that_repeats_itself_is_refused(scim_app: ScimApp, connector: ScimConnector) -> None:
    await connector.capabilities()
    # (The first page over and over is an app that ignores startIndex: tests/connectors/test_scim_dialects.py)
    scim_app.faults.arm(200, body=_page(1_000_000_000, "a", "b"), path_prefix="/Users")
    scim_app.faults.arm(200, body=_page(1_000_000_000, "c", "d"), times=None, path_prefix="/Users")
    with pytest.raises(NeedsHumanError, match="listing does not end: the page at startIndex 5 repeats"):
        [a async for a in connector.list_accounts()]
    assert len(scim_app.requests.select("GET", "/v2/Users")) == 3


async def test_a_listing_that_outgrows_its_announced_total_is_refused(scim_app: ScimApp) -> None:
    scim_app.configure(max_results=2)
    connector = _connector(scim_app)
    try:
        await connector.capabilities()
        for page in range(5):  # each page announces one more than it has reached, with new resources
            scim_app.faults.arm(200, body=_page(3 + 2 * page, f"{page}a", f"{page}b"), path_prefix="/Users")
        with pytest.raises(NeedsHumanError, match="goes on past the 3 resources its first page announced"):
            [a async for a in connector.list_accounts()]
    finally:
        await connector.aclose()
    assert len(scim_app.requests.select("GET", "/v2/Users")) == 3


async def test_bad_token_needs_a_human(scim_app: ScimApp) -> None:
    connector = ScimConnector(scim_app.base_url, BearerAuth("wrong-token"), Tls(insecure=True))
    try:
        with pytest.raises(NeedsHumanError) as caught:
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()
    assert (caught.value.problem_class, caught.value.status) == ("InvalidCredentials", 401)


async def test_forbidden_needs_a_human(scim_app: ScimApp, connector: ScimConnector) -> None:
    scim_app.faults.arm(403, path_prefix="/Users")
    with pytest.raises(NeedsHumanError) as caught:
        await connector.find_account(user_name="alice")
    assert caught.value.problem_class == "PermissionDenied"


def _everything_said(exc: BaseException) -> str:
    """Every text an exception (and its chain) shows in messages, reprs and tracebacks."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), *getattr(current, "__notes__", [])]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


CANARY = "canary-5ecret-7f3a9c"


async def test_no_secret_in_any_error(scim_app: ScimApp) -> None:
    raised: list[ConnectorError] = []
    connector = ScimConnector(scim_app.base_url, BearerAuth(CANARY), Tls(insecure=True))
    try:
        with pytest.raises(NeedsHumanError) as refused:  # the app refuses the canary token
            await connector.find_account(user_name="alice")
        raised.append(refused.value)
        scim_app.token = CANARY  # now accepted, and a careless app echoes it back in errors
        for status in (400, 409, 500, 401):
            scim_app.faults.clear()
            echo = "you sent Authorization: {authorization}"
            scim_app.faults.arm(status, detail=echo, path_prefix="/Users", methods={"POST"})
            with pytest.raises(ConnectorError) as caught:
                await connector.create(Account(user_name="alice"))
            raised.append(caught.value)
            echo = "token {authorization} refused"
            scim_app.faults.arm(status, detail=echo, times=None, path_prefix="/Users", methods={"GET"})
            with pytest.raises(ConnectorError) as caught:
                await connector.find_account(user_name="alice")
            raised.append(caught.value)
    finally:
        await connector.aclose()
    for exc in raised:
        said = _everything_said(exc)
        assert CANARY not in said
        assert "Bearer canary" not in said
    assert CANARY not in repr(connector)


async def test_no_secret_from_what_a_hostile_app_sends_back(scim_app: ScimApp) -> None:
    scim_app.token = CANARY
    connector = ScimConnector(scim_app.base_url, BearerAuth(CANARY), Tls(insecure=True))
    raised: list[ConnectorError] = []
    try:
        await connector.capabilities()
        # A redirect to a host named after the token, a content type that is the token.
        scim_app.faults.arm(
            302, headers={"Location": f"http://{CANARY}.example/x"}, body=b"", path_prefix="/Users"
        )
        scim_app.faults.arm(200, body=b"<html/>", content_type=f"text/{CANARY}", path_prefix="/Users")
        for _ in range(2):
            with pytest.raises(ConnectorError) as caught:
                await connector.find_account(user_name="alice")
            raised.append(caught.value)
    finally:
        await connector.aclose()
    assert "redirect" in raised[0].message
    assert "not valid SCIM" in raised[1].message
    for exc in raised:
        assert CANARY not in _everything_said(exc)
