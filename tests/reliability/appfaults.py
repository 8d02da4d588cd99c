"""Shared helpers of the app-fault and hostile-app suites: settings, what the operator announced, timings."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from idlcm.backoff import BackoffPolicy
from lifecycle.conftest import FAST, Cluster
from scimapp import LoggedRequest

REQUEST_TIMEOUT = 0.5
"""The operator's request timeout in these suites; a "slow" fault answers after twice that."""

PATIENT = dataclasses.replace(
    FAST,
    validation_backoff=BackoffPolicy(base=0.1, factor=2.0, cap=0.5, max_attempts=20),
    operation_backoff=BackoffPolicy(base=0.1, factor=2.0, cap=0.5, max_attempts=30),
    tick=0.1,
    request_timeout=REQUEST_TIMEOUT,
)
"""Short waits, and enough attempts that a 30% fault rate cannot spend them (the logic is production's)."""

_ATTEMPT = re.compile(r"\(attempt (\d+)/(\d+), next at ")
_WRITTEN = re.compile(r"; (\d+) accounts written by this attempt \(attempt ")


@dataclass(frozen=True)
class Announced:
    """One state the operator announced in an Event: the state, its reason and the message after it."""

    status: str
    reason: str
    message: str

    @property
    def attempt(self) -> tuple[int, int] | None:
        """(attempt, of max attempts) of a retry announcement."""
        found = _ATTEMPT.search(self.message)
        return (int(found[1]), int(found[2])) if found else None

    @property
    def written(self) -> int:
        """How many accounts the failed attempt of a retry announcement wrote nonetheless."""
        found = _WRITTEN.search(self.message)
        return int(found[1]) if found else 0


async def announcements(cluster: Cluster, name: str, last: str | None = None) -> list[Announced]:
    """Every state the operator announced for an Integration, oldest first; with `last`, once the latest is
    that state (Events are posted in the background: the status may be ahead of them)."""
    deadline = time.monotonic() + 10
    while True:
        seen = []
        for event in await cluster.events_for(name):
            status, _, message = (event.message or "").partition(": ")
            seen.append(Announced(status, event.reason or "", message))
        if last is None or (seen and seen[-1].status == last) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.05)


def quiet_after(
    requests: Iterable[LoggedRequest], status: int, seconds: float
) -> list[tuple[LoggedRequest, list[LoggedRequest]]]:
    """For each request answered `status`, the requests that arrived within `seconds` after it."""
    log = sorted(requests, key=lambda r: r.time)
    return [
        (answered, [r for r in log if answered.time < r.time < answered.time + seconds])
        for answered in log
        if answered.status == status
    ]
