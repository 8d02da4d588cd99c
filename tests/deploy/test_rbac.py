"""Least privilege: the rendered (Cluster)Role grants exactly the (group, resource, verb) triples that idlcm's
code and kopf call, each listed here with the code that needs it; anything extra fails."""

from __future__ import annotations

import ast

from deploy.conftest import ROOT, Document, only, render

Grant = tuple[str, str, str]
"""(apiGroup, resource, verb)."""

KUBE_PY = "operator/idlcm/kube.py"
PEERING_PY = "operator/idlcm/peering.py"

# Namespaced in both variants: the same triple serves a ClusterRole and a Role.
NAMESPACED: dict[Grant, str] = {
    ("idlcm.io", "integrations", "get"): f"{KUBE_PY} Kube.get_integration",
    ("idlcm.io", "integrations", "list"): f"{KUBE_PY} Kube.list_integrations; kopf's watcher lists first",
    ("idlcm.io", "integrations", "watch"): "handlers.py @kopf.on.create/update/resume/delete/timer/index",
    (
        "idlcm.io",
        "integrations",
        "patch",
    ): "kopf: finalizer idlcm.io/finalizer, progress/diff-base annotations",
    ("idlcm.io", "integrations/status", "patch"): f"{KUBE_PY} Kube.patch_status",
    ("idlcm.io", "externalapps", "get"): f"{KUBE_PY} Kube.get_app",
    ("idlcm.io", "externalapps", "create"): f"{KUBE_PY} Kube.create_app",
    ("idlcm.io", "externalapps/status", "patch"): f"{KUBE_PY} Kube.patch_app_status",
    ("", "secrets", "get"): f"{KUBE_PY} Kube.read_secret",
    ("", "secrets", "list"): "handlers.py @kopf.on.event secrets (kopf lists, then watches)",
    ("", "secrets", "watch"): "handlers.py @kopf.on.event secrets: credential rotation",
    ("", "configmaps", "get"): f"{KUBE_PY} Kube.read_configmap (accountsFrom)",
    ("", "configmaps", "list"): "handlers.py @kopf.on.event configmaps (kopf lists, then watches)",
    ("", "configmaps", "watch"): "handlers.py @kopf.on.event configmaps: roster edits",
    ("", "events", "create"): "handlers.py kopf.event() -> kopf posting (core/v1 Events, POST only)",
}

CLUSTER_WIDE: dict[Grant, str] = {
    **NAMESPACED,
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "list",
    ): "kopf reactor/observation resource_observer",
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "watch",
    ): "kopf reactor/observation resource_observer",
    ("kopf.dev", "clusterkopfpeerings", "list"): "kopf peering observer (idlcm run --peering, cluster-wide)",
    ("kopf.dev", "clusterkopfpeerings", "watch"): "kopf peering observer",
    ("kopf.dev", "clusterkopfpeerings", "patch"): "kopf engines/peering keepalive() and clean()",
    ("kopf.dev", "clusterkopfpeerings", "create"): f"{PEERING_PY} ensure(): the operator's own, at start",
    (
        "kopf.dev",
        "clusterkopfpeerings",
        "get",
    ): f"{PEERING_PY} ensure(): there already, where create is denied",
}

SINGLE_NAMESPACE: dict[Grant, str] = {
    **NAMESPACED,
    ("kopf.dev", "kopfpeerings", "list"): "kopf peering observer (idlcm run --peering --namespace)",
    ("kopf.dev", "kopfpeerings", "watch"): "kopf peering observer",
    ("kopf.dev", "kopfpeerings", "patch"): "kopf engines/peering keepalive() and clean()",
    ("kopf.dev", "kopfpeerings", "create"): f"{PEERING_PY} ensure(): the operator's own, at start",
    ("kopf.dev", "kopfpeerings", "get"): f"{PEERING_PY} ensure(): there already, where create is denied",
}

# The client calls Kube makes, each covered by a grant above. A new call fails this test until its grant
# (and this list) is reviewed.
KUBE_CALLS = {
    "create_namespaced_custom_object",
    "get_namespaced_custom_object",
    "list_namespaced_custom_object",
    "patch_namespaced_custom_object_status",
    "read_namespaced_config_map",
    "read_namespaced_secret",
}

# The calls peering.py makes: its own peering object, created at start (read where it may not create).
PEERING_CALLS = {
    "create_cluster_custom_object",
    "create_namespaced_custom_object",
    "get_cluster_custom_object",
    "get_namespaced_custom_object",
}


def grants(role: Document) -> set[Grant]:
    out: set[Grant] = set()
    for rule in role["rules"]:
        assert not rule.get("resourceNames")
        assert not rule.get("nonResourceURLs")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.add((group, resource, verb))
    return out


def test_the_cluster_role_grants_exactly_what_the_operator_uses() -> None:
    role = only(render("cluster"), "ClusterRole", "idlcm")
    assert grants(role) - CLUSTER_WIDE.keys() == set(), "granted but not used"
    assert CLUSTER_WIDE.keys() - grants(role) == set(), "used but not granted"


def test_the_namespaced_role_grants_exactly_what_the_operator_uses() -> None:
    role = only(render("namespaced"), "Role", "idlcm")
    assert grants(role) - SINGLE_NAMESPACE.keys() == set(), "granted but not used"
    assert SINGLE_NAMESPACE.keys() - grants(role) == set(), "used but not granted"


def test_secrets_and_configmaps_are_read_only() -> None:
    for target, kind in (("cluster", "ClusterRole"), ("namespaced", "Role")):
        role = only(render(target), kind, "idlcm")
        verbs = {v for g, r, v in grants(role) if r in ("secrets", "configmaps")}
        assert verbs == {"get", "list", "watch"}


def test_the_kube_client_calls_are_the_reviewed_ones() -> None:
    tree = ast.parse((ROOT / KUBE_PY).read_text())
    calls = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in ("_custom", "_core")
    }
    assert calls == KUBE_CALLS, f"{KUBE_PY} calls changed: review the RBAC grants in manifests/"


def test_the_peering_client_calls_are_the_reviewed_ones() -> None:
    tree = ast.parse((ROOT / PEERING_PY).read_text())
    calls = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "api"
    }
    assert calls == PEERING_CALLS, f"{PEERING_PY} calls changed: review the RBAC grants in manifests/"


def test_the_operator_code_uses_no_other_api_client() -> None:
    # devcluster and demo are clients of their own embedded API, never of a cluster the operator runs in.
    own_api = {"devcluster", "demo"}
    sources = [p for p in (ROOT / "operator" / "idlcm").rglob("*.py") if not own_api & set(p.parts)]
    users = sorted(
        str(p.relative_to(ROOT))
        for p in sources
        if "kubernetes.client." in p.read_text() and "Api(" in p.read_text()
    )
    assert users == [KUBE_PY, PEERING_PY], "a new Kubernetes API client: review the RBAC grants"


def test_no_target_grants_more_than_its_install_variant(target: str) -> None:
    # Overlays (ha, sharded, the e2e one) may patch anything: no Role or ClusterRole they render may grow.
    documents = render(target)
    roles = [d for d in documents if d["kind"] in ("ClusterRole", "Role")]
    assert roles, f"{target} renders no RBAC"
    for role in roles:
        allowed = CLUSTER_WIDE if role["kind"] == "ClusterRole" else SINGLE_NAMESPACE
        assert grants(role) - allowed.keys() == set(), f"{target}: {role['kind']} {role['metadata']['name']}"


def allowed(documents: list[Document], account: tuple[str, str], grant: Grant, namespace: str | None) -> bool:
    """Whether the ServiceAccount (namespace, name) may do `grant` in `namespace` (None: cluster-wide), by the
    rendered bindings, as the API server's RBAC authorizer decides it."""
    subject = {"kind": "ServiceAccount", "namespace": account[0], "name": account[1]}
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in documents}
    for binding in documents:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        where = binding["metadata"].get("namespace")
        if binding["kind"] == "RoleBinding" and where != namespace:
            continue  # a RoleBinding grants only in its own namespace, never cluster-wide
        subjects = [{**s, "namespace": s.get("namespace", where)} for s in binding["subjects"]]
        if subject not in subjects:
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], where if ref["kind"] == "Role" else None, ref["name"]))
        if role is not None and grant in grants(role):
            return True
    return False


def test_the_operator_may_create_read_and_keep_alive_its_own_peering_object(target: str) -> None:
    """kopf never creates the peering object and the install carries none: each Deployment's account may
    create it (peering.py), read it, and watch and patch it (kopf), where the operator looks for it."""
    documents = render(target)
    deployments = [
        d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("idlcm")
    ]
    assert deployments
    for deployment in deployments:
        namespace = deployment["metadata"]["namespace"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] == "operator"]
        namespaced = any(a.startswith("--namespace=") for a in container["args"])
        resource = "kopfpeerings" if namespaced else "clusterkopfpeerings"
        for verb in ("create", "get", "list", "watch", "patch"):
            grant = ("kopf.dev", resource, verb)
            where = namespace if namespaced else None
            assert allowed(documents, (namespace, pod["serviceAccountName"]), grant, where), (target, grant)
        # and no more than where it looks: a namespaced operator has no cluster-wide peering grant
        if namespaced:
            account = (namespace, pod["serviceAccountName"])
            assert not allowed(documents, account, ("kopf.dev", "clusterkopfpeerings", "create"), None)
            assert not allowed(documents, account, ("kopf.dev", "kopfpeerings", "create"), None)
