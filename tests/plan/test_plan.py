"""The account diff, rule by rule: matching, ownership, adoption, deprovisioning, and group membership."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import pytest

from idlcm.api import spec
from idlcm.connectors.base import ACCOUNT_ATTRIBUTES, Account
from idlcm.plan import (
    MAX_EXTERNAL_ID,
    Change,
    DuplicateUserNames,
    GroupChange,
    Owner,
    Plan,
    desired_accounts,
    owned_ids,
    plan,
    plan_groups,
)

OWNER = Owner("team-a", "crm", "0b5c1f9e-1111-4d6a-9c1e-2f1d3c4b5a69")
FORMER = Owner("team-a", "crm", "7d2e0c3a-0000-4b1f-8e2d-9a8b7c6d5e4f")  # same name, deleted and re-created
RIVAL = Owner("team-b", "crm", "5a4b3c2d-2222-4e1f-9d8c-7b6a5f4e3d2c")


def declared(*user_names: str, **attributes: Any) -> list[Account]:
    """Accounts as declared in the spec, stamped for OWNER."""
    return desired_accounts(
        [spec.Account.model_validate({"userName": n, **attributes}) for n in user_names], OWNER
    )


def in_app(user_name: str, owner: Owner | None = OWNER, **attributes: Any) -> Account:
    """An account the app holds, owned by `owner` (None: no externalId)."""
    external_id = owner.stamp(user_name) if owner else None
    return Account(user_name=user_name, external_id=external_id, id=f"id-{user_name}", **attributes)


def diff(
    desired: list[Account],
    actual: list[Account],
    *,
    mode: Literal["Deactivate", "Delete"] = "Deactivate",
    adopt: bool = False,
) -> Plan:
    return plan(desired, actual, owner=OWNER, mode=mode, adopt_existing=adopt)


# Ownership and the externalId stamp.


def test_stamp_names_the_integration_its_uid_and_the_user_name() -> None:
    assert OWNER.stamp("Alice") == "idlcm:team-a/crm:0b5c1f9e-1111-4d6a-9c1e-2f1d3c4b5a69:alice"


def test_stamp_is_the_same_for_every_spelling_of_a_user_name() -> None:
    assert OWNER.stamp("ALICE") == OWNER.stamp("alice") == OWNER.stamp("Alice")


def test_stamp_of_a_very_long_user_name_is_a_digest_that_fits_255_characters() -> None:
    long_a, long_b = "a" * 256, "a" * 255 + "b"
    assert len(OWNER.stamp(long_a)) <= MAX_EXTERNAL_ID
    assert OWNER.stamp(long_a) != OWNER.stamp(long_b)
    assert OWNER.stamp(long_a) == OWNER.stamp(long_a.upper())
    assert OWNER.owns(OWNER.stamp(long_a))


def test_account_of_recreated_integration_is_not_owned() -> None:
    assert not OWNER.owns(FORMER.stamp("alice"))
    assert OWNER.rival(FORMER.stamp("alice")) is None  # a former self, not another Integration


def test_accounts_of_a_former_integration_of_our_name_are_taken_back() -> None:
    # Deleted and re-created (Argo CD replace, a namespace restored): its accounts are ours again.
    current = in_app("alice", owner=FORMER)
    result = diff(declared("alice"), [current])
    assert not result.conflicts
    assert [c.changes for c in result.adoptions] == [{"external_id": OWNER.stamp("alice")}]
    assert OWNER.former(FORMER.stamp("alice"))
    assert not OWNER.former(OWNER.stamp("alice"))
    assert not OWNER.former(Owner("team-b", "crm", FORMER.uid).stamp("alice"))  # another namespace
    assert not OWNER.former(Owner("team-a", "crm-2", FORMER.uid).stamp("alice"))  # another name


def test_integration_of_a_similar_name_owns_nothing_of_ours() -> None:
    lookalikes = [
        Owner("team-a", "crm-2", OWNER.uid),
        Owner("team-a", "cr", OWNER.uid),
        Owner("team", "a", "x"),
    ]
    assert not any(other.owns(OWNER.stamp("alice")) for other in lookalikes)
    assert not OWNER.owns(None)
    assert not OWNER.owns("hr-12345")
    assert OWNER.rival(RIVAL.stamp("alice")) == "team-b/crm"


def test_desired_accounts_are_stamped_and_keep_every_attribute() -> None:
    (alice,) = declared(
        "Alice", displayName="Alice A", email="a@example.com", active=False, groups=["x", "x"]
    )
    assert alice.external_id == OWNER.stamp("alice")
    assert (alice.user_name, alice.display_name, alice.email) == ("Alice", "Alice A", "a@example.com")
    assert alice.active is False
    assert alice.groups == ("x",)


def test_duplicate_user_names_across_inline_and_roster_accounts_are_refused_by_name() -> None:
    inline = [spec.Account(user_name="alice"), spec.Account(user_name="bob")]
    roster = [spec.Account(user_name="ALICE"), spec.Account(user_name="carol"), spec.Account(user_name="Bob")]
    with pytest.raises(DuplicateUserNames) as raised:
        desired_accounts([*inline, *roster], OWNER)
    assert raised.value.user_names == ["alice", "bob"]
    assert "case-insensitive" in str(raised.value)


# Creating and matching.


def test_declared_account_missing_in_the_app_is_created_with_our_external_id() -> None:
    result = diff(declared("alice", email="a@example.com"), [])
    assert [a.user_name for a in result.creates] == ["alice"]
    assert result.creates[0].external_id == OWNER.stamp("alice")


def test_account_created_before_a_crash_is_matched_not_created_again() -> None:
    desired = declared("alice", "bob")
    created_before_crash = replace(desired[0], id="id-alice")
    result = diff(desired, [created_before_crash])
    assert [a.user_name for a in result.creates] == ["bob"]
    assert result.unchanged == 1


def test_user_name_matching_is_case_insensitive() -> None:
    result = diff(declared("alice"), [in_app("ALICE", owner=None)], adopt=True)
    assert not result.creates
    assert [c.current.id for c in result.adoptions] == ["id-ALICE"]


def test_a_change_of_case_in_the_user_name_is_an_update_of_user_name() -> None:
    result = diff(declared("Alice"), [in_app("alice")])
    assert [c.changes for c in result.updates] == [{"user_name": "Alice"}]


def test_match_by_external_id_first_repairs_a_user_name_changed_in_the_app() -> None:
    renamed = replace(in_app("alice"), user_name="alice.old")
    result = diff(declared("alice"), [renamed])
    assert result.updates == [Change(renamed, {"user_name": "alice"})]
    assert not result.creates
    assert not result.deactivations


def test_only_changed_attributes_are_updated() -> None:
    current = in_app("alice", display_name="Alice", title="Engineer", department="R&D")
    result = diff(declared("alice", displayName="Alice", title="Manager", department="R&D"), [current])
    assert result.updates == [Change(current, {"title": "Manager"})]


def test_update_changes_only_account_attributes() -> None:
    current = in_app("alice")
    result = diff(
        declared("alice", displayName="A", givenName="G", familyName="F", email="a@x.io"), [current]
    )
    assert set(result.updates[0].changes) <= ACCOUNT_ATTRIBUTES


def test_email_is_compared_case_insensitively() -> None:
    result = diff(declared("alice", email="Alice@Example.com"), [in_app("alice", email="alice@example.com")])
    assert result.is_empty
    assert result.unchanged == 1


def test_unset_and_empty_attributes_are_equal() -> None:
    result = diff(declared("alice", title=""), [in_app("alice", title=None, display_name="")])
    assert result.is_empty


def test_attribute_removed_from_the_declaration_is_removed_in_the_app() -> None:
    result = diff(declared("alice"), [in_app("alice", title="Engineer")])
    assert [c.changes for c in result.updates] == [{"title": None}]


def test_groups_are_not_compared_on_the_account() -> None:
    result = diff(declared("alice", groups=["admins"]), [in_app("alice", groups=("staff",))])
    assert result.is_empty


# Accounts we do not own.


def test_unowned_account_with_same_user_name_is_reported_not_touched() -> None:
    result = diff(declared("alice"), [in_app("alice", owner=None, title="kept")])
    assert result.is_empty
    assert [c.user_name for c in result.conflicts] == ["alice"]
    assert "sync.adoptExisting" in result.conflicts[0].reason


def test_adopt_existing_stamps_external_id() -> None:
    current = in_app("Alice", owner=None)
    result = diff(declared("alice", title="Engineer"), [current], adopt=True)
    assert result.adoptions == [
        Change(current, {"user_name": "alice", "external_id": OWNER.stamp("alice"), "title": "Engineer"})
    ]
    assert not result.updates
    assert not result.conflicts


def test_adopt_existing_replaces_an_external_id_set_by_another_tool() -> None:
    current = replace(in_app("alice", owner=None), external_id="hr-17")
    result = diff(declared("alice"), [current], adopt=True)
    assert [c.changes for c in result.adoptions] == [{"external_id": OWNER.stamp("alice")}]


def test_adopt_existing_also_takes_back_accounts_of_a_recreated_integration() -> None:
    left_behind = in_app("alice", owner=FORMER)
    result = diff(declared("alice"), [left_behind], adopt=True)
    assert [c.changes for c in result.adoptions] == [{"external_id": OWNER.stamp("alice")}]


def test_undeclared_accounts_of_a_former_integration_are_left_alone() -> None:
    # Taken back only when declared: the former Integration's deletion policy decided about the rest.
    result = diff(declared("bob"), [in_app("alice", owner=FORMER)], mode="Delete")
    assert not result.deletions
    assert not result.deactivations


def test_account_of_another_integration_is_never_adopted() -> None:
    result = diff(declared("alice"), [in_app("alice", owner=RIVAL)], adopt=True)
    assert result.is_empty
    assert [c.reason for c in result.conflicts] == ["the account is managed by Integration team-b/crm"]


def test_unowned_accounts_not_declared_are_never_touched() -> None:
    others = [in_app("zoe", owner=None), in_app("yan", owner=FORMER), in_app("xi", owner=RIVAL)]
    for mode in ("Deactivate", "Delete"):
        result = diff([], others, mode=mode, adopt=True)
        assert result.is_empty
        assert not result.conflicts


# Deprovisioning.


def test_deactivate_mode_deactivates_owned_accounts_no_longer_declared() -> None:
    gone = in_app("bob")
    result = diff(declared("alice"), [in_app("alice"), gone])
    assert result.deactivations == [gone]
    assert not result.deletions
    assert result.deprovision_count == 1


def test_already_deactivated_account_no_longer_declared_is_left_alone_and_counted() -> None:
    result = diff([], [in_app("bob", active=False)])
    assert result.is_empty
    assert result.already_deactivated == 1


def test_delete_mode_deletes_owned_accounts_no_longer_declared() -> None:
    active, inactive = in_app("bob"), in_app("carol", active=False)
    result = diff([], [active, inactive], mode="Delete")
    assert result.deletions == [active, inactive]
    assert not result.deactivations
    assert result.deprovision_count == 2


def test_declared_inactive_account_is_kept_but_deactivated_by_an_update() -> None:
    current = in_app("alice")
    for mode in ("Deactivate", "Delete"):
        result = diff(declared("alice", active=False), [current], mode=mode)
        assert result.updates == [Change(current, {"active": False})]
        assert result.deprovision_count == 0


def test_declared_active_account_is_reactivated() -> None:
    result = diff(declared("alice"), [in_app("alice", active=False)])
    assert [c.changes for c in result.updates] == [{"active": True}]


# Conflicts.


def test_two_app_accounts_matching_one_declared_account_is_a_conflict_touching_neither() -> None:
    twins = [in_app("alice"), replace(in_app("ALICE", owner=None), id="id-twin")]
    for mode in ("Deactivate", "Delete"):
        result = diff(declared("alice", title="new"), twins, mode=mode, adopt=True)
        assert result.is_empty
        assert [c.user_name for c in result.conflicts] == ["alice"]
        assert "2 accounts" in result.conflicts[0].reason


def test_two_app_accounts_with_our_external_id_is_a_conflict_touching_neither() -> None:
    twins = [in_app("alice"), replace(in_app("alice.2"), external_id=OWNER.stamp("alice"))]
    result = diff(declared("alice"), twins, mode="Delete")
    assert result.is_empty
    assert len(result.conflicts) == 1


def test_renaming_into_a_user_name_held_by_another_account_is_a_conflict() -> None:
    renamed = replace(in_app("alice"), user_name="alice.old")
    squatter = in_app("alice", owner=None)
    result = diff(declared("alice"), [renamed, squatter], adopt=True)
    assert result.is_empty
    assert [c.user_name for c in result.conflicts] == ["alice"]


def test_user_name_held_by_our_account_of_another_user_waits_for_its_rename() -> None:
    bobs_account_renamed_alice = replace(in_app("bob"), user_name="alice")
    first = diff(declared("alice", "bob"), [bobs_account_renamed_alice])
    assert first.updates == [Change(bobs_account_renamed_alice, {"user_name": "bob"})]
    assert not first.creates  # alice would collide with bob's account until it is renamed
    assert [c.user_name for c in first.conflicts] == ["alice"]
    second = diff(declared("alice", "bob"), [in_app("bob")])
    assert [a.user_name for a in second.creates] == ["alice"]


def test_our_account_stamped_for_another_user_name_is_restamped_when_that_one_is_gone() -> None:
    current = replace(in_app("bob"), user_name="alice")
    result = diff(declared("alice"), [current])
    assert result.updates == [Change(current, {"external_id": OWNER.stamp("alice")})]
    assert result.deprovision_count == 0


def test_plan_refuses_duplicate_declared_user_names() -> None:
    alice = declared("alice")[0]
    with pytest.raises(DuplicateUserNames):
        diff([alice, replace(alice, user_name="ALICE")], [])


# The plan as a whole.


def test_plan_of_an_app_already_as_declared_is_empty() -> None:
    desired = declared("alice", "bob", email="x@example.com")
    result = diff(desired, [replace(a, id=f"id-{a.user_name}") for a in desired])
    assert result.is_empty
    assert result.unchanged == 2
    assert result.summary()["unchanged"] == 2


def test_summary_counts_every_action_and_items_list_them_for_status() -> None:
    actual = [
        in_app("bob", title="old"),
        in_app("carol", owner=None),
        in_app("dave"),
        in_app("erin", active=False),
    ]
    result = diff(declared("alice", "bob", "carol", "frank", email="f@x.io"), actual, adopt=True)
    assert result.summary() == {
        "creates": 2,
        "updates": 1,
        "adoptions": 1,
        "deactivations": 1,
        "deletions": 0,
        "conflicts": 0,
        "unchanged": 0,
        "alreadyDeactivated": 1,
    }
    assert result.items() == [
        {
            "action": "Create",
            "userName": "alice",
            "attributes": ["userName", "externalId", "email", "active"],
        },
        {
            "action": "Create",
            "userName": "frank",
            "attributes": ["userName", "externalId", "email", "active"],
        },
        {"action": "Adopt", "userName": "carol", "attributes": ["externalId", "email"]},
        {"action": "Update", "userName": "bob", "attributes": ["email", "title"]},
        {"action": "Deactivate", "userName": "dave", "attributes": ["active"]},
    ]
    assert result.action_count == 5
    assert len(result.items(limit=2)) == 2


def test_items_are_capped_at_one_hundred_but_counts_are_complete() -> None:
    result = diff(declared(*(f"user{i}" for i in range(250))), [])
    assert len(result.items()) == 100
    assert result.summary()["creates"] == 250


# Group membership.


def test_declared_group_missing_in_the_app_is_created_with_its_members() -> None:
    desired = declared("alice", groups=["admins"])
    result = plan_groups(desired, {}, {"alice": "id-alice"})
    assert result.creates == ["admins"]
    assert result.changes == [GroupChange("admins", add=["id-alice"], remove=[])]


def test_group_is_created_even_before_its_first_member_exists_in_the_app() -> None:
    result = plan_groups(declared("alice", groups=["admins"]), {}, {})
    assert result.creates == ["admins"]
    assert result.changes == []


def test_owned_account_is_added_to_its_declared_groups() -> None:
    result = plan_groups(declared("alice", groups=["staff"]), {"staff": {"id-x"}}, {"alice": "id-alice"})
    assert result.creates == []
    assert result.changes == [GroupChange("staff", add=["id-alice"], remove=[])]


def test_owned_member_no_longer_declared_in_a_group_is_removed() -> None:
    members = {"staff": {"id-alice", "id-bob"}, "admins": {"id-bob"}}
    ids = {"alice": "id-alice", "bob": "id-bob"}
    result = plan_groups([*declared("alice", groups=["staff"]), *declared("bob")], members, ids)
    assert result.changes == [
        GroupChange("admins", add=[], remove=["id-bob"]),
        GroupChange("staff", add=[], remove=["id-bob"]),
    ]


def test_member_we_do_not_own_is_never_removed() -> None:
    members = {"staff": {"id-alice", "id-stranger"}, "other": {"id-stranger"}}
    result = plan_groups(declared("alice", groups=["staff"]), members, {"alice": "id-alice"})
    assert result.is_empty


def test_group_names_match_case_insensitively_in_the_apps_spelling() -> None:
    desired = declared("alice", groups=["ADMINS"]) + declared("bob", groups=["admins"])
    result = plan_groups(desired, {"Admins": set()}, {"alice": "id-a", "bob": "id-b"})
    assert result.creates == []
    assert result.changes == [GroupChange("Admins", add=["id-a", "id-b"], remove=[])]


def test_one_missing_group_spelled_two_ways_is_created_once() -> None:
    desired = declared("alice", groups=["Admins"]) + declared("bob", groups=["admins"])
    assert plan_groups(desired, {}, {}).creates == ["Admins"]


def test_owned_ids_maps_user_names_of_our_accounts_only() -> None:
    accounts = [in_app("Alice"), in_app("bob", owner=None), in_app("carol", owner=FORMER)]
    assert owned_ids(accounts, OWNER) == {"alice": "id-Alice"}


def test_group_plan_of_an_app_already_as_declared_is_empty() -> None:
    desired = declared("alice", "bob", groups=["staff", "admins"])
    members = {"staff": ["id-alice", "id-bob", "id-x"], "admins": ["id-alice", "id-bob"], "other": ["id-x"]}
    assert plan_groups(desired, members, {"alice": "id-alice", "bob": "id-bob"}).is_empty
