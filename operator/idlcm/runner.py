"""Start the kopf operator with idlcm's handlers against one cluster."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence

import kopf
import kubernetes.client
import kubernetes.config

from idlcm import logs
from idlcm.handlers import build_registry, memo_for
from idlcm.metrics import Metrics
from idlcm.peering import ensure as ensure_peering
from idlcm.settings import Settings
from idlcm.shards import Shard
from idlcm.validation import Validator


class NoClusterError(Exception):
    """No cluster is configured (no kubeconfig, not in a pod)."""


def cluster_config(kubeconfig: str | None, context: str | None) -> kubernetes.client.Configuration:
    """Client configuration: the given kubeconfig, else in-cluster, else $KUBECONFIG or ~/.kube/config."""
    config = kubernetes.client.Configuration()
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
        else:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=config, persist_config=False
            )
    except (kubernetes.config.ConfigException, FileNotFoundError, OSError) as e:
        raise NoClusterError(
            f"no Kubernetes cluster configured ({e}); set KUBECONFIG or --kubeconfig, "
            "or try `idlcm run --embedded` for an embedded API"
        ) from None
    return config


async def run(
    config: kubernetes.client.Configuration,
    *,
    namespaces: Sequence[str] = (),
    liveness: str | None = None,
    peering: str | None = None,
    priority: int = 0,
    shard: Shard | None = None,
    settings: Settings | None = None,
    validator: Validator | None = None,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    metrics: Metrics | None = None,
    metrics_port: int | None = None,
) -> None:
    """Run until stopped: all namespaces unless `namespaces` names some; all Integrations there, or only
    the `shard`'s (with `peering`, its replicas then share the peering object `<peering>-<shard>`). With
    `metrics_port` (0: any free port, see `metrics.port`), serve `/metrics` on it for as long as the
    operator runs."""
    settings = settings or Settings.from_env()
    metrics = metrics or Metrics()
    logs.install()
    if metrics_port is not None:
        metrics.serve(metrics_port)
    try:
        await ensure_peering(config, shard.peering(peering) if shard and peering else peering, namespaces)
        await kopf.operator(
            registry=build_registry(settings, shard, namespaces=namespaces, health=liveness),
            memo=memo_for(config, settings, validator, metrics),
            clusterwide=not namespaces,
            namespaces=namespaces,
            liveness_endpoint=None,  # idlcm serves it (readiness.py): 200 only once the watches run
            standalone=peering is None,
            peering_name=shard.peering(peering) if shard and peering else peering,
            priority=priority,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        metrics.stop()
