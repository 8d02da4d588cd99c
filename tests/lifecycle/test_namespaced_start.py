"""Started for one namespace, the operator reads nothing cluster-wide (kopf's scanning off), logs no error at
start, and its health endpoint answers 503 until its watches have listed, 200 from then on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from idlcm import runner
from lifecycle.conftest import FAST, Cluster, spec_for
from scimapp import ScimApp, free_port

REQUEST_LINE = re.compile(rb"(?:^|\r\n)(?:GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1\r\n")


PEERING_CRDS = Path(__file__).parents[2] / "manifests" / "base" / "kopf-peering-crds.yaml"


class GatedProxy:
    """A TCP proxy on loopback to the embedded API that holds every connection until opened."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").rpartition(":")
        self.upstream = (host, int(port))
        self.opened = asyncio.Event()
        self.held = 0
        self.paths: list[str] = []
        """The path of every request sent through (request lines of the client's side)."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> GatedProxy:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.held += 1
        try:
            await self.opened.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(_pipe(reader, up_writer, self.paths), _pipe(up_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, paths: list[str] | None = None
) -> None:
    try:
        while data := await reader.read(65536):
            if paths is not None:
                paths.extend(m.group(1).decode() for m in REQUEST_LINE.finditer(data))
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def through(proxy: GatedProxy, kubeconfig: Path, tmp_path: Path) -> kubernetes.client.Configuration:
    """The client configuration of the kubeconfig, with its server the proxy."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = proxy.url
    path = tmp_path / "through-proxy.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return runner.cluster_config(str(path), None)


def health(url: str) -> tuple[int, dict[str, object]]:
    """The health endpoint's status code and JSON body."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@contextlib.asynccontextmanager
async def namespaced_operator(
    config: kubernetes.client.Configuration, namespace: str, liveness: str, **options: Any
) -> AsyncIterator[None]:
    """The operator for `namespace` only, in its own thread and loop, until the block ends."""
    flag, ready = threading.Event(), threading.Event()
    coro = runner.run(
        config,
        namespaces=(namespace,),
        liveness=liveness,
        settings=FAST,
        stop_flag=flag,
        ready_flag=ready,
        **options,
    )
    thread = threading.Thread(target=asyncio.run, args=(coro,), name="operator", daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(ready.wait, 10), "the operator did not start"
        yield
    finally:
        flag.set()
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive(), "the operator did not stop"


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def test_health_answers_503_until_the_watches_have_listed_then_200(
    embedded: kubernetes.client.Configuration, cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/healthz"
    async with GatedProxy(embedded.host) as proxy:
        config = through(proxy, kubeconfig, tmp_path)
        async with namespaced_operator(config, cluster.namespace, url):
            # The startup handlers ran and the endpoint serves; every request to the API is held.
            status, body = await asyncio.to_thread(health, url)
            assert status == 503
            assert body["watching"] is False
            assert f"integrations.idlcm.io@{cluster.namespace}" in body["waitingFor"]  # type: ignore[operator]

            proxy.opened.set()
            deadline = time.monotonic() + 30
            while (answer := await asyncio.to_thread(health, url))[0] != 200:
                assert answer[0] == 503
                if time.monotonic() > deadline:
                    pytest.fail(f"still not ready: {answer}")
                await asyncio.sleep(0.1)
            assert answer[1] == {"watching": True}
            assert proxy.held > 0  # the API was indeed only reached through the gate


async def test_namespaced_start_logs_no_error_and_handles_an_integration_at_once(
    embedded: kubernetes.client.Configuration,
    cluster: Cluster,
    scim_app: ScimApp,
    caplog: pytest.LogCaptureFixture,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/healthz"
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    caplog.set_level(logging.INFO)
    async with GatedProxy(embedded.host) as proxy:
        proxy.opened.set()
        config = through(proxy, kubeconfig, tmp_path)
        async with namespaced_operator(config, cluster.namespace, url):
            await wait_until(lambda: health(url)[0] == 200, 30, "the watches run")
            await cluster.create_integration("crm", spec_for(scim_app))
            await cluster.wait_status("crm", "UpToDate", timeout=30)

    # Nothing cluster-wide was asked for: no CRDs, no Namespaces (a namespaced Role grants neither).
    resources = {urllib.parse.urlsplit(p).path for p in proxy.paths}
    assert f"/apis/idlcm.io/v1alpha1/namespaces/{cluster.namespace}/integrations" in resources
    assert not [r for r in resources if "customresourcedefinitions" in r or r == "/api/v1/namespaces"]

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "permission" in w.lower() or "forbidden" in w.lower()], warnings


async def test_a_replica_standing_by_for_its_peer_answers_200_and_says_so(
    embedded: kubernetes.client.Configuration, cluster: Cluster
) -> None:
    # A 503 from a paused standby would fail its probes (restarts) and hold up a rolling update for ever.
    extensions = kubernetes.client.ApiextensionsV1Api(cluster.client)
    for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
        if crd:
            await cluster.call(extensions.create_custom_resource_definition, crd)
    active, standby = (f"http://127.0.0.1:{free_port()}/healthz" for _ in range(2))
    peering = {"peering": "idlcm"}

    async with namespaced_operator(embedded, cluster.namespace, active, priority=10, **peering):
        await wait_until(lambda: health(active) == (200, {"watching": True}), 60, "the first replica watches")
        async with namespaced_operator(embedded, cluster.namespace, standby, priority=1, **peering):
            expected = (200, {"watching": False, "standby": True})
            await wait_until(lambda: health(standby) == expected, 60, "the second replica stands by")
            assert health(active) == (200, {"watching": True})
