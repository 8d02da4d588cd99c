"""Status and Events: every state move goes through here, so conditions are set in one place."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from idlcm import states
from idlcm.kube import Kube

logger = logging.getLogger(__name__)

EventPoster = Callable[[str, str, str], None]
"""Posts a Kubernetes Event on the Integration: (type Normal|Warning, reason, message)."""

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
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._generation = generation
        self._status: dict[str, Any] = dict(status)
        self._post_event = post_event

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
            self._post_event(kind, reason, f"{after.value}: {message}")
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


def _validation_passed(status: Mapping[str, Any]) -> bool | None:
    result = (status.get("validation") or {}).get("result")
    return {"Passed": True, "Failed": False, "NeedsReview": False}.get(result) if result else None
