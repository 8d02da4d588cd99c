"""validate(): read-only checks of an app, each a pass or a problem a person can act on."""

import threading

from idlcm.connectors import BearerAuth, OAuth2ClientCredentials, ScimConnector, Tls
from scimapp import ScimApp


async def _validate(base_url: str, token: str) -> dict[str, tuple[bool, str | None]]:
    connector = ScimConnector(base_url, BearerAuth(token), Tls(insecure=True), timeout=2.0)
    try:
        return {r.name: (r.passed, r.problem_class) for r in await connector.validate()}
    finally:
        await connector.aclose()


async def test_healthy_app_passes_every_check_without_writing(scim_app: ScimApp) -> None:
    results = await _validate(scim_app.base_url, scim_app.token)
    assert results == {
        name: (True, None)
        for name in (
            "connectivity",
            "tls",
            "authentication",
            "listing",
            "discovery",
            "schema",
            "capabilities",
        )
    }
    assert scim_app.users() == []
    assert scim_app.groups() == []
    assert not [
        r for r in scim_app.requests.writes if r.path.startswith(("/v2/Users", "/v2/Groups", "/v2/Bulk"))
    ]


async def test_nothing_listening_is_unreachable(unused_port: int) -> None:
    results = await _validate(f"http://127.0.0.1:{unused_port}/v2", "t0ken-x")
    assert results == {"connectivity": (False, "Unreachable")}


async def test_wrong_path_is_not_a_scim_service(scim_app: ScimApp) -> None:
    results = await _validate(scim_app.origin + "/not-scim", scim_app.token)
    assert results["connectivity"] == (True, None)
    assert results["listing"] == (False, "NotScimService")
    assert results["discovery"][0] is False


async def test_bad_token_fails_authentication(scim_app: ScimApp) -> None:
    results = await _validate(scim_app.base_url, "wrong-token")
    assert results["authentication"] == (False, "InvalidCredentials")


async def test_app_without_groups_is_incompatible(scim_app: ScimApp) -> None:
    scim_app.faults.arm(
        200,
        times=None,
        path_prefix="/ResourceTypes",
        body=(
            '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 1,'
            ' "Resources": [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User",'
            ' "name": "User", "endpoint": "/Users", "schema": "urn:ietf:params:scim:schemas:core:2.0:User"}]}'
        ),
    )
    results = await _validate(scim_app.base_url, scim_app.token)
    assert results["schema"] == (False, "SchemaIncompatible")


async def test_a_configuration_the_reach_cannot_use_is_read_again_and_reported(scim_app: ScimApp) -> None:
    scim_app.faults.arm(200, times=None, path_prefix="/ServiceProviderConfig", body="<html>login</html>")
    connector = ScimConnector(scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), timeout=2.0)
    try:
        results = {r.name: (r.passed, r.problem_class) for r in await connector.validate(discovery=False)}
    finally:
        await connector.aclose()
    assert results["connectivity"] == (True, None)  # an answer came
    assert results["authentication"] == (True, None)
    assert results["schema"] == (False, "InvalidResponse")
    assert (
        len(scim_app.requests.select("GET", "/v2/ServiceProviderConfig")) == 2
    )  # the reach, the schema check


async def test_with_oauth2_the_reach_goes_without_credentials_and_the_token_comes_after(
    scim_app: ScimApp,
) -> None:
    credentials = OAuth2ClientCredentials(
        scim_app.token_url, scim_app.oauth.client_id, scim_app.oauth.client_secret, ("scim",)
    )
    connector = ScimConnector(scim_app.base_url, credentials, Tls(insecure=True), timeout=2.0)
    try:
        results = {r.name: r.passed for r in await connector.validate(discovery=False)}
    finally:
        await connector.aclose()
    assert all(results.values()), results
    reach, *later = scim_app.requests
    assert (reach.path, "authorization" in reach.headers) == ("/v2/ServiceProviderConfig", False)
    assert later[0].path == "/oauth/token"  # asked for by the authentication check
    configs = [r for r in later if r.path == "/v2/ServiceProviderConfig"]
    assert [r.headers.get("authorization") for r in configs] == ["***"]  # the capabilities, with the token


async def test_a_spurious_interpreter_error_in_discovery_runs_it_again(scim_app: ScimApp) -> None:
    """CPython 3.11/3.12 may raise "AST constructor recursion depth mismatch" when two threads build ASTs at
    once (cpython gh-106905): injected here once into the discovery thread, it is not held against the app."""
    raised: list[str] = []

    def observe(method: str, code: str, seconds: float) -> None:
        if threading.current_thread() is not threading.main_thread() and not raised:
            raised.append(code)
            raise SystemError("AST constructor recursion depth mismatch (before=41, after=40)")

    connector = ScimConnector(
        scim_app.base_url, BearerAuth(scim_app.token), Tls(insecure=True), timeout=2.0, observe=observe
    )
    try:
        results = {r.name: (r.passed, r.problem_class) for r in await connector.validate()}
    finally:
        await connector.aclose()
    assert raised, "the error was never injected"
    assert results["discovery"] == (True, None)
