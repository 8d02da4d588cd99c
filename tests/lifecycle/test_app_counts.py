"""The count of Integrations on each ExternalApp: right, and cheap for a burst of new Integrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import kubernetes.client

from idlcm.appcounts import AppCounter
from idlcm.crds import GROUP, VERSION
from idlcm.kube import Kube
from lifecycle.conftest import Cluster, spec_for
from scimapp import ScimApp


class CountingKube(Kube):
    """The real client, counting its listings of Integrations."""

    listings = 0

    async def list_integrations(
        self, namespace: str, *, page_size: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        self.listings += 1
        async for page in super().list_integrations(namespace, page_size=5):  # several pages
            yield page


async def test_a_burst_of_requests_costs_a_few_listings_and_counts_every_integration(
    cluster: Cluster, embedded: kubernetes.client.Configuration, scim_app: ScimApp
) -> None:
    app = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ExternalApp", "metadata": {"name": "acme-crm"}}
    app["spec"] = {"protocol": "SCIM", "baseURL": scim_app.base_url}
    await cluster.call(
        cluster.custom.create_namespaced_custom_object, GROUP, VERSION, cluster.namespace, "externalapps", app
    )
    names = [f"crm-{i:02d}" for i in range(12)]
    other = {**spec_for(scim_app), "app": "other-app"}
    await cluster.create_integration("not-counted", other)
    for name in names:
        await cluster.create_integration(name, spec_for(scim_app))
    kube = CountingKube(cluster.client)
    counter = AppCounter(kube, spacing=0.2)
    for _ in names:  # a burst of Integrations passing validation, each asking for a count
        counter.request(cluster.namespace, "acme-crm")
    await counter.settled()

    found = await cluster.get("externalapps", "acme-crm")
    assert found is not None
    assert found["status"]["integrations"] == len(names)
    assert found["status"]["integrationNames"] == names
    assert kube.listings == 1

    await cluster.delete_integration(names[0])  # no finalizer here: gone at once
    counter.request(cluster.namespace, "acme-crm")
    await counter.settled()
    found = await cluster.get("externalapps", "acme-crm")
    assert found is not None
    assert found["status"]["integrationNames"] == names[1:]
    assert kube.listings == 2
    await counter.aclose()
