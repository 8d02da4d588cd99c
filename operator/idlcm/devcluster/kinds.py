"""The built-in kinds the manifests install: stored and validated as far as is cheap, nothing run.

ServiceAccount and Service (core v1), Deployment (apps/v1), PodDisruptionBudget (policy/v1), and the RBAC
kinds (rbac.authorization.k8s.io/v1). No controller acts on them: a Deployment starts no pod, a Service gets
no cluster IP, a PodDisruptionBudget no status. What the apiserver validates and idlcm's manifests could get
wrong is refused the way it refuses it (422 with causes and the apiserver's messages): RBAC rules without
verbs, groups or resources; bindings to an unknown kind or with a changed `roleRef`; subjects without a name
(or a ServiceAccount without a namespace in a ClusterRoleBinding); a Deployment without a selector, or whose
selector does not match its template's labels, or without containers; a PodDisruptionBudget with both
`minAvailable` and `maxUnavailable`. A ServiceAccount's `token` subresource (TokenRequest) is served by
`rbac.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from idlcm.devcluster import errors
from idlcm.devcluster.resources import Resource

RBAC_GROUP = "rbac.authorization.k8s.io"

SERVICEACCOUNTS = Resource(
    "",
    "v1",
    "serviceaccounts",
    "ServiceAccount",
    "serviceaccount",
    True,
    short_names=("sa",),
    subresources=("token",),
)
SERVICES = Resource(
    "",
    "v1",
    "services",
    "Service",
    "service",
    True,
    short_names=("svc",),
    categories=("all",),
    subresources=("status",),
)
DEPLOYMENTS = Resource(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    "deployment",
    True,
    short_names=("deploy",),
    categories=("all",),
    subresources=("status",),
)
PODDISRUPTIONBUDGETS = Resource(
    "policy",
    "v1",
    "poddisruptionbudgets",
    "PodDisruptionBudget",
    "poddisruptionbudget",
    True,
    short_names=("pdb",),
    subresources=("status",),
)
ROLES = Resource(RBAC_GROUP, "v1", "roles", "Role", "role", True)
CLUSTERROLES = Resource(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", "clusterrole", False)
ROLEBINDINGS = Resource(RBAC_GROUP, "v1", "rolebindings", "RoleBinding", "rolebinding", True)
CLUSTERROLEBINDINGS = Resource(
    RBAC_GROUP, "v1", "clusterrolebindings", "ClusterRoleBinding", "clusterrolebinding", False
)
RESOURCES = (
    SERVICEACCOUNTS,
    SERVICES,
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    ROLES,
    CLUSTERROLES,
    ROLEBINDINGS,
    CLUSTERROLEBINDINGS,
)

SUBRESOURCE_DISCOVERY: dict[tuple[str, str], dict[str, object]] = {
    # What discovery says of subresources that are not get/patch/update of the object itself.
    ("", "serviceaccounts/token"): {
        "group": "authentication.k8s.io",
        "version": "v1",
        "kind": "TokenRequest",
        "verbs": ["create"],
    },
}

Cause = tuple[str, str, str]  # (reason, field, message), as errors.invalid takes them


def validate(res: Resource, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
    """Refuse an object of these kinds the way the apiserver's validation does (422); others pass."""
    check = _VALIDATORS.get(res.key)
    if check is None:
        return
    causes = check(obj, old)
    if causes:
        raise errors.invalid(res, str(obj.get("metadata", {}).get("name", "")), causes)


def _required(field: str, detail: str = "") -> Cause:
    return ("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return ("FieldValueInvalid", field, f"Invalid value: {_go_value(value)}: {detail}")


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _rules(obj: Mapping[str, Any], namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    rules = obj.get("rules") or []
    if not isinstance(rules, list):
        return [_invalid("rules", rules, "must be a list")]
    for index, rule in enumerate(rules):
        field = f"rules[{index}]"
        if not isinstance(rule, dict):
            causes.append(_invalid(field, rule, "must be an object"))
            continue
        if not rule.get("verbs"):
            causes.append(_required(f"{field}.verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if namespaced:
                causes.append(
                    _invalid(
                        f"{field}.nonResourceURLs",
                        rule["nonResourceURLs"],
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(
                    _invalid(
                        f"{field}.nonResourceURLs",
                        rule["nonResourceURLs"],
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            causes.append(
                _required(f"{field}.apiGroups", "resource rules must supply at least one api group")
            )
        if not rule.get("resources"):
            causes.append(_required(f"{field}.resources", "resource rules must supply at least one resource"))
    return causes


def _role(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    return _rules(obj, namespaced=True)


def _cluster_role(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    if obj.get("aggregationRule"):
        return []  # the aggregation controller owns the rules (not emulated: they stay as written)
    return _rules(obj, namespaced=False)


def _binding(obj: Mapping[str, Any], old: Mapping[str, Any] | None, *, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        ref = {}
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("apiGroup") != RBAC_GROUP:
        causes.append(
            (
                "FieldValueNotSupported",
                "roleRef.apiGroup",
                f'Unsupported value: {_go_value(ref.get("apiGroup", ""))}: supported values: "{RBAC_GROUP}"',
            )
        )
    if ref.get("kind") not in kinds:
        supported = ", ".join(f'"{k}"' for k in kinds)
        causes.append(
            (
                "FieldValueNotSupported",
                "roleRef.kind",
                f"Unsupported value: {_go_value(ref.get('kind', ''))}: supported values: {supported}",
            )
        )
    if not ref.get("name"):
        causes.append(_required("roleRef.name"))
    if old is not None and old.get("roleRef") != obj.get("roleRef"):
        causes.append(_invalid("roleRef", obj.get("roleRef"), "cannot change roleRef"))
    subjects = obj.get("subjects") or []
    if not isinstance(subjects, list):
        return [*causes, _invalid("subjects", subjects, "must be a list")]
    for index, subject in enumerate(subjects):
        field = f"subjects[{index}]"
        if not isinstance(subject, dict):
            causes.append(_invalid(field, subject, "must be an object"))
            continue
        if not subject.get("name"):
            causes.append(_required(f"{field}.name"))
        kind = subject.get("kind")
        if kind not in ("ServiceAccount", "User", "Group"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"{field}.kind",
                    f"Unsupported value: {_go_value(kind or '')}: supported values: "
                    '"ServiceAccount", "User", "Group"',
                )
            )
        elif kind == "ServiceAccount" and not namespaced and not subject.get("namespace"):
            causes.append(_required(f"{field}.namespace"))
    return causes


def _role_binding(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    return _binding(obj, old, namespaced=True)


def _cluster_role_binding(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    return _binding(obj, old, namespaced=False)


def _deployment(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    selector = spec.get("selector")
    template: dict[str, Any] = spec["template"] if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(_required("spec.selector"))
    else:
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(key) != value for key, value in wanted.items()):
            causes.append(
                _invalid(
                    "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            )
        if old is not None and (old.get("spec") or {}).get("selector") != selector:
            causes.append(_invalid("spec.selector", selector, "field is immutable"))
    containers = (template.get("spec") or {}).get("containers")
    if not containers:
        causes.append(_required("spec.template.spec.containers"))
    else:
        for index, container in enumerate(containers):
            field = f"spec.template.spec.containers[{index}]"
            if not isinstance(container, dict) or not container.get("name"):
                causes.append(_required(f"{field}.name"))
            elif not container.get("image"):
                causes.append(_required(f"{field}.image"))
    return causes


def _pdb(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    if isinstance(spec, dict) and "minAvailable" in spec and "maxUnavailable" in spec:
        return [_invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")]
    return []


def _service(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        return [_invalid("spec", spec, "must be an object")]
    kind = spec.get("type", "ClusterIP")
    if kind != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
        return [_required("spec.ports")]
    causes: list[Cause] = []
    for index, port in enumerate(spec.get("ports") or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                _invalid(f"spec.ports[{index}].port", number or 0, "must be between 1 and 65535, inclusive")
            )
    return causes


_VALIDATORS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any] | None], list[Cause]]] = {
    ROLES.key: _role,
    CLUSTERROLES.key: _cluster_role,
    ROLEBINDINGS.key: _role_binding,
    CLUSTERROLEBINDINGS.key: _cluster_role_binding,
    DEPLOYMENTS.key: _deployment,
    PODDISRUPTIONBUDGETS.key: _pdb,
    SERVICES.key: _service,
}
