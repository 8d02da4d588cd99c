"""Properties of the state machine over random event sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from idlcm.states import (
    ALL_STATUSES,
    Condition,
    Event,
    InvalidTransition,
    Status,
    allowed_events,
    conditions_for,
    transition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
states = st.sampled_from([None, *Status])
events = st.sampled_from(list(Event))


def _check_consistent(status: Status, found: list[Condition], generation: int) -> None:
    """The invariants kstatus relies on."""
    by_type = {c.type: c.status for c in found}
    assert [c.type for c in found] == ["Ready", "Validated", "Reconciling", "Stalled"]
    assert (by_type["Ready"] == "True") == (status in (Status.VALIDATED, Status.UP_TO_DATE))
    assert by_type["Ready"] in ("True", "False")
    assert not (by_type["Reconciling"] == "True" and by_type["Stalled"] == "True")
    assert all(c.observed_generation == generation for c in found)


@settings(max_examples=150)
@given(data=st.data(), steps=st.integers(min_value=1, max_value=40))
def test_any_sequence_of_allowed_events_keeps_state_and_conditions_consistent(
    data: st.DataObject, steps: int
) -> None:
    current: Status | None = None
    previous: list[dict[str, Any]] = []
    for step in range(steps):
        allowed = sorted(allowed_events(current))
        assert allowed, f"{current} is a dead end"
        event = data.draw(st.sampled_from(allowed), label=f"event {step}")
        app_validated = data.draw(st.booleans(), label=f"app validated {step}")
        passed = data.draw(st.sampled_from([True, False, None]), label=f"validation passed {step}")
        new = transition(current, event, app_validated=app_validated)
        assert new in ALL_STATUSES
        now = T0 + timedelta(minutes=step)
        found = conditions_for(
            new,
            reason="Because",
            message=f"step {step}",
            generation=step,
            now=now,
            validation_passed=passed,
            previous=previous,
        )
        _check_consistent(new, found, step)
        # lastTransitionTime moves exactly when the condition's status changes.
        old = {c["type"]: c for c in previous}
        for condition in found:
            before = old.get(condition.type)
            if before is not None and before["status"] == condition.status:
                assert condition.last_transition_time == before["lastTransitionTime"]
            else:
                assert condition.last_transition_time == now.strftime("%Y-%m-%dT%H:%M:%SZ")
        current, previous = new, [c.to_dict() for c in found]


@settings(max_examples=300)
@given(current=states, event=events, app_validated=st.booleans())
def test_any_state_and_event_either_transitions_or_is_refused(
    current: Status | None, event: Event, app_validated: bool
) -> None:
    try:
        new = transition(current, event, app_validated=app_validated)
    except InvalidTransition:
        assert event not in allowed_events(current)
    else:
        assert event in allowed_events(current)
        assert new in ALL_STATUSES


@settings(max_examples=100)
@given(current=states, app_validated=st.booleans())
def test_a_human_change_always_restarts_validation(current: Status | None, app_validated: bool) -> None:
    expected = Status.VALIDATING if app_validated else Status.UNDER_VALIDATION
    for event in (Event.SPEC_CHANGED, Event.SECRET_CHANGED, Event.REVALIDATE_REQUESTED):
        assert transition(current, event, app_validated=app_validated) is expected
