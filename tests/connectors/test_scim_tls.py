"""TLS: verified against the given CA, refused against an unknown one, skipped only when insecure."""

import pytest

from idlcm.connectors import Account, BearerAuth, NeedsHumanError, ScimConnector, Tls
from scimapp import ScimApp, ServerCertificates


async def _connector_call(scim_tls_app: ScimApp, tls: Tls) -> Account:
    connector = ScimConnector(scim_tls_app.base_url, BearerAuth(scim_tls_app.token), tls)
    try:
        return await connector.create(Account(user_name="alice"))
    finally:
        await connector.aclose()


async def test_certificate_from_the_given_ca_is_trusted(
    scim_tls_app: ScimApp, scim_tls_certificates: ServerCertificates
) -> None:
    assert (await _connector_call(scim_tls_app, Tls(ca_pem=scim_tls_certificates.ca_pem))).id


async def test_unknown_ca_needs_a_human(scim_tls_app: ScimApp) -> None:
    with pytest.raises(NeedsHumanError) as caught:
        await _connector_call(scim_tls_app, Tls())
    assert caught.value.problem_class == "TLSError"
    assert scim_tls_app.users() == []


async def test_insecure_skips_verification(scim_tls_app: ScimApp) -> None:
    assert (await _connector_call(scim_tls_app, Tls(insecure=True))).id


async def test_validate_reports_the_tls_problem(scim_tls_app: ScimApp) -> None:
    connector = ScimConnector(scim_tls_app.base_url, BearerAuth(scim_tls_app.token))
    try:
        results = {r.name: (r.passed, r.problem_class) for r in await connector.validate()}
    finally:
        await connector.aclose()
    assert results == {"connectivity": (True, None), "tls": (False, "TLSError")}


def test_invalid_ca_bundle_needs_a_human() -> None:
    with pytest.raises(NeedsHumanError) as caught:
        ScimConnector("https://scim.example.com/v2", BearerAuth("t0ken-x"), Tls(ca_pem=b"not a certificate"))
    assert caught.value.problem_class == "TLSError"


async def test_connectors_with_the_same_tls_settings_share_one_ssl_context(
    scim_tls_app: ScimApp, scim_tls_certificates: ServerCertificates
) -> None:
    """A context with the system CAs loaded takes about a megabyte: one per Integration would not scale."""
    trusted = Tls(ca_pem=scim_tls_certificates.ca_pem)
    assert trusted.verify() is Tls(ca_pem=scim_tls_certificates.ca_pem).verify()
    assert Tls().verify() is Tls().verify()
    assert Tls(insecure=True).verify() is Tls(insecure=True).verify()
    assert len({id(t.verify()) for t in (trusted, Tls(), Tls(insecure=True))}) == 3
    # Shared, and each still verifies as its settings say: the trusted CA works, the system CAs refuse.
    assert (await _connector_call(scim_tls_app, trusted)).id
    with pytest.raises(NeedsHumanError) as refused:
        await _connector_call(scim_tls_app, Tls())
    assert refused.value.problem_class == "TLSError"
