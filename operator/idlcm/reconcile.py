"""The reconcile story of one Integration: read, ask the state machine, validate, operate, report.

It reads like a Crossplane reconcile: find where the Integration stands and what is due, run the step that
state calls for (the app's first validation, this Integration's own validation, then the security operation
that brings the app to the spec), hand each outcome to the state machine, write status. kopf glue lives in
`handlers.py`; the app hides behind the connector interface; this module never imports kopf.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol

import pydantic

from idlcm import __version__, backoff, logs, operations, states
from idlcm import plan as planning
from idlcm.api.spec import IntegrationSpec
from idlcm.appcounts import AppCounter
from idlcm.connectors.base import Account, Connector
from idlcm.connectors.errors import ConnectorError, NeedsHumanError
from idlcm.crds import GROUP, VERSION
from idlcm.desired import declared_accounts
from idlcm.guarded import Guarded
from idlcm.kube import ConflictError, Kube
from idlcm.metrics import Metrics
from idlcm.reporting import EventPoster, Reporter, now
from idlcm.schedule import Op, Trigger, due, operation_for, parse_time
from idlcm.settings import Settings
from idlcm.states import rfc3339 as timestamp
from idlcm.validation import Check, Report, Target, Validator

Status = states.Status
Event = states.Event
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Integration:
    """What the story reads of one Integration object."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    resource_version: str | None = None


class Connectors(Protocol):
    """Where the story gets the connector of an Integration (built from its spec and Secrets, reused)."""

    def get(self, target: Target) -> Connector:
        """The connector for this Integration as it is now."""
        ...


class Reconciler:
    """Runs the story for any Integration; holds the long-lived parts (cluster, connectors, settings)."""

    def __init__(
        self,
        kube: Kube,
        validator: Validator,
        connectors: Connectors,
        settings: Settings,
        metrics: Metrics | None = None,
    ) -> None:
        self.kube = kube
        self.metrics = metrics or Metrics()
        self._validator = validator
        self._connectors = connectors
        self._settings = settings
        self._rng = random.Random(settings.seed)
        self._locks: dict[str, asyncio.Lock] = {}
        # The status we last wrote and its resourceVersion, per uid: fresher than the body kopf hands to the
        # next handler.
        self._written: dict[str, tuple[dict[str, Any], str | None]] = {}
        self.app_counts = AppCounter(kube)
        self._turns = asyncio.Semaphore(max(1, settings.concurrent_reconciles))
        # The app validations running in this process, by (namespace, app): set when one ends.
        self._app_runs: dict[tuple[str, str], asyncio.Event] = {}

    async def reconcile(self, obj: Integration, trigger: Trigger, post_event: EventPoster) -> None:
        """Advance the Integration as far as it can go now; time-based work waits for a later TICK."""
        lock = self._locks.setdefault(obj.uid, asyncio.Lock())
        if trigger == Trigger.TICK and lock.locked():
            return  # a run is under way; the next tick looks again
        async with lock:
            written = self._written.get(obj.uid)
            if trigger == Trigger.RESUMED or (written is not None and written[0] == obj.status):
                self._written.pop(obj.uid, None)  # kopf's body has caught up: no copy kept
                written = None
            status, version = written or (obj.status, obj.resource_version)
            if status.get("status"):  # known after a restart too, before anything is written
                self.metrics.integration_status(obj.namespace, obj.name, str(status["status"]))
            if trigger == Trigger.TICK:
                found = due(status, obj.spec, now())
                if found is None:
                    return
                trigger = found
            reporter = self._reporter(obj, status, version, post_event)
            settled = False
            try:
                with logs.about(obj.namespace, obj.name, obj.uid):
                    async with self._turns:
                        await self._story(obj, trigger, reporter)
                settled = True
            finally:
                await _let_go(reporter)
                if settled:
                    self._written[obj.uid] = (dict(reporter.status), reporter.resource_version)
                else:  # someone else wrote, or the run broke off: the next run starts from the API's copy
                    self._written.pop(obj.uid, None)

    def _reporter(
        self, obj: Integration, status: Mapping[str, Any], version: str | None, post_event: EventPoster
    ) -> Reporter:
        return Reporter(
            self.kube,
            namespace=obj.namespace,
            name=obj.name,
            generation=obj.generation,
            status=status,
            post_event=post_event,
            metrics=self.metrics,
            resource_version=version,
            holder=self._settings.identity,
            lease_seconds=self._settings.lease_seconds,
        )

    async def aclose(self) -> None:
        """Stop the background work (at shutdown)."""
        await self.app_counts.aclose()

    def forget(self, uid: str) -> None:
        """Drop what is kept in memory for an Integration that is gone."""
        self._locks.pop(uid, None)
        self._written.pop(uid, None)

    async def _story(self, obj: Integration, trigger: Trigger, reporter: Reporter) -> None:
        app_name = str(obj.spec.get("app", ""))
        app_validated = await self._app_validated(obj.namespace, app_name)
        if trigger == Trigger.SPEC_CHANGED and _spec_handled(
            reporter.status, reporter.current, obj.generation
        ):
            # kopf reports a change this process (or another replica) handled already: its creation handler,
            # retried past the change, ran the new spec; its update handler then reports it once more.
            return
        if trigger in (Trigger.CREATED, Trigger.RESUMED) and _spec_unseen(reporter.status, obj.generation):
            # Changed while no operator looked: kopf reports no update if it lost its own record of the
            # spec (killed before storing it), and its creation handler would see nothing to do.
            trigger = Trigger.SPEC_CHANGED
        entry = _entry_event(reporter.current, trigger, app_validated=app_validated)
        if entry is not None:
            extra = _approval(reporter.status) if entry == Event.REVALIDATE_REQUESTED else None
            await reporter.move(
                entry,
                reason=entry.value,
                message=_entry_message(entry, app_name),
                app_validated=app_validated,
                extra=extra,
            )

        try:
            spec = IntegrationSpec.model_validate(obj.spec)
        except pydantic.ValidationError as e:
            if reporter.current in (Status.UNDER_VALIDATION, Status.VALIDATING):
                check = Check("spec", "Failed", _spec_errors(e), "InvalidSpec")
                await reporter.move(
                    Event.VALIDATION_NEEDS_REVIEW,
                    reason="InvalidSpec",
                    message=_spec_errors(e),
                    extra={"validation": _validation_status(Report((check,)), 1)},
                )
            return

        target = await self._target(obj, spec)
        app_report = None
        if reporter.current == Status.UNDER_VALIDATION:
            app_report = await self._app_validation(obj, spec, target, reporter)
        if _in(reporter, Status.VALIDATING):
            await self._integration_validation(obj, target, reporter, app_report)
            if not _in(reporter, Status.VALIDATED):
                return
            first = Op.PROVISION if not reporter.status.get("lastSyncTime") else Op.UPDATE
            await self._operate(obj, spec, target, reporter, first)
            return
        if _in(
            reporter, Status.VALIDATED, Status.UP_TO_DATE, Status.FAILED, Status.RETRYING, Status.IN_PROGRESS
        ):
            op = operation_for(trigger, reporter.status)
            if op is not None:
                await self._operate(obj, spec, target, reporter, op)

    # -- the app's first validation

    async def _app_validation(
        self, obj: Integration, spec: IntegrationSpec, target: Target, reporter: Reporter
    ) -> Report | None:
        """Claim and run the app's first validation, or wait (UnderValidation) for the one running it."""
        claim = await self._claim_app(obj, spec)
        if claim == "validated":
            await reporter.move(
                Event.VALIDATION_STARTED, reason="AppValidated", message=f"app {spec.app} validated"
            )
            return None
        if claim == "review":
            app = await self.kube.get_app(obj.namespace, spec.app) or {}
            message = (app.get("status") or {}).get("message") or "the app's validation needs review"
            await reporter.move(Event.VALIDATION_NEEDS_REVIEW, reason="AppNeedsReview", message=message)
            return None
        if claim != "mine":
            await reporter.write(Status.UNDER_VALIDATION, reason="WaitingForApp", message=claim)
            running = self._app_runs.get((obj.namespace, spec.app))
            if running is None:
                return None  # claimed in another process (a replica, a shard): the next tick looks again
            # Running here: go on the moment it has passed, instead of at the next tick.
            await running.wait()
            if not await self._app_validated(obj.namespace, spec.app):
                return None  # it did not pass: the next tick looks again
            return await self._app_validation(obj, spec, target, reporter)

        done = self._app_runs[obj.namespace, spec.app] = asyncio.Event()
        try:
            await reporter.write(
                Status.UNDER_VALIDATION,
                reason="ValidatingApp",
                message=f"validating app {spec.app} (first validation)",
                hold=True,
            )
            started = now()
            logs.operation("Validate")
            clock = time.monotonic()
            report = await self._validator.validate_app(target)
            self.metrics.validation_done("app", report.outcome, time.monotonic() - clock)
            app_status: dict[str, Any] = {
                "state": _APP_STATES[report.outcome],
                "message": report.message,
                "findings": [c.to_dict() for c in report.checks],
                "startedAt": timestamp(started),
            }
            if report.outcome == "Passed":
                app_status["validatedAt"] = timestamp(now())
            await self.kube.patch_app_status(obj.namespace, spec.app, app_status)
            self.app_counts.request(obj.namespace, spec.app)
        finally:
            done.set()
            if self._app_runs.get((obj.namespace, spec.app)) is done:
                del self._app_runs[obj.namespace, spec.app]

        if report.outcome == "Passed":
            await reporter.move(
                Event.VALIDATION_STARTED, reason="AppValidated", message=f"app {spec.app} validated"
            )
            return report
        await self._validation_failed(report, target, reporter, app_level=True)
        return None

    async def _claim_app(self, obj: Integration, spec: IntegrationSpec) -> str:
        """'mine' when it runs the app validation; 'validated'/'review' when done; else why wait."""
        app = await self.kube.get_app(obj.namespace, spec.app)
        if app is None:
            app = await self.kube.create_app(obj.namespace, _new_app(obj.namespace, spec))
            app = app or await self.kube.get_app(obj.namespace, spec.app)
            if app is None:  # created and deleted at once by someone else: look again at the next tick
                return f"waiting for the ExternalApp {spec.app}"
            self.app_counts.request(obj.namespace, spec.app)  # used by this one before it is validated
        status = app.get("status") or {}
        state = status.get("state")
        owner = status.get("validatedThrough") or {}
        if state == "Validated":
            return "validated"
        if owner.get("uid") != obj.uid:
            if state == "Validating" and not self._stale(status.get("startedAt")):
                name = owner.get("name")
                return f"waiting for the first validation of app {spec.app} (running through {name})"
            if state == "UnderReview":
                return "review"
        try:
            await self.kube.patch_app_status(
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
            return f"another Integration claimed the validation of app {spec.app}"
        return "mine"

    def _stale(self, started_at: str | None) -> bool:
        started = parse_time(started_at)
        return (
            started is None or (now() - started).total_seconds() > self._settings.app_validation_stale_after
        )

    # -- this Integration's own validation

    async def _integration_validation(
        self, obj: Integration, target: Target, reporter: Reporter, app_report: Report | None = None
    ) -> None:
        started = now()
        logs.operation("Validate")
        clock = time.monotonic()
        report = await self._validator.validate_integration(target)
        self.metrics.validation_done("integration", report.outcome, time.monotonic() - clock)
        if app_report is not None:  # the app's checks ran through this Integration: show them here too
            own = {c.name for c in report.checks}
            report = Report((*report.checks, *(c for c in app_report.checks if c.name not in own)))
        if report.outcome != "Passed":
            await self._validation_failed(report, target, reporter, app_level=False)
            return
        self.app_counts.request(obj.namespace, target.spec.app)
        await reporter.move(
            Event.VALIDATION_PASSED,
            reason=report.reason,
            message=report.message,
            extra={
                "validation": _validation_status(report, 1, started),
                "retry": None,
                "secretVersions": _secret_versions(target),
            },
        )

    async def _validation_failed(
        self, report: Report, target: Target, reporter: Reporter, *, app_level: bool
    ) -> None:
        """A failed validation: UnderReview when a human must act, else ValidationFailed and a retry.

        The Secret versions it used are recorded too: only a newer version of a Secret validates again."""
        self.app_counts.request(target.namespace, target.spec.app)  # it uses the app, validated or not
        versions = _secret_versions(target)
        scope = "app validation" if app_level else "validation"
        if report.outcome == "NeedsReview":
            await reporter.move(
                Event.VALIDATION_NEEDS_REVIEW,
                reason=report.reason,
                message=f"{scope}: {report.message}",
                extra={
                    "validation": _validation_status(report, 1),
                    "retry": None,
                    "secretVersions": versions,
                },
            )
            return
        attempt = _attempt(reporter.status, "Validate")
        retry = backoff.schedule(
            self._settings.validation_backoff, attempt, now(), self._rng, report.message, operation="Validate"
        )
        validation = _validation_status(report, attempt)
        if retry is None:
            await reporter.move(
                Event.VALIDATION_NEEDS_REVIEW,
                reason="ValidationRetriesExhausted",
                message=f"{scope} failed {attempt} times; last: {report.message}",
                extra={"validation": validation, "retry": None, "secretVersions": versions},
            )
            return
        await reporter.move(
            Event.VALIDATION_FAILED,
            reason=report.reason,
            message=f"{scope}: {report.message} (attempt {attempt}/{retry.max_attempts}, "
            f"next at {timestamp(retry.next_retry_at)})",
            extra={"validation": validation, "retry": retry.to_dict(), "secretVersions": versions},
        )

    # -- the security operations

    async def _operate(
        self, obj: Integration, spec: IntegrationSpec, target: Target, reporter: Reporter, op: Op
    ) -> None:
        """Carry out the operation, then count it (metrics) and log how it ended."""
        logs.operation(op.value)
        clock = time.monotonic()
        before = reporter.status.get("lastOperation")
        await self._carry_out(obj, spec, target, reporter, op)
        last = reporter.status.get("lastOperation")
        if last is None or last is before or last.get("result") in (None, "Running"):
            return  # suspended, or a dry run: nothing was carried out
        result = "Retrying" if reporter.current == Status.RETRYING else str(last["result"])
        seconds = time.monotonic() - clock
        self.metrics.operation_done(op.value, result, seconds, last.get("counts"))
        logger.info("%s/%s: %s %s after %.2fs", obj.namespace, obj.name, op.value, result, seconds)

    async def _carry_out(
        self, obj: Integration, spec: IntegrationSpec, target: Target, reporter: Reporter, op: Op
    ) -> None:
        """List the app's accounts, plan, check the safety limits, carry out the plan, report."""
        if spec.suspend:
            await reporter.write(
                reporter.current or Status.VALIDATED,
                reason="Suspended",
                message="suspended (spec.suspend): no writes to the app",
            )
            return
        started = now()
        # The previous operation's end, counts and failures go: merge patch keeps what is not nulled.
        running = {
            "type": op.value,
            "startTime": timestamp(started),
            "result": "Running",
            **dict.fromkeys(("endTime", "counts", "failures")),
        }
        if not spec.dry_run:
            await reporter.move(
                Event.OPERATION_STARTED,
                reason=op.value,
                message=f"{op.value.lower()} running",
                extra={"lastOperation": running},
            )

        declared = await declared_accounts(self.kube, obj.namespace, spec)
        if declared.errors:
            await self._operation_failed(reporter, op, started, "InvalidAccounts", "; ".join(declared.errors))
            return
        if declared.missing:
            error = ConnectorError("; ".join(declared.missing))
            await self._operation_retry(reporter, op, started, error, retry_after=None)
            return
        owner = planning.Owner(obj.namespace, obj.name, obj.uid)
        try:
            desired = planning.desired_accounts(declared.accounts, owner)
        except planning.DuplicateUserNames as e:
            await self._operation_failed(reporter, op, started, "InvalidAccounts", str(e))
            return

        try:
            connector = Guarded(
                self._connectors.get(target),
                reporter.check,
                concurrency=spec.connector.scim.rate_limit.max_concurrency,
            )
            recorded = await self._recorded_dialect(obj.namespace, spec.app)
            connector.resume(recorded)  # how the app spoke to an earlier run
            connector.need(desired)  # where the app cannot list everything, these are looked up
            actual = [account async for account in connector.list_accounts()]
        except NeedsHumanError as e:
            await self._operation_failed(reporter, op, started, e.problem_class, e.message)
            return
        except ConnectorError as e:
            await self._operation_retry(reporter, op, started, e, retry_after=getattr(e, "retry_after", None))
            return

        basis = _refusal_basis(obj, reporter.status)
        plan = planning.plan(
            desired,
            actual,
            owner=owner,
            mode=spec.deprovision.mode,
            adopt_existing=spec.sync.adopt_existing,
            refused=_refused(reporter.status, basis),
            computed=_computed(reporter.status),
        )
        if spec.dry_run:
            await self._dry_run(reporter, plan)
            return
        limit = max(spec.deprovision.max_deletions, int(reporter.status.get("approvedDeprovisions") or 0))
        if plan.deprovision_count > limit:
            message = (
                f"the plan would deprovision {plan.deprovision_count} accounts, more than "
                f"deprovision.maxDeletions={spec.deprovision.max_deletions}; nothing was written. Check "
                "status.plan, then approve with the idlcm.io/revalidate annotation or change the spec"
            )
            # Nothing written: the operation ended now with zero counts, and `accounts` tells what the spec
            # asks for now (not what the previous operation reached).
            in_spec = len(desired) - len(plan.creates) - len(plan.updates) - len(plan.adoptions)
            stopped = {
                **running,
                "result": "Failed",
                "endTime": timestamp(now()),
                "counts": operations.Outcome().counts_dict(),
            }
            accounts = {
                "desired": len(desired),
                "provisioned": in_spec,
                "deprovisioned": plan.already_deactivated,
                "failed": 0,
                "summary": f"{in_spec}/{len(desired)}",
            }
            await reporter.move(
                Event.SAFETY_STOP,
                reason="TooManyDeletions",
                message=message,
                extra={"plan": _plan_status(plan), "lastOperation": stopped, "accounts": accounts},
            )
            return

        async with reporter.holding():
            outcome = await operations.apply(
                plan, connector, concurrency=spec.connector.scim.rate_limit.max_concurrency
            )
            ids = {**planning.owned_ids(actual, owner), **outcome.ids}
            # The creates added their accounts to their groups already: only what is still missing is sent.
            members = operations.group_members(actual, outcome.joined)
            groups = planning.plan_groups(desired, members, ids)
            if not groups.is_empty:
                names = {a.id: a.user_name for a in actual if a.id}
                names.update({i: u for u, i in outcome.ids.items()})
                await operations.apply_groups(groups, connector, outcome, names)
        profile = connector.profile()
        await self._operation_done(reporter, op, started, plan, desired, outcome, basis, profile)
        _tell_taken_back(reporter, plan, owner, outcome)
        if profile != recorded:  # kept on the app, where the next run (any replica) starts from it
            try:
                await self.kube.patch_app_status(obj.namespace, spec.app, {"dialect": profile})
            except Exception as exc:  # the app went away or the API is busy: the next operation tries again
                logger.warning("recording the dialect of app %s/%s failed: %s", obj.namespace, spec.app, exc)

    async def _operation_done(
        self,
        reporter: Reporter,
        op: Op,
        started: datetime.datetime,
        plan: planning.Plan,
        desired: list[Account],
        outcome: operations.Outcome,
        basis: str,
        dialect: Mapping[str, Any] | None = None,
    ) -> None:
        reporter.account_failures(outcome.failures, outcome.failed)
        failed_desired = outcome.failed_in(operations.ACCOUNT_OPERATIONS)
        accounts = {
            "desired": len(desired),
            "provisioned": len(desired) - failed_desired,
            "deprovisioned": outcome.counts["deactivated"]
            + outcome.counts["deleted"]
            + plan.already_deactivated,
            "failed": outcome.failed,
            "summary": f"{len(desired) - failed_desired}/{len(desired)}",
        }
        last = {
            "type": op.value,
            "startTime": timestamp(started),
            "endTime": timestamp(now()),
            "counts": outcome.counts_dict(),
            "failures": [f.to_dict() for f in outcome.failures],
        }
        extra: dict[str, Any] = {
            "accounts": accounts,
            "approvedDeprovisions": None,
            "plan": None,
            "notStored": _not_stored(outcome, basis),
            **({"dialect": dialect} if dialect else {}),
        }
        not_stored = outcome.unstored_summary()
        if outcome.needs_human is not None:
            human = outcome.needs_human
            await self._operation_failed(
                reporter, op, started, human.problem_class, human.message, last=last, extra=extra
            )
        elif outcome.retryable:
            error = ConnectorError(
                f"{outcome.retryable} account operations failed and will be retried; "
                f"first: {outcome.first_retryable}"
            )
            await self._operation_retry(
                reporter, op, started, error, retry_after=outcome.retry_after, last=last, extra=extra
            )
        elif outcome.failed:
            # An attribute the app does not store stays so on a retry: Failed, until the spec, the app's
            # validation or idlcm changes (see `_refusal_basis`).
            others = outcome.failed - len({u.user_name.casefold() for u in outcome.unstored})
            reason = "AccountsFailed" if others else "AttributesNotStored"
            message = f"{outcome.failed} of the accounts could not be brought to the spec (see lastOperation)"
            if not_stored:
                message += f"; {not_stored}"
            await self._operation_failed(reporter, op, started, reason, message, last=last, extra=extra)
        else:
            done = timestamp(now())
            summary = ", ".join(f"{v} {k}" for k, v in outcome.counts_dict().items() if v and k != "failed")
            await reporter.move(
                Event.OPERATION_SUCCEEDED,
                reason=f"{op.value}Succeeded",
                message=f"{op.value.lower()} done: {summary or 'nothing to change'}",
                extra={
                    **extra,
                    "lastOperation": {**last, "result": "Succeeded"},
                    "lastSyncTime": done,
                    "retry": None,
                },
            )

    async def _operation_failed(
        self,
        reporter: Reporter,
        op: Op,
        started: datetime.datetime,
        reason: str,
        message: str,
        *,
        last: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        result = "PartiallyFailed" if last and any(last["counts"].get(k) for k in _WRITES) else "Failed"
        last = last or {"type": op.value, "startTime": timestamp(started), "endTime": timestamp(now())}
        await self._ensure_in_progress(reporter, op)
        await reporter.move(
            Event.OPERATION_FAILED,
            reason=reason,
            message=f"{op.value.lower()} failed: {message}",
            extra={**(extra or {}), "lastOperation": {**last, "result": result}, "retry": None},
        )

    async def _operation_retry(
        self,
        reporter: Reporter,
        op: Op,
        started: datetime.datetime,
        error: ConnectorError,
        *,
        retry_after: float | None,
        last: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        # An attempt that wrote to the app got closer to the spec: only fruitless attempts in a row count.
        written = sum(int((last or {}).get("counts", {}).get(k) or 0) for k in _WRITES)
        attempt = 1 if written else _attempt(reporter.status, op.value)
        retry = backoff.schedule(
            self._settings.operation_backoff, attempt, now(), self._rng, error.message, operation=op.value
        )
        if retry is None:
            message = f"{error.message} (gave up after {attempt} attempts)"
            await self._operation_failed(
                reporter, op, started, "RetriesExhausted", message, last=last, extra=extra
            )
            return
        if retry_after is not None and retry_after > retry.backoff_seconds:
            # The app asked for a longer pause (429/503 Retry-After): honour it.
            retry = dataclasses.replace(
                retry,
                backoff_seconds=retry_after,
                next_retry_at=now() + datetime.timedelta(seconds=retry_after),
            )
        last = last or {"type": op.value, "startTime": timestamp(started), "endTime": timestamp(now())}
        progress = f"; {written} accounts written by this attempt" if written else ""
        await self._ensure_in_progress(reporter, op)
        await reporter.move(
            Event.OPERATION_RETRY_SCHEDULED,
            reason="Retrying",
            message=f"{op.value.lower()}: {error.message}{progress} (attempt {attempt}/{retry.max_attempts}, "
            f"next at {timestamp(retry.next_retry_at)})",
            extra={**(extra or {}), "lastOperation": {**last, "result": "Failed"}, "retry": retry.to_dict()},
        )

    async def _ensure_in_progress(self, reporter: Reporter, op: Op) -> None:
        # A dry run never enters InProgress; its failures still go through it, as the state machine wants.
        if reporter.current != Status.IN_PROGRESS:
            await reporter.move(
                Event.OPERATION_STARTED, reason=op.value, message=f"{op.value.lower()} running"
            )

    async def _dry_run(self, reporter: Reporter, plan: planning.Plan) -> None:
        summary = plan.summary()
        counts = ", ".join(f"{v} {k}" for k, v in summary.items() if v and k in _PLAN_COUNTS)
        await reporter.write(
            reporter.current or Status.VALIDATED,
            reason="DryRun",
            message=f"dry run: {counts or 'nothing to change'}; nothing was written (see status.plan)",
            extra={"plan": _plan_status(plan)},
        )

    # -- deletion

    async def release(
        self, obj: Integration, *, deprovision: bool, post_event: EventPoster | None = None
    ) -> list[str]:
        """The Integration is going away: deprovision its accounts (if asked; status InProgress with a
        Deprovision lastOperation meanwhile), hand back an app validation it holds, update the app's count.
        Returns the accounts left behind after a failure (empty when done)."""
        async with self._locks.setdefault(obj.uid, asyncio.Lock()):  # after a run under way here
            return await self._release(obj, deprovision=deprovision, post_event=post_event)

    async def _release(
        self, obj: Integration, *, deprovision: bool, post_event: EventPoster | None = None
    ) -> list[str]:
        left: list[str] = []
        if deprovision:
            status, version = self._written.get(obj.uid) or (obj.status, obj.resource_version)
            reporter = self._reporter(obj, status, version, post_event or (lambda *_: None))
            try:
                await reporter.claim()
                async with reporter.holding():
                    left = await self._deprovision_counted(obj, reporter)
            except BaseException:
                self._written.pop(obj.uid, None)  # the next try starts from the API's copy
                raise
            self._written[obj.uid] = (dict(reporter.status), reporter.resource_version)  # kopf's may lag
            if left:
                return left
        app_name = str(obj.spec.get("app", ""))
        app = await self.kube.get_app(obj.namespace, app_name) if app_name else None
        if app is not None:
            status = app.get("status") or {}
            if (
                status.get("state") == "Validating"
                and (status.get("validatedThrough") or {}).get("uid") == obj.uid
            ):
                await self.kube.patch_app_status(
                    obj.namespace,
                    app_name,
                    {"state": "Pending", "message": f"validation through {obj.name} abandoned"},
                )
            self.app_counts.request(obj.namespace, app_name)
        return left

    async def _deprovision_counted(self, obj: Integration, reporter: Reporter) -> list[str]:
        """Deprovision every account of the Integration, counted (metrics) and logged as a Deprovision."""
        clock, result = time.monotonic(), "Failed"
        with logs.about(obj.namespace, obj.name, obj.uid):
            logs.operation("Deprovision")
            try:
                left = await self._deprovision_all(obj, reporter)
                result = "Failed" if left else "Succeeded"
                return left
            finally:
                self.metrics.operation_done("Deprovision", result, time.monotonic() - clock)

    async def _deprovision_all(self, obj: Integration, reporter: Reporter) -> list[str]:
        # Only the connection matters here: declared accounts that stopped making sense must not block it.
        try:
            spec = IntegrationSpec.model_validate({**obj.spec, "accounts": [], "accountsFrom": []})
        except pydantic.ValidationError as e:
            raise NeedsHumanError(_spec_errors(e), problem_class="InvalidSpec") from None
        target = await self._target(obj, spec)
        concurrency = spec.connector.scim.rate_limit.max_concurrency
        connector = Guarded(self._connectors.get(target), reporter.check, concurrency=concurrency)
        owner = planning.Owner(obj.namespace, obj.name, obj.uid)
        connector.need(_declared_inline(obj, owner))
        actual = [account async for account in connector.list_accounts()]
        plan = planning.plan([], actual, owner=owner, mode=spec.deprovision.mode, adopt_existing=False)
        # Written (no transition: a deletion may come in any state) before the first write to the app.
        was, op = reporter.current, Op.DEPROVISION.value
        running: dict[str, Any] = {"type": op, "startTime": timestamp(now()), "result": "Running"}
        running.update(dict.fromkeys(("endTime", "counts", "failures")))
        message = f"deleted: deprovisioning {plan.deprovision_count} accounts, then the finalizer goes"
        extra = {"lastOperation": running, "plan": _plan_status(plan)}
        await reporter.write(Status.IN_PROGRESS, reason=op, message=message, extra=extra)
        if was != Status.IN_PROGRESS:
            reporter.post("Normal", op, f"{Status.IN_PROGRESS.value}: {message}")
        outcome = await operations.apply(
            plan, connector, concurrency=spec.connector.scim.rate_limit.max_concurrency
        )
        reporter.account_failures(outcome.failures, outcome.failed)
        counts = ", ".join(f"{v} {k}" for k, v in outcome.counts_dict().items() if v)
        last = {**running, "endTime": timestamp(now()), "counts": outcome.counts_dict()}
        last.update(failures=[f.to_dict() for f in outcome.failures])
        last.update(result="Failed" if outcome.failed else "Succeeded")
        done = f"deprovision {'failed' if outcome.failed else 'done'}: {counts or 'nothing to remove'}"
        after = Status.RETRYING if outcome.failed else Status.IN_PROGRESS  # the finalizer tries again
        await reporter.write(after, reason=op, message=done, extra={"lastOperation": last})
        return [f"{f.user_name} ({f.message})" for f in outcome.failures] if outcome.failed else []

    # -- helpers

    async def _recorded_dialect(self, namespace: str, app: str) -> dict[str, Any]:
        """The dialect an earlier run recorded on the ExternalApp (empty when none)."""
        found = await self.kube.get_app(namespace, app) if app else None
        recorded = ((found or {}).get("status") or {}).get("dialect")
        return dict(recorded) if isinstance(recorded, Mapping) else {}

    async def _app_validated(self, namespace: str, app: str) -> bool:
        found = await self.kube.get_app(namespace, app) if app else None
        return ((found or {}).get("status") or {}).get("state") == "Validated"

    async def _target(self, obj: Integration, spec: IntegrationSpec) -> Target:
        secrets = {name: await self.kube.read_secret(obj.namespace, name) for name in spec.secret_names()}
        return Target(namespace=obj.namespace, name=obj.name, spec=spec, secrets=secrets)


_WRITES = ("created", "updated", "adopted", "deactivated", "deleted")
MAX_NOT_STORED = 1000
"""Changes the app did not store remembered in `status.notStored` (more are sent again at the next sync)."""


def _refusal_basis(obj: Integration, status: Mapping[str, Any]) -> str:
    """What the memory of changes the app did not store holds for: this spec, the app's last validation and
    this idlcm (its mapping). When one changes, every such change is sent again."""
    validated = (status.get("validation") or {}).get("endTime") or ""
    return f"{obj.generation}/{validated}/{__version__}"


def _refused(status: Mapping[str, Any], basis: str) -> frozenset[str]:
    """The `plan.refusal_key`s remembered in status for this basis (none for another)."""
    memory = status.get("notStored") or {}
    if not isinstance(memory, Mapping) or memory.get("basis") != basis:
        return frozenset()
    return frozenset(str(k) for k in memory.get("keys") or ())


def _computed(status: Mapping[str, Any]) -> frozenset[str]:
    """The attributes the app filled itself at a create (kept whatever the basis: the app does so again)."""
    memory = status.get("notStored") or {}
    return (
        frozenset(str(k) for k in memory.get("computed") or ())
        if isinstance(memory, Mapping)
        else frozenset()
    )


def _not_stored(outcome: operations.Outcome, basis: str) -> dict[str, Any] | None:
    keys = sorted({u.key for u in outcome.unstored})[:MAX_NOT_STORED]
    computed = sorted(outcome.computed)[:MAX_NOT_STORED]
    if not keys and not computed:
        return None
    return {"basis": basis, "keys": keys, "computed": computed}


_APP_STATES = {"Passed": "Validated", "Failed": "ValidationFailed", "NeedsReview": "UnderReview"}
_PLAN_COUNTS = ("creates", "updates", "adoptions", "deactivations", "deletions", "conflicts")


async def _let_go(reporter: Reporter) -> None:
    """Give back a lease a run still holds when it ends (an error, a cancellation): else other replicas
    wait for it to expire. Best effort, briefly: it expires anyway."""
    if not reporter.holds:
        return
    try:
        await asyncio.wait_for(reporter.release(), timeout=5.0)
    except Exception as e:
        logger.debug("lease not given back (it expires): %s", e)


_SETTLED = frozenset(
    {
        Status.UP_TO_DATE,
        Status.VALIDATED,
        Status.VALIDATION_FAILED,
        Status.FAILED,
        Status.RETRYING,
        Status.UNDER_REVIEW,
    }
)
"""States a run of a generation ends in (or waits in for its retry): that generation was handled."""


def _spec_handled(status: Mapping[str, Any], current: Status | None, generation: int) -> bool:
    """Whether this generation of the spec was handled already (a run of it ended or waits for a retry)."""
    return current in _SETTLED and status.get("observedGeneration") == generation


def _spec_unseen(status: Mapping[str, Any], generation: int) -> bool:
    """Whether the spec changed after the status was last written (observedGeneration behind)."""
    seen = status.get("observedGeneration")
    return isinstance(seen, int) and 0 < seen < generation


def _entry_event(current: Status | None, trigger: Trigger, *, app_validated: bool) -> Event | None:
    """The event that starts this run, or None to continue from the current state."""
    if current is None:
        return Event.DISCOVERED
    if trigger == Trigger.SPEC_CHANGED:
        return Event.SPEC_CHANGED
    if trigger == Trigger.SECRET_CHANGED:
        return Event.SECRET_CHANGED
    if trigger == Trigger.REVALIDATE:
        return Event.REVALIDATE_REQUESTED
    if trigger == Trigger.INTERVAL:
        return Event.INTERVAL_ELAPSED if app_validated else Event.APP_VALIDATION_REQUIRED
    if current == Status.VALIDATION_FAILED and trigger in (Trigger.RESUMED, Trigger.CREATED):
        return Event.VALIDATION_STARTED if app_validated else Event.APP_VALIDATION_REQUIRED
    return None


def _entry_message(event: Event, app: str) -> str:
    return {
        Event.DISCOVERED: f"new Integration of app {app}",
        Event.SPEC_CHANGED: "spec changed: validating again",
        Event.SECRET_CHANGED: "a referenced Secret changed: validating again",
        Event.REVALIDATE_REQUESTED: "re-validation requested",
        Event.INTERVAL_ELAPSED: "periodic re-validation",
        Event.VALIDATION_STARTED: "validating again",
        Event.APP_VALIDATION_REQUIRED: f"app {app} has not passed validation yet",
    }.get(event, event.value)


def _approval(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """A re-validation requested while stopped for too many deletions approves that many, once."""
    if status.get("status") != Status.UNDER_REVIEW or status.get("reason") != "TooManyDeletions":
        return None
    plan = status.get("plan") or {}
    return {"approvedDeprovisions": int(plan.get("deactivations", 0)) + int(plan.get("deletions", 0))}


def _attempt(status: Mapping[str, Any], operation: str) -> int:
    """The number of this attempt: one more than the fruitless attempts of the same operation so far."""
    retry = status.get("retry") or {}
    return int(retry.get("attempt", 0)) + 1 if retry.get("operation") == operation else 1


def _in(reporter: Reporter, *wanted: Status) -> bool:
    # A function, so that type narrowing of `reporter.current` does not survive the awaits in between.
    return reporter.current in wanted


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


def _plan_status(plan: planning.Plan) -> dict[str, Any]:
    summary = plan.summary()
    items = plan.items(limit=100)
    return {
        "generatedAt": timestamp(now()),
        **{key: summary[key] for key in ("creates", "updates", "adoptions", "deactivations", "deletions")},
        "truncated": plan.action_count > len(items),
        "items": items,
    }


def _secret_versions(target: Target) -> dict[str, str]:
    """The resourceVersion of each Secret a validation read (a missing Secret has none)."""
    return {name: s.resource_version for name, s in target.secrets.items() if s is not None}


def _validation_status(
    report: Report, attempt: int, started: datetime.datetime | None = None
) -> dict[str, Any]:
    out = {
        "endTime": timestamp(now()),
        "result": report.outcome,
        "attempt": attempt,
        "checks": [c.to_dict() for c in report.checks],
    }
    if started is not None:
        out["startTime"] = timestamp(started)
    return out


def _declared_inline(obj: Integration, owner: planning.Owner) -> list[Account]:
    """The inline accounts as declared, with this Integration's stamps: what an app that cannot list all its
    accounts is asked about at deletion (rosters are not read then; their accounts are found by listing)."""
    found = []
    for item in obj.spec.get("accounts") or ():
        name = item.get("userName") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name:
            groups = tuple(g for g in item.get("groups") or () if isinstance(g, str))
            found.append(Account(user_name=name, external_id=owner.stamp(name), groups=groups))
    return found


def _tell_taken_back(
    reporter: Reporter, plan: planning.Plan, owner: planning.Owner, outcome: operations.Outcome
) -> None:
    """An Event naming the accounts of a former Integration of this namespace and name (deleted and
    re-created: a GitOps replace, a restored namespace) that this one took back, after the status write."""
    taken = [
        change.current.user_name
        for change in plan.adoptions
        if owner.former(change.current.external_id)
        and "Adopt" not in outcome.failed_accounts.get(change.current.user_name.casefold(), ())
    ]
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        reporter.post(
            "Normal",
            "AccountsTakenBack",
            f"took back {len(taken)} accounts stamped by a former Integration {owner.namespace}/{owner.name} "
            f"(deleted and re-created): {shown}",
        )


def _spec_errors(error: pydantic.ValidationError) -> str:
    """The spec problems in the user's field names; input values are left out (they may be secrets)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        # As kubectl and `idlcm check` name fields: spec.accounts[1].email.
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"]).lstrip(".")
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"spec.{where}: {message}" if where else message)
    return "; ".join(parts)
