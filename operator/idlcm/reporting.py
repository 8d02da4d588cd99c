"""Status and Events: every state move goes through here, so conditions are set in one place."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from idlcm import lease, patching, states
from idlcm.kube import ConflictError, Kube
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


_HOLDING_STATES = {states.Status.VALIDATING, states.Status.IN_PROGRESS}
"""The states a run works in: writing one claims (or renews) the lease; writing any other gives it back."""

_CONFLICT_TRIES = 3


def now() -> datetime.datetime:
    """The current time in UTC, at whole seconds (as Kubernetes timestamps are)."""
    return datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)


class Reporter:
    """Moves one Integration through the state machine and writes each move to status and Events.

    Every write carries the resourceVersion the run last saw, so a run never writes over a status it has
    not read; the writes into a working state claim the Integration's lease (`lease.py`), the others give
    it back."""

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
        resource_version: str | None = None,
        holder: str = "",
        lease_seconds: int = 60,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._generation = generation
        self._status: dict[str, Any] = patching.merge_patch({}, status)  # a copy, without nulls
        self._post_event = post_event
        self._metrics = metrics or Metrics()
        self.resource_version = resource_version
        self._holder = holder
        self._lease_seconds = lease_seconds
        self._held_since: float | None = None  # monotonic time before the write that last claimed it
        self._lost = False
        self._writing = asyncio.Lock()

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
        hold: bool | None = None,
    ) -> None:
        """Write the state with its conditions, without a transition (e.g. progress in the same state).
        `hold` (default: whether the state is a working one) claims the lease with it, else gives it back."""
        hold = status in _HOLDING_STATES if hold is None else hold
        if (
            not extra
            and (self._status.get("status"), self._status.get("reason"), self._status.get("message"))
            == (
                status.value,
                reason,
                message,
            )
            and self._status.get("observedGeneration") == self._generation
            and hold == self.holds
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
        await self._patch(patch, hold=hold)
        self._metrics.integration_status(self._namespace, self._name, status.value)
        retry = (extra or {}).get("retry")
        if retry:
            self._metrics.retry_scheduled(str(retry.get("operation", "Unknown")))

    # -- the lease

    @property
    def holds(self) -> bool:
        """Whether this run holds the Integration's lease (claimed by its last write)."""
        return self._held_since is not None

    async def claim(self) -> None:
        """Take the lease without changing the state (before deprovisioning a deleted Integration)."""
        await self._patch({}, hold=True)

    async def release(self) -> None:
        """Give the lease back without changing the state (a run that ends in a working state)."""
        if self.holds and not self._lost:
            await self._patch({}, hold=False)

    def check(self) -> None:
        """Raise LeaseLost unless the lease is surely still this run's: taken over, or not renewed for two
        thirds of its duration (a contender may count it expired soon): no more writes to the app."""
        if self._lost or self._held_since is None:
            raise lease.LeaseLost(f"{self._namespace}/{self._name}: this run no longer holds the lease")
        if time.monotonic() - self._held_since > self._lease_seconds * 2 / 3:
            raise lease.LeaseLost(f"{self._namespace}/{self._name}: the lease could not be renewed in time")

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Renew the lease every third of its duration while the block writes to the app."""
        if self._held_since is None or time.monotonic() - self._held_since > self._lease_seconds / 3:
            await self._patch({}, hold=True)  # the reads before took a while: renew before the first write
        keeper = asyncio.create_task(self._keep())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep(self) -> None:
        while True:
            since = self._held_since if self._held_since is not None else time.monotonic()
            await asyncio.sleep(max(0.0, since + self._lease_seconds / 3 - time.monotonic()))
            try:
                await self._patch({}, hold=True)
            except lease.Busy as e:
                self._lost = True
                logger.warning(
                    "%s/%s: lease lost, no more writes to the app: %s", self._namespace, self._name, e
                )
                return
            except Exception as e:  # the API away: check() stops the writes if it stays away
                logger.warning("%s/%s: could not renew the lease: %s", self._namespace, self._name, e)
                await asyncio.sleep(self._lease_seconds / 9)

    async def _patch(self, patch: dict[str, Any], *, hold: bool) -> None:
        """Write `patch` (with the lease claimed or given back) if status is still as this run saw it."""
        async with self._writing:
            fresh = False
            for _ in range(_CONFLICT_TRIES):
                moment, clock = now(), time.monotonic()
                other = lease.held_by_other(self._status, self._holder, moment)
                if other is not None and not fresh:  # seen in a copy that may be old: look again
                    await self._reread()
                    fresh = True
                    continue
                if other is not None:
                    self._lost = self._lost or self.holds
                    raise lease.LeaseHeld(
                        f"{self._namespace}/{self._name} is being worked on by {other.holder}",
                        delay=max(1.0, (other.expires() - moment).total_seconds()),
                    )
                full = dict(patch)
                if hold:
                    full["lease"] = lease.claim(
                        self._status, self._holder, moment, self._lease_seconds
                    ).to_dict()
                elif "lease" in self._status:
                    full["lease"] = None
                if not full:
                    return
                try:
                    written = await self._kube.patch_status(
                        self._namespace, self._name, full, resource_version=self.resource_version
                    )
                except ConflictError:
                    await self._reread()
                    fresh = True
                    continue
                self.resource_version = (written.get("metadata") or {}).get("resourceVersion")
                self._status = patching.merge_patch(self._status, full)  # as the API server does
                # Counted from before the request, a second early: renewTime is written at whole seconds.
                self._held_since = clock - 1.0 if hold else None
                return
            raise lease.StaleStatus(f"{self._namespace}/{self._name} keeps changing; trying again", delay=1.0)

    async def _reread(self) -> None:
        """After a refused write: go on from the fresh object if only its metadata or the lease moved."""
        fresh = await self._kube.get_integration(self._namespace, self._name)
        if fresh is None:
            raise lease.StaleStatus(f"{self._namespace}/{self._name} is gone", delay=1.0)
        meta, status = fresh.get("metadata") or {}, fresh.get("status") or {}
        if (
            _without_lease(status) != _without_lease(self._status)
            or meta.get("generation") != self._generation
        ):
            raise lease.StaleStatus(
                f"{self._namespace}/{self._name} changed while this run worked on it; starting over",
                delay=1.0,
            )
        self.resource_version = meta.get("resourceVersion")
        self._status = {
            **_without_lease(self._status),
            **({"lease": status["lease"]} if "lease" in status else {}),
        }

    def post(self, kind: str, reason: str, message: str) -> None:
        """Post an Event on the Integration (after the write it tells of was accepted)."""
        self._post_event(kind, reason, message)

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


def _without_lease(status: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k != "lease"}


def _validation_passed(status: Mapping[str, Any]) -> bool | None:
    result = (status.get("validation") or {}).get("result")
    return {"Passed": True, "Failed": False, "NeedsReview": False}.get(result) if result else None
