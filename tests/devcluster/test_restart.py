"""A devcluster stopped and started again (an API server restart, as the crash suites stage it)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from idlcm.devcluster import DevCluster

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


async def test_a_stopped_cluster_starts_again_on_its_port_with_its_objects_and_serves_watches() -> None:
    cluster = DevCluster()
    await cluster.start()
    url = cluster.url
    async with aiohttp.ClientSession() as http:
        body = {"metadata": {"name": "kept"}, "data": {"a": "1"}}
        async with http.post(url + CONFIGMAPS, json=body) as created:
            assert created.status == 201
        await cluster.stop()
        await cluster.start(int(url.rsplit(":", 1)[1]))
        try:
            assert cluster.url == url
            async with http.get(f"{url}{CONFIGMAPS}/kept") as got:
                assert (await got.json())["data"] == {"a": "1"}
            async with http.get(f"{url}{CONFIGMAPS}?watch=true") as watch:
                first = json.loads(await watch.content.readline())
                async with http.post(url + CONFIGMAPS, json={"metadata": {"name": "new"}}) as created:
                    assert created.status == 201
                line = await asyncio.wait_for(watch.content.readline(), 10)
            assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "kept")
            assert line, "the watch ended: the restarted cluster still counts itself as stopping"
            assert json.loads(line)["object"]["metadata"]["name"] == "new"
        finally:
            await cluster.stop()
