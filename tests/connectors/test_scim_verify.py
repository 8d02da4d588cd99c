"""What a write returns is the account as the app holds it after the write, never the account as sent.

The app here stores what it is sent only in part (`ScimApp.storing`, as django-scim2 answers a create without
`title` and with `displayName` made from the name parts): the connector's answer must show that, whether the
app answered with the resource (POST, PATCH 200, Bulk with responses) or not (a read-back).
"""

import dataclasses

import pytest

from idlcm.connectors import Account, ScimConnector
from idlcm.connectors.errors import PermanentError
from idlcm.plan import unstored
from scimapp import ScimApp, Storing

ANN = Account(
    user_name="ann@example.com",
    external_id="ext-ann",
    display_name="Ann",
    given_name="Ann",
    family_name="Lee",
    email="ann@example.com",
    title="Engineer",
)


def held_title(app: ScimApp) -> list[object]:
    return [u.title for u in app.users()]


@pytest.mark.parametrize("bulk", [False, True])
async def test_a_create_returns_what_the_app_stored(
    connector: ScimConnector, scim_app: ScimApp, bulk: bool
) -> None:
    scim_app.configure(bulk=bulk)
    scim_app.storing = Storing(drop=frozenset({"title"}), display_name_from_name=True)
    [created] = await connector.create_many([ANN])
    assert isinstance(created, Account)
    assert held_title(scim_app) == [None]
    assert (created.title, created.display_name) == (None, "Ann Lee")
    found = {(u.attribute, u.sent, u.held) for u in unstored(ANN, created)}
    assert found == {("title", "Engineer", None), ("display_name", "Ann", "Ann Lee")}


async def test_an_update_returns_what_the_app_stored(connector: ScimConnector, scim_app: ScimApp) -> None:
    created = await connector.create(ANN)
    scim_app.storing = Storing(drop=frozenset({"title"}))
    updated = await connector.update(created, {"title": "Lead", "department": "R&D"})
    assert (updated.title, updated.department) == ("Engineer", "R&D")
    sent = dataclasses.replace(created, title="Lead", department="R&D")
    found = [(u.attribute, u.sent, u.held) for u in unstored(sent, updated, ("title", "department"))]
    assert found == [("title", "Lead", "Engineer")]


async def test_an_update_answered_without_the_resource_is_read_back(
    connector: ScimConnector, scim_app: ScimApp
) -> None:
    created = await connector.create(ANN)
    # The app answers the PATCH 204 without a body, and did not store it: the read-back shows so.
    scim_app.faults.arm(204, body=b"", methods={"PATCH"}, path_prefix="/Users/")
    scim_app.requests.clear()
    updated = await connector.update(created, {"title": "Lead"})
    assert updated.title == "Engineer"
    assert [r.method for r in scim_app.requests] == ["PATCH", "GET"]


def test_legitimate_normalisation_is_no_difference() -> None:
    sent = Account(user_name="Ann@Example.com", email="Ann@Example.com", display_name="")
    held = Account(user_name="ann@example.com", email="ann@example.com", display_name=None)
    assert unstored(sent, held) == []
    assert [u.attribute for u in unstored(sent, Account(user_name="ann@example.com", external_id="x"))] == [
        "external_id",
        "email",
    ]


async def test_members_the_app_did_not_add_are_an_error(connector: ScimConnector, scim_app: ScimApp) -> None:
    ids = [str((await connector.create(Account(user_name=f"u{i}"))).id) for i in range(2)]
    group_id = await connector.ensure_group("staff")
    await connector.add_members(group_id, ids[:1])
    # The app answers 200 with the group as it was: the second member was not stored.
    group = next(g for g in scim_app.groups() if g.id == group_id)
    body = group.model_dump_json(by_alias=True, exclude_none=True)
    scim_app.faults.arm(200, body=body, methods={"PATCH"}, path_prefix="/Groups/")
    with pytest.raises(PermanentError, match="did not add 1 of the 1 members"):
        await connector.add_members(group_id, ids[1:])
    # Answered 204 without a body (and not stored): the group read back shows it.
    scim_app.faults.arm(204, body=b"", methods={"PATCH"}, path_prefix="/Groups/")
    with pytest.raises(PermanentError, match="did not add"):
        await connector.add_members(group_id, ids[1:])
    await connector.add_members(group_id, ids[1:])  # stored: no error
    await connector.remove_members(group_id, ids)
    assert [g.members or [] for g in scim_app.groups()] == [[]]
