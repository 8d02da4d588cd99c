"""The operator creates its own kopf peering object at start (operator/idlcm/peering.py): against the
embedded API with kopf's peering CRDs from the manifests. The install then needs no object of a kind applied
with its CRD."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from idlcm import peering
from idlcm.devcluster import DevCluster
from idlcm.runner import cluster_config

PEERING_CRDS = Path(__file__).parents[2] / "manifests" / "base" / "kopf-peering-crds.yaml"


@pytest.fixture
def config(devcluster: DevCluster, tmp_path: Path) -> kubernetes.client.Configuration:
    return cluster_config(str(devcluster.write_kubeconfig(tmp_path / "kubeconfig")), None)


@pytest.fixture
def client(config: kubernetes.client.Configuration) -> Any:
    with kubernetes.client.ApiClient(config) as api_client:
        yield api_client


def install_peering_crds(client: Any) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(client)
    for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
        if crd:
            extensions.create_custom_resource_definition(crd)


def cluster_peerings(client: Any) -> list[str]:
    found = kubernetes.client.CustomObjectsApi(client).list_cluster_custom_object(
        peering.GROUP, peering.VERSION, peering.CLUSTER_PLURAL
    )
    return [item["metadata"]["name"] for item in found["items"]]


def namespaced_peerings(client: Any, namespace: str) -> list[str]:
    found = kubernetes.client.CustomObjectsApi(client).list_namespaced_custom_object(
        peering.GROUP, peering.VERSION, namespace, peering.NAMESPACED_PLURAL
    )
    return [item["metadata"]["name"] for item in found["items"]]


def test_a_cluster_wide_operator_creates_its_cluster_kopf_peering_once(
    config: kubernetes.client.Configuration, client: Any
) -> None:
    install_peering_crds(client)
    asyncio.run(peering.ensure(config, "idlcm"))
    assert cluster_peerings(client) == ["idlcm"]

    # kopf's keep-alive lands in its status; a restart (or a second replica) finds the object and keeps it.
    custom = kubernetes.client.CustomObjectsApi(client)
    status = {"status": {"pod-a": {"priority": 1, "lifetime": 60, "lastseen": "2026-12-04T00:00:00+00:00"}}}
    custom.patch_cluster_custom_object(
        peering.GROUP, peering.VERSION, peering.CLUSTER_PLURAL, "idlcm", status
    )
    asyncio.run(peering.ensure(config, "idlcm"))
    kept = custom.get_cluster_custom_object(peering.GROUP, peering.VERSION, peering.CLUSTER_PLURAL, "idlcm")
    assert kept["status"] == status["status"]
    assert cluster_peerings(client) == ["idlcm"]


def test_a_namespaced_operator_creates_a_kopf_peering_in_each_namespace_it_serves(
    config: kubernetes.client.Configuration, client: Any
) -> None:
    install_peering_crds(client)
    core = kubernetes.client.CoreV1Api(client)
    for name in ("team-a", "team-b"):
        core.create_namespace({"metadata": {"name": name}})
    asyncio.run(peering.ensure(config, "idlcm-a", ["team-a", "team-b"]))
    assert namespaced_peerings(client, "team-a") == ["idlcm-a"]
    assert namespaced_peerings(client, "team-b") == ["idlcm-a"]
    assert cluster_peerings(client) == []


def test_a_standalone_operator_creates_nothing(config: kubernetes.client.Configuration, client: Any) -> None:
    install_peering_crds(client)
    asyncio.run(peering.ensure(config, None))
    assert cluster_peerings(client) == []


def test_the_peering_crds_applied_with_the_operator_are_waited_for(
    config: kubernetes.client.Configuration, client: Any
) -> None:
    """`kubectl apply -k` sends the CRDs and the Deployment together: the operator may start first."""
    done = threading.Event()
    waiting = threading.Thread(
        target=lambda: (asyncio.run(peering.ensure(config, "idlcm", wait=120)), done.set()), daemon=True
    )
    waiting.start()
    install_peering_crds(client)
    assert done.wait(120), "ensure() did not return once the CRDs were served"
    assert cluster_peerings(client) == ["idlcm"]


def test_without_the_peering_crds_it_says_why_and_lets_kopf_wait_paused(
    config: kubernetes.client.Configuration, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="idlcm.peering"):
        asyncio.run(peering.ensure(config, "idlcm", wait=1))
    (record,) = caplog.records
    assert "ClusterKopfPeering 'idlcm'" in record.getMessage()
    assert "kopf-peering-crds.yaml" in record.getMessage()
