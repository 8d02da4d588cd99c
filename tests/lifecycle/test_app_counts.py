"""An ExternalApp's INTEGRATIONS column counts every Integration that uses the app, validated or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifecycle.conftest import FAST, Cluster, OperatorFactory, spec_for
from scimapp import ScimApp


def _counted(*names: str) -> Callable[[dict[str, Any] | None], bool]:
    def check(app: dict[str, Any] | None) -> bool:
        status = (app or {}).get("status") or {}
        return status.get("integrations") == len(names) and status.get("integrationNames") == sorted(names)

    return check


def _with_token_from(app: ScimApp, secret: str, app_name: str = "acme-crm") -> dict[str, Any]:
    spec = spec_for(app)
    spec["app"] = app_name
    spec["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["name"] = secret
    return spec


async def test_an_integration_that_fails_validation_still_uses_the_app(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator(FAST)
    await cluster.create_secret("bad-token", {"token": "not-the-token"})
    await cluster.create_integration("hr-bad", _with_token_from(scim_app, "bad-token", "acme-hr"))
    await cluster.wait_status("hr-bad", "UnderReview")
    # The app never passed validation, yet an Integration uses it.
    assert await cluster.wait_for("externalapps", "acme-hr", _counted("hr-bad"), timeout=60)

    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await cluster.create_integration("crm-sales", spec_for(scim_app))
    await cluster.wait_status("crm-sales", "UpToDate")
    # A later Integration of the validated app that fails its own validation counts too.
    await cluster.create_integration("crm-wrong", _with_token_from(scim_app, "bad-token"))
    await cluster.wait_status("crm-wrong", "UnderReview")
    assert await cluster.wait_for("externalapps", "acme-crm", _counted("crm-sales", "crm-wrong"), timeout=60)
