"""Accounts in a real SCIM app: create, read, list, find, update (PATCH or PUT), deactivate, delete."""

import dataclasses

import pytest

from idlcm.connectors import (
    Account,
    BearerAuth,
    ConflictError,
    PreconditionFailedError,
    RateLimit,
    ScimConnector,
    Tls,
)
from scimapp import ScimApp

ALICE = Account(
    user_name="alice",
    external_id="emp-1",
    display_name="Alice Liddell",
    given_name="Alice",
    family_name="Liddell",
    email="alice@example.com",
    title="Engineer",
    department="R&D",
)


async def test_created_account_reads_back_with_every_attribute(connector: ScimConnector) -> None:
    created = await connector.create(ALICE)
    assert created.id
    assert created.version
    assert dataclasses.replace(created, id=None, version=None) == ALICE
    found = await connector.find_account(user_name="alice")
    assert found == created


async def test_find_by_external_id_and_missing_account(connector: ScimConnector) -> None:
    created = await connector.create(ALICE)
    assert await connector.find_account(external_id="emp-1") == created
    assert await connector.find_account(user_name="nobody") is None
    assert await connector.find_account(user_name="nobody", external_id="emp-1") == created


async def test_find_quotes_awkward_user_names(connector: ScimConnector) -> None:
    awkward = Account(user_name='o"brien\\x and userName eq "alice"')
    await connector.create(ALICE)
    created = await connector.create(awkward)
    assert await connector.find_account(user_name=awkward.user_name) == created


async def test_listing_pages_through_every_account_at_the_largest_page(scim_app: ScimApp) -> None:
    scim_app.configure(max_results=40)
    connector = ScimConnector(
        scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), RateLimit(10_000, 16)
    )
    try:
        created = await connector.create_many([Account(user_name=f"user{i:03}") for i in range(250)])
        assert all(isinstance(a, Account) for a in created)
        scim_app.requests.clear()
        listed = [a async for a in connector.list_accounts()]
    finally:
        await connector.aclose()
    assert sorted(a.user_name for a in listed) == [f"user{i:03}" for i in range(250)]
    pages = scim_app.requests.select("GET", "/v2/Users")
    assert len(pages) == 7  # ceil(250 / 40): one listing, no per-user reads
    assert all("count=40" in r.query for r in pages)


async def test_update_patches_only_the_changed_attributes(
    connector: ScimConnector, scim_app: ScimApp
) -> None:
    created = await connector.create(ALICE)
    scim_app.requests.clear()
    updated = await connector.update(
        created, {"title": "Manager", "department": None, "display_name": "Alice Liddell"}
    )
    assert (updated.title, updated.department, updated.display_name) == ("Manager", None, "Alice Liddell")
    [patch] = scim_app.requests.writes
    assert patch.method == "PATCH"
    assert patch.headers["if-match"] == created.version
    paths = sorted(op["path"] for op in patch.json()["Operations"])
    assert paths == ["title", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"]
    assert updated.version
    assert updated.version != created.version
    assert await connector.find_account(user_name="alice") == updated


async def test_update_without_changes_sends_nothing(connector: ScimConnector, scim_app: ScimApp) -> None:
    created = await connector.create(ALICE)
    scim_app.requests.clear()
    assert await connector.update(created, {"title": "Engineer"}) == created
    assert scim_app.requests.writes == []


async def test_update_replaces_with_put_when_patch_is_not_offered(scim_app: ScimApp) -> None:
    scim_app.configure(patch=False)
    connector = ScimConnector(scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True))
    try:
        created = await connector.create(ALICE)
        scim_app.requests.clear()
        updated = await connector.update(created, {"email": "a.liddell@example.com", "given_name": None})
        assert (updated.email, updated.given_name, updated.family_name) == (
            "a.liddell@example.com",
            None,
            "Liddell",
        )
        [put] = scim_app.requests.writes
        assert put.method == "PUT"
        assert put.headers["if-match"] == created.version
        assert await connector.find_account(user_name="alice") == updated
    finally:
        await connector.aclose()


async def test_stale_version_is_refused(connector: ScimConnector) -> None:
    created = await connector.create(ALICE)
    await connector.update(created, {"title": "Manager"})
    with pytest.raises(PreconditionFailedError):
        await connector.update(created, {"title": "Director"})


async def test_deactivate_keeps_the_account(connector: ScimConnector) -> None:
    created = await connector.create(ALICE)
    deactivated = await connector.deactivate(created)
    assert deactivated.active is False
    assert (await connector.find_account(user_name="alice")) == deactivated


async def test_delete_is_idempotent(connector: ScimConnector, scim_app: ScimApp) -> None:
    created = await connector.create(ALICE)
    await connector.delete(created)
    await connector.delete(created)
    assert await connector.find_account(user_name="alice") is None
    assert scim_app.users() == []


async def test_taken_user_name_is_a_conflict(connector: ScimConnector) -> None:
    await connector.create(ALICE)
    with pytest.raises(ConflictError) as caught:
        await connector.create(dataclasses.replace(ALICE, external_id="emp-2"))
    assert caught.value.status == 409
