"""Outbound limits towards one app: requests per second (token bucket) and requests in flight (semaphore)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


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
    ) -> None:
        self.limit = limit
        self.waited_seconds = 0.0
        self.admitted = 0
        self._clock = clock
        self._sleep = sleep
        # A burst of one second's worth of requests, at least one.
        self._capacity = max(1.0, limit.requests_per_second)
        self._tokens = self._capacity
        self._refilled_at = clock()
        self._semaphore = asyncio.Semaphore(limit.max_concurrency)
        self._bucket_lock = asyncio.Lock()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a free slot and a token, then hold the slot for the duration of the block.

        Gives the seconds this request waited."""
        started = self._clock()
        async with self._semaphore:
            await self._take_token()
            waited = self._clock() - started
            self.waited_seconds += waited
            self.admitted += 1
            yield waited

    async def _take_token(self) -> None:
        async with self._bucket_lock:  # FIFO: waiters take tokens in arrival order
            while True:
                now = self._clock()
                self._tokens = min(
                    self._capacity, self._tokens + (now - self._refilled_at) * self.limit.requests_per_second
                )
                self._refilled_at = now
                if self._tokens >= 1.0 - 1e-9:  # tolerance: float sums of refills fall just short
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self.limit.requests_per_second)
