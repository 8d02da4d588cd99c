"""`idlcm.devcluster`: an in-process Kubernetes API server with the idlcm CRDs, for kopf, kubectl and tests.

    async with devcluster.serve() as cluster:          # in the current event loop
        kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")

    with devcluster.serve_in_thread() as cluster:       # for blocking clients (kubectl, the official client)
        ...

Served: core v1 namespaces, secrets, configmaps, events, serviceaccounts (with the TokenRequest `token`
subresource), services; events.k8s.io/v1 events (a store of its own); apps/v1 deployments, policy/v1
poddisruptionbudgets and the rbac.authorization.k8s.io/v1 kinds (stored and validated, nothing run:
`kinds.py`); apiextensions.k8s.io/v1 customresourcedefinitions (a created CRD is served at once, kopf's
peering CRDs too; deleting it drops its objects without events); the kinds of the CRDs in `crds/`. Not
served: leases, pods and the rest. `tests/devcluster/test_conformance.py` states each emulated behaviour.
Authorization: a ServiceAccount token minted here (`cluster.rbac.mint`, `kubectl create token`) is held to
the stored RBAC (`rbac.py`); any other request is the admin. Not emulated: field ownership of server-side
apply (it creates or merges; fields left out of a later apply are kept), garbage collection
(ownerReferences, Foreground/Orphan propagation), consistent snapshots across `continue` pages and
`resourceVersion` on reads (lists are always the latest), `sendInitialEvents`, protobuf other than what
`kubectl create namespace|secret|configmap|serviceaccount|token` sends, TLS (kubectl sends no token over
plain HTTP, so kubectl is always the admin here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from idlcm.devcluster.server import DevCluster, serve

__all__ = ["DevCluster", "run_forever", "serve", "serve_in_thread"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def serve_in_thread(port: int = 0, **options: Any) -> Iterator[DevCluster]:
    """Run a DevCluster in a background thread with its own event loop (for blocking clients)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    clusters: list[DevCluster] = []
    failures: list[BaseException] = []
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with serve(port, **options) as cluster:
                clusters.append(cluster)
                ready.set()
                await stop.wait()
        except BaseException as e:
            failures.append(e)
            ready.set()
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="devcluster", daemon=True)
    thread.start()
    ready.wait()
    if failures:
        thread.join()
        loop.close()
        raise failures[0]
    try:
        yield clusters[0]
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()


async def run_forever(port: int, kubeconfig_path: Path) -> None:
    """Serve until cancelled, with a kubeconfig for it written (`idlcm devcluster`)."""
    async with serve(port) as cluster:
        path = cluster.write_kubeconfig(kubeconfig_path)
        logger.info("Kubernetes API at %s; export KUBECONFIG=%s", cluster.url, path.resolve())
        await asyncio.Event().wait()
