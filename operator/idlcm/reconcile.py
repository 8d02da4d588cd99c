"""The reconcile story of one Integration: read, ask the state machine, validate, report.

It reads like a Crossplane reconcile: load the spec, find where the Integration stands, run the step that
state calls for (the app's first validation, then this Integration's own), hand the outcome back to the
state machine, write status. kopf glue lives in `handlers.py`; this module never imports kopf.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import random
from collections.abc import Mapping
from typing import Any

import pydantic

from idlcm import backoff, states
from idlcm.api.spec import IntegrationSpec
from idlcm.crds import GROUP, VERSION
from idlcm.kube import ConflictError, Kube
from idlcm.reporting import EventPoster, Reporter, now
from idlcm.settings import Settings
from idlcm.states import rfc3339 as timestamp
from idlcm.validation import Check, Report, Target, Validator

Status = states.Status
Event = states.Event


class Trigger(enum.StrEnum):
    """Why the story runs now."""

    CREATED = "Created"
    RESUMED = "Resumed"
    SPEC_CHANGED = "SpecChanged"
    REVALIDATE = "Revalidate"
    RETRY = "Retry"


@dataclasses.dataclass(frozen=True)
class Integration:
    """What the story reads of one Integration object."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Requeue:
    """Run the story again after `delay` seconds (a retry, or waiting for the app's validation)."""

    delay: float
    reason: str


class Reconciler:
    """Runs the story for any Integration; holds the long-lived parts (cluster, validator, settings)."""

    def __init__(self, kube: Kube, validator: Validator, settings: Settings) -> None:
        self._kube = kube
        self._validator = validator
        self._settings = settings
        self._rng = random.Random(settings.seed)

    async def reconcile(self, obj: Integration, trigger: Trigger, post_event: EventPoster) -> Requeue | None:
        """Advance the Integration as far as it can go now; a Requeue says when to come back."""
        reporter = Reporter(
            self._kube,
            namespace=obj.namespace,
            name=obj.name,
            generation=obj.generation,
            status=obj.status,
            post_event=post_event,
        )
        app_name = str(obj.spec.get("app", ""))
        app = await self._kube.get_app(obj.namespace, app_name) if app_name else None
        app_validated = _app_state(app) == "Validated"

        entry = _entry_event(reporter.current, trigger, app_validated=app_validated)
        if entry is not None:
            await reporter.move(
                entry,
                reason=entry.value,
                message=_entry_message(entry, app_name),
                app_validated=app_validated,
            )
        if reporter.current not in (Status.UNDER_VALIDATION, Status.VALIDATING):
            return None  # settled: nothing for the story to do until something changes

        try:
            spec = IntegrationSpec.model_validate(obj.spec)
        except pydantic.ValidationError as e:
            await reporter.move(
                Event.VALIDATION_NEEDS_REVIEW,
                reason="InvalidSpec",
                message=_spec_errors(e),
                extra={
                    "validation": _validation_status(
                        Report((Check("spec", "Failed", _spec_errors(e), "InvalidSpec"),)), 1
                    )
                },
            )
            return None

        target = await self._target(obj, spec)
        if reporter.current == Status.UNDER_VALIDATION:
            requeue = await self._app_validation(obj, spec, target, reporter)
            if requeue is not None or not _is_validating(reporter):
                return requeue
        return await self._integration_validation(obj, target, reporter)

    async def release(self, obj: Integration) -> None:
        """The Integration is going away: hand back an app validation it holds, update the app's count."""
        app_name = str(obj.spec.get("app", ""))
        app = await self._kube.get_app(obj.namespace, app_name) if app_name else None
        if app is None:
            return
        status = app.get("status") or {}
        if (
            status.get("state") == "Validating"
            and (status.get("validatedThrough") or {}).get("uid") == obj.uid
        ):
            await self._kube.patch_app_status(
                obj.namespace,
                app_name,
                {"state": "Pending", "message": f"validation through {obj.name} abandoned"},
            )
        await self._count_integrations(obj.namespace, app_name, leaving=obj.uid)

    # -- the app's first validation

    async def _app_validation(
        self, obj: Integration, spec: IntegrationSpec, target: Target, reporter: Reporter
    ) -> Requeue | None:
        """Claim and run the app's first validation, or wait for the Integration that runs it."""
        claim = await self._claim_app(obj, spec)
        if isinstance(claim, Requeue):
            await reporter.write(Status.UNDER_VALIDATION, reason="WaitingForApp", message=claim.reason)
            return claim
        if claim == "validated":
            await reporter.move(Event.VALIDATION_STARTED, reason="AppValidated", message="app validated")
            return None
        if claim == "review":
            app = await self._kube.get_app(obj.namespace, spec.app) or {}
            message = (app.get("status") or {}).get("message") or "the app's validation needs review"
            await reporter.move(Event.VALIDATION_NEEDS_REVIEW, reason="AppNeedsReview", message=message)
            return None

        await reporter.write(
            Status.UNDER_VALIDATION,
            reason="ValidatingApp",
            message=f"validating app {spec.app} (first validation)",
        )
        started = now()
        report = await self._validator.validate_app(target)
        app_status: dict[str, Any] = {
            "state": {"Passed": "Validated", "Failed": "ValidationFailed", "NeedsReview": "UnderReview"}[
                report.outcome
            ],
            "message": report.message,
            "findings": [c.to_dict() for c in report.checks],
            "startedAt": timestamp(started),
        }
        if report.outcome == "Passed":
            app_status["validatedAt"] = timestamp(now())
        await self._kube.patch_app_status(obj.namespace, spec.app, app_status)
        await self._count_integrations(obj.namespace, spec.app)

        if report.outcome == "Passed":
            await reporter.move(
                Event.VALIDATION_STARTED, reason="AppValidated", message=f"app {spec.app} validated"
            )
            return None
        return await self._validation_failed(report, reporter, app_level=True)

    async def _claim_app(self, obj: Integration, spec: IntegrationSpec) -> str | Requeue:
        """'mine' when this Integration runs the app validation, 'validated'/'review' when done, else wait."""
        app = await self._kube.get_app(obj.namespace, spec.app)
        if app is None:
            app = await self._kube.create_app(
                obj.namespace, _new_app(obj.namespace, spec)
            ) or await self._kube.get_app(obj.namespace, spec.app)
            if app is None:  # created and deleted at once by someone else: look again soon
                return Requeue(self._settings.app_validation_poll, f"waiting for the ExternalApp {spec.app}")
        status = app.get("status") or {}
        state = status.get("state")
        owner = status.get("validatedThrough") or {}
        if state == "Validated":
            return "validated"
        if owner.get("uid") != obj.uid:
            if state == "Validating" and not self._stale(status.get("startedAt")):
                return Requeue(
                    self._settings.app_validation_poll,
                    f"waiting for the first validation of app "
                    f"{spec.app} (running through {owner.get('name')})",
                )
            if state == "UnderReview":
                return "review"
        try:
            await self._kube.patch_app_status(
                obj.namespace,
                spec.app,
                {
                    "state": "Validating",
                    "startedAt": timestamp(now()),
                    "validatedThrough": {"name": obj.name, "uid": obj.uid},
                    "message": f"first validation running through Integration {obj.name}",
                },
                resource_version=app["metadata"]["resourceVersion"],
            )
        except ConflictError:
            return Requeue(self._settings.app_validation_poll, f"another Integration claimed app {spec.app}")
        return "mine"

    def _stale(self, started_at: str | None) -> bool:
        if not started_at:
            return True
        started = datetime.datetime.fromisoformat(started_at.replace("Z", "+00:00"))
        return (now() - started).total_seconds() > self._settings.app_validation_stale_after

    # -- this Integration's own validation

    async def _integration_validation(
        self, obj: Integration, target: Target, reporter: Reporter
    ) -> Requeue | None:
        report = await self._validator.validate_integration(target)
        if report.outcome != "Passed":
            return await self._validation_failed(report, reporter, app_level=False)
        versions = {name: s.resource_version for name, s in target.secrets.items() if s is not None}
        await self._count_integrations(obj.namespace, target.spec.app)
        await reporter.move(
            Event.VALIDATION_PASSED,
            reason=report.reason,
            message=report.message,
            extra={"validation": _validation_status(report, 1), "retry": None, "secretVersions": versions},
        )
        return None

    async def _validation_failed(
        self, report: Report, reporter: Reporter, *, app_level: bool
    ) -> Requeue | None:
        """A failed validation: UnderReview when a human must act, else ValidationFailed and a retry."""
        scope = "app validation" if app_level else "validation"
        if report.outcome == "NeedsReview":
            await reporter.move(
                Event.VALIDATION_NEEDS_REVIEW,
                reason=report.reason,
                message=f"{scope}: {report.message}",
                extra={"validation": _validation_status(report, 1), "retry": None},
            )
            return None
        previous = reporter.status.get("retry") or {}
        attempt = int(previous.get("attempt", 0)) + 1 if previous.get("operation") == "Validate" else 1
        retry = backoff.schedule(
            self._settings.validation_backoff, attempt, now(), self._rng, report.message, operation="Validate"
        )
        validation = _validation_status(report, attempt)
        if retry is None:
            await reporter.move(
                Event.VALIDATION_NEEDS_REVIEW,
                reason="ValidationRetriesExhausted",
                message=f"{scope} failed {attempt} times; last: {report.message}",
                extra={"validation": validation, "retry": None},
            )
            return None
        await reporter.move(
            Event.VALIDATION_FAILED,
            reason=report.reason,
            message=f"{scope}: {report.message} (attempt {attempt}/{retry.max_attempts}, "
            f"next at {timestamp(retry.next_retry_at)})",
            extra={"validation": validation, "retry": retry.to_dict()},
        )
        return Requeue(retry.backoff_seconds, report.message)

    # -- helpers

    async def _target(self, obj: Integration, spec: IntegrationSpec) -> Target:
        secrets = {name: await self._kube.read_secret(obj.namespace, name) for name in spec.secret_names()}
        return Target(namespace=obj.namespace, name=obj.name, spec=spec, secrets=secrets)

    async def _count_integrations(self, namespace: str, app: str, *, leaving: str | None = None) -> None:
        names = sorted(
            i["metadata"]["name"]
            for i in await self._kube.list_integrations(namespace)
            if (i.get("spec") or {}).get("app") == app and i["metadata"].get("uid") != leaving
        )
        await self._kube.patch_app_status(
            namespace, app, {"integrations": len(names), "integrationNames": names[:100]}
        )


def _entry_event(current: Status | None, trigger: Trigger, *, app_validated: bool) -> Event | None:
    """The event that starts this run, or None to continue from the current state."""
    if current is None:
        return Event.DISCOVERED
    if trigger == Trigger.SPEC_CHANGED:
        return Event.SPEC_CHANGED
    if trigger == Trigger.REVALIDATE:
        return Event.REVALIDATE_REQUESTED
    if current == Status.VALIDATION_FAILED:
        return Event.VALIDATION_STARTED if app_validated else Event.APP_VALIDATION_REQUIRED
    return None


def _entry_message(event: Event, app: str) -> str:
    return {
        Event.DISCOVERED: f"new Integration of app {app}",
        Event.SPEC_CHANGED: "spec changed: validating again",
        Event.REVALIDATE_REQUESTED: "re-validation requested",
        Event.VALIDATION_STARTED: "validating again",
        Event.APP_VALIDATION_REQUIRED: f"app {app} has not passed validation yet",
    }.get(event, event.value)


def _is_validating(reporter: Reporter) -> bool:
    # A function, so that type narrowing of `reporter.current` does not survive the awaits above.
    return reporter.current == Status.VALIDATING


def _app_state(app: Mapping[str, Any] | None) -> str | None:
    return ((app or {}).get("status") or {}).get("state")


def _new_app(namespace: str, spec: IntegrationSpec) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ExternalApp",
        "metadata": {
            "name": spec.app,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "idlcm"},
        },
        "spec": {"protocol": "SCIM", "baseURL": spec.connector.scim.base_url},
    }


def _validation_status(report: Report, attempt: int) -> dict[str, Any]:
    return {
        "endTime": timestamp(now()),
        "result": report.outcome,
        "attempt": attempt,
        "checks": [c.to_dict() for c in report.checks],
    }


def _spec_errors(error: pydantic.ValidationError) -> str:
    """The spec problems in the user's field names; input values are left out (they may be secrets)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)
