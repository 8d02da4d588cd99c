"""When to retry a failed operation: exponential backoff with full jitter, and the status.retry it shows.

Pure: the caller passes the clock reading and the random source, so every result is reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from idlcm.states import rfc3339

__all__ = ["BackoffPolicy", "RetryState", "ceiling", "delay", "exhausted", "schedule"]


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait between attempts: a random delay under a ceiling that grows per attempt."""

    base: float = 5.0
    """The ceiling after the first failed attempt, in seconds."""
    factor: float = 2.0
    """How much the ceiling grows with each further failed attempt."""
    cap: float = 300.0
    """The largest ceiling, in seconds, however many attempts failed."""
    max_attempts: int = 6
    """Attempts in all, the first included; when this many have failed the operation fails for good."""

    def __post_init__(self) -> None:
        for name in ("base", "factor", "cap"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"backoff {name} must be a finite number, got {getattr(self, name)!r}")
        if self.base <= 0:
            raise ValueError(f"backoff base must be > 0, got {self.base}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")
        if self.cap < self.base:
            raise ValueError(f"backoff cap must be >= base ({self.base}), got {self.cap}")
        if self.max_attempts < 1:
            raise ValueError(f"backoff max_attempts must be >= 1, got {self.max_attempts}")


def ceiling(policy: BackoffPolicy, attempt: int) -> float:
    """Return the longest wait after failed attempt number `attempt`: min(cap, base * factor**(attempt-1))."""
    _check_attempt(attempt)
    steps = attempt - 1
    # Compare in logs first so a huge attempt number never computes factor**steps.
    if policy.factor == 1 or steps * math.log(policy.factor) < math.log(policy.cap) - math.log(policy.base):
        return min(policy.cap, policy.base * policy.factor**steps)
    return policy.cap


def delay(policy: BackoffPolicy, attempt: int, rng: random.Random) -> float:
    """Return a wait drawn uniformly from [0, ceiling] ("full jitter", so retrying clients spread out)."""
    return rng.uniform(0.0, ceiling(policy, attempt))


def exhausted(policy: BackoffPolicy, attempt: int) -> bool:
    """Tell whether no retry is left once attempt number `attempt` has failed."""
    _check_attempt(attempt)
    return attempt >= policy.max_attempts


@dataclass(frozen=True)
class RetryState:
    """The retry an Integration waits for, as `status.retry` shows it."""

    attempt: int
    """How many attempts have failed so far."""
    max_attempts: int
    """Attempts in all before the operation fails for good."""
    next_retry_at: datetime
    """When the next attempt starts."""
    backoff_seconds: float
    """The wait chosen before the next attempt, in seconds."""
    last_error: str
    """Why the last attempt failed."""
    operation: str | None = None
    """The operation being retried (provision, update, deprovision, sync), if known."""

    def __post_init__(self) -> None:
        if self.next_retry_at.utcoffset() is None:
            raise ValueError(f"next_retry_at must be timezone-aware, got {self.next_retry_at!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the value of `status.retry` (camelCase keys)."""
        body: dict[str, Any] = {
            "attempt": self.attempt,
            "maxAttempts": self.max_attempts,
            "nextRetryAt": rfc3339(self.next_retry_at),
            "backoffSeconds": self.backoff_seconds,
            "lastError": self.last_error,
        }
        if self.operation is not None:
            body["operation"] = self.operation
        return body


def schedule(
    policy: BackoffPolicy,
    attempt: int,
    now: datetime,
    rng: random.Random,
    last_error: str,
    *,
    operation: str | None = None,
) -> RetryState | None:
    """Plan the retry after failed attempt number `attempt`; None when no attempt is left."""
    if exhausted(policy, attempt):
        return None
    wait = delay(policy, attempt, rng)
    return RetryState(
        attempt=attempt,
        max_attempts=policy.max_attempts,
        next_retry_at=now + timedelta(seconds=wait),
        backoff_seconds=wait,
        last_error=last_error,
        operation=operation,
    )


def _check_attempt(attempt: int) -> None:
    """Reject attempt numbers below 1: attempts are counted from one."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
