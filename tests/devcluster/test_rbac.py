"""RBAC: a ServiceAccount token is authorised against the stored Roles, ClusterRoles and bindings, with the
apiserver's semantics and its 403 message; the devcluster's own kubeconfig stays admin. Like the conformance
module, these run against a real cluster with `IDLCM_CONFORMANCE_REAL_CLUSTER=1` (tokens from TokenRequest;
RBAC changes take a moment to apply there, so a grant is waited for), except where marked devcluster-only."""

from __future__ import annotations

import copy
import itertools
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest
import yaml

from idlcm.devcluster import DevCluster, rbac

from .conftest import Http, Reply

RBAC = "/apis/rbac.authorization.k8s.io/v1"
GROUP = "rbac.authorization.k8s.io"
_names = itertools.count()


class Admin(Http):
    """Raw HTTP as the cluster admin; the cluster-scoped objects a test creates are deleted after it."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        super().__init__(api)
        self.cluster_scoped: list[str] = []


@pytest.fixture
def admin(api: kubernetes.client.ApiClient) -> Iterator[Admin]:
    client = Admin(api)
    yield client
    for path in reversed(client.cluster_scoped):
        client.request("DELETE", path)


def _until(send: Callable[[], Reply], status: int, timeout: float = 10.0) -> Reply:
    """Send until the answer has this status (a real cluster applies RBAC changes after a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = send()
        if reply.status == status or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def connect(admin: Admin, token: str) -> kubernetes.client.ApiClient:
    """A client of the same cluster (its address and CA) that presents only this bearer token."""
    config = copy.copy(admin.api.configuration)
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    config.refresh_api_key_hook = None
    config.cert_file = config.key_file = None
    config.username = config.password = ""
    return kubernetes.client.ApiClient(config)


def mint(admin: Admin, namespace: str, name: str) -> str:
    """A token of the ServiceAccount, from the TokenRequest subresource (as `kubectl create token`)."""
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    reply = admin.request("POST", path, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"})
    assert reply.status == 201, reply.body
    return str(reply.body["status"]["token"])


def _ok(reply: Reply) -> Any:
    assert reply.status in (200, 201), (reply.status, reply.body)
    return reply.body


@pytest.fixture
def namespaces(admin: Admin) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    first, second = f"rbac-a-{suffix}", f"rbac-b-{suffix}"
    for name in (first, second):
        _ok(admin.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}}))
    yield first, second
    for name in (first, second):
        admin.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def account(admin: Admin, namespaces: tuple[str, str]) -> str:
    """ServiceAccount `robot` in the first namespace."""
    path = f"/api/v1/namespaces/{namespaces[0]}/serviceaccounts"
    _ok(admin.request("POST", path, {"metadata": {"name": "robot"}}))
    return "robot"


@pytest.fixture
def as_account(admin: Admin, namespaces: tuple[str, str], account: str) -> Iterator[Http]:
    """Raw HTTP as the ServiceAccount, with a token from the TokenRequest subresource."""
    client = connect(admin, mint(admin, namespaces[0], account))
    try:
        yield Http(client)
    finally:
        client.close()


def _grant(
    admin: Admin,
    rules: list[dict[str, Any]],
    *,
    namespace: str | None,
    subject_namespace: str,
    cluster_role: bool = False,
    subject: dict[str, Any] | None = None,
) -> None:
    """A Role (or ClusterRole) with these rules, bound to `robot` in `namespace` (or cluster-wide if None)."""
    name = f"grant-{next(_names)}"
    role_kind = "ClusterRole" if cluster_role or namespace is None else "Role"
    role_path = (
        f"{RBAC}/clusterroles" if role_kind == "ClusterRole" else f"{RBAC}/namespaces/{namespace}/roles"
    )
    _ok(admin.request("POST", role_path, {"metadata": {"name": name}, "rules": rules}))
    if role_kind == "ClusterRole":
        admin.cluster_scoped.append(f"{role_path}/{name}")
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": name},
        "subjects": [subject or {"kind": "ServiceAccount", "name": "robot", "namespace": subject_namespace}],
    }
    path = (
        f"{RBAC}/clusterrolebindings" if namespace is None else f"{RBAC}/namespaces/{namespace}/rolebindings"
    )
    _ok(admin.request("POST", path, binding))
    if namespace is None:
        admin.cluster_scoped.append(f"{path}/{name}")


def _denied(reply: Reply, message: str) -> None:
    assert reply.status == 403, (reply.status, reply.body)
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == "Forbidden"
    assert reply.body["code"] == 403
    assert reply.body["message"] == message


def _user(namespace: str) -> str:
    return f'User "system:serviceaccount:{namespace}:robot"'


def test_a_role_grants_its_verbs_in_its_namespace_only(
    admin: Admin, as_account: Http, namespaces: tuple[str, str]
) -> None:
    ns, other = namespaces
    _grant(
        admin,
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
        namespace=ns,
        subject_namespace=ns,
    )
    _ok(admin.request("POST", f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "s"}}))
    assert (
        _ok(_until(lambda: as_account.request("GET", f"/api/v1/namespaces/{ns}/secrets"), 200))["items"][0][
            "metadata"
        ]["name"]
        == "s"
    )
    assert (
        _ok(_until(lambda: as_account.request("GET", f"/api/v1/namespaces/{ns}/secrets/s"), 200))["metadata"][
            "name"
        ]
        == "s"
    )
    _denied(
        as_account.request("GET", f"/api/v1/namespaces/{other}/secrets"),
        f'secrets is forbidden: {_user(ns)} cannot list resource "secrets" in API group "" '
        f'in the namespace "{other}"',
    )
    _denied(
        as_account.request("GET", "/api/v1/secrets"),
        f'secrets is forbidden: {_user(ns)} cannot list resource "secrets" in API group "" '
        "at the cluster scope",
    )
    _denied(
        as_account.request("DELETE", f"/api/v1/namespaces/{ns}/secrets/s"),
        f'secrets "s" is forbidden: {_user(ns)} cannot delete resource "secrets" in API group "" '
        f'in the namespace "{ns}"',
    )
    watch = as_account.request("GET", f"/api/v1/namespaces/{ns}/secrets", query={"watch": "true"})
    assert watch.status == 403
    assert 'cannot watch resource "secrets"' in watch.body["message"]
    _denied(
        as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps"),
        f'configmaps is forbidden: {_user(ns)} cannot list resource "configmaps" in API group "" '
        f'in the namespace "{ns}"',
    )
    assert admin.request("GET", "/api/v1/secrets").status == 200  # the admin stays unrestricted


def test_a_denial_has_the_apiservers_status_body(
    admin: Admin, as_account: Http, namespaces: tuple[str, str]
) -> None:
    ns = namespaces[0]
    reply = as_account.request("GET", f"/apis/idlcm.io/v1alpha1/namespaces/{ns}/integrations/crm")
    assert reply.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'integrations.idlcm.io "crm" is forbidden: {_user(ns)} cannot get resource '
        f'"integrations" in API group "idlcm.io" in the namespace "{ns}"',
        "reason": "Forbidden",
        "details": {"name": "crm", "group": "idlcm.io", "kind": "integrations"},
        "code": 403,
    }


def test_cluster_role_binding_grants_everywhere_and_role_binding_of_a_cluster_role_only_in_its_namespace(
    admin: Admin, as_account: Http, namespaces: tuple[str, str]
) -> None:
    ns, other = namespaces
    rule = {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list"],
    }
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    _denied(
        as_account.request("GET", crds),
        f"customresourcedefinitions.apiextensions.k8s.io is forbidden: {_user(ns)} cannot list resource "
        '"customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope',
    )
    _grant(admin, [rule], namespace=None, subject_namespace=ns)
    assert _ok(_until(lambda: as_account.request("GET", crds), 200))["items"]

    configmaps = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}
    _grant(admin, [configmaps], namespace=other, subject_namespace=ns, cluster_role=True)
    assert (
        _until(lambda: as_account.request("GET", f"/api/v1/namespaces/{other}/configmaps"), 200).status == 200
    )
    assert as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps").status == 403
    assert as_account.request("GET", "/api/v1/configmaps").status == 403


def test_subresources_are_granted_apart_from_their_resource(
    admin: Admin, as_account: Http, namespaces: tuple[str, str], crds_installed: None
) -> None:
    ns = namespaces[0]
    base = f"/apis/idlcm.io/v1alpha1/namespaces/{ns}/integrations"
    body = {
        "metadata": {"name": "crm"},
        "spec": {
            "app": "crm-app",
            "connector": {
                "scim": {
                    "baseURL": "https://crm.example.com/scim/v2",
                    "auth": {"bearerToken": {"secretRef": {"name": "crm-token"}}},
                }
            },
        },
    }
    _ok(admin.request("POST", base, body))
    _grant(
        admin,
        [{"apiGroups": ["idlcm.io"], "resources": ["integrations/status"], "verbs": ["patch"]}],
        namespace=ns,
        subject_namespace=ns,
    )
    patch = {"status": {"phase": "Validating"}}
    merge = "application/merge-patch+json"
    assert (
        _until(
            lambda: as_account.request("PATCH", f"{base}/crm/status", patch, content_type=merge), 200
        ).status
        == 200
    )
    _denied(
        as_account.request("PATCH", f"{base}/crm", {"metadata": {"labels": {"a": "b"}}}, content_type=merge),
        f'integrations.idlcm.io "crm" is forbidden: {_user(ns)} cannot patch resource "integrations" '
        f'in API group "idlcm.io" in the namespace "{ns}"',
    )
    _denied(
        as_account.request("GET", f"{base}/crm/status"),
        f'integrations.idlcm.io "crm" is forbidden: {_user(ns)} cannot get resource "integrations/status" '
        f'in API group "idlcm.io" in the namespace "{ns}"',
    )
    # `integrations` alone does not reach the subresource; `*/status` does.
    _grant(
        admin,
        [{"apiGroups": ["idlcm.io"], "resources": ["integrations"], "verbs": ["get"]}],
        namespace=ns,
        subject_namespace=ns,
    )
    assert _until(lambda: as_account.request("GET", f"{base}/crm"), 200).status == 200
    assert as_account.request("GET", f"{base}/crm/status").status == 403
    _grant(
        admin,
        [{"apiGroups": ["idlcm.io"], "resources": ["*/status"], "verbs": ["get"]}],
        namespace=ns,
        subject_namespace=ns,
    )
    assert _until(lambda: as_account.request("GET", f"{base}/crm/status"), 200).status == 200


def test_resource_names_limit_a_rule_to_those_objects(
    admin: Admin, as_account: Http, namespaces: tuple[str, str]
) -> None:
    ns = namespaces[0]
    for name in ("mine", "theirs"):
        _ok(admin.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": name}}))
    _grant(
        admin,
        [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["mine"],
                "verbs": ["get", "list"],
            }
        ],
        namespace=ns,
        subject_namespace=ns,
    )
    assert (
        _until(lambda: as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps/mine"), 200).status
        == 200
    )
    assert as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps/theirs").status == 403
    assert as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps").status == 403  # a list names none
    # A list or watch selecting one object by name is a request for that name (the apiserver's RequestInfo).
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"
    one = as_account.request("GET", configmaps, query={"fieldSelector": "metadata.name=mine"})
    assert one.status == 200
    assert [c["metadata"]["name"] for c in one.body["items"]] == ["mine"]
    _denied(
        as_account.request("GET", configmaps, query={"fieldSelector": "metadata.name=theirs"}),
        f'configmaps "theirs" is forbidden: {_user(ns)} cannot list resource "configmaps" in API group "" '
        f'in the namespace "{ns}"',
    )
    watch = {"fieldSelector": "metadata.name=mine", "watch": "true", "timeoutSeconds": "1"}
    assert as_account.request("GET", configmaps, query=watch).status == 403  # `watch` is not granted


def test_wildcards_and_group_subjects(
    admin: Admin, as_account: Http, namespaces: tuple[str, str], crds_installed: None
) -> None:
    ns, other = namespaces
    _grant(
        admin,
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        namespace=other,
        subject_namespace=ns,
        subject={"kind": "Group", "apiGroup": GROUP, "name": f"system:serviceaccounts:{ns}"},
    )
    assert (
        as_account.request(
            "POST", f"/api/v1/namespaces/{other}/configmaps", {"metadata": {"name": "c"}}
        ).status
        == 201
    )
    assert (
        _until(lambda: as_account.request("DELETE", f"/api/v1/namespaces/{other}/configmaps/c"), 200).status
        == 200
    )
    assert (
        _until(
            lambda: as_account.request("GET", f"/apis/idlcm.io/v1alpha1/namespaces/{other}/integrations"), 200
        ).status
        == 200
    )
    assert as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps").status == 403


def test_a_service_account_subject_without_namespace_in_a_role_binding_is_the_bindings_namespace(
    admin: Admin, as_account: Http, namespaces: tuple[str, str]
) -> None:
    ns, other = namespaces
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}
    _grant(
        admin,
        [rule],
        namespace=other,
        subject_namespace=ns,
        subject={"kind": "ServiceAccount", "name": "robot"},
    )
    assert (
        as_account.request("GET", f"/api/v1/namespaces/{other}/configmaps").status == 403
    )  # robot of `other`
    _grant(
        admin, [rule], namespace=ns, subject_namespace=ns, subject={"kind": "ServiceAccount", "name": "robot"}
    )
    assert _until(lambda: as_account.request("GET", f"/api/v1/namespaces/{ns}/configmaps"), 200).status == 200


def test_a_binding_to_a_missing_role_says_so_in_the_denial(
    admin: Admin, as_account: Http, namespaces: tuple[str, str]
) -> None:
    ns = namespaces[0]
    binding = {
        "metadata": {"name": "dangling"},
        "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "absent"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}],
    }
    _ok(admin.request("POST", f"{RBAC}/namespaces/{ns}/rolebindings", binding))
    _denied(
        as_account.request("GET", f"/api/v1/namespaces/{ns}/secrets"),
        f'secrets is forbidden: {_user(ns)} cannot list resource "secrets" in API group "" '
        f'in the namespace "{ns}": RBAC: role.rbac.authorization.k8s.io "absent" not found',
    )


def test_discovery_and_openapi_are_open_to_any_service_account(as_account: Http) -> None:
    for path in ("/api", "/apis", "/api/v1", "/apis/idlcm.io/v1alpha1", "/openapi/v3", "/version"):
        assert as_account.request("GET", path).status == 200, path


def test_token_request_mints_a_token_that_dies_with_its_service_account(
    admin: Admin, namespaces: tuple[str, str], account: str
) -> None:
    ns = namespaces[0]
    path = f"/api/v1/namespaces/{ns}/serviceaccounts/{account}/token"
    reply = admin.request(
        "POST",
        path,
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        },
    )
    assert reply.status == 201
    assert reply.body["kind"] == "TokenRequest"
    token = reply.body["status"]["token"]
    assert reply.body["status"]["expirationTimestamp"]
    short = admin.request("POST", path, {"spec": {"expirationSeconds": 60}})
    assert short.status == 422
    assert "may not specify a duration less than 10 minutes" in short.body["message"]
    missing = admin.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/nobody/token", {"spec": {}})
    assert missing.status == 404
    assert missing.body["message"] == 'serviceaccounts "nobody" not found'

    client = connect(admin, token)
    try:
        as_account = Http(client)
        assert as_account.request("GET", "/api").status == 200
        denied = as_account.request("POST", path, {"spec": {}})
        assert denied.status == 403
        assert 'cannot create resource "serviceaccounts/token"' in denied.body["message"]
        _ok(admin.request("DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/{account}"))
        gone = as_account.request("GET", "/api")
        assert gone.status == 401
        assert gone.body["reason"] == "Unauthorized"
    finally:
        client.close()


def test_an_unknown_service_account_token_is_unauthorized(admin: Admin) -> None:
    client = connect(admin, rbac.TOKEN_PREFIX + "forged")
    try:
        reply = Http(client).request("GET", "/api/v1/namespaces/default/secrets")
        assert reply.status == 401
        assert reply.body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
    finally:
        client.close()


def test_the_namespaced_manifests_rbac_allows_what_the_operator_does_and_nothing_cluster_wide(
    admin: Admin, devcluster: DevCluster, tmp_path: Path
) -> None:
    """Devcluster-only (it installs into namespace `idlcm`); a minted token in a kubeconfig file."""
    root = Path(__file__).resolve().parents[2]
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(root / "manifests" / "overlays" / "namespaced")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    plurals: dict[str, Callable[[dict[str, Any]], str]] = {
        "Namespace": lambda d: "/api/v1/namespaces",
        "ServiceAccount": lambda d: f"/api/v1/namespaces/{d['metadata']['namespace']}/serviceaccounts",
        "Role": lambda d: f"{RBAC}/namespaces/{d['metadata']['namespace']}/roles",
        "RoleBinding": lambda d: f"{RBAC}/namespaces/{d['metadata']['namespace']}/rolebindings",
    }
    for document in yaml.safe_load_all(rendered):
        if document and document["kind"] in plurals:
            _ok(admin.request("POST", plurals[document["kind"]](document), document))
    token = devcluster.rbac.mint("idlcm", "idlcm")
    config = rbac.write_kubeconfig(devcluster.url, token, tmp_path / "operator", "idlcm")
    client = kubernetes.config.new_client_from_config(config_file=str(config), persist_config=False)
    try:
        operator = Http(client)
        assert operator.request("GET", "/apis/idlcm.io/v1alpha1/namespaces/idlcm/integrations").status == 200
        assert (
            operator.request(
                "GET", "/api/v1/namespaces/idlcm/secrets", query={"watch": "true", "timeoutSeconds": "1"}
            ).status
            == 200
        )
        _denied(
            operator.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
            "customresourcedefinitions.apiextensions.k8s.io is forbidden: "
            'User "system:serviceaccount:idlcm:idlcm" cannot list resource "customresourcedefinitions" '
            'in API group "apiextensions.k8s.io" at the cluster scope',
        )
        assert operator.request("GET", "/apis/idlcm.io/v1alpha1/integrations").status == 403
        assert operator.request("GET", "/api/v1/namespaces/default/secrets").status == 403
    finally:
        client.close()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="the kubectl binary is not on PATH")
def test_kubectl_create_token_mints_a_token_of_the_service_account(
    admin: Admin, kubeconfig: Path, namespaces: tuple[str, str], account: str, tmp_path: Path
) -> None:
    ns = namespaces[0]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"), "KUBECONFIG": str(kubeconfig)}
    created = subprocess.run(
        ["kubectl", "create", "token", account, f"--namespace={ns}", "--duration=15m"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    client = connect(admin, created.stdout.strip())
    try:
        _denied(
            Http(client).request("GET", f"/api/v1/namespaces/{ns}/secrets"),
            f'secrets is forbidden: {_user(ns)} cannot list resource "secrets" in API group "" '
            f'in the namespace "{ns}"',
        )
    finally:
        client.close()


def test_the_token_subresource_is_discovered_as_tokenrequest_and_only_created(
    admin: Admin, namespaces: tuple[str, str], account: str
) -> None:
    entries = {r["name"]: r for r in _ok(admin.request("GET", "/api/v1"))["resources"]}
    token = entries["serviceaccounts/token"]
    assert (token["group"], token["version"], token["kind"]) == (
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
    )
    assert token["verbs"] == ["create"]
    reply = admin.request("GET", f"/api/v1/namespaces/{namespaces[0]}/serviceaccounts/{account}/token")
    assert (reply.status, reply.body["reason"]) == (405, "MethodNotAllowed")
