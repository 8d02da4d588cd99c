"""Discovery of apps that describe themselves imperfectly: what provisioning needs fails, the rest warns.

Each non-conformance is one seen in SCIM servers written by others (django-scim2, django-scim2-server), made
here by a rewriting front before the test SCIM app: the app stores as before, only its answers differ.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from idlcm.connections import ConnectorPool
from idlcm.connectors import BearerAuth, OAuth2ClientCredentials, ScimConnector, Tls
from idlcm.connectors.base import Account, CheckResult
from idlcm.connectors.scim import mapping, schemas
from idlcm.operations import Outcome, apply_groups
from idlcm.plan import GroupChange, GroupPlan
from idlcm.validation import ConnectorValidator, Report
from scimapp import LoggedRequest, Message, Receive, ScimApp, Scope, Send, running_scim_app
from validation.conftest import target

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
HTML_404 = {"status": 404, "body": "<html><h1>Not Found</h1></html>", "content_type": "text/html"}

Rewrite = Callable[[Any], Any]
Refusal = Callable[[str, str, Any], str | None]


class QuirkyApp(ScimApp):
    """The test SCIM app behind a front that rewrites the JSON some GETs answer, and refuses (400) the
    writes a stricter app would refuse."""

    def __init__(self) -> None:
        self.rewrites: list[tuple[str, Rewrite]] = []
        self.refusals: list[Refusal] = []
        super().__init__()

    def reset(self, **capabilities: Any) -> None:
        """As `ScimApp.reset`, and no quirks."""
        super().reset(**capabilities)
        self.rewrites = []
        self.refusals = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path = str(scope["path"]).removeprefix("/v2")
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        payload = json.loads(body) if body.strip() and method != "GET" and "json" in _type(scope) else None
        for refusal in self.refusals:
            why = refusal(method, path, payload)
            if why is not None:
                self._log(scope, body, 400)
                error = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400"}
                await _answer(send, 400, {**error, "scimType": "invalidValue", "detail": why})
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        rewrite = next((f for p, f in self.rewrites if method == "GET" and path.startswith(p)), None)
        if rewrite is None:
            await super().__call__(scope, replay, send)
            return
        start: Message = {}
        answer = b""

        async def capture(message: Message) -> None:
            nonlocal start, answer
            if message["type"] == "http.response.start":
                start = message
            else:
                answer += message.get("body", b"")

        await super().__call__(scope, replay, capture)
        if start.get("status") != 200:
            await send(start)
            await send({"type": "http.response.body", "body": answer})
            return
        await _answer(send, 200, rewrite(json.loads(answer)))

    def _log(self, scope: Scope, body: bytes, status: int) -> None:
        self.requests.add(
            LoggedRequest(
                scope["method"], scope["path"], "", status, 0.0, 0.0, {}, body[: self.requests.max_body]
            )
        )


def _type(scope: Scope) -> str:
    return next((v.decode() for k, v in scope["headers"] if k.decode().lower() == "content-type"), "")


async def _answer(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/scim+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- the quirks ---------------------------------------------------------------------------------------------


def without_total(listing: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in listing.items() if k not in ("totalResults", "itemsPerPage", "startIndex")}


def lower_case_resources(listing: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in listing.items() if k != "Resources"}
    out["resources"] = listing.get("Resources", [])
    return out


def without_schemas(listing: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(listing)
    for resource in out.get("Resources", []):
        resource.pop("schemas", None)
    return out


def absolute_endpoints(listing: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(listing)
    for resource in out.get("Resources", []):
        resource["endpoint"] = "/v2" + resource["endpoint"]
    return out


def _attribute(attributes: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(a for a in attributes if a["name"] == name)


def strict_schemas(listing: dict[str, Any]) -> dict[str, Any]:
    """name.formatted and Group members required; emails without type and primary."""
    out = copy.deepcopy(listing)
    for schema in out["Resources"]:
        if schema["id"] == CORE_USER:
            _attribute(_attribute(schema["attributes"], "name")["subAttributes"], "formatted")["required"] = (
                True
            )
            emails = _attribute(schema["attributes"], "emails")
            emails["subAttributes"] = [
                s for s in emails["subAttributes"] if s["name"] not in ("type", "primary")
            ]
        if schema["id"] == CORE_GROUP:
            _attribute(schema["attributes"], "members")["required"] = True
    return out


def read_only_external_id(listing: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(listing)
    for schema in out["Resources"]:
        if schema["id"] == CORE_USER:
            schema["attributes"].append(
                {"name": "externalId", "type": "string", "mutability": "readOnly", "required": False}
            )
    return out


def strict_writes(method: str, path: str, body: Any) -> str | None:
    """What an app publishing `strict_schemas` refuses."""
    if method == "POST" and path == "/Users":
        if body.get("name") and not body["name"].get("formatted"):
            return "name.formatted is required"
        if any(set(e) - {"value"} for e in body.get("emails", [])):
            return "emails has no such sub-attribute"
    if method == "POST" and path == "/Groups" and not body.get("members"):
        return "members is required"
    if method == "PATCH" and path.startswith("/Users/"):
        for op in body.get("Operations", []):
            if op.get("path") == "emails" and any(set(e) - {"value"} for e in op.get("value", [])):
                return "emails has no such sub-attribute"
    return None


# -- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quirky_server() -> Iterator[QuirkyApp]:
    with running_scim_app(app=QuirkyApp()) as app:
        assert isinstance(app, QuirkyApp)
        yield app


@pytest.fixture
def quirky(quirky_server: QuirkyApp) -> Iterator[QuirkyApp]:
    quirky_server.reset()
    yield quirky_server
    quirky_server.reset()


@pytest.fixture
async def quirky_connector(quirky: QuirkyApp) -> AsyncIterator[ScimConnector]:
    connector = ScimConnector(quirky.base_url, BearerAuth(quirky.token), Tls(insecure=True), timeout=5.0)
    yield connector
    await connector.aclose()


async def _checks(connector: ScimConnector, attributes: set[str] | None = None) -> dict[str, CheckResult]:
    return {r.name: r for r in await connector.validate(attributes)}


async def _validate(app: QuirkyApp, *, integration: bool = False) -> Report:
    """The validation process's report (as status shows it) for an Integration of the app."""
    pool = ConnectorPool(timeout=5.0)
    try:
        validator = ConnectorValidator(pool)
        spec = target(app.base_url, app.token)
        return await (validator.validate_integration(spec) if integration else validator.validate_app(spec))
    finally:
        await pool.aclose()


def _django_scim2_like(app: QuirkyApp) -> None:
    """Discovery listings without totalResults, Schema resources without `schemas`, absolute endpoints, no
    by-id routes, 404s as HTML."""
    app.rewrites += [
        ("/ResourceTypes", lambda r: without_total(absolute_endpoints(r))),
        ("/Schemas", lambda r: without_total(without_schemas(r))),
    ]
    app.faults.arm(**HTML_404, times=None, path_prefix="/ResourceTypes/")
    app.faults.arm(**HTML_404, times=None, path_prefix="/Schemas/")


# -- what provisioning does not depend on: warnings ---------------------------------------------------------


async def test_a_django_scim2_like_app_is_validated_with_warnings_never_sent_to_review(
    quirky: QuirkyApp,
) -> None:
    _django_scim2_like(quirky)
    report = await _validate(quirky)

    assert report.outcome == "Passed", report.message
    checks = {c.name: c for c in report.checks}
    assert checks["discovery"].result == "Warning"
    assert checks["schema"].result == "Warning"
    for finding in (
        "totalResults",
        "without `schemas`",
        "endpoint '/v2/Users' given absolute",
        "404 without",
    ):
        assert finding in report.message, finding
    assert "serves no /Users" not in report.message
    assert "the mapped attributes exist and are writable: " in checks["schema"].message
    assert {"name": "schema", "result": "Warning"}.items() <= checks["schema"].to_dict().items()
    assert quirky.requests.writes == []


async def test_absolute_endpoints_are_resolved_against_the_base_url(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.rewrites.append(("/ResourceTypes", absolute_endpoints))

    checks = await _checks(quirky_connector)

    assert checks["schema"].passed, checks["schema"].message

    assert checks["schema"].warning
    assert checks["schema"].message.startswith("Users and Groups are served")


async def test_lower_case_resources_in_schemas_are_read_and_the_attributes_checked(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.rewrites.append(("/Schemas", lower_case_resources))

    checks = await _checks(quirky_connector)

    schema = checks["schema"]
    assert schema.passed, schema.message
    assert schema.warning
    assert "writable: active, " in schema.message
    assert schema.message.count(", ") >= 8  # the mapped attributes, each checked
    assert "'resources'" in schema.message


async def test_a_schema_check_that_could_check_nothing_does_not_simply_pass(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.rewrites.append(("/Schemas", lambda r: {**r, "totalResults": 0, "Resources": []}))

    schema = (await _checks(quirky_connector))["schema"]

    assert schema.passed, schema.message

    assert schema.warning
    assert "writable" not in schema.message
    assert "RFC 7643's core schemas assumed" in schema.message


async def test_no_schemas_endpoint_assumes_the_core_schemas_and_says_so(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.faults.arm(**HTML_404, times=None, path_prefix="/Schemas")

    checks = await _checks(quirky_connector)

    assert checks["schema"].passed
    assert checks["schema"].warning
    assert "publishes no /Schemas: RFC 7643's core schemas assumed" in checks["schema"].message
    assert checks["discovery"].passed


async def test_no_resource_types_endpoint_looks_for_groups_by_listing_one(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.faults.arm(**HTML_404, times=None, path_prefix="/ResourceTypes")

    checks = await _checks(quirky_connector)

    assert checks["schema"].passed, checks["schema"].message

    assert checks["schema"].warning
    assert "no /ResourceTypes" in checks["schema"].message
    assert quirky.requests.select("GET", "/v2/Groups")


async def test_no_resource_types_and_no_groups_is_incompatible_when_the_accounts_have_groups(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.faults.arm(**HTML_404, times=None, path_prefix="/ResourceTypes")
    quirky.faults.arm(**HTML_404, times=None, path_prefix="/Groups")

    checks = await _checks(quirky_connector)

    assert (checks["schema"].passed, checks["schema"].problem_class) == (False, "SchemaIncompatible")
    assert "serves no /Groups" in checks["schema"].message


async def test_no_service_provider_config_takes_the_conservative_choices_and_still_provisions(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.faults.arm(**HTML_404, times=None, path_prefix="/ServiceProviderConfig")

    checks = await _checks(quirky_connector)
    created = await quirky_connector.create_many([Account(user_name="ada"), Account(user_name="bob")])
    assert all(isinstance(a, Account) and a.id for a in created), created
    ada = created[0]
    assert isinstance(ada, Account)
    await quirky_connector.update(ada, {"title": "Engineer"})

    capabilities = checks["capabilities"]
    assert capabilities.passed
    assert capabilities.warning
    assert "no ServiceProviderConfig: assumed the conservative choices (no Bulk" in capabilities.message
    assert await quirky_connector.capabilities() == mapping.NO_CONFIG
    assert not quirky.requests.select("POST", "/v2/Bulk")
    assert sorted(u.user_name for u in quirky.users()) == ["ada", "bob"]
    assert [u.title for u in quirky.users() if u.user_name == "ada"] == ["Engineer"]


# -- what provisioning depends on: failures that name their step --------------------------------------------


async def test_a_500_on_the_first_listing_is_the_listing_not_the_authentication(quirky: QuirkyApp) -> None:
    quirky.faults.arm(500, times=None, path_prefix="/Users")
    credentials = OAuth2ClientCredentials(
        quirky.token_url, quirky.oauth.client_id, quirky.oauth.client_secret
    )
    connector = ScimConnector(quirky.base_url, credentials, Tls(insecure=True), timeout=5.0)
    try:
        checks = await _checks(connector)
    finally:
        await connector.aclose()

    assert checks["authentication"].passed, checks["authentication"].message
    assert "token endpoint issued a token" in checks["authentication"].message
    listing = checks["listing"]
    assert (listing.passed, listing.retryable, listing.problem_class) == (False, True, "AppUnavailable")
    assert "list one account" in listing.message
    assert checks["schema"].skipped
    assert [r.status for r in quirky.requests.select("POST", "/oauth/token")] == [200]


async def test_a_500_on_the_listing_with_a_static_token_judges_no_credentials(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.faults.arm(500, times=None, path_prefix="/Users")

    checks = await _checks(quirky_connector)
    report = await _validate(quirky, integration=True)

    assert checks["authentication"].skipped
    assert not checks["listing"].passed
    assert checks["listing"].retryable
    assert report.message.startswith("check listing failed: list one account")
    assert "check authentication failed" not in report.message


# -- what the app's schema asks of what is sent -----------------------------------------------------------


async def test_required_sub_attributes_are_sent_and_missing_ones_are_not(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.rewrites.append(("/Schemas", strict_schemas))
    quirky.refusals.append(strict_writes)
    ada = Account(user_name="ada", given_name="Ada", family_name="Lovelace", email="ada@example.org")
    bob = Account(user_name="bob", email="bob@example.org", groups=("eng",))

    checks = await _checks(quirky_connector)
    created = await quirky_connector.create(dataclasses.replace(ada, groups=("eng",)))
    [made] = await quirky_connector.create_many([bob])
    assert isinstance(made, Account)
    await quirky_connector.update(created, {"given_name": "Augusta", "email": "augusta@example.org"})

    assert checks["schema"].passed, checks["schema"].message
    assert "name.formatted is required: sent" in checks["schema"].message
    assert "emails has no type or primary: not sent" in checks["schema"].message
    assert [r for r in quirky.requests if r.status == 400] == []
    stored = {u.user_name: u for u in quirky.users()}
    assert stored["ada"].name.formatted == "Augusta Lovelace"
    assert [(e.value, e.type, e.primary) for e in stored["ada"].emails] == [
        ("augusta@example.org", None, None)
    ]
    [group] = quirky.groups()
    assert sorted(m.value for m in group.members) == sorted([str(created.id), str(made.id)])
    [group_create] = quirky.requests.select("POST", "/v2/Groups")
    assert [m["value"] for m in group_create.json()["members"]] == [str(created.id)]  # its first member


async def test_a_read_only_external_id_fails_validation_with_the_reason(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    quirky.rewrites.append(("/Schemas", read_only_external_id))

    schema = (await _checks(quirky_connector))["schema"]

    assert (schema.passed, schema.problem_class) == (False, "SchemaIncompatible")
    assert "externalId is readOnly" in schema.message
    assert "owner stamp cannot be stored" in schema.message


async def test_a_conformance_run_that_breaks_is_a_warning_not_a_review(quirky: QuirkyApp) -> None:
    def observe(method: str, code: str, seconds: float) -> None:
        if threading.current_thread() is not threading.main_thread():  # the conformance run's thread only
            raise RuntimeError("the conformance tool broke")

    connector = ScimConnector(
        quirky.base_url, BearerAuth(quirky.token), Tls(insecure=True), timeout=5.0, observe=observe
    )
    try:
        checks = await _checks(connector)
    finally:
        await connector.aclose()

    discovery = checks["discovery"]
    assert discovery.passed
    assert discovery.warning
    assert "the conformance tool broke" in discovery.message
    assert all(c.passed for c in checks.values())


# -- the schema profile (pure) ----------------------------------------------------------------------------


def test_without_a_published_schema_what_is_sent_is_what_idlcm_always_sent() -> None:
    account = Account(user_name="ada", given_name="Ada", family_name="Lovelace", email="ada@example.org")

    assert schemas.profile_of({}) == mapping.CORE_PROFILE
    sent = mapping.to_user(account).model_dump()
    assert sent == mapping.to_user(account, mapping.CORE_PROFILE).model_dump()
    assert sent["emails"] == [{"value": "ada@example.org", "type": "work", "primary": True}]
    assert "formatted" not in sent["name"]
    assert "displayName" not in sent


def test_a_published_schema_is_read_case_insensitively() -> None:
    user = {
        "ID": CORE_USER,
        "Attributes": [
            {
                "Name": "NAME",
                "SubAttributes": [{"name": "Formatted", "Required": "true"}, {"name": "givenName"}],
            },
            {"name": "displayname", "required": True},
            {"name": "Emails", "subAttributes": [{"name": "value"}, {"name": "TYPE"}]},
        ],
    }
    group = {
        "id": CORE_GROUP,
        "attributes": [{"name": "members", "required": True, "subAttributes": [{"name": "value"}]}],
    }

    profile = schemas.profile_of({CORE_USER.lower(): user, CORE_GROUP.lower(): group})

    assert profile == mapping.SchemaProfile(
        name_formatted=True,
        display_name=True,
        email_type=True,
        email_primary=False,
        member_type=False,
        members_required=True,
    )
    sent = mapping.to_user(Account(user_name="ada", family_name="Lovelace", email="a@example.org"), profile)
    assert sent.model_dump()["name"]["formatted"] == "Lovelace"
    assert sent.model_dump()["displayName"] == "Lovelace"
    assert sent.model_dump()["emails"] == [{"value": "a@example.org", "type": "work"}]
    assert mapping.to_group("eng", ["1"], profile).model_dump()["members"] == [{"value": "1"}]


async def test_a_new_group_for_accounts_already_in_the_app_is_created_with_them(
    quirky: QuirkyApp, quirky_connector: ScimConnector
) -> None:
    # The group step (operations.apply_groups) creates a group the spec names for accounts that exist
    # already: on an app whose schema requires members, it must be created with its first members.
    quirky.rewrites.append(("/Schemas", strict_schemas))
    quirky.refusals.append(strict_writes)
    await _checks(quirky_connector)
    ada = await quirky_connector.create(Account(user_name="ada", email="ada@example.org"))
    bob = await quirky_connector.create(Account(user_name="bob", email="bob@example.org"))
    plan = GroupPlan(creates=["ops"], changes=[GroupChange("ops", add=[str(ada.id), str(bob.id)], remove=[])])

    outcome = Outcome()
    await apply_groups(plan, quirky_connector, outcome)

    assert outcome.failures == []
    assert [r for r in quirky.requests if r.status == 400] == []
    [group] = quirky.groups()
    assert group.display_name == "ops"
    assert sorted(m.value for m in group.members) == sorted([str(ada.id), str(bob.id)])
