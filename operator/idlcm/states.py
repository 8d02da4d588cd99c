"""The nine states of an Integration, the events that move it, and the conditions each state shows.

Pure: no I/O, no clock, no Kubernetes. The handlers ask `transition()` where an event leads and write the
answer, with `conditions_for()`, in one status patch. docs/states.md mirrors `TRANSITIONS` (a test checks it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "ALL_STATUSES",
    "CONDITION_TYPES",
    "TRANSITIONS",
    "Condition",
    "Event",
    "InvalidTransition",
    "Rule",
    "Status",
    "allowed_events",
    "conditions_for",
    "ready",
    "rfc3339",
    "settled",
    "transition",
]


class Status(StrEnum):
    """The value of `status.status`: where an Integration stands."""

    UNDER_VALIDATION = "UnderValidation"
    VALIDATING = "Validating"
    VALIDATED = "Validated"
    VALIDATION_FAILED = "ValidationFailed"
    UNDER_REVIEW = "UnderReview"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    RETRYING = "Retrying"
    UP_TO_DATE = "UpToDate"


class Event(StrEnum):
    """Something that happened to an Integration; the values double as Kubernetes event reasons."""

    DISCOVERED = "Discovered"
    APP_VALIDATION_REQUIRED = "AppValidationRequired"
    VALIDATION_STARTED = "ValidationStarted"
    VALIDATION_PASSED = "ValidationPassed"
    VALIDATION_FAILED = "ValidationFailed"
    VALIDATION_NEEDS_REVIEW = "ValidationNeedsReview"
    OPERATION_STARTED = "OperationStarted"
    OPERATION_SUCCEEDED = "OperationSucceeded"
    OPERATION_RETRY_SCHEDULED = "OperationRetryScheduled"
    OPERATION_FAILED = "OperationFailed"
    SAFETY_STOP = "SafetyStop"
    SPEC_CHANGED = "SpecChanged"
    SECRET_CHANGED = "SecretChanged"
    REVALIDATE_REQUESTED = "RevalidateRequested"
    INTERVAL_ELAPSED = "IntervalElapsed"


ALL_STATUSES: Final[tuple[Status, ...]] = tuple(Status)


@dataclass(frozen=True)
class Rule:
    """One row of the transition table: from any of `sources`, `event` leads to `target`."""

    sources: tuple[Status | None, ...]
    """The states the event is accepted in; None is a new Integration with no status yet."""
    event: Event
    """The event this row answers."""
    target: Status
    """The state the Integration moves to."""
    app_validated: bool | None = None
    """The guard: the row applies only if the app's validation has (True) or has not (False) passed."""


_S = Status
_E = Event
_EVERY: Final[tuple[Status | None, ...]] = (None, *Status)
# The only ways out of UnderReview: a human changed something or asked for another look.
_HUMAN_CHANGES: Final = (_E.SPEC_CHANGED, _E.SECRET_CHANGED, _E.REVALIDATE_REQUESTED)

TRANSITIONS: Final[tuple[Rule, ...]] = (
    Rule((None,), _E.DISCOVERED, _S.VALIDATING, app_validated=True),
    Rule((None,), _E.DISCOVERED, _S.UNDER_VALIDATION, app_validated=False),
    Rule(
        tuple(s for s in Status if s is not _S.UNDER_REVIEW),
        _E.APP_VALIDATION_REQUIRED,
        _S.UNDER_VALIDATION,
    ),
    Rule(
        (
            None,
            _S.UNDER_VALIDATION,
            _S.VALIDATED,
            _S.VALIDATION_FAILED,
            _S.UP_TO_DATE,
            _S.FAILED,
            _S.RETRYING,
        ),
        _E.VALIDATION_STARTED,
        _S.VALIDATING,
    ),
    Rule((_S.VALIDATING,), _E.VALIDATION_PASSED, _S.VALIDATED),
    Rule(
        (_S.VALIDATING, _S.UNDER_VALIDATION, _S.VALIDATION_FAILED), _E.VALIDATION_FAILED, _S.VALIDATION_FAILED
    ),
    Rule(
        (_S.VALIDATING, _S.UNDER_VALIDATION, _S.VALIDATION_FAILED),
        _E.VALIDATION_NEEDS_REVIEW,
        _S.UNDER_REVIEW,
    ),
    Rule(
        (_S.VALIDATED, _S.UP_TO_DATE, _S.RETRYING, _S.FAILED, _S.IN_PROGRESS),
        _E.OPERATION_STARTED,
        _S.IN_PROGRESS,
    ),
    Rule((_S.IN_PROGRESS,), _E.OPERATION_SUCCEEDED, _S.UP_TO_DATE),
    Rule((_S.IN_PROGRESS,), _E.OPERATION_RETRY_SCHEDULED, _S.RETRYING),
    Rule((_S.IN_PROGRESS, _S.RETRYING), _E.OPERATION_FAILED, _S.FAILED),
    Rule((_S.IN_PROGRESS, _S.VALIDATED, _S.UP_TO_DATE, _S.RETRYING), _E.SAFETY_STOP, _S.UNDER_REVIEW),
    *(Rule(_EVERY, event, _S.VALIDATING, app_validated=True) for event in _HUMAN_CHANGES),
    *(Rule(_EVERY, event, _S.UNDER_VALIDATION, app_validated=False) for event in _HUMAN_CHANGES),
    Rule(
        (_S.VALIDATED, _S.UP_TO_DATE, _S.FAILED, _S.VALIDATION_FAILED),
        _E.INTERVAL_ELAPSED,
        _S.VALIDATING,
    ),
)
"""The whole state machine; anything not listed here is an invalid transition."""


def _index(rules: Sequence[Rule]) -> dict[tuple[Status | None, Event], dict[bool | None, Status]]:
    """Index the rules by (state, event); reject overlapping rows and half-guarded pairs."""
    index: dict[tuple[Status | None, Event], dict[bool | None, Status]] = {}
    for rule in rules:
        for source in rule.sources:
            targets = index.setdefault((source, rule.event), {})
            if rule.app_validated in targets:
                raise ValueError(f"duplicate transition from {source} on {rule.event}")
            targets[rule.app_validated] = rule.target
    for (source, event), targets in index.items():
        # Either the guard is ignored (one unguarded row) or both of its answers are given.
        if set(targets) not in ({None}, {True, False}):
            raise ValueError(f"incomplete guard for the transition from {source} on {event}")
    return index


_INDEX: Final = _index(TRANSITIONS)
_ALLOWED: Final[dict[Status | None, frozenset[Event]]] = {
    state: frozenset(event for source, event in _INDEX if source is state) for state in _EVERY
}


class InvalidTransition(ValueError):
    """The event is not accepted in the current state."""

    def __init__(self, current: Status | None, event: Event) -> None:
        self.current = current
        self.event = event
        where = "no status yet" if current is None else current.value
        allowed = ", ".join(sorted(allowed_events(current))) or "nothing"
        super().__init__(f"invalid transition: {event.value} in state {where} (allowed: {allowed})")


def transition(current: Status | None, event: Event, *, app_validated: bool = True) -> Status:
    """Return the state `event` leads to from `current`, or raise InvalidTransition."""
    targets = _INDEX.get((current, event))
    if targets is None:
        raise InvalidTransition(current, event)
    return targets[None] if None in targets else targets[app_validated]


def allowed_events(current: Status | None) -> frozenset[Event]:
    """Return the events accepted in `current` (None: an Integration with no status yet)."""
    return _ALLOWED[current]


def ready(status: Status) -> bool:
    """Tell whether the Integration is in a good, finished state (the Ready condition)."""
    return status in (Status.VALIDATED, Status.UP_TO_DATE)


def settled(status: Status) -> bool:
    """Tell whether no check or operation is running or waiting to start on its own."""
    return status not in (Status.UNDER_VALIDATION, Status.VALIDATING, Status.IN_PROGRESS)


CONDITION_TYPES: Final = ("Ready", "Validated", "Reconciling", "Stalled")
_TRUE: Final = "True"
_FALSE: Final = "False"
_UNKNOWN: Final = "Unknown"
# metav1.Condition's own limits; the API server rejects a status patch that breaks them.
_REASON: Final = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_MAX_REASON: Final = 1024
_MAX_MESSAGE: Final = 32768
_RECONCILING: Final = frozenset(
    {
        Status.UNDER_VALIDATION,
        Status.VALIDATING,
        Status.IN_PROGRESS,
        Status.RETRYING,
        Status.VALIDATION_FAILED,
    }
)
_STALLED: Final = frozenset({Status.UNDER_REVIEW, Status.FAILED})


def rfc3339(moment: datetime) -> str:
    """Format an aware datetime as Kubernetes does: UTC, whole seconds, e.g. 2026-01-01T00:00:00Z."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Condition:
    """One entry of `status.conditions`, shaped like metav1.Condition."""

    type: str
    """The aspect it reports: Ready, Validated, Reconciling or Stalled."""
    status: str
    """"True", "False" or "Unknown"."""
    reason: str
    """A CamelCase word a program can match on."""
    message: str
    """A sentence for humans."""
    last_transition_time: str
    """When `status` last changed, RFC3339 UTC."""
    observed_generation: int
    """The `metadata.generation` this condition was computed from."""

    def __post_init__(self) -> None:
        if self.status not in (_TRUE, _FALSE, _UNKNOWN):
            raise ValueError(f"condition status must be True, False or Unknown, got {self.status!r}")
        if len(self.reason) > _MAX_REASON or not _REASON.match(self.reason):
            raise ValueError(f"condition reason must be a CamelCase word, got {self.reason!r}")
        if len(self.message) > _MAX_MESSAGE:
            raise ValueError(f"condition message is longer than {_MAX_MESSAGE} characters")
        if self.observed_generation < 0:
            raise ValueError(f"observed generation must be >= 0, got {self.observed_generation}")

    def to_dict(self) -> dict[str, Any]:
        """Return the condition as it goes into the status patch (camelCase keys)."""
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
            "observedGeneration": self.observed_generation,
        }


def conditions_for(
    status: Status,
    *,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    validation_passed: bool | None,
    previous: Sequence[Mapping[str, Any]] = (),
) -> list[Condition]:
    """Return the Ready, Validated, Reconciling and Stalled conditions (in that order) for `status`.

    `reason` and `message` explain the current state; `previous` is the object's current conditions.
    """
    message = _clip(message)
    settled_reason = status.value
    values = {
        "Ready": (_TRUE, status.value, message) if ready(status) else (_FALSE, reason, message),
        "Validated": _validated(status, reason, message, validation_passed),
        "Reconciling": (_TRUE, reason, message) if status in _RECONCILING else (_FALSE, settled_reason, ""),
        "Stalled": (_TRUE, reason, message) if status in _STALLED else (_FALSE, settled_reason, ""),
    }
    stamp = rfc3339(now)
    return [
        Condition(
            type=kind,
            status=value,
            reason=why,
            message=text,
            last_transition_time=_kept_time(previous, kind, value) or stamp,
            observed_generation=generation,
        )
        for kind, (value, why, text) in values.items()
    ]


def _validated(status: Status, reason: str, message: str, passed: bool | None) -> tuple[str, str, str]:
    """Return status, reason and message of the Validated condition."""
    if status is Status.VALIDATED:
        return _TRUE, "ValidationPassed", message
    if status is Status.VALIDATION_FAILED:
        return _FALSE, "ValidationFailed", message
    if status in (Status.UNDER_VALIDATION, Status.VALIDATING):
        return _UNKNOWN, "ValidationPending", message
    # In the other states validation is history: report its last result.
    if passed is True:
        return _TRUE, "ValidationPassed", "The last validation check passed."
    if passed is False and status is Status.UNDER_REVIEW:
        return _FALSE, reason, message
    if passed is False:
        return _FALSE, "ValidationFailed", "The last validation check did not pass."
    return _UNKNOWN, "ValidationPending", "No validation result yet."


def _kept_time(previous: Sequence[Mapping[str, Any]], kind: str, value: str) -> str | None:
    """Return the previous lastTransitionTime of condition `kind` if its status is still `value`."""
    for old in previous:
        if old.get("type") == kind:
            stamp = old.get("lastTransitionTime")
            if old.get("status") == value and isinstance(stamp, str) and stamp:
                return stamp
            return None
    return None


def _clip(message: str) -> str:
    """Shorten a message (often an error body) to what metav1.Condition accepts."""
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE - 1] + "…"
