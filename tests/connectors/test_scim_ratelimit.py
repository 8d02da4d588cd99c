"""Outbound limits: requests per second (token bucket) and requests in flight, with waiting time counted."""

import asyncio

from idlcm.connectors import BearerAuth, RateLimit, RateLimiter, ScimConnector, Tls
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
