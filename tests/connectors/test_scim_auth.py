"""Credentials: bearer, basic and OAuth 2.0 client credentials (cached, refreshed early, retried on a 401)."""

import asyncio

import pytest

from idlcm.connectors import (
    Account,
    BasicAuth,
    BearerAuth,
    NeedsHumanError,
    OAuth2ClientCredentials,
    ScimConnector,
    Tls,
)
from scimapp import ScimApp


def _oauth(scim_app: ScimApp, secret: str | None = None) -> ScimConnector:
    credentials = OAuth2ClientCredentials(
        scim_app.token_url, scim_app.oauth.client_id, secret or scim_app.oauth.client_secret, ("scim",)
    )
    return ScimConnector(scim_app.base_url, credentials, Tls(insecure=True))


def test_credentials_never_show_their_secrets() -> None:
    shown = repr(
        [
            BearerAuth("b-secret-1"),
            BasicAuth("user", "b-secret-2"),
            OAuth2ClientCredentials("https://idp/token", "client", "b-secret-3"),
        ]
    )
    assert "b-secret" not in shown
    assert "user" in shown
    assert "client" in shown


async def test_basic_auth(scim_app: ScimApp) -> None:
    connector = ScimConnector(
        scim_app.base_url, BasicAuth(scim_app.basic_username, scim_app.basic_password), Tls(insecure=True)
    )
    wrong = ScimConnector(scim_app.base_url, BasicAuth(scim_app.basic_username, "wrong"), Tls(insecure=True))
    try:
        assert (await connector.create(Account(user_name="alice"))).id
        with pytest.raises(NeedsHumanError) as caught:
            await wrong.find_account(user_name="alice")
        assert caught.value.problem_class == "InvalidCredentials"
    finally:
        await connector.aclose()
        await wrong.aclose()


async def test_oauth_token_is_fetched_once_and_shared(scim_app: ScimApp) -> None:
    connector = _oauth(scim_app)
    try:
        await asyncio.gather(*(connector.find_account(user_name=f"u{i}") for i in range(10)))
    finally:
        await connector.aclose()
    assert scim_app.oauth.issued == 1
    [token_request] = scim_app.requests.select("POST", "/oauth/token")
    assert "grant_type=client_credentials" in token_request.body.decode()
    assert "scope=scim" in token_request.body.decode()


async def test_oauth_token_is_refreshed_before_it_expires(scim_app: ScimApp) -> None:
    scim_app.oauth.expires_in = 1.0
    connector = _oauth(scim_app)
    try:
        await connector.find_account(user_name="alice")
        await asyncio.sleep(0.8)  # past 3/4 of the lifetime, still valid at the app
        await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()
    assert scim_app.oauth.issued == 2
    assert all(r.status != 401 for r in scim_app.requests)


async def test_oauth_rejected_token_is_refreshed_and_the_request_retried_once(scim_app: ScimApp) -> None:
    connector = _oauth(scim_app)
    try:
        await connector.find_account(user_name="alice")
        scim_app.oauth.revoke_all()
        scim_app.requests.clear()
        assert (await connector.create(Account(user_name="alice"))).id
    finally:
        await connector.aclose()
    assert scim_app.oauth.issued == 2
    # (the first write reads the app's /Schemas first: what a create must carry)
    sent = [(r.method, r.status) for r in scim_app.requests]
    assert sent == [("GET", 401), ("POST", 200), ("GET", 200), ("POST", 201)]


async def test_oauth_persistent_rejection_needs_a_human_after_one_refresh(scim_app: ScimApp) -> None:
    scim_app.oauth.issue_valid_tokens = False
    connector = _oauth(scim_app)
    try:
        await connector.capabilities()  # public: no token needed
        with pytest.raises(NeedsHumanError) as caught:
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()
    assert caught.value.problem_class == "InvalidCredentials"
    assert scim_app.oauth.issued == 2
    assert len(scim_app.requests.select("GET", "/v2/Users")) == 2


async def test_oauth_wrong_client_secret_needs_a_human_and_is_not_shown(scim_app: ScimApp) -> None:
    connector = _oauth(scim_app, secret="canary-client-secret-42")
    try:
        with pytest.raises(NeedsHumanError) as caught:
            await connector.find_account(user_name="alice")
    finally:
        await connector.aclose()
    assert caught.value.problem_class == "InvalidCredentials"
    assert "canary-client-secret-42" not in str(caught.value) + repr(caught.value)
