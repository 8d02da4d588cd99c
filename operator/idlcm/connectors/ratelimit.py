"""Outbound limits towards one app: requests per second (token bucket), requests in flight (semaphore), and
the pauses the app asks for (Retry-After)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from idlcm.connectors.errors import RetryableError

MAX_PAUSE_WAIT = 30.0
"""The longest a request waits out a pause the app asked for; past that it fails at once (and the operation
is retried no sooner than the pause ends), so that no reconcile hangs on a long Retry-After."""


SLOWEST = 8
"""A throttling app brings the rate down to no less than the limit divided by this."""


@dataclass(frozen=True)
class RateLimit:
    """Outbound limits for one connector (the Integration's `rateLimit`)."""

    requests_per_second: float = 25.0
    max_concurrency: int = 8

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0 or self.max_concurrency < 1:
            raise ValueError("requests_per_second must be > 0 and max_concurrency >= 1")


class RateLimiter:
    """Admits one request at a time through `slot()`, and counts the time requests spent waiting."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_pause_wait: float = MAX_PAUSE_WAIT,
    ) -> None:
        self.limit = limit
        self.rate = limit.requests_per_second
        """The rate admitted now: the limit, lowered while the app throttles (429) and raised back after."""
        self.waited_seconds = 0.0
        self.admitted = 0
        self.throttled = 0
        """Requests the app answered 429 and that were sent again after its pause (not failures)."""
        self._clock = clock
        self._sleep = sleep
        # A burst of one second's worth of requests, at least one.
        self._capacity = max(1.0, limit.requests_per_second)
        self._tokens = self._capacity
        self._refilled_at = clock()
        self._semaphore = asyncio.Semaphore(limit.max_concurrency)
        self._bucket_lock = asyncio.Lock()
        self._paused_until = float("-inf")
        self._max_pause_wait = max_pause_wait

    def slow_down(self) -> None:
        """The app throttled a request (429): halve the rate, down to an eighth of the limit (the default 25
        a second comes down to about 3, Slack's 180 writes a minute): adapt to the app rather than fail."""
        self.throttled += 1
        self.rate = max(self.limit.requests_per_second / SLOWEST, self.rate / 2)
        self._capacity = max(1.0, min(self._capacity, self.rate))
        self._tokens = min(self._tokens, self._capacity)

    def speed_up(self) -> None:
        """A request passed: win back a twentieth of the limit (the rate climbs back in twenty answers)."""
        if self.rate < self.limit.requests_per_second:
            self.rate = min(self.limit.requests_per_second, self.rate + self.limit.requests_per_second / 20)
            self._capacity = max(1.0, self.rate)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` from now: the app asked for it (429 or 503 with Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a free slot and a token, then hold the slot for the duration of the block.

        Gives the seconds this request waited. Raises `RetryableError` (not sent) when the app asked for a
        pause longer than `max_pause_wait`."""
        started = self._clock()
        async with self._semaphore:
            await self._take_token()
            await self._wait_out_pause()  # last, so that a pause set meanwhile still holds this request
            waited = self._clock() - started
            self.waited_seconds += waited
            self.admitted += 1
            yield waited

    async def _wait_out_pause(self) -> None:
        while (left := self._paused_until - self._clock()) > 0:
            if left > self._max_pause_wait:
                raise RetryableError(
                    f"not sent: the app asked for a pause of {left:.0f}s (Retry-After)", retry_after=left
                )
            await self._sleep(left)

    async def _take_token(self) -> None:
        async with self._bucket_lock:  # FIFO: waiters take tokens in arrival order
            while True:
                now = self._clock()
                self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self.rate)
                self._refilled_at = now
                if self._tokens >= 1.0 - 1e-9:  # tolerance: float sums of refills fall just short
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)
