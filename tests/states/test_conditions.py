"""The four kstatus conditions each state shows, and when their lastTransitionTime moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from idlcm.states import CONDITION_TYPES, Condition, Status, conditions_for, rfc3339

S = Status
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
# "last" = the Validated condition follows validation_passed (True, False, None -> Unknown).
EXPECTED: dict[Status, tuple[str, str, str, str]] = {
    S.UNDER_VALIDATION: ("False", "Unknown", "True", "False"),
    S.VALIDATING: ("False", "Unknown", "True", "False"),
    S.VALIDATED: ("True", "True", "False", "False"),
    S.VALIDATION_FAILED: ("False", "False", "True", "False"),
    S.UNDER_REVIEW: ("False", "last", "False", "True"),
    S.IN_PROGRESS: ("False", "last", "True", "False"),
    S.FAILED: ("False", "last", "False", "True"),
    S.RETRYING: ("False", "last", "True", "False"),
    S.UP_TO_DATE: ("True", "last", "False", "False"),
}
LAST = {True: "True", False: "False", None: "Unknown"}


def _conditions(
    status: Status,
    *,
    passed: bool | None = True,
    now: datetime = T0,
    generation: int = 3,
    previous: list[dict[str, Any]] | None = None,
) -> dict[str, Condition]:
    found = conditions_for(
        status,
        reason="SomeReason",
        message="Some message.",
        generation=generation,
        now=now,
        validation_passed=passed,
        previous=previous or [],
    )
    return {c.type: c for c in found}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("passed", [True, False, None])
def test_each_state_sets_its_four_conditions(status: Status, passed: bool | None) -> None:
    ready, validated, reconciling, stalled = EXPECTED[status]
    found = _conditions(status, passed=passed)
    assert found["Ready"].status == ready
    assert found["Validated"].status == (LAST[passed] if validated == "last" else validated)
    assert found["Reconciling"].status == reconciling
    assert found["Stalled"].status == stalled


def test_conditions_come_in_kstatus_order() -> None:
    found = conditions_for(
        S.UP_TO_DATE, reason="Synced", message="", generation=1, now=T0, validation_passed=True
    )
    assert (
        [c.type for c in found] == list(CONDITION_TYPES) == ["Ready", "Validated", "Reconciling", "Stalled"]
    )


@pytest.mark.parametrize("status", list(Status))
def test_every_condition_carries_the_observed_generation(status: Status) -> None:
    for condition in _conditions(status, generation=7).values():
        assert condition.observed_generation == 7
        assert condition.to_dict()["observedGeneration"] == 7


def test_ready_explains_why_not_with_the_given_reason() -> None:
    ready = _conditions(S.FAILED)["Ready"]
    assert (ready.status, ready.reason, ready.message) == ("False", "SomeReason", "Some message.")


def test_ready_reason_is_the_status_when_ready() -> None:
    ready = _conditions(S.UP_TO_DATE)["Ready"]
    assert (ready.status, ready.reason, ready.message) == ("True", "UpToDate", "Some message.")


def test_stalled_carries_the_reason_for_review() -> None:
    stalled = _conditions(S.UNDER_REVIEW)["Stalled"]
    assert (stalled.reason, stalled.message) == ("SomeReason", "Some message.")


def test_review_after_failed_validation_reports_the_review_reason_on_validated() -> None:
    validated = _conditions(S.UNDER_REVIEW, passed=False)["Validated"]
    assert (validated.status, validated.reason) == ("False", "SomeReason")


@pytest.mark.parametrize(
    ("status", "passed", "reason"),
    [
        (S.VALIDATED, True, "ValidationPassed"),
        (S.VALIDATION_FAILED, False, "ValidationFailed"),
        (S.VALIDATING, None, "ValidationPending"),
        (S.UNDER_VALIDATION, None, "ValidationPending"),
        (S.UP_TO_DATE, True, "ValidationPassed"),
        (S.FAILED, False, "ValidationFailed"),
        (S.IN_PROGRESS, None, "ValidationPending"),
    ],
)
def test_validated_condition_names_the_validation_outcome(
    status: Status, passed: bool | None, reason: str
) -> None:
    assert _conditions(status, passed=passed)["Validated"].reason == reason


def test_last_transition_time_is_kept_while_the_condition_status_holds() -> None:
    before = [c.to_dict() for c in _conditions(S.VALIDATING, now=T0).values()]
    after = _conditions(S.VALIDATION_FAILED, now=T1, previous=before)
    # Ready stays False and Reconciling stays True; Validated goes Unknown -> False.
    assert after["Ready"].last_transition_time == rfc3339(T0)
    assert after["Reconciling"].last_transition_time == rfc3339(T0)
    assert after["Stalled"].last_transition_time == rfc3339(T0)
    assert after["Validated"].last_transition_time == rfc3339(T1)


def test_last_transition_time_moves_when_the_condition_status_changes() -> None:
    before = [c.to_dict() for c in _conditions(S.IN_PROGRESS, now=T0).values()]
    after = _conditions(S.UP_TO_DATE, now=T1, previous=before)
    assert after["Ready"].last_transition_time == rfc3339(T1)
    assert after["Reconciling"].last_transition_time == rfc3339(T1)
    assert after["Validated"].last_transition_time == rfc3339(T0)
    assert after["Stalled"].last_transition_time == rfc3339(T0)


def test_a_condition_missing_before_starts_now() -> None:
    before = [{"type": "Ready", "status": "False", "lastTransitionTime": rfc3339(T0)}]
    after = _conditions(S.VALIDATING, now=T1, previous=before)
    assert after["Ready"].last_transition_time == rfc3339(T0)
    assert after["Stalled"].last_transition_time == rfc3339(T1)


def test_to_dict_uses_metav1_condition_keys() -> None:
    assert _conditions(S.VALIDATED)["Ready"].to_dict() == {
        "type": "Ready",
        "status": "True",
        "reason": "Validated",
        "message": "Some message.",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 3,
    }


def test_times_are_written_in_utc_with_a_z() -> None:
    cet = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2026, 1, 1, 1, 0, 0, 999_999, tzinfo=cet)) == "2026-01-01T00:00:00Z"


def test_a_naive_clock_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _conditions(S.VALIDATED, now=datetime(2026, 1, 1))


def test_a_reason_the_api_server_would_reject_is_refused() -> None:
    with pytest.raises(ValueError, match="reason"):
        conditions_for(
            S.FAILED, reason="not a word", message="", generation=1, now=T0, validation_passed=None
        )


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "Maybe"},
        {"observed_generation": -1},
        {"message": "x" * 40_000},
    ],
)
def test_conditions_the_api_server_would_reject_cannot_be_built(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "type": "Ready",
        "status": "True",
        "reason": "UpToDate",
        "message": "",
        "last_transition_time": "2026-01-01T00:00:00Z",
        "observed_generation": 1,
    }
    with pytest.raises(ValueError, match=r"condition|generation"):
        Condition(**(base | fields))


def test_a_huge_error_message_is_shortened_to_fit() -> None:
    found = conditions_for(
        S.FAILED, reason="Broken", message="x" * 40_000, generation=1, now=T0, validation_passed=None
    )
    assert all(len(c.message) <= 32768 for c in found)
    assert found[0].message.endswith("…")
