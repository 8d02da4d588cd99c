"""The operator's pod as rendered: hardened, probed at kopf's health endpoint, one active peer at a time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.conftest import Document, only, render
from idlcm.shards import Shard

CLUSTER_SCOPED_RBAC = {"ClusterRole", "ClusterRoleBinding"}


def operator_container(documents: list[Document]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = only(documents, "Deployment", "idlcm")["spec"]["template"]["spec"][
        "containers"
    ]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]


def test_the_pod_runs_non_root_read_only_without_capabilities(target: str) -> None:
    pod = only(render(target), "Deployment", "idlcm")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(render(target))
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_the_probes_ask_kopfs_health_endpoint_where_the_operator_serves_it(target: str) -> None:
    container = operator_container(render(target))
    (liveness,) = [a for a in container["args"] if a.startswith("--liveness=")]
    match = re.fullmatch(r"--liveness=http://0\.0\.0\.0:(\d+)(/\S*)", liveness)
    assert match, "kopf must listen on all interfaces for the kubelet to reach it"
    port, path = int(match[1]), match[2]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert (ports[get["port"]], get["path"]) == (port, path), probe


def test_each_pod_gets_its_own_peering_priority_from_its_name(target: str, tmp_path: Path) -> None:
    first = run_entrypoint(target, tmp_path, pod="idlcm-7c9f8d6b5-x2k4q")
    again = run_entrypoint(target, tmp_path, pod="idlcm-7c9f8d6b5-x2k4q")
    other = run_entrypoint(target, tmp_path, pod="idlcm-7c9f8d6b5-p9z7m")

    assert first == again  # deterministic for one pod
    assert first[:2] == ["run", "--peering=idlcm"]
    priority = int(first[2].removeprefix("--priority="))
    assert 0 <= priority < 2**32
    assert other[2] != first[2]
    assert "--liveness=http://0.0.0.0:8080/healthz" in first


def test_the_namespaced_variant_serves_only_its_own_namespace(tmp_path: Path) -> None:
    args = run_entrypoint("namespaced", tmp_path, pod="idlcm-1", namespace="team-a")
    assert args[-1] == "--namespace=team-a"
    assert not any(a.startswith("--namespace") for a in run_entrypoint("cluster", tmp_path, pod="idlcm-1"))


def run_entrypoint(target: str, tmp_path: Path, *, pod: str, namespace: str = "idlcm-system") -> list[str]:
    """Run the container's command as the kubelet would (with $(VAR) expansion), `idlcm` replaced by a stub
    that prints its arguments."""
    container = operator_container(render(target))
    script = container["command"][2]
    assert "$(" not in script, "Kubernetes reads $(...) in a command as a variable reference"
    stub = tmp_path / "bin" / "idlcm"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    stub.chmod(0o755)
    env = {
        "POD_ID": pod,
        "POD_NAMESPACE": namespace,
        "PATH": f"{stub.parent}:{Path(sys.executable).parent}:/usr/bin:/bin",
    }
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in container["args"]]
    result = subprocess.run(
        [*container["command"], *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    printed: list[str] = json.loads(result.stdout)
    return printed


def test_the_install_carries_no_peering_object_the_operator_creates_its_own(target: str) -> None:
    # A ClusterKopfPeering applied with its CRD fails a fresh `kubectl apply -k` (the CRD is not established
    # yet); `idlcm run --peering` creates it (operator/idlcm/peering.py, tests/deploy/test_peering.py).
    documents = render(target)
    assert [d["kind"] for d in documents if d["apiVersion"].startswith("kopf.dev/")] == []
    assert operator_container(documents)["command"][2].count("--peering=idlcm") == 1


def test_the_service_account_is_bound_in_the_operators_namespace(target: str) -> None:
    documents = render(target)
    deployment = only(documents, "Deployment", "idlcm")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    only(documents, "ServiceAccount", account)
    binding = only(documents, "RoleBinding" if target == "namespaced" else "ClusterRoleBinding", "idlcm")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    if target == "namespaced":
        assert not [d for d in documents if d["kind"] in CLUSTER_SCOPED_RBAC]


def test_the_metrics_service_and_the_pdb_select_the_operator_pod(target: str) -> None:
    documents = render(target)
    deployment = only(documents, "Deployment", "idlcm")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = only(documents, "Service", "idlcm-metrics")
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 9090
    container_ports = {p["name"]: p["containerPort"] for p in operator_container(documents)["ports"]}
    assert container_ports[port["targetPort"]] == 9090
    pdb = only(documents, "PodDisruptionBudget", "idlcm")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize(("target", "replicas"), [("cluster", 1), ("namespaced", 1), ("ha", 2)])
def test_the_pdb_never_blocks_a_drain_and_keeps_a_standby(target: str, replicas: int) -> None:
    documents = render(target)
    assert only(documents, "Deployment", "idlcm")["spec"]["replicas"] == replicas
    pdb = only(documents, "PodDisruptionBudget", "idlcm")["spec"]
    assert pdb == {**pdb, "maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    assert "minAvailable" not in pdb


def test_the_e2e_overlay_runs_the_images_it_loaded() -> None:
    documents = render("e2e")
    images = {
        c["image"]: c["imagePullPolicy"]
        for d in documents
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"idlcm:e2e": "Never", "idlcm-scim:e2e": "Never"}


def test_the_install_ships_no_credentials(target: str) -> None:
    assert [d for d in render(target) if d["kind"] == "Secret"] == []


def test_each_shard_has_its_deployment_its_pods_and_its_peering_object() -> None:
    """The sharded example: every Deployment serves one shard, under a peering object of that shard (which
    the operator creates at start: `--peering=idlcm --shard=NAME` peers through `idlcm-NAME`)."""
    documents = render("sharded")
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    shards: dict[str, str] = {}
    for deployment in deployments:
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        names = [a.removeprefix("--shard=") for a in args if a.startswith("--shard=")]
        assert len(names) == 1, args
        shards[names[0]] = deployment["metadata"]["name"]
        assert deployment["spec"]["selector"]["matchLabels"]["idlcm.io/shard"] == names[0]
    assert shards == {"a": "idlcm-shard-a", "b": "idlcm-shard-b", "rest": "idlcm"}
    assert len({Shard.named(name).peering("idlcm") for name in shards}) == len(shards)
    rest = only(documents, "Deployment", "idlcm")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--shard-selector=!idlcm.io/shard" in rest
