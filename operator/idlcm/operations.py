"""Carry out a plan in the app through the connector, and say how it went (no Kubernetes here).

The actions of one plan are independent, so they run concurrently (bounded); every error is already
classified by the connector as retryable, permanent or needs-human, and is recorded per account.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from idlcm.connectors.base import Account, Connector
from idlcm.connectors.errors import ConnectorError, NeedsHumanError, RetryableError
from idlcm.plan import GroupPlan, Plan

MAX_FAILURES = 20
"""Per-account failures kept for status (the counts stay complete)."""


@dataclasses.dataclass(frozen=True)
class Failure:
    """One account the operation could not bring to the declared state."""

    user_name: str
    operation: str
    message: str
    http_status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `status.lastOperation.failures[]` form."""
        out: dict[str, Any] = {
            "userName": self.user_name,
            "operation": self.operation,
            "message": self.message,
        }
        if self.http_status is not None:
            out["httpStatus"] = self.http_status
        return out


@dataclasses.dataclass
class Outcome:
    """What an operation did: counts per action, failures, and what kind of failure stopped it."""

    counts: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: list[Failure] = dataclasses.field(default_factory=list)
    retryable: int = 0
    """Failures worth retrying (5xx, 429, timeouts, lost connections, stale ETags)."""
    retry_after: float | None = None
    """The longest Retry-After the app asked for, in seconds."""
    first_retryable: str | None = None
    """The first retryable failure, as `userName: message`, for `status.retry.lastError`."""
    needs_human: NeedsHumanError | None = None
    """A failure no retry can fix (e.g. the credentials were revoked)."""
    failed_by: Counter[str] = dataclasses.field(default_factory=Counter)
    """Failures per operation (Create, Update, Adopt, Deactivate, Delete, Group)."""
    ids: dict[str, str] = dataclasses.field(default_factory=dict)
    """App ids of the accounts created, by userName: group membership needs them."""

    @property
    def failed(self) -> int:
        """How many accounts failed, all kinds together."""
        return self.counts["failed"]

    def record(self, user_name: str, operation: str, error: ConnectorError) -> None:
        """Count a failed action and keep its details (up to MAX_FAILURES)."""
        self.counts["failed"] += 1
        self.failed_by[operation] += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(Failure(user_name, operation, error.message, error.status))
        if isinstance(error, RetryableError):
            self.retryable += 1
            self.first_retryable = self.first_retryable or f"{user_name}: {error.message}"
            if error.retry_after is not None:
                self.retry_after = max(self.retry_after or 0.0, error.retry_after)
        elif isinstance(error, NeedsHumanError) and self.needs_human is None:
            self.needs_human = error

    def counts_dict(self) -> dict[str, int]:
        """The `status.lastOperation.counts` form."""
        keys = ("created", "updated", "adopted", "deactivated", "deleted", "unchanged", "failed")
        return {key: self.counts[key] for key in keys}


async def apply(plan: Plan, connector: Connector, *, concurrency: int) -> Outcome:
    """Carry out every action of the plan; a failed action never stops the others."""
    outcome = Outcome()
    outcome.counts["unchanged"] = plan.unchanged
    for conflict in plan.conflicts:
        outcome.counts["failed"] += 1
        outcome.failed_by["Create"] += 1
        if len(outcome.failures) < MAX_FAILURES:
            outcome.failures.append(Failure(conflict.user_name, "Create", conflict.reason, 409))

    if plan.creates:
        results = await connector.create_many(plan.creates)
        for account, result in zip(plan.creates, results, strict=True):
            if isinstance(result, ConnectorError):
                outcome.record(account.user_name, "Create", result)
            else:
                outcome.counts["created"] += 1
                if result.id:
                    outcome.ids[account.user_name.casefold()] = result.id

    actions: list[tuple[str, str, str, Callable[[], Awaitable[Any]]]] = [
        *(
            ("Update", "updated", c.current.user_name, _bind(connector.update, c.current, c.changes))
            for c in plan.updates
        ),
        *(
            ("Adopt", "adopted", c.current.user_name, _bind(connector.update, c.current, c.changes))
            for c in plan.adoptions
        ),
        *(
            ("Deactivate", "deactivated", a.user_name, _bind(connector.deactivate, a))
            for a in plan.deactivations
        ),
        *(("Delete", "deleted", a.user_name, _bind(connector.delete, a)) for a in plan.deletions),
    ]

    async def run(operation: str, counter: str, user_name: str, action: Callable[[], Awaitable[Any]]) -> None:
        try:
            await action()
        except ConnectorError as e:
            outcome.record(user_name, operation, e)
        else:
            outcome.counts[counter] += 1

    await _bounded((run(*a) for a in actions), concurrency)
    return outcome


async def apply_groups(groups: GroupPlan, connector: Connector, outcome: Outcome) -> None:
    """Create missing groups and change memberships of owned accounts; failures go into `outcome`."""
    ids: dict[str, str] = {}
    for name in {*groups.creates, *(c.group for c in groups.changes)}:
        try:
            ids[name] = await connector.ensure_group(name)
        except ConnectorError as e:
            outcome.record(f"group {name}", "Group", e)
    for change in groups.changes:
        if change.group not in ids:
            continue
        try:
            if change.add:
                await connector.add_members(ids[change.group], change.add)
            if change.remove:
                await connector.remove_members(ids[change.group], change.remove)
        except ConnectorError as e:
            outcome.record(f"group {change.group}", "Group", e)


def group_members(accounts: Iterable[Account]) -> dict[str, set[str]]:
    """Group name -> ids of the listed accounts in it (as the connector reports `Account.groups`)."""
    members: dict[str, set[str]] = {}
    for account in accounts:
        for group in account.groups:
            members.setdefault(group, set())
            if account.id:
                members[group].add(account.id)
    return members


def _bind(fn: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(*args)


async def _bounded(coros: Iterable[Awaitable[None]], limit: int) -> None:
    """Await the coroutines with at most `limit` running at once (never one task per account up front)."""
    pending: set[asyncio.Task[None]] = set()
    for coro in coros:
        if len(pending) >= limit:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a bug in an action surfaces here, not as a lost task exception
        pending.add(asyncio.ensure_future(coro))
    for result in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


def desired_ids(owned: Mapping[str, str], outcome: Outcome) -> dict[str, str]:
    """Ids of owned accounts by casefolded userName: those listed before, plus those just created."""
    return {**owned, **outcome.ids}
