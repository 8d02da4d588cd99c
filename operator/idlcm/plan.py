"""The account diff: declared accounts vs the accounts the app holds now -> a plan of actions (pure, no I/O).

Accounts are matched by externalId first, then by userName (case-insensitive, as SCIM defines it). Only
accounts this Integration owns (its stamp is in their externalId) or adopts are ever changed. The actions of
one plan never depend on each other: they may run in any order, or concurrently.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

from idlcm.api import spec
from idlcm.connectors.base import Account

# Apps commonly keep externalId in 255 characters; a longer userName is stamped by its digest instead.
MAX_EXTERNAL_ID = 255
# The attributes compared on an account: group membership lives on the app's groups (see `plan_groups`).
COMPARED = (
    "user_name",
    "external_id",
    "display_name",
    "given_name",
    "family_name",
    "email",
    "active",
    "title",
    "department",
)
_UNOWNED = "an account with this userName exists and is not managed by this Integration"
_RETRIED = "; retried at the next sync, once that account has its own userName"
_compared = operator.attrgetter(*COMPARED)
_STAMP = re.compile(r"idlcm:([^/:]+)/([^/:]+):[^:]+:")


def user_name_key(user_name: str) -> str:
    """The form in which userNames are compared (SCIM userNames are case-insensitive)."""
    return user_name.casefold()


def wire_name(attribute: str) -> str:
    """The API's (camelCase) name of an account attribute, e.g. `userName`."""
    head, *rest = attribute.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Owner:
    """The Integration that owns accounts: its stamp in an account's externalId is the proof of ownership."""

    namespace: str
    name: str
    uid: str

    @cached_property
    def prefix(self) -> str:
        """The start of the externalId of every account of this Integration."""
        return f"idlcm:{self.namespace}/{self.name}:{self.uid}:"

    def stamp(self, user_name: str) -> str:
        """The externalId of our account for this userName: `idlcm:<namespace>/<name>:<uid>:<userName>`."""
        key = user_name_key(user_name)
        if len(self.prefix) + len(key) > MAX_EXTERNAL_ID:
            key = "#" + hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.prefix + key

    def owns(self, external_id: str | None) -> bool:
        """Whether an account with this externalId is ours; a former Integration of the same name's is not."""
        return external_id is not None and external_id.startswith(self.prefix)

    def former(self, external_id: str | None) -> bool:
        """Whether this is the stamp of a former Integration of our namespace and name (deleted, re-created):
        names are unique in a namespace, so no live Integration but us can claim it; we take it back."""
        return _stamper(external_id) == (self.namespace, self.name) and not self.owns(external_id)

    def rival(self, external_id: str | None) -> str | None:
        """`namespace/name` of another Integration whose stamp this is (never a former one of our name)."""
        stamper = _stamper(external_id)
        if stamper is None or stamper == (self.namespace, self.name):
            return None
        return "/".join(stamper)


def _stamper(external_id: str | None) -> tuple[str, str] | None:
    """(namespace, name) of the Integration whose stamp this externalId is, if it is one."""
    match = _STAMP.match(external_id or "")
    return None if match is None else (match[1], match[2])


class DuplicateUserNames(ValueError):
    """Declared accounts share a userName (compared case-insensitively)."""

    def __init__(self, user_names: Sequence[str]) -> None:
        self.user_names = list(user_names)
        super().__init__(f"duplicate userNames (userNames are case-insensitive): {', '.join(user_names)}")


@dataclass(frozen=True)
class Change:
    """An account as the app holds it and the attributes to change on it (name -> desired value)."""

    current: Account
    changes: dict[str, Any]


@dataclass(frozen=True)
class Conflict:
    """A declared account the plan leaves alone, and why (reported as a per-account failure)."""

    user_name: str
    reason: str


@dataclass(frozen=True)
class Unstored:
    """An attribute the app does not hold as sent: the value sent and the value it holds (None: absent)."""

    user_name: str
    attribute: str
    sent: Any
    held: Any

    @property
    def key(self) -> str:
        """`refusal_key` of this attribute: what a later plan is given to leave it alone."""
        return refusal_key(self.user_name, self.attribute, self.sent)


def refusal_key(user_name: str, attribute: str, sent: Any) -> str:
    """A short digest of (account, attribute, value sent): a change the app did not store, remembered in
    status so that the next plan does not send it again (a new value is a new key, so it is tried)."""
    text = json.dumps([user_name_key(user_name), attribute, _blank_to_none(sent)], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def unstored(sent: Account, held: Account, attributes: Iterable[str] = COMPARED) -> list[Unstored]:
    """The attributes of `sent` that `held` (the account as the app answered or reads back after a write)
    does not hold. userName is compared case-insensitively (SCIM: caseExact false), and emails too."""
    return [
        Unstored(
            sent.user_name, name, _blank_to_none(getattr(sent, name)), _blank_to_none(getattr(held, name))
        )
        for name in attributes
        if _stored_form(name, getattr(sent, name)) != _stored_form(name, getattr(held, name))
    ]


@dataclass(frozen=True)
class Plan:
    """What to do in the app; `already_deactivated` counts owned, undeclared accounts already inactive;
    `refused` the changes left out because the app did not store them when last sent (still reported);
    `computed` the keys of the removals left out since the app computes that attribute itself."""

    creates: list[Account]
    updates: list[Change]
    adoptions: list[Change]
    deactivations: list[Account]
    deletions: list[Account]
    conflicts: list[Conflict]
    unchanged: int = 0
    already_deactivated: int = 0
    refused: tuple[Unstored, ...] = ()
    computed: tuple[str, ...] = ()

    @property
    def deprovision_count(self) -> int:
        """How many accounts this plan deprovisions (compared with `deprovision.maxDeletions`)."""
        return len(self.deactivations) + len(self.deletions)

    @property
    def action_count(self) -> int:
        """How many accounts this plan writes to."""
        return len(self.creates) + len(self.updates) + len(self.adoptions) + self.deprovision_count

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to write (conflicts are reports, not actions)."""
        return self.action_count == 0

    def summary(self) -> dict[str, int]:
        """The counts; the first five keys are those of `status.plan`."""
        return {
            "creates": len(self.creates),
            "updates": len(self.updates),
            "adoptions": len(self.adoptions),
            "deactivations": len(self.deactivations),
            "deletions": len(self.deletions),
            "conflicts": len(self.conflicts),
            "unchanged": self.unchanged,
            "alreadyDeactivated": self.already_deactivated,
        }

    def items(self, limit: int = 100) -> list[dict[str, Any]]:
        """The first `limit` actions as `status.plan.items`: action, userName, attributes changed."""
        rows: list[tuple[str, str, list[str]]] = [
            *(("Create", a.user_name, _set_attributes(a)) for a in self.creates),
            *(("Adopt", c.current.user_name, [wire_name(k) for k in c.changes]) for c in self.adoptions),
            *(("Update", c.current.user_name, [wire_name(k) for k in c.changes]) for c in self.updates),
            *(("Deactivate", a.user_name, ["active"]) for a in self.deactivations),
            *(("Delete", a.user_name, []) for a in self.deletions),
        ]
        return [{"action": a, "userName": u, "attributes": attrs} for a, u, attrs in rows[:limit]]


def desired_accounts(declared: Sequence[spec.Account], owner: Owner) -> list[Account]:
    """The accounts the app should hold (inline and roster accounts together), stamped with `owner`."""
    _check_unique(a.user_name for a in declared)
    return [
        Account(
            user_name=a.user_name,
            external_id=owner.stamp(a.user_name),
            display_name=a.display_name,
            given_name=a.given_name,
            family_name=a.family_name,
            email=a.email,
            active=a.active,
            title=a.title,
            department=a.department,
            groups=tuple(dict.fromkeys(a.groups)),
        )
        for a in declared
    ]


def plan(
    desired: Sequence[Account],
    actual: Iterable[Account],
    *,
    owner: Owner,
    mode: Literal["Deactivate", "Delete"],
    adopt_existing: bool,
    refused: Collection[str] = (),
    computed: Collection[str] = (),
) -> Plan:
    """The actions that make `owner`'s accounts in the app (`actual`, as read just now) equal `desired`.

    `refused` holds `refusal_key`s of changes the app did not store when last sent: an owned account's change
    with such a key is not sent again but kept in `Plan.refused` (the account is not at the spec). `computed`
    holds the keys of attributes the spec leaves unset and the app filled itself when the account was created
    (django-scim2 makes displayName from the name parts): not the spec's to remove, they are left alone; and
    of userNames the app stores in its own case (the same userName to SCIM): not sent again."""
    _check_unique(d.user_name for d in desired)
    held = list(actual)
    by_external_id: dict[str, list[Account]] = defaultdict(list)
    by_name: dict[str, list[Account]] = defaultdict(list)
    for account in held:
        if account.external_id:
            by_external_id[account.external_id].append(account)
        by_name[user_name_key(account.user_name)].append(account)
    stamps = [owner.stamp(d.user_name) for d in desired]
    targets = [
        d if d.external_id == s else replace(d, external_id=s) for d, s in zip(desired, stamps, strict=True)
    ]
    claimed_by = {t.external_id: t for t in targets}

    result = Plan([], [], [], [], [], [])
    unchanged = 0
    known: list[Unstored] = []
    kept: list[str] = []
    spoken_for: set[int] = set()  # id() of accounts matched or in a conflict: never deprovisioned
    for target in targets:
        by_id = by_external_id.get(target.external_id or "", [])
        named = by_name.get(user_name_key(target.user_name), [])
        candidates = list({id(a): a for a in (*by_id, *named)}.values())
        spoken_for.update(id(a) for a in candidates)
        if not candidates:
            result.creates.append(target)
            continue
        current = candidates[0]
        claimer = claimed_by.get(current.external_id or "", target)
        changes = _changes(current, target)
        reason = None
        if len(candidates) > 1:
            reason = f"the app holds {len(candidates)} accounts matching this userName or its externalId"
        elif claimer is not target:
            reason = f"the userName is held by this Integration's account of {claimer.user_name!r}" + _RETRIED
        elif owner.owns(current.external_id):
            left_out: list[Unstored] = []
            if (refused or computed) and changes:
                keys = {k: refusal_key(target.user_name, k, v) for k, v in changes.items()}
                left_out = [
                    Unstored(target.user_name, k, v, _blank_to_none(getattr(current, k)))
                    for k, v in changes.items()
                    if keys[k] in refused
                ]
                apps_own = [k for k in changes if keys[k] in computed]
                known.extend(left_out)
                kept.extend(keys[k] for k in apps_own)
                dropped = {u.attribute for u in left_out} | set(apps_own)
                changes = {k: v for k, v in changes.items() if k not in dropped}
            if changes:
                result.updates.append(Change(current, changes))
            elif not left_out:
                unchanged += 1
        elif rival := owner.rival(current.external_id):
            reason = f"the account is managed by Integration {rival}"
        elif adopt_existing or owner.former(current.external_id):
            # A former Integration of our name (GitOps replace, a restored namespace) is taken back like an
            # adoption: the stamp becomes ours, and the operation counts it as adopted.
            result.adoptions.append(Change(current, changes))
        else:
            reason = f"{_UNOWNED}; set sync.adoptExisting to take it over"
        if reason:
            result.conflicts.append(Conflict(target.user_name, reason))

    already_deactivated = 0
    for account in held:
        if id(account) in spoken_for or not owner.owns(account.external_id):
            continue
        if mode == "Delete":
            result.deletions.append(account)
        elif account.active:
            result.deactivations.append(account)
        else:
            already_deactivated += 1
    return replace(
        result,
        unchanged=unchanged,
        already_deactivated=already_deactivated,
        refused=tuple(known),
        computed=tuple(kept),
    )


@dataclass(frozen=True)
class GroupChange:
    """Members (app account ids) to add to and remove from one group of the app."""

    group: str
    add: list[str]
    remove: list[str]


@dataclass(frozen=True)
class GroupPlan:
    """Groups to create (declared but missing in the app), then the membership changes, group by group."""

    creates: list[str]
    changes: list[GroupChange]

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to write."""
        return not self.creates and not self.changes


def owned_ids(accounts: Iterable[Account], owner: Owner) -> dict[str, str]:
    """`user_name_key` -> app id of the accounts `owner` owns: the `ids` that `plan_groups` takes."""
    return {user_name_key(a.user_name): a.id for a in accounts if a.id and owner.owns(a.external_id)}


def plan_groups(
    desired: Sequence[Account], members: Mapping[str, Collection[str]], ids: Mapping[str, str]
) -> GroupPlan:
    """Group membership changes; `members` maps each app group to its member ids, `ids` is `owned_ids`.

    Only owned accounts are added or removed; group names match case-insensitively, the app's spelling wins.
    """
    spelling = {name.casefold(): name for name in sorted(members, reverse=True)}
    wanted: dict[str, set[str]] = defaultdict(set)
    for account in desired:
        account_id = ids.get(user_name_key(account.user_name))
        for group in account.groups:
            name = group if group in members else spelling.setdefault(group.casefold(), group)
            group_members = wanted[name]  # declared even before its first member exists in the app
            if account_id is not None:
                group_members.add(account_id)
    ours = set(ids.values())
    changes = []
    for name in sorted(wanted.keys() | members.keys()):
        current = set(members.get(name, ()))
        want = wanted.get(name, set())
        add, remove = sorted(want - current), sorted((current & ours) - want)
        if add or remove:
            changes.append(GroupChange(name, add, remove))
    return GroupPlan(sorted(wanted.keys() - members.keys()), changes)


def _check_unique(user_names: Iterable[str]) -> None:
    first: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for name in user_names:
        key = user_name_key(name)
        if key in first:
            duplicates.setdefault(key, first[key])
        else:
            first[key] = name
    if duplicates:
        raise DuplicateUserNames(sorted(duplicates.values()))


def _changes(current: Account, target: Account) -> dict[str, Any]:
    """The attributes of `target` that differ from `current`, with their desired values."""
    if _compared(current) == _compared(target):
        return {}
    return {
        name: _blank_to_none(getattr(target, name))
        for name in COMPARED
        if _comparable(name, getattr(current, name)) != _comparable(name, getattr(target, name))
    }


def _comparable(attribute: str, value: Any) -> Any:
    # Unset and empty are the same to SCIM; email addresses are compared case-insensitively.
    value = _blank_to_none(value)
    return value.casefold() if attribute == "email" and isinstance(value, str) else value


def _stored_form(attribute: str, value: Any) -> Any:
    # As `_comparable`, and the app may store a userName in another case (SCIM: caseExact false).
    value = _comparable(attribute, value)
    return value.casefold() if attribute == "user_name" and isinstance(value, str) else value


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _set_attributes(account: Account) -> list[str]:
    present = [name for name in COMPARED if _blank_to_none(getattr(account, name)) is not None]
    return [wire_name(name) for name in (*present, *(["groups"] if account.groups else []))]
