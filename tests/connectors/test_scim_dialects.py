"""The dialects real SCIM apps speak, one test each, through the connector against the app's own storage."""

from collections.abc import AsyncIterator

import httpx2
import pytest

from idlcm import __version__
from idlcm.connectors import (
    Account,
    BearerAuth,
    ConflictError,
    NeedsHumanError,
    RateLimit,
    ScimConnector,
    Tls,
)
from idlcm.connectors.scim import mapping
from idlcm.connectors.scim.dialect import AttributesRefused, Needed
from idlcm.connectors.scim.dialect import Dialect as Learnt
from scimdialects import Dialect, DialectApp, dialect_app, dialect_server

__all__ = ["dialect_app", "dialect_server"]  # the fixtures, used by name

ALICE = Account(
    user_name="alice",
    external_id="emp-1",
    display_name="Alice Liddell",
    given_name="Alice",
    family_name="Liddell",
    email="alice@example.com",
    title="Engineer",
)


@pytest.fixture
async def app_connector(dialect_app: DialectApp) -> AsyncIterator[ScimConnector]:
    """A connector to the dialect app."""
    connector = _connector(dialect_app)
    yield connector
    await connector.aclose()


def _connector(app: DialectApp) -> ScimConnector:
    return ScimConnector(
        app.base_url, BearerAuth(app.token), Tls(insecure=True), RateLimit(10_000, 8), timeout=10.0
    )


def _stored(app: DialectApp) -> dict[str, object]:
    """userName -> the user as the app stores it."""
    return {str(u.user_name): u for u in app.users()}


async def _create(connector: ScimConnector, names: list[str], groups: tuple[str, ...] = ()) -> list[Account]:
    created = await connector.create_many(
        [Account(user_name=n, external_id=f"x:{n}", groups=groups) for n in names]
    )
    assert all(isinstance(a, Account) for a in created), created
    return [a for a in created if isinstance(a, Account)]


@pytest.mark.parametrize(
    ("case", "keys"), [("lower", {"resources", "totalresults"}), ("pascal", {"Schemas"})]
)
async def test_list_response_keys_are_read_in_any_case(
    dialect_app: DialectApp, app_connector: ScimConnector, case: str, keys: set[str]
) -> None:
    dialect_app.dialect = Dialect(list_key_case=case)
    await _create(app_connector, ["ann", "bob", "cid"])
    listed = sorted([a.user_name async for a in app_connector.list_accounts()])
    assert listed == ["ann", "bob", "cid"] == sorted(_stored(dialect_app))
    found = await app_connector.find_account(user_name="bob")
    assert found is not None
    assert found.external_id == "x:bob"
    raw = httpx2.get(
        f"{dialect_app.base_url}/Users", headers={"Authorization": f"Bearer {dialect_app.token}"}
    )
    assert keys <= set(raw.json())  # (the dialect is on: the app did answer so)


async def test_pages_capped_below_the_count_are_paged_by_what_came(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(page_cap=50)
    names = [f"user{i:03}" for i in range(120)]
    await _create(app_connector, names)
    dialect_app.seen.clear()
    listed = sorted([a.user_name async for a in app_connector.list_accounts()])
    assert listed == names == sorted(_stored(dialect_app))
    pages = dialect_app.requests_seen("GET", "/v2/Users")
    assert [p.query["startIndex"] for p in pages] == ["1", "51", "101"]
    assert app_connector.dialect.listing == "capped"
    assert app_connector.dialect.page_size == 50
    recorded = app_connector.api.profile()
    assert (recorded["listing"], recorded["pageSize"], recorded["mediaType"]) == (
        "capped",
        50,
        "application/scim+json",
    )
    assert Learnt.from_dict(recorded) == app_connector.dialect  # what the next run starts from


async def test_listing_that_ignores_start_index_falls_back_to_lookups(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(page_cap=50, ignore_start_index=True, eq_filters_only=True)  # as AWS
    names = [f"user{i:03}" for i in range(120)]
    await _create(app_connector, names, groups=("staff",))
    with pytest.raises(NeedsHumanError) as caught:  # nobody named the accounts: it cannot list them all
        [a async for a in app_connector.list_accounts()]
    assert caught.value.problem_class == "MissingCapability"
    assert "ignores startIndex" in caught.value.message

    declared = [Account(user_name=n, external_id=f"x:{n}", groups=("staff",)) for n in [*names, "nobody"]]
    app_connector.need(declared)
    listed = {a.user_name: a async for a in app_connector.list_accounts()}
    assert sorted(listed) == names == sorted(_stored(dialect_app))
    assert all(a.groups == ("staff",) for a in listed.values())
    assert app_connector.api.dialect.listing == "lookups"
    assert "not deprovisioned" in app_connector.api.dialect.notes["listing"]
    # eq only: no other operator was ever accepted, and no lookup was refused
    refused = [s for s in dialect_app.requests_seen("GET") if s.status == 400]
    assert all(" gt " in s.query.get("filter", "") for s in refused)

    # An update and a deprovision go through as usual; the app holds what was asked.
    bob = listed["user007"]
    await app_connector.update(bob, {"title": "Boss"})
    await app_connector.delete(listed["user008"])
    stored = _stored(dialect_app)
    assert stored["user007"].title == "Boss"  # type: ignore[attr-defined]
    assert "user008" not in stored


async def test_refused_deep_start_index_pages_by_id(dialect_app: DialectApp) -> None:
    dialect_app.configure(max_results=40)
    dialect_app.dialect = Dialect(max_start_index=100, sorted_by_id=True)  # as Salesforce
    connector = _connector(dialect_app)
    try:
        names = [f"user{i:03}" for i in range(250)]
        await _create(connector, names)
        dialect_app.seen.clear()
        listed = sorted([a.user_name async for a in connector.list_accounts()])
        assert listed == names == sorted(_stored(dialect_app))
        assert connector.api.dialect.listing == "keyset"
        users = dialect_app.requests_seen("GET", "/v2/Users")
        refused = [s for s in users if s.status == 400]
        assert [s.query["startIndex"] for s in refused] == ["121"]  # refused once: never retried
        assert any(s.query.get("filter", "").startswith("id gt ") for s in users)
    finally:
        await connector.aclose()


async def test_refused_deep_start_index_without_id_filter_looks_accounts_up(dialect_app: DialectApp) -> None:
    dialect_app.configure(max_results=40)
    dialect_app.dialect = Dialect(max_start_index=100, eq_filters_only=True)
    connector = _connector(dialect_app)
    try:
        names = [f"user{i:03}" for i in range(150)]
        await _create(connector, names)
        connector.api.need(Needed(user_names=frozenset(names)))
        listed = sorted([a.user_name async for a in connector.list_accounts()])
        assert listed == names == sorted(_stored(dialect_app))
        assert connector.api.dialect.listing == "lookups"
    finally:
        await connector.aclose()


async def test_a_listing_refused_for_good_is_not_retried(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    await app_connector.capabilities()
    dialect_app.faults.arm(400, times=None, path_prefix="/Users", methods={"GET"}, detail="no listing here")
    with pytest.raises(NeedsHumanError) as caught:
        [a async for a in app_connector.list_accounts()]
    assert caught.value.problem_class == "RequestRefused"
    assert "not retried" in caught.value.message
    assert len(dialect_app.requests_seen("GET", "/v2/Users")) == 1


async def test_bodies_go_as_scim_json_and_as_json_to_an_app_that_refuses_it(dialect_app: DialectApp) -> None:
    dialect_app.dialect = Dialect(only_media_type="application/json")
    first = _connector(dialect_app)
    try:
        await first.create(Account(user_name="ann"))
        await first.create(Account(user_name="bob"))
    finally:
        await first.aclose()
    again = _connector(dialect_app)  # the same app: plain JSON from the start
    try:
        await again.create(Account(user_name="cid"))
    finally:
        await again.aclose()
    posts = dialect_app.requests_seen("POST", "/v2/Users")
    assert [(p.content_type, p.status) for p in posts] == [
        ("application/scim+json", 415),
        ("application/json", 201),
        ("application/json", 201),
        ("application/json", 201),
    ]
    assert sorted(_stored(dialect_app)) == ["ann", "bob", "cid"]
    assert first.api.profile()["mediaType"] == "application/json"
    # The app now insists on SCIM's own type (upgraded): one 415, and SCIM's own type from then on.
    dialect_app.dialect = Dialect(only_media_type="application/scim+json")
    dialect_app.seen.clear()
    later = _connector(dialect_app)
    try:
        await later.create(Account(user_name="dan"))
        await later.create(Account(user_name="eve"))
    finally:
        await later.aclose()
    assert [(p.content_type, p.status) for p in dialect_app.requests_seen("POST", "/v2/Users")] == [
        ("application/json", 415),
        ("application/scim+json", 201),
        ("application/scim+json", 201),
    ]
    assert sorted(_stored(dialect_app)) == ["ann", "bob", "cid", "dan", "eve"]


async def test_bodies_go_as_scim_json_to_an_app_that_insists(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(only_media_type="application/scim+json", require_user_agent=True)
    alice = await app_connector.create(ALICE)
    await app_connector.update(alice, {"title": "Manager"})
    writes = [s for s in dialect_app.requests_seen() if s.method in ("POST", "PATCH")]
    assert writes
    assert all(s.content_type == "application/scim+json" and s.status < 300 for s in writes)
    assert {s.user_agent for s in dialect_app.requests_seen()} == {f"idlcm/{__version__}"}
    assert _stored(dialect_app)["alice"].title == "Manager"  # type: ignore[attr-defined]


async def test_conflict_without_scim_type_is_a_taken_user_name(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(conflict_without_scim_type=True)  # as Sentry
    created = await app_connector.create(ALICE)
    again = await app_connector.create(ALICE)  # an earlier create whose answer was lost: the same account
    assert again.id == created.id
    with pytest.raises(ConflictError) as caught:  # someone else's alice
        await app_connector.create(Account(user_name="alice", external_id="emp-2"))
    assert caught.value.status == 409
    assert [u.external_id for u in dialect_app.users()] == ["emp-1"]
    assert [s.status for s in dialect_app.requests_seen("POST", "/v2/Users")] == [201, 409, 409]


async def test_put_refused_changes_by_patch(dialect_app: DialectApp) -> None:
    dialect_app.dialect = Dialect(no_put=True, says_no_patch=True)  # no PUT (Google), and PUT tried first
    connector = _connector(dialect_app)
    try:
        alice = await connector.create(ALICE)
        updated = await connector.update(alice, {"title": "Manager"})
        await connector.update(updated, {"title": "Director"})
        assert connector.api.dialect.users_write == "patch"
    finally:
        await connector.aclose()
    assert _stored(dialect_app)["alice"].title == "Director"  # type: ignore[attr-defined]
    writes = [s.method for s in dialect_app.requests_seen() if s.path.startswith("/v2/Users/")]
    assert [m for m in writes if m != "GET"] == ["PUT", "PATCH", "PATCH"]  # PUT tried once only


async def test_patch_refused_changes_by_put_with_if_match(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(no_patch=True)
    alice = await app_connector.create(ALICE)
    updated = await app_connector.update(alice, {"title": "Manager", "email": "a.l@example.com"})
    assert app_connector.api.dialect.users_write == "put"
    await app_connector.update(updated, {"title": "Director"})
    stored = _stored(dialect_app)["alice"]
    assert stored.title == "Director"  # type: ignore[attr-defined]
    assert [e.value for e in stored.emails] == ["a.l@example.com"]  # type: ignore[attr-defined]
    writes = [s for s in dialect_app.requests_seen() if s.method in ("PUT", "PATCH")]
    assert [s.method for s in writes] == ["PATCH", "PUT", "PUT"]
    puts = dialect_app.requests.select("PUT", "/v2/Users/")
    assert [p.headers.get("if-match") for p in puts] == [alice.version, updated.version]


async def test_one_refused_attribute_leaves_the_others_applied(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(patch_refuses=frozenset({"title"}))  # as django-scim2
    alice = await app_connector.create(ALICE)
    held = await app_connector.update(
        alice, {"display_name": "Alice L.", "email": "a.l@example.com", "title": "Manager"}
    )
    # The connector answers with what the app holds: the refused title is not stored (reported as such).
    assert (held.display_name, held.email, held.title) == ("Alice L.", "a.l@example.com", "Engineer")
    stored = _stored(dialect_app)["alice"]
    assert stored.display_name == "Alice L."  # type: ignore[attr-defined]
    assert [e.value for e in stored.emails] == ["a.l@example.com"]  # type: ignore[attr-defined]
    assert stored.title == "Engineer"  # type: ignore[attr-defined]
    assert held.version == stored.meta.version  # type: ignore[attr-defined]
    # Below the connector, the refusal names the attribute and the app's reason.
    patch = mapping.patch_for({"title": "Manager", "department": "R&D"})
    with pytest.raises(AttributesRefused) as caught:
        await app_connector.api.change(mapping.UserModel, str(held.id), patch, "update", held.version)
    assert set(caught.value.refused) == {"title"}
    assert "501" in caught.value.refused["title"]
    assert caught.value.version != held.version  # the department went through: a new version
    assert _stored(dialect_app)["alice"].title == "Engineer"  # type: ignore[attr-defined]
    # PATCH works here, so the refusal is that attribute's: nothing is sent as a PUT.
    assert dialect_app.requests_seen("PUT") == []
    assert app_connector.api.dialect.users_write is None


async def test_member_changes_go_at_most_a_hundred_a_patch(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(max_member_changes=100)
    accounts = await _create(app_connector, [f"user{i:03}" for i in range(250)])
    group_id = await app_connector.ensure_group("staff")
    dialect_app.seen.clear()
    ids = [str(a.id) for a in accounts]
    await app_connector.add_members(group_id, ids)
    await app_connector.remove_members(group_id, ids[:200])
    patches = dialect_app.requests_seen("PATCH", "/v2/Groups/")
    assert [p.status for p in patches] == [204] * 5 or all(p.status < 300 for p in patches)
    assert len(patches) == 5  # 100 + 100 + 50 added, 100 + 100 removed
    assert all(op["op"] != "replace" for p in patches for op in p.json()["Operations"])
    [group] = dialect_app.groups()
    assert sorted(m.value for m in group.members) == sorted(ids[200:])


async def test_conflict_without_a_scim_body_is_a_taken_user_name(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    created = await app_connector.create(ALICE)
    dialect_app.faults.arm(
        409, body=b"Conflict", content_type="text/plain", path_prefix="/Users", methods={"POST"}
    )
    again = await app_connector.create(ALICE)  # the same account: adopted
    assert again.id == created.id
    dialect_app.faults.arm(
        409, body=b"Conflict", content_type="text/plain", path_prefix="/Users", methods={"POST"}
    )
    with pytest.raises(ConflictError):
        await app_connector.create(Account(user_name="alice", external_id="emp-2"))
    assert [u.external_id for u in dialect_app.users()] == ["emp-1"]


async def test_members_leave_by_value_where_the_filter_is_refused(
    dialect_app: DialectApp, app_connector: ScimConnector
) -> None:
    dialect_app.dialect = Dialect(remove_members_by_value_only=True)  # as django-scim2
    accounts = await _create(app_connector, ["ann", "bob", "cid"], groups=("staff",))
    ids = [str(a.id) for a in accounts]
    group_id = await app_connector.ensure_group("staff")
    dialect_app.seen.clear()
    await app_connector.remove_members(group_id, ids[:1])
    await app_connector.remove_members(group_id, ids[1:2])
    [group] = dialect_app.groups()
    assert [m.value for m in group.members] == ids[2:]
    patches = dialect_app.requests_seen("PATCH", "/v2/Groups/")
    assert [p.status for p in patches] == [501, 204, 204]  # the filter refused once, then by value at once
    assert [op["path"] for op in patches[-1].json()["Operations"]] == ["members"]
    assert app_connector.dialect.member_removal == "value"
    assert dialect_app.requests_seen("PUT") == []
