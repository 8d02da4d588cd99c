"""The operator's own kopf peering object, created at start: kopf only patches one that exists.

kopf (`engines/peering.py`) patches its keep-alive into the peering object's status and, with `--peering`,
keeps every watch paused until that object is seen; it never creates the object. Shipping the object in the
install does not work in one `kubectl apply -k`: its kind's CRD is applied in the same request and is not yet
established ("no matches for kind ClusterKopfPeering ... ensure CRDs are installed first"). So the operator
creates it before kopf starts: a `ClusterKopfPeering` cluster-wide, a `KopfPeering` in each namespace served.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import kubernetes.client
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

GROUP = "kopf.dev"
VERSION = "v1"
CLUSTER_PLURAL = "clusterkopfpeerings"
NAMESPACED_PLURAL = "kopfpeerings"

WAIT_SECONDS = 60.0
"""How long to wait for the peering CRDs to be served (applied with the operator, they take a moment)."""

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

logger = logging.getLogger(__name__)


async def ensure(
    config: kubernetes.client.Configuration,
    name: str | None,
    namespaces: Sequence[str] = (),
    *,
    wait: float = WAIT_SECONDS,
) -> None:
    """Create the peering object `name` (None: standalone, nothing to do) where kopf will look for it:
    cluster-wide without `namespaces`, else in each of them. Never raises: what cannot be done is logged,
    and kopf then waits paused, as it does without a peering object."""
    if name is None:
        return
    exact = [n for n in namespaces if _NAMESPACE.match(n)]
    if len(exact) < len(namespaces):
        patterns = ", ".join(sorted(set(namespaces) - set(exact)))
        logger.warning(
            "create the KopfPeering %r in the namespaces matching %s yourself: the operator creates it "
            "only in the namespaces it is given by name",
            name,
            patterns,
        )
    await asyncio.to_thread(_ensure_all, config, name, exact if namespaces else [None], wait)


def _ensure_all(
    config: kubernetes.client.Configuration, name: str, namespaces: Sequence[str | None], wait: float
) -> None:
    with kubernetes.client.ApiClient(config) as client:
        api = kubernetes.client.CustomObjectsApi(client)
        deadline = time.monotonic() + wait
        for namespace in namespaces:
            _ensure_one(api, name, namespace, deadline)


def _ensure_one(
    api: kubernetes.client.CustomObjectsApi, name: str, namespace: str | None, deadline: float
) -> None:
    kind = "ClusterKopfPeering" if namespace is None else "KopfPeering"
    where = "cluster-wide" if namespace is None else f"in namespace {namespace!r}"
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
    pause = 0.5
    while True:
        try:
            _create(api, namespace, body)
            logger.info("created the peering object %s %r %s", kind, name, where)
            return
        except ApiException as e:
            if e.status == 409:  # there already (an earlier start, another replica, an admin)
                return
            if e.status == 403 and _exists(api, name, namespace):
                return
            if e.status == 403:
                logger.error(
                    "may not create the peering object %s %r %s (grant `create` on kopf.dev %s, or create "
                    "it): the operator stays paused until it exists",
                    kind,
                    name,
                    where,
                    CLUSTER_PLURAL if namespace is None else NAMESPACED_PLURAL,
                )
                return
            why = "its CRD is not served yet, or no such namespace" if e.status == 404 else f"HTTP {e.status}"
        except (OSError, urllib3.exceptions.HTTPError) as e:  # the API server not reachable (yet)
            why = type(e).__name__
        if time.monotonic() + pause > deadline:
            logger.error(
                "could not create the peering object %s %r %s (%s): the operator stays paused until it "
                "exists; install kopf's peering CRDs (manifests/base/kopf-peering-crds.yaml) and restart it",
                kind,
                name,
                where,
                why,
            )
            return
        time.sleep(pause)  # in a worker thread: the event loop runs on
        pause = min(pause * 2, 5.0)


def _create(api: kubernetes.client.CustomObjectsApi, namespace: str | None, body: dict[str, Any]) -> None:
    if namespace is None:
        api.create_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body)
    else:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, NAMESPACED_PLURAL, body)


def _exists(api: kubernetes.client.CustomObjectsApi, name: str, namespace: str | None) -> bool:
    try:
        if namespace is None:
            api.get_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, name)
        else:
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, NAMESPACED_PLURAL, name)
    except ApiException:
        return False
    return True
