"""Carry out a plan in the app through the connector, and say how it went (no Kubernetes here).

The actions of one plan are independent, so they run concurrently (bounded); every error is already
classified by the connector as retryable, permanent or needs-human, and is recorded per account.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from idlcm.connectors.base import Account, Connector
from idlcm.connectors.errors import ConnectorError, NeedsHumanError, RetryableError
from idlcm.plan import GroupPlan, Plan, Unstored, refusal_key, unstored, wire_name

MAX_FAILURES = 20
"""Per-account failures kept for status (the counts stay complete)."""
MAX_VALUE = 256
"""Characters of a value sent or held kept in a failure."""
ACCOUNT_OPERATIONS = frozenset({"Create", "Update", "Adopt"})
"""The operations that bring a declared account to the spec."""


@dataclasses.dataclass(frozen=True)
class Failure:
    """One account the operation could not bring to the declared state; `attribute`, `sent` and `held`
    name an attribute the app did not store as sent (account attribute name; values as sent and held)."""

    user_name: str
    operation: str
    message: str
    http_status: int | None = None
    attribute: str | None = None
    sent: Any = None
    held: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The `status.lastOperation.failures[]` form."""
        out: dict[str, Any] = {
            "userName": self.user_name,
            "operation": self.operation,
            "message": self.message,
        }
        if self.http_status is not None:
            out["httpStatus"] = self.http_status
        if self.attribute is not None:
            out["attribute"] = wire_name(self.attribute)
            for key, value in (("sent", self.sent), ("held", self.held)):
                if value is not None:
                    out[key] = _shown(value)
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
    failed_accounts: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    """Each account that failed (casefolded userName, or `group <name>` for a group of none) -> the
    operations it failed in: an account failing in two steps is one failed account."""
    unstored: list[Unstored] = dataclasses.field(default_factory=list)
    """Attributes the app did not store as sent (found after a write, or known from an earlier one)."""
    computed: set[str] = dataclasses.field(default_factory=set)
    """`plan.refusal_key`s of attributes the spec leaves unset that the app filled itself at a create."""
    joined: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    """Group name -> ids of accounts the creates already added to it (the group step must not again)."""

    @property
    def failed(self) -> int:
        """How many accounts failed, all kinds together (each counted once)."""
        return len(self.failed_accounts)

    def failed_in(self, operations: Collection[str]) -> int:
        """How many accounts failed in one of these operations."""
        return sum(1 for done in self.failed_accounts.values() if not done.isdisjoint(operations))

    def record(
        self, user_name: str, operation: str, error: ConnectorError, accounts: Iterable[str] = ()
    ) -> None:
        """Count a failed action and keep its details (up to MAX_FAILURES); `accounts` are the userNames it
        failed for when `user_name` names something else (a group)."""
        for name in list(accounts) or [user_name]:
            self._failed(name, operation)
        self.failed_by[operation] += 1
        self._keep(Failure(user_name, operation, error.message, error.status))
        if isinstance(error, RetryableError):
            self.retryable += 1
            self.first_retryable = self.first_retryable or f"{user_name}: {error.message}"
            if error.retry_after is not None:
                self.retry_after = max(self.retry_after or 0.0, error.retry_after)
        elif isinstance(error, NeedsHumanError) and self.needs_human is None:
            self.needs_human = error

    def record_unstored(self, operation: str, found: Iterable[Unstored], *, known: bool = False) -> None:
        """Count attributes the app did not store as sent (`known`: from an earlier write, not sent again)."""
        for item in found:
            self.unstored.append(item)
            if operation not in self.failed_accounts.get(item.user_name.casefold(), ()):
                self.failed_by[operation] += 1
            self._failed(item.user_name, operation)
            name = wire_name(item.attribute)
            if item.held is None:
                message = f"the app does not store {name}"
            else:
                message = f"the app holds another {name} than the one sent"
            if known:
                message += (
                    " (as when last sent: not sent again until the spec, the validation or idlcm changes)"
                )
            self._keep(
                Failure(item.user_name, operation, message, None, item.attribute, item.sent, item.held)
            )

    def unstored_summary(self) -> str:
        """E.g. "the app does not store title: 8 accounts; keeps displayName other than sent: 3 accounts"."""
        by_attribute: dict[str, list[Unstored]] = {}
        for item in self.unstored:
            by_attribute.setdefault(item.attribute, []).append(item)
        parts = []
        for attribute, items in by_attribute.items():
            accounts = len({i.user_name.casefold() for i in items})
            what = "does not store" if all(i.held is None for i in items) else "does not keep as sent"
            parts.append(f"{what} {wire_name(attribute)}: {accounts} account{'s' if accounts != 1 else ''}")
        return "the app " + "; ".join(parts) if parts else ""

    def counts_dict(self) -> dict[str, int]:
        """The `status.lastOperation.counts` form."""
        keys = ("created", "updated", "adopted", "deactivated", "deleted", "unchanged")
        return {**{key: self.counts[key] for key in keys}, "failed": self.failed}

    def _failed(self, user_name: str, operation: str) -> None:
        self.failed_accounts.setdefault(user_name.casefold(), set()).add(operation)

    def _keep(self, failure: Failure) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(failure)


async def apply(plan: Plan, connector: Connector, *, concurrency: int) -> Outcome:
    """Carry out every action of the plan; a failed action never stops the others. Each write's answer (the
    account as the app holds it after it) is compared with what was sent: what the app did not store is
    recorded in `Outcome.unstored`, as are the changes the plan left out for that reason."""
    outcome = Outcome()
    outcome.counts["unchanged"] = plan.unchanged
    for conflict in plan.conflicts:
        outcome.failed_by["Create"] += 1
        outcome._failed(conflict.user_name, "Create")
        outcome._keep(Failure(conflict.user_name, "Create", conflict.reason, 409))
    outcome.record_unstored("Update", plan.refused, known=True)
    outcome.computed.update(plan.computed)

    if plan.creates:
        results = await connector.create_many(plan.creates)
        for account, result in zip(plan.creates, results, strict=True):
            if isinstance(result, ConnectorError):
                outcome.record(account.user_name, "Create", result)
                continue
            outcome.counts["created"] += 1
            if result.id:
                outcome.ids[account.user_name.casefold()] = result.id
                for group in result.groups:
                    outcome.joined.setdefault(group, set()).add(result.id)
            found = unstored(account, result)
            # Not sent, yet held: the app made it (displayName from the name parts); not a failure.
            outcome.computed.update(u.key for u in found if u.sent is None)
            outcome.computed.update(_recased(account, result))
            outcome.record_unstored("Create", [u for u in found if u.sent is not None])

    actions: list[tuple[str, str, str, Account, Collection[str], Callable[[], Awaitable[Any]]]] = [
        *(
            (
                "Update",
                "updated",
                c.current.user_name,
                _changed(c.current, c.changes),
                c.changes.keys(),
                _bind(connector.update, c.current, c.changes),
            )
            for c in plan.updates
        ),
        *(
            (
                "Adopt",
                "adopted",
                c.current.user_name,
                _changed(c.current, c.changes),
                c.changes.keys(),
                _bind(connector.update, c.current, c.changes),
            )
            for c in plan.adoptions
        ),
        *(
            (
                "Deactivate",
                "deactivated",
                a.user_name,
                _changed(a, {"active": False}),
                ("active",),
                _bind(connector.deactivate, a),
            )
            for a in plan.deactivations
        ),
        *(("Delete", "deleted", a.user_name, a, (), _bind(connector.delete, a)) for a in plan.deletions),
    ]

    async def run(
        operation: str,
        counter: str,
        user_name: str,
        sent: Account,
        attributes: Collection[str],
        action: Callable[[], Awaitable[Any]],
    ) -> None:
        try:
            held = await action()
        except ConnectorError as e:
            outcome.record(user_name, operation, e)
        else:
            outcome.counts[counter] += 1
            if attributes and isinstance(held, Account):
                outcome.record_unstored(operation, unstored(sent, held, attributes))
                if "user_name" in attributes:
                    outcome.computed.update(_recased(sent, held))

    await _bounded((run(*a) for a in actions), concurrency)
    return outcome


async def apply_groups(
    groups: GroupPlan, connector: Connector, outcome: Outcome, names: Mapping[str, str] | None = None
) -> None:
    """Create missing groups and change memberships of owned accounts; failures go into `outcome`, counted
    for the accounts whose membership they leave unchanged (`names`: app id -> userName)."""
    names = names or {}
    changes = {c.group: c for c in groups.changes}
    for name in sorted({*groups.creates, *changes}):
        change = changes.get(name)
        add, remove = (change.add, change.remove) if change else ((), ())
        step = "add"
        try:
            # A group is created with the accounts it gains as its first members: an app whose schema
            # requires `members` refuses an empty group.
            group_id = await (connector.join_group(name, add) if add else connector.ensure_group(name))
            step = "remove"
            if remove:
                await connector.remove_members(group_id, remove)
        except ConnectorError as e:
            affected = (*add, *remove) if step == "add" else remove
            outcome.record(f"group {name}", "Group", e, [names[i] for i in affected if i in names])


def group_members(
    accounts: Iterable[Account], joined: Mapping[str, Collection[str]] | None = None
) -> dict[str, set[str]]:
    """Group name -> ids of the listed accounts in it (as the connector reports `Account.groups`), with the
    members `joined` since (the creates' own group step): merged into the app's spelling of a group name."""
    members: dict[str, set[str]] = {}
    for account in accounts:
        for group in account.groups:
            members.setdefault(group, set())
            if account.id:
                members[group].add(account.id)
    spelling = {name.casefold(): name for name in sorted(members, reverse=True)}
    for group, ids in (joined or {}).items():
        name = group if group in members else spelling.setdefault(group.casefold(), group)
        members.setdefault(name, set()).update(ids)
    return members


def _recased(sent: Account, held: Account) -> list[str]:
    """The key of a userName the app stores in another case (SCIM: the same userName; not re-sent)."""
    if held.user_name != sent.user_name and held.user_name.casefold() == sent.user_name.casefold():
        return [refusal_key(sent.user_name, "user_name", sent.user_name)]
    return []


def _changed(account: Account, changes: Mapping[str, Any]) -> Account:
    """The account as it should be after the change (what is compared with the app's answer)."""
    return dataclasses.replace(account, **changes)


def _shown(value: Any) -> str:
    """A value sent or held as status shows it (account attributes only: never a secret)."""
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


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
