"""Properties of the account diff: applying a plan makes the app as declared, touches only what is ours."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from idlcm.api import spec
from idlcm.connectors.base import Account
from idlcm.plan import Owner, Plan, desired_accounts, plan, user_name_key

OWNER = Owner("team-a", "crm", "uid-1")
FORMER = Owner("team-a", "crm", "uid-0")
RIVAL = Owner("team-b", "crm", "uid-9")
NAMES = ["alice", "bob", "carol", "dave", "erin"]
Mode = Literal["Deactivate", "Delete"]
NEW_IDS = itertools.count()

spellings = st.sampled_from(NAMES).flatmap(lambda n: st.sampled_from([n, n.upper(), n.title()]))
attributes: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "display_name": st.sampled_from([None, "", "Ann", "Bo"]),
        "email": st.sampled_from([None, "x@example.com", "X@Example.COM", "y@example.com"]),
        "active": st.booleans(),
        "title": st.sampled_from([None, "Engineer", "Manager"]),
    }
)
declared = st.lists(
    st.tuples(spellings, attributes), unique_by=lambda d: d[0].casefold(), max_size=len(NAMES)
)
# Who stamped an app account: us, a former Integration of our name, another one, another tool, nobody.
stampers = st.sampled_from(["ours", "ours", "ours", "former", "rival", "tool", "none"])


@st.composite
def app_accounts(draw: st.DrawFn, *, drift: bool) -> list[Account]:
    """Accounts in the app; with `drift`, some of ours were renamed there (stamped for another userName)."""
    accounts = []
    for number, (user_name, attrs, stamper) in enumerate(
        draw(st.lists(st.tuples(spellings, attributes, stampers)))
    ):
        stamped_name = draw(spellings) if drift and draw(st.booleans()) else user_name
        external_id = {
            "ours": OWNER.stamp(stamped_name),
            "former": FORMER.stamp(user_name),
            "rival": RIVAL.stamp(user_name),
            "tool": f"hr-{number}",
            "none": None,
        }[stamper]
        accounts.append(Account(user_name=user_name, external_id=external_id, id=f"id-{number}", **attrs))
    return accounts


def to_desired(rows: list[tuple[str, dict[str, Any]]]) -> list[Account]:
    return desired_accounts([spec.Account.model_validate({"userName": n, **a}) for n, a in rows], OWNER)


def by_id(accounts: list[Account]) -> dict[str, Account]:
    """The app's accounts by their id."""
    return {a.id: a for a in accounts if a.id is not None}


def apply(state: dict[str, Account], result: Plan) -> dict[str, Account]:
    """The app after every action of the plan; no action may depend on another having run first."""
    touched = [
        *(c.current.id for c in (*result.updates, *result.adoptions)),
        *(a.id for a in (*result.deactivations, *result.deletions)),
    ]
    assert len(touched) == len(set(touched)), "an account appears in two actions"
    taken = {user_name_key(a.user_name) for a in state.values()}
    new = dict(state)
    for change in (*result.updates, *result.adoptions):
        current = change.current
        assert current.id is not None
        assert state[current.id] is current
        if user_name_key(change.changes.get("user_name", current.user_name)) != user_name_key(
            current.user_name
        ):
            assert user_name_key(change.changes["user_name"]) not in taken, "a rename would collide"
        new[current.id] = replace(current, **change.changes)
    for account in result.creates:
        assert user_name_key(account.user_name) not in taken, "a create would collide"
        new_id = f"new-{next(NEW_IDS)}"
        new[new_id] = replace(account, id=new_id)
    for account in result.deactivations:
        assert account.id is not None
        assert account.active
        new[account.id] = replace(account, active=False)
    for account in result.deletions:
        assert account.id is not None
        del new[account.id]
    return new


def as_declared(account: Account, desired: Account) -> bool:
    """Whether the app's account is as declared (emails case-insensitive, empty = unset, groups aside)."""

    def norm(a: Account) -> tuple[Any, ...]:
        fields = (a.display_name, a.given_name, a.family_name, a.title, a.department)
        email = (a.email or "").casefold() or None
        return (a.user_name, a.external_id, a.active, email, *(f or None for f in fields))

    return norm(account) == norm(desired)


@settings(max_examples=300, deadline=None)
@given(
    rows=declared,
    actual=app_accounts(drift=False),
    mode=st.sampled_from(["Deactivate", "Delete"]),
    adopt=st.booleans(),
)
def test_applying_a_plan_makes_the_app_as_declared_and_a_second_plan_is_empty(
    rows: list[tuple[str, dict[str, Any]]], actual: list[Account], mode: Mode, adopt: bool
) -> None:
    desired = to_desired(rows)
    before = by_id(actual)
    first = plan(desired, actual, owner=OWNER, mode=mode, adopt_existing=adopt)
    after = apply(before, first)

    conflicted = {user_name_key(c.user_name) for c in first.conflicts}
    involved = conflicted | {OWNER.stamp(n) for n in conflicted}
    wanted = {user_name_key(d.user_name) for d in desired} | {d.external_id for d in desired}
    for desired_account in desired:
        if user_name_key(desired_account.user_name) in conflicted:
            continue
        found = [a for a in after.values() if a.external_id == desired_account.external_id]
        assert len(found) == 1
        assert as_declared(found[0], desired_account)
    adopted = {c.current.id for c in first.adoptions}
    # Without adoptExisting only a former Integration of our name's accounts are taken back.
    assert adopt or all(OWNER.former(before[a].external_id) for a in adopted)
    for account_id, account in before.items():
        if not OWNER.owns(account.external_id) and account_id not in adopted:
            assert after[account_id] is account, "an account we do not own was touched"
        elif not {user_name_key(account.user_name), account.external_id}.isdisjoint(involved):
            assert after[account_id] is account, "an account in a conflict was touched"
        elif {user_name_key(account.user_name), account.external_id}.isdisjoint(wanted | involved):
            assert (account_id not in after) if mode == "Delete" else not after[account_id].active

    second = plan(desired, after.values(), owner=OWNER, mode=mode, adopt_existing=adopt)
    assert second.is_empty
    assert [c.user_name for c in second.conflicts] == [c.user_name for c in first.conflicts]


@settings(max_examples=300, deadline=None)
@given(
    rows=declared,
    actual=app_accounts(drift=True),
    mode=st.sampled_from(["Deactivate", "Delete"]),
    adopt=st.booleans(),
)
def test_accounts_renamed_in_the_app_converge_in_a_few_syncs_and_stay_put(
    rows: list[tuple[str, dict[str, Any]]], actual: list[Account], mode: Mode, adopt: bool
) -> None:
    desired = to_desired(rows)
    state = by_id(actual)
    for _ in range(len(actual) + 2):
        result = plan(desired, state.values(), owner=OWNER, mode=mode, adopt_existing=adopt)
        if result.is_empty:
            break
        adopted = {c.current.id for c in result.adoptions}
        new = apply(state, result)
        for account_id, account in state.items():
            if not OWNER.owns(account.external_id) and account_id not in adopted:
                assert new[account_id] is account
        state = new
    else:
        raise AssertionError("the plans did not converge")
