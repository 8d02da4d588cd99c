"""The one interface every external-app protocol implements, and the neutral data it speaks in.

The reconcile logic knows only this module (and `errors`): never SCIM, HTTP or any other protocol type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from idlcm.connectors.errors import ConnectorError, NeedsHumanError, RetryableError


@dataclass(frozen=True)
class Account:
    """A user account as idlcm sees it; `id` and `version` (the app's id and ETag) come from the app."""

    user_name: str
    external_id: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    active: bool = True
    title: str | None = None
    department: str | None = None
    groups: tuple[str, ...] = ()
    id: str | None = None
    version: str | None = None


# What `Connector.update()` accepts as changes: everything but the app's own bookkeeping.
ACCOUNT_ATTRIBUTES = frozenset(f.name for f in fields(Account)) - {"id", "version"}


@dataclass(frozen=True)
class Capabilities:
    """What the app says it supports; the connector picks the cheapest way to do things from it."""

    patch: bool = False
    bulk: bool = False
    max_operations: int = 0
    max_payload_size: int = 0
    filter: bool = False
    max_results: int = 0
    etag: bool = False
    sort: bool = False


@dataclass(frozen=True)
class CheckResult:
    """One read-only validation check of an app: connectivity, TLS, authentication, discovery..."""

    name: str
    passed: bool
    message: str
    problem_class: str | None = None
    retryable: bool = False
    """The check could not complete (no answer, 5xx, 429, timeout) and may pass later: retry, no human."""
    skipped: bool = False
    """Not run, since an earlier check failed (`passed` is False then, `problem_class` None)."""
    warning: bool = False
    """Passed, with advisory findings (a non-conformance provisioning does not depend on) in `message`."""


def failed_check(name: str, error: ConnectorError, default: str) -> CheckResult:
    """The failed check for an error: its problem class if a human must act, else why it may pass later.

    `default` names the problem of a permanent refusal that is not a known class.
    """
    if isinstance(error, NeedsHumanError):
        return CheckResult(name, False, error.message, error.problem_class)
    if isinstance(error, RetryableError):
        if error.status is None:
            problem = "Unreachable"
        else:
            problem = "Throttled" if error.status == 429 else "AppUnavailable"
        return CheckResult(name, False, error.message, problem, retryable=True)
    return CheckResult(name, False, error.message, default)


class Connector(Protocol):
    """An external app holding user accounts. Methods raise `errors.ConnectorError` subclasses only."""

    async def capabilities(self) -> Capabilities:
        """What the app supports (read once, then cached)."""
        ...

    async def validate(
        self, attributes: Collection[str] | None = None, *, discovery: bool = True
    ) -> list[CheckResult]:
        """Run the read-only checks; never writes to the app.

        `attributes` (names of `ACCOUNT_ATTRIBUTES`; None: all of them) must exist in the app and be writable;
        `discovery=False` leaves out the protocol's conformance run (for the quick per-Integration check).
        """
        ...

    def profile(self) -> dict[str, Any]:
        """How this connector speaks to the app, as learnt so far (JSON-ready: shown in status and kept on
        the ExternalApp)."""
        ...

    def resume(self, recorded: Mapping[str, Any]) -> None:
        """Start from a `profile` recorded earlier, unless this process has learnt the app's ways already."""
        ...

    def need(self, accounts: Collection[Account]) -> None:
        """Name the accounts the coming operation is about (as declared, with their owner stamps), before
        `list_accounts`: a connector to an app that cannot list all its accounts looks these up instead."""
        ...

    def list_accounts(self) -> AsyncIterator[Account]:
        """Every account in the app, in pages as large as the app allows."""
        ...

    async def find_account(
        self, *, user_name: str | None = None, external_id: str | None = None
    ) -> Account | None:
        """The account with this userName (else this externalId), or None; e.g. to recover a lost create."""
        ...

    async def create(self, account: Account) -> Account:
        """Create an account (and its group memberships); returns it as the app stored it."""
        ...

    async def create_many(self, accounts: Sequence[Account]) -> list[Account | ConnectorError]:
        """Create many accounts, in bulk where the app allows; one result (account or error) per input."""
        ...

    async def update(self, current: Account, changes: Mapping[str, Any]) -> Account:
        """Change only these attributes (keys of `ACCOUNT_ATTRIBUTES`) of an account read from the app."""
        ...

    async def deactivate(self, account: Account) -> Account:
        """Keep the account but disable it."""
        ...

    async def delete(self, account: Account) -> None:
        """Delete the account; an account already gone counts as deleted."""
        ...

    async def ensure_group(self, name: str) -> str:
        """The id of the group with this name, created if missing."""
        ...

    async def add_members(self, group_id: str, account_ids: Sequence[str]) -> None:
        """Add accounts to a group, leaving its other members alone."""
        ...

    async def join_group(self, name: str, account_ids: Sequence[str]) -> str:
        """Add accounts to the group with this name, created if missing (with them as its first members,
        for an app that refuses a group without members); its id."""
        ...

    async def remove_members(self, group_id: str, account_ids: Sequence[str]) -> None:
        """Remove accounts from a group, leaving its other members alone."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def check_changes(changes: Mapping[str, Any]) -> None:
    """Refuse changes to attributes an account does not have (a programming error, not an app error)."""
    unknown = set(changes) - ACCOUNT_ATTRIBUTES
    if unknown:
        raise ValueError(f"not account attributes: {sorted(unknown)}")
