"""Status and Events: every state move goes through here, so conditions are set in one place."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from idlcm import states
from idlcm.kube import Kube
from idlcm.metrics import Metrics

if TYPE_CHECKING:
    from idlcm.operations import Failure

logger = logging.getLogger(__name__)

EventPoster = Callable[[str, str, str], None]
"""Posts a Kubernetes Event on the Integration: (type Normal|Warning, reason, message)."""

ACCOUNT_FAILED = "AccountFailed"
"""The reason of the Warning Event posted for an account the operation could not bring to the spec."""

_WARNING_STATES = {
    states.Status.VALIDATION_FAILED,
    states.Status.UNDER_REVIEW,
    states.Status.FAILED,
    states.Status.RETRYING,
}


def now() -> datetime.datetime:
    """The current time in UTC, at whole seconds (as Kubernetes timestamps are)."""
    return datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)


class Reporter:
    """Moves one Integration through the state machine and writes each move to status and Events."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        generation: int,
        status: Mapping[str, Any],
        post_event: EventPoster,
        metrics: Metrics | None = None,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._generation = generation
        self._status: dict[str, Any] = dict(status)
        self._post_event = post_event
        self._metrics = metrics or Metrics()

    @property
    def current(self) -> states.Status | None:
        """The state as last written (None for a new Integration)."""
        value = self._status.get("status")
        try:
            return states.Status(value) if value else None
        except ValueError:
            return None  # a value from a future or broken version: start over

    @property
    def status(self) -> Mapping[str, Any]:
        """The status as last written."""
        return self._status

    async def move(
        self,
        event: states.Event,
        *,
        reason: str,
        message: str,
        app_validated: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> states.Status:
        """Apply the event, then write status (conditions included) and post an Event if the state changed."""
        before = self.current
        after = states.transition(before, event, app_validated=app_validated)
        await self.write(after, reason=reason, message=message, extra=extra)
        if after != before:
            kind = "Warning" if after in _WARNING_STATES else "Normal"
            self._post_event(kind, _event_reason(reason, self._status), f"{after.value}: {message}")
            logger.info("%s/%s: %s -> %s (%s)", self._namespace, self._name, before, after.value, reason)
        return after

    async def write(
        self,
        status: states.Status,
        *,
        reason: str,
        message: str,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the state with its conditions, without a transition (e.g. progress in the same state)."""
        if (
            not extra
            and (self._status.get("status"), self._status.get("reason"), self._status.get("message"))
            == (
                status.value,
                reason,
                message,
            )
            and self._status.get("observedGeneration") == self._generation
        ):
            return  # nothing new to say: spare the API server a write
        merged = {**self._status, **(extra or {})}
        conditions = states.conditions_for(
            status,
            reason=reason,
            message=message,
            generation=self._generation,
            now=now(),
            validation_passed=_validation_passed(merged),
            previous=self._status.get("conditions") or (),
        )
        patch: dict[str, Any] = {
            **(extra or {}),
            "status": status.value,
            "reason": reason,
            "message": message,
            "observedGeneration": self._generation,
            "conditions": [c.to_dict() for c in conditions],
        }
        await self._kube.patch_status(self._namespace, self._name, patch)
        self._status.update(patch)
        for key, value in patch.items():
            if value is None:
                self._status.pop(key, None)
        self._metrics.integration_status(self._namespace, self._name, status.value)
        retry = (extra or {}).get("retry")
        if retry:
            self._metrics.retry_scheduled(str(retry.get("operation", "Unknown")))

    def account_failures(self, failures: Sequence[Failure], total: int) -> None:
        """A Warning Event per failed account action kept (up to MAX_FAILURES), and one for the rest."""
        for failure in failures:
            self._post_event(
                "Warning", ACCOUNT_FAILED, f"{failure.operation} {failure.user_name}: {failure.message}"
            )
        if total > len(failures):
            self._post_event(
                "Warning",
                ACCOUNT_FAILED,
                f"{total - len(failures)} more account actions failed (see status.lastOperation.counts)",
            )


def _event_reason(reason: str, status: Mapping[str, Any]) -> str:
    """The Event's reason: `reason` where a condition carries it, else the Ready condition's (in Validated
    and UpToDate, Ready's reason is the state's own name): an Event always names a condition reason."""
    conditions = status.get("conditions") or ()
    if any(c.get("reason") == reason for c in conditions):
        return reason
    return next((str(c.get("reason")) for c in conditions if c.get("type") == "Ready"), reason)


def _validation_passed(status: Mapping[str, Any]) -> bool | None:
    result = (status.get("validation") or {}).get("result")
    return {"Passed": True, "Failed": False, "NeedsReview": False}.get(result) if result else None
