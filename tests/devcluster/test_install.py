"""The real `kubectl apply -k` of the manifests against an empty embedded API: every kind the install is made
of is served, listed in discovery and OpenAPI, stored, and what the apiserver refuses in them is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from idlcm import devcluster
from idlcm.devcluster import DevCluster

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="the kubectl binary is not on PATH"),
    pytest.mark.skipif(
        os.environ.get("IDLCM_CONFORMANCE_REAL_CLUSTER") == "1", reason="needs an empty embedded API"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
TIMEOUT = 60.0


@pytest.fixture
def empty_cluster() -> Iterator[DevCluster]:
    """An embedded API with no CRD installed: what `kubectl apply -k manifests/` meets on a fresh cluster."""
    with devcluster.serve_in_thread(crd_paths=[]) as cluster:
        yield cluster


class Kubectl:
    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=TIMEOUT,
            check=False,
        )

    def get(self, *args: str) -> Any:
        result = self.run("get", *args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def kubectl(empty_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(empty_cluster.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "home")


def _rendered(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _apply(kubectl: Kubectl, path: Path) -> subprocess.CompletedProcess[str]:
    return kubectl.run("apply", "-k", str(path))


def _assert_stored(kubectl: Kubectl, documents: list[dict[str, Any]]) -> None:
    """Every rendered object is stored as applied (the fields kubectl sent are what the server holds)."""
    for document in documents:
        kind = document["kind"]
        group = document["apiVersion"].rpartition("/")[0]
        meta = document["metadata"]
        what = f"{kind}.{group}" if group else kind
        args = [what, meta["name"]] + ([f"--namespace={meta['namespace']}"] if "namespace" in meta else [])
        stored = kubectl.get(*args)
        assert stored["kind"] == kind
        assert stored["metadata"]["uid"]
        for field in ("spec", "rules", "roleRef", "subjects", "data"):
            if field in document and kind != "CustomResourceDefinition":
                assert stored[field] == document[field], (what, field)


def test_cluster_install_applies_to_an_empty_cluster_in_one_go(kubectl: Kubectl) -> None:
    documents = _rendered(MANIFESTS)
    kinds = {d["kind"] for d in documents}
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"} <= kinds
    assert {"PodDisruptionBudget", "Namespace", "CustomResourceDefinition"} <= kinds
    first = _apply(kubectl, MANIFESTS)
    assert first.returncode == 0, first.stderr
    _assert_stored(kubectl, documents)
    again = _apply(kubectl, MANIFESTS)
    assert again.returncode == 0, again.stderr
    assert "deployment.apps/idlcm unchanged" in again.stdout
    assert "clusterrolebinding.rbac.authorization.k8s.io/idlcm unchanged" in again.stdout


def test_namespaced_install_applies_to_an_empty_cluster_in_one_go(kubectl: Kubectl) -> None:
    overlay = MANIFESTS / "overlays" / "namespaced"
    documents = _rendered(overlay)
    assert {"Role", "RoleBinding"} <= {d["kind"] for d in documents}
    first = _apply(kubectl, overlay)
    assert first.returncode == 0, first.stderr
    _assert_stored(kubectl, documents)
    roles = kubectl.get("roles.rbac.authorization.k8s.io", "--namespace=idlcm")
    assert [r["metadata"]["name"] for r in roles["items"]] == ["idlcm"]
    assert kubectl.get("clusterroles")["items"] == []  # a namespaced install holds no cluster-wide role


def test_install_kinds_are_discovered_with_their_short_names(kubectl: Kubectl) -> None:
    result = kubectl.run("api-resources", "--no-headers")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    for name, short in (
        ("serviceaccounts", "sa"),
        ("services", "svc"),
        ("deployments", "deploy"),
        ("poddisruptionbudgets", "pdb"),
    ):
        assert short in rows[name], rows.get(name)
    for name in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
        assert name in rows


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "r", "namespace": "default"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"]}],
            },
            'The Role "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one value',
        ),
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "default"}],
            },
            'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        ),
        (
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa"}],
            },
            "subjects[0].namespace: Required value",
        ),
        (
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "default"},
                "spec": {
                    "selector": {"matchLabels": {"app": "a"}},
                    "template": {
                        "metadata": {"labels": {"app": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]},
                    },
                },
            },
            "spec.template.metadata.labels: Invalid value: "
            '{"app":"b"}: `selector` does not match template `labels`',
        ),
        (
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"minAvailable": 1, "maxUnavailable": 1},
            },
            "minAvailable and maxUnavailable cannot be both set",
        ),
    ],
)
def test_what_the_apiserver_refuses_is_refused(
    kubectl: Kubectl, document: dict[str, Any], message: str
) -> None:
    result = kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(document))
    assert result.returncode == 1
    assert message in result.stderr


def test_reapplying_a_changed_deployment_merges_its_containers_as_the_apiserver_does(
    kubectl: Kubectl,
) -> None:
    def deployment(image: str, env: list[dict[str, str]]) -> str:
        container = {"name": "operator", "image": image, "args": ["--a", "--b"], "env": env}
        return yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "default"},
                "spec": {
                    "selector": {"matchLabels": {"app": "d"}},
                    "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [container]}},
                },
            }
        )

    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert kubectl.run("apply", "-f", "-", stdin=deployment("i:1", env)).returncode == 0
    changed = kubectl.run("apply", "-f", "-", stdin=deployment("i:2", env[:1]))  # image changed, B removed
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "deployment.apps/d configured"
    containers = kubectl.get("deployment", "d", "--namespace=default")["spec"]["template"]["spec"][
        "containers"
    ]
    assert containers == [{"name": "operator", "image": "i:2", "args": ["--a", "--b"], "env": env[:1]}]
