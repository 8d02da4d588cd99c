"""The transition table, row by row, and everything outside it refused."""

from __future__ import annotations

import itertools

import pytest

from idlcm.states import (
    ALL_STATUSES,
    TRANSITIONS,
    Event,
    InvalidTransition,
    Rule,
    Status,
    _index,
    allowed_events,
    transition,
)

S = Status
E = Event
EVERY: tuple[Status | None, ...] = (None, *Status)
HUMAN = (E.SPEC_CHANGED, E.SECRET_CHANGED, E.REVALIDATE_REQUESTED)

# Written out independently of states.TRANSITIONS: (from, event, guard, to); guard None = no guard.
EXPECTED: list[tuple[Status | None, Event, bool | None, Status]] = [
    (None, E.DISCOVERED, True, S.VALIDATING),
    (None, E.DISCOVERED, False, S.UNDER_VALIDATION),
    (S.UNDER_VALIDATION, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.VALIDATING, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.VALIDATED, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.VALIDATION_FAILED, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.IN_PROGRESS, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.FAILED, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.RETRYING, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (S.UP_TO_DATE, E.APP_VALIDATION_REQUIRED, None, S.UNDER_VALIDATION),
    (None, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.UNDER_VALIDATION, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.VALIDATED, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.VALIDATION_FAILED, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.UP_TO_DATE, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.FAILED, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.RETRYING, E.VALIDATION_STARTED, None, S.VALIDATING),
    (S.VALIDATING, E.VALIDATION_PASSED, None, S.VALIDATED),
    (S.VALIDATING, E.VALIDATION_FAILED, None, S.VALIDATION_FAILED),
    (S.UNDER_VALIDATION, E.VALIDATION_FAILED, None, S.VALIDATION_FAILED),
    (S.VALIDATION_FAILED, E.VALIDATION_FAILED, None, S.VALIDATION_FAILED),
    (S.VALIDATING, E.VALIDATION_NEEDS_REVIEW, None, S.UNDER_REVIEW),
    (S.UNDER_VALIDATION, E.VALIDATION_NEEDS_REVIEW, None, S.UNDER_REVIEW),
    (S.VALIDATION_FAILED, E.VALIDATION_NEEDS_REVIEW, None, S.UNDER_REVIEW),
    (S.VALIDATED, E.OPERATION_STARTED, None, S.IN_PROGRESS),
    (S.UP_TO_DATE, E.OPERATION_STARTED, None, S.IN_PROGRESS),
    (S.RETRYING, E.OPERATION_STARTED, None, S.IN_PROGRESS),
    (S.FAILED, E.OPERATION_STARTED, None, S.IN_PROGRESS),
    (S.IN_PROGRESS, E.OPERATION_STARTED, None, S.IN_PROGRESS),
    (S.IN_PROGRESS, E.OPERATION_SUCCEEDED, None, S.UP_TO_DATE),
    (S.IN_PROGRESS, E.OPERATION_RETRY_SCHEDULED, None, S.RETRYING),
    (S.IN_PROGRESS, E.OPERATION_FAILED, None, S.FAILED),
    (S.RETRYING, E.OPERATION_FAILED, None, S.FAILED),
    (S.IN_PROGRESS, E.SAFETY_STOP, None, S.UNDER_REVIEW),
    (S.VALIDATED, E.SAFETY_STOP, None, S.UNDER_REVIEW),
    (S.UP_TO_DATE, E.SAFETY_STOP, None, S.UNDER_REVIEW),
    (S.RETRYING, E.SAFETY_STOP, None, S.UNDER_REVIEW),
    *((state, event, True, S.VALIDATING) for state in EVERY for event in HUMAN),
    *((state, event, False, S.UNDER_VALIDATION) for state in EVERY for event in HUMAN),
    (S.VALIDATED, E.INTERVAL_ELAPSED, None, S.VALIDATING),
    (S.UP_TO_DATE, E.INTERVAL_ELAPSED, None, S.VALIDATING),
    (S.FAILED, E.INTERVAL_ELAPSED, None, S.VALIDATING),
    (S.VALIDATION_FAILED, E.INTERVAL_ELAPSED, None, S.VALIDATING),
]
DEFINED = {(state, event) for state, event, _, _ in EXPECTED}
UNDEFINED = [pair for pair in itertools.product(EVERY, Event) if pair not in DEFINED]


def _label(value: object) -> str:
    return "none" if value is None else str(value)


@pytest.mark.parametrize(
    ("current", "event", "guard", "expected"),
    EXPECTED,
    ids=[f"{_label(c)}-{e}-{_label(g)}" for c, e, g, _ in EXPECTED],
)
def test_every_row_of_the_table_leads_where_documented(
    current: Status | None, event: Event, guard: bool | None, expected: Status
) -> None:
    guards = (True, False) if guard is None else (guard,)
    for app_validated in guards:
        assert transition(current, event, app_validated=app_validated) is expected


@pytest.mark.parametrize(("current", "event"), UNDEFINED, ids=[f"{_label(c)}-{e}" for c, e in UNDEFINED])
@pytest.mark.parametrize("app_validated", [True, False])
def test_events_outside_the_table_are_refused(
    current: Status | None, event: Event, app_validated: bool
) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, event, app_validated=app_validated)


def test_the_table_defines_exactly_the_expected_rows() -> None:
    rows = {(s, r.event, r.app_validated, r.target) for r in TRANSITIONS for s in r.sources}
    assert rows == set(EXPECTED)


def test_allowed_events_lists_exactly_the_defined_pairs() -> None:
    for state in EVERY:
        assert allowed_events(state) == {event for s, event in DEFINED if s is state}


def test_all_statuses_lists_the_nine_states_in_contract_order() -> None:
    assert [s.value for s in ALL_STATUSES] == [
        "UnderValidation",
        "Validating",
        "Validated",
        "ValidationFailed",
        "UnderReview",
        "InProgress",
        "Failed",
        "Retrying",
        "UpToDate",
    ]


def test_first_integration_of_unvalidated_app_waits_under_validation() -> None:
    assert transition(None, E.DISCOVERED, app_validated=False) is S.UNDER_VALIDATION


def test_second_integration_of_validated_app_skips_under_validation() -> None:
    assert transition(None, E.DISCOVERED, app_validated=True) is S.VALIDATING


def test_discovered_is_only_for_an_integration_without_status() -> None:
    for state in Status:
        assert E.DISCOVERED not in allowed_events(state)


def test_spec_change_releases_review_to_validating_when_app_validated() -> None:
    assert transition(S.UNDER_REVIEW, E.SPEC_CHANGED, app_validated=True) is S.VALIDATING


def test_spec_change_releases_review_to_under_validation_when_app_not_validated() -> None:
    assert transition(S.UNDER_REVIEW, E.SPEC_CHANGED, app_validated=False) is S.UNDER_VALIDATION


def test_under_review_leaves_only_on_spec_secret_or_revalidate() -> None:
    assert allowed_events(S.UNDER_REVIEW) == set(HUMAN)
    for event in set(Event) - set(HUMAN):
        with pytest.raises(InvalidTransition):
            transition(S.UNDER_REVIEW, event)


def test_deleted_app_record_never_overrides_review() -> None:
    with pytest.raises(InvalidTransition):
        transition(S.UNDER_REVIEW, E.APP_VALIDATION_REQUIRED)


def test_periodic_revalidation_never_interrupts_operation_retry_or_review() -> None:
    for state in (S.IN_PROGRESS, S.RETRYING, S.UNDER_REVIEW):
        with pytest.raises(InvalidTransition):
            transition(state, E.INTERVAL_ELAPSED)


def test_guard_is_ignored_by_unguarded_events() -> None:
    assert transition(S.VALIDATED, E.OPERATION_STARTED, app_validated=False) is S.IN_PROGRESS


def test_safety_stop_during_operation_stops_for_review() -> None:
    assert transition(S.IN_PROGRESS, E.SAFETY_STOP) is S.UNDER_REVIEW


def test_invalid_transition_names_state_and_event() -> None:
    with pytest.raises(InvalidTransition, match=r"OperationSucceeded.*UnderReview") as caught:
        transition(S.UNDER_REVIEW, E.OPERATION_SUCCEEDED)
    assert caught.value.current is S.UNDER_REVIEW
    assert caught.value.event is E.OPERATION_SUCCEEDED
    assert isinstance(caught.value, ValueError)


def test_invalid_transition_from_no_status_says_so() -> None:
    with pytest.raises(InvalidTransition, match="no status yet"):
        transition(None, E.OPERATION_STARTED)


def test_overlapping_rows_are_rejected_when_the_table_loads() -> None:
    rows = [
        Rule((S.FAILED,), E.OPERATION_STARTED, S.IN_PROGRESS),
        Rule((S.FAILED,), E.OPERATION_STARTED, S.FAILED),
    ]
    with pytest.raises(ValueError, match="duplicate"):
        _index(rows)


def test_half_guarded_rows_are_rejected_when_the_table_loads() -> None:
    with pytest.raises(ValueError, match="incomplete guard"):
        _index([Rule((None,), E.DISCOVERED, S.VALIDATING, app_validated=True)])
