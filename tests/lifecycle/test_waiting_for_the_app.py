"""Integrations waiting for their app's first validation go on as soon as it passed, not at the next tick."""

from __future__ import annotations

import dataclasses

from lifecycle.conftest import FAST, Cluster, OperatorFactory, spec_for
from scimapp import ScimApp


async def test_integrations_waiting_for_the_app_validation_in_this_process_go_on_when_it_passes(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    names = [f"crm-{i}" for i in range(4)]
    for name in names:
        await cluster.create_integration(name, spec_for(scim_app, {"userName": f"{name}@example.com"}))

    await operator(dataclasses.replace(FAST, tick=300.0))  # no tick comes to the rescue within the test

    for name in names:
        await cluster.wait_status(name, "UpToDate", timeout=20)
    app = await cluster.get("externalapps", "acme-crm")
    assert app is not None
    waited = [n for n in names if "UnderValidation" in await cluster.announced(n, "UpToDate")]
    assert app["status"]["validatedThrough"]["name"] in waited
