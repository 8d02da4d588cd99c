"""Passed schema checks, shared for a short time between Integrations that reach one app the same way.

Many Integrations of one app (one base URL, one set of credentials: tenants of a team, rosters split by
department) each check their mapped attributes against what the app publishes (its ResourceTypes and
Schemas, two listings). What the app publishes changes when its operators reconfigure it, not from one
Integration to the next: a passed check is kept for `ttl` seconds and answers the same question (same base
URL, same credentials, same TLS settings, same mapped attributes) without asking the app again. Each
Integration still reaches the app and proves its own credentials itself (its own ServiceProviderConfig and
`/Users` reads). A failure is never kept: once a person has fixed the app, the next validation asks it again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from idlcm.connectors.base import CheckResult

DEFAULT_TTL = 60.0
"""Seconds a passed schema check is kept: an app whose schema changed is seen within a minute."""
MAX_ENTRIES = 256
"""The most checks kept (the least recently used go first): a few KB each."""


class SharedChecks:
    """Passed checks by what they asked (`key`), each kept `ttl` seconds; one read at a time per key."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._kept: OrderedDict[Hashable, tuple[float, CheckResult]] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}

    async def get(self, key: Hashable, run: Callable[[], Awaitable[CheckResult]]) -> CheckResult:
        """The kept result for `key` if it passed less than `ttl` seconds ago, else `run()`'s (kept if it
        passed). Concurrent callers with one key wait for one run instead of each asking the app."""
        kept = self._fresh(key)
        if kept is not None:
            return kept
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                kept = self._fresh(key)
                if kept is not None:
                    return kept
                result = await run()
                if result.passed and self.ttl > 0:
                    self._kept[key] = (self._clock() + self.ttl, result)
                    self._kept.move_to_end(key)
                    while len(self._kept) > self._max:
                        self._kept.popitem(last=False)
                return result
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._kept)

    def _fresh(self, key: Hashable) -> CheckResult | None:
        entry = self._kept.get(key)
        if entry is None:
            return None
        expires, result = entry
        if self._clock() >= expires:
            del self._kept[key]
            return None
        self._kept.move_to_end(key)
        return result
