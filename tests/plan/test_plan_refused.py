"""Changes the app did not store when last sent are given to the plan as data: left out, still reported."""

from __future__ import annotations

from idlcm.api import spec
from idlcm.connectors.base import Account
from idlcm.plan import Owner, desired_accounts, plan, refusal_key, unstored

OWNER = Owner("team-a", "crm", "0b5c1f9e-1111-4d6a-9c1e-2f1d3c4b5a69")


def declared(user_name: str, **attributes: object) -> Account:
    [account] = desired_accounts([spec.Account.model_validate({"userName": user_name, **attributes})], OWNER)
    return account


def held(user_name: str, **attributes: object) -> Account:
    return Account(
        user_name=user_name, external_id=OWNER.stamp(user_name), id=f"id-{user_name}", **attributes
    )


def test_a_known_refused_change_is_left_out_and_reported() -> None:
    desired = [declared("ann", title="Lead", displayName="Ann"), declared("bob", title="Lead")]
    actual = [held("ann"), held("bob")]
    refused = {refusal_key("ANN", "title", "Lead"), refusal_key("bob", "title", "Lead")}
    result = plan(desired, actual, owner=OWNER, mode="Deactivate", adopt_existing=False, refused=refused)
    # ann's displayName is still sent; bob has nothing else to change, and is not counted unchanged.
    assert [(c.current.user_name, c.changes) for c in result.updates] == [("ann", {"display_name": "Ann"})]
    assert [(u.user_name, u.attribute, u.sent, u.held) for u in result.refused] == [
        ("ann", "title", "Lead", None),
        ("bob", "title", "Lead", None),
    ]
    assert result.unchanged == 0


def test_a_new_value_is_sent_again() -> None:
    refused = {refusal_key("ann", "title", "Lead")}
    desired = [declared("ann", title="Principal")]
    result = plan(
        desired, [held("ann")], owner=OWNER, mode="Deactivate", adopt_existing=False, refused=refused
    )
    assert [c.changes for c in result.updates] == [{"title": "Principal"}]
    assert result.refused == ()


def test_the_plan_without_refusals_is_unchanged() -> None:
    desired = [declared("ann", title="Lead")]
    result = plan(desired, [held("ann")], owner=OWNER, mode="Deactivate", adopt_existing=False)
    assert [c.changes for c in result.updates] == [{"title": "Lead"}]


def test_unstored_compares_as_scim_does() -> None:
    sent = declared("Ann@Example.com", email="Ann@Example.com", title="Lead")
    same = held("ann@example.com", email="ann@example.com", title="Lead")
    assert unstored(sent, same) == []
    [one] = unstored(sent, held("ann@example.com", email="ann@example.com", title="lead"))
    assert (one.attribute, one.sent, one.held) == ("title", "Lead", "lead")  # title is case-exact
    assert one.key == refusal_key("ann@example.com", "title", "Lead")


def test_an_attribute_the_app_fills_itself_is_left_alone_while_undeclared() -> None:
    computed = {refusal_key("ann", "display_name", None)}
    actual = [held("ann", display_name="Ann Lee", title="Old")]
    result = plan(
        [declared("ann")], actual, owner=OWNER, mode="Deactivate", adopt_existing=False, computed=computed
    )
    # The app's displayName stays; the title the spec no longer declares is still removed.
    assert [c.changes for c in result.updates] == [{"title": None}]
    assert result.computed == (refusal_key("ann", "display_name", None),)
    declared_name = plan(
        [declared("ann", displayName="Ann")],
        actual,
        owner=OWNER,
        mode="Deactivate",
        adopt_existing=False,
        computed=computed,
    )
    assert [c.changes for c in declared_name.updates] == [{"display_name": "Ann", "title": None}]


def test_a_user_name_the_app_keeps_in_its_own_case_is_not_sent_again() -> None:
    recased = {refusal_key("Ann", "user_name", "Ann")}
    actual = [held("ann")]
    result = plan(
        [declared("Ann")], actual, owner=OWNER, mode="Deactivate", adopt_existing=False, computed=recased
    )
    assert result.updates == []
    assert result.unchanged == 1
    # Another spelling declared is another change: sent.
    result = plan(
        [declared("ANN")], actual, owner=OWNER, mode="Deactivate", adopt_existing=False, computed=recased
    )
    assert [c.changes for c in result.updates] == [{"user_name": "ANN"}]
