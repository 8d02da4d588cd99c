"""Creating many accounts: Bulk chunked to the app's limits, or concurrent single creates without Bulk."""

import dataclasses

from idlcm.connectors import Account, ConflictError, ScimConnector
from scimapp import ScimApp


async def test_bulk_is_chunked_by_max_operations(scim_app: ScimApp, connector: ScimConnector) -> None:
    scim_app.configure(max_operations=10)
    results = await connector.create_many([Account(user_name=f"u{i:02}") for i in range(25)])
    assert [a.user_name for a in results if isinstance(a, Account)] == [f"u{i:02}" for i in range(25)]
    assert all(isinstance(a, Account) and a.id and a.version for a in results)
    bulks = scim_app.requests.select("POST", "/v2/Bulk")
    assert sorted(len(r.json()["Operations"]) for r in bulks) == [5, 10, 10]  # sent concurrently
    assert len(scim_app.users()) == 25


async def test_bulk_is_chunked_by_max_payload_size(scim_app: ScimApp, connector: ScimConnector) -> None:
    scim_app.configure(max_payload_size=4096)
    accounts = [Account(user_name=f"user-{i:03}", display_name="x" * 200) for i in range(40)]
    results = await connector.create_many(accounts)
    assert all(isinstance(a, Account) for a in results)
    bulks = scim_app.requests.select("POST", "/v2/Bulk")
    assert len(bulks) > 1
    assert all(len(r.body) <= 4096 for r in bulks)


async def test_each_bulk_operation_has_its_own_outcome(connector: ScimConnector) -> None:
    await connector.create(Account(user_name="taken"))
    results = await connector.create_many(
        [Account(user_name="new1"), Account(user_name="taken"), Account(user_name="new2")]
    )
    assert isinstance(results[0], Account)
    assert isinstance(results[2], Account)
    assert isinstance(results[1], ConflictError)


async def test_bulk_members_join_their_groups_with_one_change_per_group(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    accounts = [
        Account(user_name=f"u{i}", groups=("staff",) if i % 2 else ("staff", "admins")) for i in range(6)
    ]
    results = await connector.create_many(accounts)
    assert [r.groups for r in results if isinstance(r, Account)] == [
        a.groups[::-1] if len(a.groups) == 2 else a.groups for a in accounts
    ]
    assert len(scim_app.requests.select("PATCH", "/v2/Groups/")) == 2
    listed = {a.user_name: a.groups async for a in connector.list_accounts()}
    assert listed["u0"] == ("admins", "staff")
    assert listed["u1"] == ("staff",)


async def test_without_bulk_accounts_are_created_one_by_one(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    scim_app.configure(bulk=False)
    results = await connector.create_many([Account(user_name=f"u{i}") for i in range(20)])
    assert [r.user_name for r in results if isinstance(r, Account)] == [f"u{i}" for i in range(20)]
    assert len(scim_app.requests.select("POST", "/v2/Users")) == 20
    assert scim_app.requests.select("POST", "/v2/Bulk") == []


async def test_without_bulk_concurrent_creates_share_one_group(
    scim_app: ScimApp, connector: ScimConnector
) -> None:
    scim_app.configure(bulk=False)
    results = await connector.create_many([Account(user_name=f"u{i}", groups=("staff",)) for i in range(8)])
    assert all(isinstance(r, Account) for r in results)
    [group] = scim_app.groups()
    assert len(group.members) == 8


FULL = Account(
    user_name="ada@example.com",
    external_id="idlcm:team-a/crm:0b5c:ada@example.com",
    display_name="Ada Lovelace",
    given_name="Ada",
    family_name="Lovelace",
    email="ada@example.com",
    active=False,
    title="Engineer",
    department="R&D",
)
SPARSE = [Account(user_name="bob"), Account(user_name="cy", given_name="Cy", department="Ops")]


async def test_bulk_created_accounts_read_back_with_every_attribute(connector: ScimConnector) -> None:
    results = await connector.create_many([FULL, *SPARSE])
    assert all(isinstance(r, Account) for r in results)
    listed = {a.user_name: a async for a in connector.list_accounts()}
    for account in [FULL, *SPARSE]:
        assert dataclasses.replace(listed[account.user_name], id=None, version=None) == account
