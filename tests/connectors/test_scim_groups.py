"""Groups in a real SCIM app: found or created by name, memberships changed only for the accounts named."""

from idlcm.connectors import Account, ScimConnector
from scimapp import ScimApp


async def test_ensure_group_creates_once_and_then_finds(connector: ScimConnector, scim_app: ScimApp) -> None:
    first = await connector.ensure_group("admins")
    again = await connector.ensure_group("admins")
    assert first == again
    assert [g.display_name for g in scim_app.groups()] == ["admins"]


async def test_account_created_with_groups_reads_back_with_them(connector: ScimConnector) -> None:
    created = await connector.create(Account(user_name="alice", groups=("admins", "staff")))
    assert created.groups == ("admins", "staff")
    assert (await connector.find_account(user_name="alice")) == created
    assert [a.groups async for a in connector.list_accounts()] == [("admins", "staff")]


async def test_group_changes_leave_other_members_alone(connector: ScimConnector, scim_app: ScimApp) -> None:
    alice = await connector.create(Account(user_name="alice", groups=("staff",)))
    bob = await connector.create(Account(user_name="bob", groups=("staff",)))
    moved = await connector.update(alice, {"groups": ("admins",)})
    assert moved.groups == ("admins",)
    accounts = {a.user_name: a.groups async for a in connector.list_accounts()}
    assert accounts == {"alice": ("admins",), "bob": ("staff",)}
    # Only member changes: no group was replaced wholesale.
    assert {r.method for r in scim_app.requests.writes if r.path.startswith("/v2/Groups/")} == {"PATCH"}
    assert bob.groups == ("staff",)


async def test_members_added_and_removed_in_one_request_each(
    connector: ScimConnector, scim_app: ScimApp
) -> None:
    ids = [str((await connector.create(Account(user_name=f"u{i}"))).id) for i in range(3)]
    group_id = await connector.ensure_group("staff")
    scim_app.requests.clear()
    await connector.add_members(group_id, ids)
    await connector.remove_members(group_id, ids[:2])
    assert len(scim_app.requests.writes) == 2
    [group] = scim_app.groups()
    assert [m.value for m in group.members or []] == ids[2:]


async def test_membership_changes_use_put_when_patch_is_not_offered(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    scim_app.configure(patch=False)
    alice = await connector.create(Account(user_name="alice", groups=("staff",)))
    await connector.update(alice, {"groups": ()})
    [group] = scim_app.groups()
    assert not group.members
    assert {r.method for r in scim_app.requests.writes if r.path.startswith("/v2/Groups/")} == {"PUT"}


async def test_listing_an_empty_app_reads_no_groups(connector: ScimConnector, scim_app: ScimApp) -> None:
    await connector.ensure_group("staff")  # a group, but no account to be a member of it
    scim_app.requests.clear()
    assert [a async for a in connector.list_accounts()] == []
    assert [r.path for r in scim_app.requests if r.path != "/v2/ServiceProviderConfig"] == ["/v2/Users"]


async def test_listing_reads_the_groups_once_when_there_are_accounts(
    connector: ScimConnector, scim_app: ScimApp
) -> None:
    await connector.create(Account(user_name="alice", groups=("staff",)))
    await connector.create(Account(user_name="bob"))
    scim_app.requests.clear()
    assert {a.user_name: a.groups async for a in connector.list_accounts()} == {
        "alice": ("staff",),
        "bob": (),
    }
    assert sorted(r.path for r in scim_app.requests.select("GET")) == ["/v2/Groups", "/v2/Users"]
