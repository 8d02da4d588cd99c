"""Outbound limits: requests per second (token bucket) and requests in flight, with waiting time counted."""

import asyncio

import pytest

from idlcm.connectors import (
    Account,
    BearerAuth,
    RateLimit,
    RateLimiter,
    RetryableError,
    ScimConnector,
    Tls,
)
from scimapp import ScimApp


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_bucket_allows_a_burst_then_the_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(
        RateLimit(requests_per_second=10, max_concurrency=100), clock=fake.clock, sleep=fake.sleep
    )
    admitted: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            admitted.append(fake.now)

    await asyncio.gather(*(request() for _ in range(30)))
    assert admitted[:10] == [0.0] * 10  # a one-second burst
    assert abs(admitted[-1] - 2.0) < 1e-6  # then 10 per second
    assert limiter.admitted == 30
    assert limiter.waited_seconds > 0


async def test_concurrency_is_capped(scim_app: ScimApp) -> None:
    connector = ScimConnector(
        scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), RateLimit(1000, 2)
    )
    try:
        await connector.capabilities()
        scim_app.faults.arm(delay=0.1, times=None, path_prefix="/Users")
        scim_app.requests.clear()
        await asyncio.gather(*(connector.find_account(user_name=f"u{i}") for i in range(6)))
    finally:
        await connector.aclose()
    spans = [(r.time, r.time + r.duration) for r in scim_app.requests]
    in_flight = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert len(spans) == 6
    assert in_flight <= 2
    assert connector.limiter.waited_seconds > 0.1


async def test_rate_is_honoured_against_the_app(scim_app: ScimApp) -> None:
    connector = ScimConnector(
        scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), RateLimit(20, 8)
    )
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        await asyncio.gather(
            *(connector.find_account(user_name=f"u{i}") for i in range(29))
        )  # + 1 config read
        elapsed = loop.time() - started
    finally:
        await connector.aclose()
    assert 0.45 < elapsed < 2.0  # 20 at once, then 10 more at 20/s


async def test_a_pause_holds_every_request_then_lets_them_go() -> None:
    fake = FakeTime()
    limiter = RateLimiter(RateLimit(1000, 4), clock=fake.clock, sleep=fake.sleep)
    limiter.pause(3.0)
    admitted: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            admitted.append(fake.now)

    await asyncio.gather(*(request() for _ in range(3)))
    assert min(admitted) >= 3.0


async def test_a_pause_longer_than_the_wait_limit_fails_at_once() -> None:
    fake = FakeTime()
    limiter = RateLimiter(RateLimit(1000, 4), clock=fake.clock, sleep=fake.sleep, max_pause_wait=30)
    limiter.pause(600.0)
    with pytest.raises(RetryableError, match="not sent") as caught:
        async with limiter.slot():
            pass
    assert caught.value.retry_after == 600.0
    assert fake.now == 0.0


async def _ask_twice_after_a_429(scim_app: ScimApp, retry_after: int) -> RetryableError | None:
    """Create an account, refused 429 with this Retry-After (every time: never sent again with success),
    then look one up: the lookup's error."""
    connector = ScimConnector(
        scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), RateLimit(1000, 4)
    )
    try:
        await connector.capabilities()
        scim_app.faults.arm(429, retry_after=retry_after, times=None, path_prefix="/Users", methods={"POST"})
        with pytest.raises(RetryableError):
            await connector.create(Account(user_name="alice"))
        try:
            await connector.find_account(user_name="bob")
        except RetryableError as exc:
            return exc
        return None
    finally:
        await connector.aclose()


async def test_retry_after_pauses_the_next_request_to_the_app(scim_app: ScimApp) -> None:
    assert await _ask_twice_after_a_429(scim_app, retry_after=1) is None
    *refused, after = scim_app.requests.select(path_prefix="/v2/Users")
    assert {r.status for r in refused} == {429}
    assert after.time - refused[-1].time >= 1.0


async def test_a_long_retry_after_sends_nothing_more(scim_app: ScimApp) -> None:
    error = await _ask_twice_after_a_429(scim_app, retry_after=600)
    assert error is not None
    assert "not sent" in error.message
    assert error.retry_after is not None
    assert error.retry_after > 590
    assert len(scim_app.requests.select(path_prefix="/v2/Users")) == 1


async def test_a_burst_the_app_throttles_is_provisioned_whole_at_a_lowered_rate(scim_app: ScimApp) -> None:
    # As Slack does (about 180 writes a minute, bursts of 20, then 429 with Retry-After): the writes are
    # sent again after the pause, at a lowered rate, and none fails.
    scim_app.configure(bulk=False)
    connector = ScimConnector(
        scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), RateLimit(200, 8)
    )
    try:
        await connector.capabilities()
        scim_app.faults.arm(429, retry_after=1, times=3, path_prefix="/Users", methods={"POST"})
        results = await connector.create_many([Account(user_name=f"user{i:02}") for i in range(30)])
        assert [r for r in results if not isinstance(r, Account)] == []
        assert len(scim_app.users()) == 30
        assert connector.limiter.throttled == 3  # the waits, counted apart from failures (none)
        posts = scim_app.requests.select("POST", "/v2/Users")
        assert sorted(p.status for p in posts) == [201] * 30 + [429] * 3
        first = min(p.time for p in posts if p.status == 429)
        # The three sent again came after the pause the app asked for (others were in flight already).
        assert sum(1 for p in posts if p.status == 201 and p.time - first >= 1.0) >= 3
    finally:
        await connector.aclose()
