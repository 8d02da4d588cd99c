"""Exponential backoff with full jitter, and the retry it schedules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idlcm.backoff import BackoffPolicy, RetryState, ceiling, delay, exhausted, schedule

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def policies(draw: st.DrawFn) -> BackoffPolicy:
    base = draw(st.floats(min_value=1e-3, max_value=1e3))
    return BackoffPolicy(
        base=base,
        factor=draw(st.floats(min_value=1.0, max_value=10.0)),
        cap=base + draw(st.floats(min_value=0.0, max_value=1e5)),
        max_attempts=draw(st.integers(min_value=1, max_value=50)),
    )


attempts = st.integers(min_value=1, max_value=100_000)


@settings(max_examples=300)
@given(policy=policies(), attempt=attempts, seed=st.integers())
def test_delay_stays_between_zero_and_the_ceiling_and_the_ceiling_under_the_cap(
    policy: BackoffPolicy, attempt: int, seed: int
) -> None:
    top = ceiling(policy, attempt)
    assert 0.0 <= delay(policy, attempt, random.Random(seed)) <= top <= policy.cap
    assert top >= policy.base


@settings(max_examples=300)
@given(policy=policies(), attempt=attempts)
def test_the_ceiling_never_shrinks_as_attempts_grow(policy: BackoffPolicy, attempt: int) -> None:
    assert ceiling(policy, attempt) <= ceiling(policy, attempt + 1)


@settings(max_examples=100)
@given(policy=policies(), seed=st.integers())
def test_the_same_seed_gives_the_same_delays(policy: BackoffPolicy, seed: int) -> None:
    first, second = random.Random(seed), random.Random(seed)
    assert [delay(policy, n, first) for n in range(1, 20)] == [delay(policy, n, second) for n in range(1, 20)]


@settings(max_examples=100)
@given(policy=policies())
def test_retries_run_out_exactly_at_max_attempts(policy: BackoffPolicy) -> None:
    if policy.max_attempts > 1:
        assert not exhausted(policy, policy.max_attempts - 1)
    assert exhausted(policy, policy.max_attempts)
    assert exhausted(policy, policy.max_attempts + 1)


@settings(max_examples=200)
@given(policy=policies(), attempt=attempts, seed=st.integers(), error=st.text(max_size=50))
def test_schedule_waits_backoff_seconds_or_gives_up(
    policy: BackoffPolicy, attempt: int, seed: int, error: str
) -> None:
    retry = schedule(policy, attempt, T0, random.Random(seed), error)
    if exhausted(policy, attempt):
        assert retry is None
        return
    assert retry is not None
    assert retry.next_retry_at == T0 + timedelta(seconds=retry.backoff_seconds)
    assert 0.0 <= retry.backoff_seconds <= ceiling(policy, attempt)
    assert (retry.attempt, retry.max_attempts, retry.last_error) == (attempt, policy.max_attempts, error)


def test_default_ceilings_double_from_five_seconds_up_to_five_minutes() -> None:
    policy = BackoffPolicy()
    assert [ceiling(policy, n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_a_huge_attempt_number_does_not_overflow() -> None:
    assert ceiling(BackoffPolicy(), 10_000) == 300.0
    assert ceiling(BackoffPolicy(base=1e-300, cap=1e10, factor=10.0), 10**9) == 1e10


def test_a_factor_of_one_waits_up_to_base_every_time() -> None:
    policy = BackoffPolicy(base=3.0, factor=1.0, cap=60.0)
    assert {ceiling(policy, n) for n in (1, 2, 1000)} == {3.0}


def test_default_policy_allows_six_attempts() -> None:
    policy = BackoffPolicy()
    assert [exhausted(policy, n) for n in range(1, 8)] == [False] * 5 + [True, True]


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_are_counted_from_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        ceiling(BackoffPolicy(), attempt)
    with pytest.raises(ValueError, match="start at 1"):
        exhausted(BackoffPolicy(), attempt)


@pytest.mark.parametrize(
    "fields",
    [
        {"base": 0.0},
        {"base": -1.0},
        {"factor": 0.5},
        {"cap": 1.0},
        {"max_attempts": 0},
        {"base": float("nan")},
        {"cap": float("inf")},
        {"factor": float("inf")},
    ],
)
def test_policies_that_make_no_sense_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        BackoffPolicy(**fields)


def test_the_last_attempt_schedules_no_retry() -> None:
    assert schedule(BackoffPolicy(max_attempts=3), 3, T0, random.Random(1), "boom") is None


def test_retry_state_shows_as_status_retry() -> None:
    retry = schedule(BackoffPolicy(), 2, T0, random.Random(7), "503 Service Unavailable", operation="sync")
    assert retry is not None
    body = retry.to_dict()
    assert body == {
        "attempt": 2,
        "maxAttempts": 6,
        "nextRetryAt": (T0 + timedelta(seconds=retry.backoff_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "backoffSeconds": retry.backoff_seconds,
        "lastError": "503 Service Unavailable",
        "operation": "sync",
    }
    assert body["nextRetryAt"].startswith("2026-01-01T00:00:")


def test_retry_state_omits_an_unknown_operation() -> None:
    retry = schedule(BackoffPolicy(), 1, T0, random.Random(7), "timeout")
    assert retry is not None
    assert "operation" not in retry.to_dict()


def test_retry_state_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RetryState(
            attempt=1, max_attempts=6, next_retry_at=datetime(2026, 1, 1), backoff_seconds=1.0, last_error=""
        )
