"""OpenAPI v3 documents of the devcluster: `GET /openapi/v3` and `/openapi/v3/<api/v1|apis/<g>/<v>>`.

Built the way apiextensions-apiserver publishes CRDs (`controller/openapi/builder`): one document per
group-version, a component schema per kind and list kind carrying `x-kubernetes-group-version-kind`, the
`meta/v1` schemas they refer to, and the REST paths with their operations and query parameters. kubectl
reads these for `--validate=strict` (the default): when the PATCH operation of a kind declares the
`fieldValidation` parameter, kubectl leaves validation to the server and sends `?fieldValidation=Strict`
(`cli-runtime/pkg/resource/query_param_verifier_v3.go`). `kubectl explain` renders the same documents.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from idlcm.crds import CRDVersion

__all__ = ["BUILTIN_KINDS", "document_hash", "openapi_v3_document", "openapi_v3_index"]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_CORE = "io.k8s.api.core.v1."
_REF = "#/components/schemas/"
_API_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


@dataclasses.dataclass(frozen=True)
class _Kind:
    """One kind as the document describes it: names, scope, subresources and its (object) schema."""

    group: str
    version: str
    kind: str
    list_kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...]
    schema_name: str
    schema: Mapping[str, Any]


def _ref(name: str, description: str | None = None) -> dict[str, Any]:
    """A property referring to a component schema, as kube-openapi v3 writes it (`allOf` around `$ref`)."""
    prop: dict[str, Any] = {"allOf": [{"$ref": _REF + name}]}
    if description:
        prop["description"] = description
    return prop


def _string(description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _string_map(description: str, **item: Any) -> dict[str, Any]:
    return {"type": "object", "description": description, "additionalProperties": {"type": "string", **item}}


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


_TYPE_META = {
    "apiVersion": _string(
        "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
        "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
        f"{_API_CONVENTIONS}#resources"
    ),
    "kind": _string(
        "Kind is a string value representing the REST resource this object represents. Servers may infer "
        "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
        f"{_API_CONVENTIONS}#types-kinds"
    ),
}
_OBJECT_META_DESCRIPTION = f"Standard object's metadata. More info: {_API_CONVENTIONS}#metadata"
_LIST_META_DESCRIPTION = f"Standard list metadata. More info: {_API_CONVENTIONS}#metadata"


def _meta_schemas() -> dict[str, Any]:
    """The `meta/v1` schemas the documents refer to: object/list metadata, Status, DeleteOptions, Patch."""
    time = {"type": "string", "format": "date-time", "description": "Time is a wrapper around time.Time."}
    owner_reference = {
        "type": "object",
        "description": "OwnerReference contains enough information to let you identify an owning object.",
        "required": ["apiVersion", "kind", "name", "uid"],
        "properties": {
            "apiVersion": _string("API version of the referent."),
            "blockOwnerDeletion": {"type": "boolean", "description": "Block deletion of the owner until ..."},
            "controller": {
                "type": "boolean",
                "description": "If true, this reference points to the controller.",
            },
            "kind": _string("Kind of the referent."),
            "name": _string("Name of the referent."),
            "uid": _string("UID of the referent."),
        },
        "x-kubernetes-map-type": "atomic",
    }
    managed_fields_entry = {
        "type": "object",
        "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of a resource.",
        "properties": {
            "apiVersion": _string("The version of this resource that this field set applies to."),
            "fieldsType": _string("The discriminator for the different fields format and version."),
            "fieldsV1": _ref(_META + "FieldsV1", "FieldsV1 holds the first JSON version format."),
            "manager": _string("The identifier of the workflow managing these fields."),
            "operation": _string("The type of operation which lead to this entry: Apply or Update."),
            "subresource": _string("The name of the subresource used to update that object."),
            "time": _ref(_META + "Time", "Timestamp of when the last field was changed."),
        },
    }
    object_meta = {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "properties": {
            "annotations": _string_map("Annotations: unstructured key value data."),
            "creationTimestamp": _ref(
                _META + "Time", "When this object was created (RFC3339, UTC). Read-only."
            ),
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "deletionTimestamp": _ref(_META + "Time", "When this resource will be deleted. Read-only."),
            "finalizers": {
                "type": "array",
                "description": "Must be empty before the object is deleted from the registry.",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "set",
                "x-kubernetes-patch-strategy": "merge",
            },
            "generateName": _string("Prefix used by the server to generate a unique name."),
            "generation": {
                "type": "integer",
                "format": "int64",
                "description": "The generation of the spec.",
            },
            "labels": _string_map("Labels: key value pairs to organize and categorize objects."),
            "managedFields": {
                "type": "array",
                "description": "Maps workflow-id and version to the set of fields managed by that workflow.",
                "items": _ref(_META + "ManagedFieldsEntry"),
                "x-kubernetes-list-type": "atomic",
            },
            "name": _string("Name must be unique within a namespace. Cannot be updated."),
            "namespace": _string("The namespace the object is in. Cannot be updated."),
            "ownerReferences": {
                "type": "array",
                "description": "Objects depended by this object.",
                "items": _ref(_META + "OwnerReference"),
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
            },
            "resourceVersion": _string("An opaque value of the internal version of this object. Read-only."),
            "selfLink": _string("Deprecated and unset."),
            "uid": _string("The unique in time and space value for this object. Read-only."),
        },
    }
    list_meta = {
        "type": "object",
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "properties": {
            "continue": _string("Set if the user set a limit on the number of items returned."),
            "remainingItemCount": {"type": "integer", "format": "int64"},
            "resourceVersion": _string(
                "The version of the list, for watches and consistent reads. Read-only."
            ),
            "selfLink": _string("Deprecated and unset."),
        },
    }
    status = {
        "type": "object",
        "description": "Status is a return value for calls that don't return other objects.",
        "properties": {
            **_TYPE_META,
            "code": {"type": "integer", "format": "int32", "description": "Suggested HTTP return code."},
            "details": _ref(_META + "StatusDetails", "Extended data associated with the reason."),
            "message": _string("A human-readable description of the status of this operation."),
            "metadata": _ref(_META + "ListMeta", _LIST_META_DESCRIPTION),
            "reason": _string(
                "A machine-readable description of why this operation is in the Failure status."
            ),
            "status": _string('Status of the operation. One of: "Success" or "Failure".'),
        },
        "x-kubernetes-group-version-kind": [_gvk("", "v1", "Status")],
    }
    status_details = {
        "type": "object",
        "description": "StatusDetails is a set of additional properties that MAY be set by the server.",
        "properties": {
            "causes": {
                "type": "array",
                "items": _ref(_META + "StatusCause"),
                "x-kubernetes-list-type": "atomic",
            },
            "group": _string(),
            "kind": _string(),
            "name": _string(),
            "retryAfterSeconds": {"type": "integer", "format": "int32"},
            "uid": _string(),
        },
    }
    status_cause = {
        "type": "object",
        "description": "StatusCause provides more information about an api.Status failure.",
        "properties": {"field": _string(), "message": _string(), "reason": _string()},
    }
    delete_options = {
        "type": "object",
        "description": "DeleteOptions may be provided when deleting an API object.",
        "properties": {
            **_TYPE_META,
            "dryRun": {"type": "array", "items": {"type": "string", "default": ""}},
            "gracePeriodSeconds": {"type": "integer", "format": "int64"},
            "ignoreStoreReadErrorWithClusterBreakingPotential": {"type": "boolean"},
            "orphanDependents": {"type": "boolean"},
            "preconditions": _ref(_META + "Preconditions"),
            "propagationPolicy": _string(),
        },
        "x-kubernetes-group-version-kind": [_gvk("", "v1", "DeleteOptions")],
    }
    preconditions = {
        "type": "object",
        "description": "Preconditions must be fulfilled before an update or delete is carried out.",
        "properties": {"resourceVersion": _string(), "uid": _string()},
    }
    return {
        _META + "DeleteOptions": delete_options,
        _META + "FieldsV1": {
            "type": "object",
            "description": "FieldsV1 stores a set of fields in a JSON trie.",
        },
        _META + "ListMeta": list_meta,
        _META + "ManagedFieldsEntry": managed_fields_entry,
        _META + "ObjectMeta": object_meta,
        _META + "OwnerReference": owner_reference,
        _META + "Patch": {
            "type": "object",
            "description": "Patch gives a concrete name and type to the Kubernetes PATCH request body.",
        },
        _META + "Preconditions": preconditions,
        _META + "Status": status,
        _META + "StatusCause": status_cause,
        _META + "StatusDetails": status_details,
        _META + "Time": time,
    }


def _object_schema(description: str, properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            **_TYPE_META,
            "metadata": _ref(_META + "ObjectMeta", _OBJECT_META_DESCRIPTION),
            **properties,
        },
        **extra,
    }


def _core_kinds() -> tuple[_Kind, ...]:
    time = _META + "Time"
    namespace = _object_schema(
        "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
        {
            "spec": {
                "type": "object",
                "description": "Spec defines the behavior of the Namespace.",
                "properties": {
                    "finalizers": {
                        "type": "array",
                        "items": {"type": "string", "default": ""},
                        "x-kubernetes-list-type": "atomic",
                    }
                },
            },
            "status": {
                "type": "object",
                "description": "Status describes the current status of a Namespace.",
                "properties": {
                    "phase": _string(
                        "Phase is the current lifecycle phase of the namespace.",
                        enum=["Active", "Terminating"],
                    ),
                    "conditions": {
                        "type": "array",
                        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "x-kubernetes-list-map-keys": ["type"],
                        "x-kubernetes-list-type": "map",
                    },
                },
            },
        },
    )
    secret = _object_schema(
        "Secret holds secret data of a certain type.",
        {
            "data": _string_map("Data contains the secret data (base64 encoded values).", format="byte"),
            "immutable": {"type": "boolean", "description": "If set to true, data cannot be updated."},
            "stringData": _string_map("Write-only convenience: non-binary secret data merged into data."),
            "type": _string("Used to facilitate programmatic handling of secret data."),
        },
    )
    config_map = _object_schema(
        "ConfigMap holds configuration data for pods to consume.",
        {
            "binaryData": _string_map("BinaryData contains the binary data.", format="byte"),
            "data": _string_map("Data contains the configuration data."),
            "immutable": {"type": "boolean", "description": "If set to true, data cannot be updated."},
        },
    )
    event = _object_schema(
        "Event is a report of an event somewhere in the cluster.",
        {
            "action": _string("What action was taken/failed regarding to the Regarding object."),
            "count": {
                "type": "integer",
                "format": "int32",
                "description": "The number of times this occurred.",
            },
            "eventTime": {
                "type": "string",
                "format": "date-time",
                "description": "Time when first observed.",
            },
            "firstTimestamp": _ref(time, "The time at which the event was first recorded."),
            "involvedObject": {
                "type": "object",
                "description": "The object that this event is about.",
                "properties": {
                    name: _string()
                    for name in (
                        "apiVersion",
                        "fieldPath",
                        "kind",
                        "name",
                        "namespace",
                        "resourceVersion",
                        "uid",
                    )
                },
                "x-kubernetes-map-type": "atomic",
            },
            "lastTimestamp": _ref(time, "The time at which the most recent occurrence was recorded."),
            "message": _string("A human-readable description of the status of this operation."),
            "reason": _string("A short, machine understandable string that gives the reason."),
            "related": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "reportingComponent": _string("Name of the controller that emitted this Event."),
            "reportingInstance": _string("ID of the controller instance."),
            "series": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "source": {
                "type": "object",
                "description": "The component reporting this event.",
                "properties": {"component": _string(), "host": _string()},
            },
            "type": _string("Type of this event (Normal, Warning)."),
        },
        required=["metadata", "involvedObject"],
    )
    return (
        _Kind(
            "", "v1", "ConfigMap", "ConfigMapList", "configmaps", True, (), _CORE + "ConfigMap", config_map
        ),
        _Kind("", "v1", "Event", "EventList", "events", True, (), _CORE + "Event", event),
        _Kind(
            "",
            "v1",
            "Namespace",
            "NamespaceList",
            "namespaces",
            False,
            ("status",),
            _CORE + "Namespace",
            namespace,
        ),
        _Kind("", "v1", "Secret", "SecretList", "secrets", True, (), _CORE + "Secret", secret),
        *_workload_core_kinds(),
    )


def _open(description: str) -> dict[str, Any]:
    """An object the devcluster stores as written (what a controller would read from it is not modelled)."""
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def _workload_core_kinds() -> tuple[_Kind, ...]:
    """Core v1 kinds the manifests install: ServiceAccount and Service (`kinds.py`)."""
    reference = {"type": "object", "properties": {"name": _string("Name of the referent.")}}
    service_account = _object_schema(
        "ServiceAccount binds together a name, a principal that can be authenticated, and a set of secrets.",
        {
            "automountServiceAccountToken": {
                "type": "boolean",
                "description": "Whether pods running as this service account should have a token mounted.",
            },
            "imagePullSecrets": {"type": "array", "items": reference, "x-kubernetes-list-type": "atomic"},
            "secrets": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
        },
    )
    service = _object_schema(
        "Service is a named abstraction of software service consisting of local port and selector.",
        {
            "spec": _open("Spec defines the behavior of a service."),
            "status": _open("Most recently observed status of the service."),
        },
    )
    return (
        _Kind(
            "",
            "v1",
            "ServiceAccount",
            "ServiceAccountList",
            "serviceaccounts",
            True,
            (),
            _CORE + "ServiceAccount",
            service_account,
        ),
        _Kind("", "v1", "Service", "ServiceList", "services", True, ("status",), _CORE + "Service", service),
    )


def _apps_kinds() -> tuple[_Kind, ...]:
    deployment = _object_schema(
        "Deployment enables declarative updates for Pods and ReplicaSets.",
        {
            "spec": _open("Specification of the desired behavior of the Deployment."),
            "status": _open("Most recently observed status of the Deployment."),
        },
    )
    name = "io.k8s.api.apps.v1.Deployment"
    return (
        _Kind(
            "apps", "v1", "Deployment", "DeploymentList", "deployments", True, ("status",), name, deployment
        ),
    )


def _policy_kinds() -> tuple[_Kind, ...]:
    pdb = _object_schema(
        "PodDisruptionBudget is an object to define the max disruption that can be caused to a collection of "
        "pods",
        {
            "spec": _open("Specification of the desired behavior of the PodDisruptionBudget."),
            "status": _open("Most recently observed status of the PodDisruptionBudget."),
        },
    )
    name = "io.k8s.api.policy.v1.PodDisruptionBudget"
    return (
        _Kind(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "PodDisruptionBudgetList",
            "poddisruptionbudgets",
            True,
            ("status",),
            name,
            pdb,
        ),
    )


def _rbac_kinds() -> tuple[_Kind, ...]:
    prefix = "io.k8s.api.rbac.v1."
    strings = {
        "type": "array",
        "items": {"type": "string", "default": ""},
        "x-kubernetes-list-type": "atomic",
    }
    rule = {
        "type": "object",
        "description": "PolicyRule holds information that describes a policy rule.",
        "required": ["verbs"],
        "properties": {
            "apiGroups": {**strings, "description": "The API groups of the resources."},
            "nonResourceURLs": {**strings, "description": "Partial URLs a user should have access to."},
            "resourceNames": {**strings, "description": "An optional allow list of names."},
            "resources": {**strings, "description": "The resources this rule applies to; '*' means all."},
            "verbs": {**strings, "description": "The verbs this rule applies to; '*' means all."},
        },
    }
    rules = {
        "type": "array",
        "description": "Rules holds all the PolicyRules for this role.",
        "items": rule,
        "x-kubernetes-list-type": "atomic",
    }
    role_ref = {
        "type": "object",
        "description": "RoleRef contains information that points to the role being used.",
        "required": ["apiGroup", "kind", "name"],
        "properties": {"apiGroup": _string(), "kind": _string(), "name": _string()},
        "x-kubernetes-map-type": "atomic",
    }
    subjects = {
        "type": "array",
        "description": "Subjects holds references to the objects the role applies to.",
        "items": {
            "type": "object",
            "required": ["kind", "name"],
            "properties": {
                "apiGroup": _string(),
                "kind": _string(),
                "name": _string(),
                "namespace": _string(),
            },
            "x-kubernetes-map-type": "atomic",
        },
        "x-kubernetes-list-type": "atomic",
    }
    role = _object_schema("Role is a namespaced, logical grouping of PolicyRules.", {"rules": rules})
    cluster_role = _object_schema(
        "ClusterRole is a cluster level, logical grouping of PolicyRules.",
        {"rules": rules, "aggregationRule": _open("Describes how to build the Rules for this ClusterRole.")},
    )
    binding = _object_schema(
        "A binding references a role and holds a list of subjects.",
        {"roleRef": role_ref, "subjects": subjects},
        required=["roleRef"],
    )
    group = "rbac.authorization.k8s.io"
    return (
        _Kind(
            group,
            "v1",
            "ClusterRole",
            "ClusterRoleList",
            "clusterroles",
            False,
            (),
            prefix + "ClusterRole",
            cluster_role,
        ),
        _Kind(
            group,
            "v1",
            "ClusterRoleBinding",
            "ClusterRoleBindingList",
            "clusterrolebindings",
            False,
            (),
            prefix + "ClusterRoleBinding",
            binding,
        ),
        _Kind(group, "v1", "Role", "RoleList", "roles", True, (), prefix + "Role", role),
        _Kind(
            group,
            "v1",
            "RoleBinding",
            "RoleBindingList",
            "rolebindings",
            True,
            (),
            prefix + "RoleBinding",
            binding,
        ),
    )


def _events_kinds() -> tuple[_Kind, ...]:
    time = {"type": "string", "format": "date-time"}
    reference = {
        "type": "object",
        "properties": {
            name: _string()
            for name in ("apiVersion", "fieldPath", "kind", "name", "namespace", "resourceVersion", "uid")
        },
        "x-kubernetes-map-type": "atomic",
    }
    event = _object_schema(
        "Event is a report of an event somewhere in the cluster.",
        {
            "action": _string("What action was taken/failed regarding the regarding object."),
            "deprecatedCount": {"type": "integer", "format": "int32"},
            "deprecatedFirstTimestamp": _ref(_META + "Time"),
            "deprecatedLastTimestamp": _ref(_META + "Time"),
            "deprecatedSource": {"type": "object", "properties": {"component": _string(), "host": _string()}},
            "eventTime": {**time, "description": "The time when this Event was first observed."},
            "note": _string("A human-readable description of the status of this operation."),
            "reason": _string("Why the action was taken."),
            "regarding": {**reference, "description": "The object this Event is about."},
            "related": {**reference, "description": "A secondary object for more complex actions."},
            "reportingController": _string("The name of the controller that emitted this Event."),
            "reportingInstance": _string("The ID of the controller instance."),
            "series": {
                "type": "object",
                "required": ["count", "lastObservedTime"],
                "properties": {"count": {"type": "integer", "format": "int32"}, "lastObservedTime": time},
            },
            "type": _string("Type of this event (Normal, Warning)."),
        },
        required=["eventTime"],
    )
    name = "io.k8s.api.events.v1.Event"
    return (_Kind("events.k8s.io", "v1", "Event", "EventList", "events", True, (), name, event),)


def _apiextensions_kinds() -> tuple[_Kind, ...]:
    crd = _object_schema(
        "CustomResourceDefinition represents a resource that should be exposed on the API server. Its name "
        "MUST be in the format <.spec.name>.<.spec.group>.",
        {
            "spec": {
                "type": "object",
                "description": "spec describes how the user wants the resources to appear",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "status": {
                "type": "object",
                "description": "status indicates the actual state of the CustomResourceDefinition",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
        required=["spec"],
    )
    name = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    return (
        _Kind(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "CustomResourceDefinitionList",
            "customresourcedefinitions",
            False,
            ("status",),
            name,
            crd,
        ),
    )


_BUILTIN_DOCUMENTS = {
    "api/v1": _core_kinds,
    "apis/apiextensions.k8s.io/v1": _apiextensions_kinds,
    "apis/apps/v1": _apps_kinds,
    "apis/events.k8s.io/v1": _events_kinds,
    "apis/policy/v1": _policy_kinds,
    "apis/rbac.authorization.k8s.io/v1": _rbac_kinds,
}
BUILTIN_KINDS: dict[str, tuple[str, ...]] = {
    path: tuple(kind.kind for kind in kinds()) for path, kinds in _BUILTIN_DOCUMENTS.items()
}
"""The built-in kinds each built-in document describes: core v1, events.k8s.io/v1, apiextensions.k8s.io/v1."""


def _rest_friendly_name(group: str, version: str, kind: str) -> str:
    """kube-openapi's `ToRESTFriendlyName`: the group reversed, e.g. `io.idlcm.v1alpha1.Integration`."""
    return ".".join([*reversed(group.split(".")), version, kind]) if group else f"{version}.{kind}"


def _crd_kind(crd: CRDVersion) -> _Kind:
    """The CRD's schema with apiVersion/kind/metadata replaced as `buildKubeNative` does, plus its GVK."""
    schema = copy.deepcopy(dict(crd.schema))
    properties = dict(schema.get("properties") or {})
    properties.update(_TYPE_META)
    properties["metadata"] = _ref(_META + "ObjectMeta", _OBJECT_META_DESCRIPTION)
    schema["properties"] = dict(sorted(properties.items()))
    schema.setdefault("type", "object")
    name = _rest_friendly_name(crd.group, crd.version, crd.kind)
    return _Kind(
        crd.group,
        crd.version,
        crd.kind,
        crd.list_kind,
        crd.plural,
        crd.namespaced,
        crd.subresources,
        name,
        schema,
    )


def _to_operation_id(text: str, capitalize: bool) -> str:
    """kube-openapi's `ToValidOperationID`: drop non-identifier runes, capitalising the rune after each."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char.isalpha() or char == "_" or (index and char.isdigit()):
            out.append(char.upper() if capitalize else char)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


def _operation_id(verb: str, rest: str, path: str) -> tuple[str, list[str]]:
    """`GetOperationIDAndTags`: e.g. `listIdlcmIoV1alpha1NamespacedIntegration`, tag `idlcmIo_v1alpha1`."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        parts = ["apis", "core", *parts[1:]]
    trimmed = parts[1].removesuffix(".k8s.io")
    prefix = verb + _to_operation_id(trimmed, True) + _to_operation_id(parts[2], True)
    tag = _to_operation_id(trimmed, False) + "_" + _to_operation_id(parts[2], False)
    return prefix + _to_operation_id(rest, True), [tag]


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": kind, "uniqueItems": True},
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "uniqueItems": True},
    }


_PRETTY = _query("pretty", "string", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun "
    "directive will result in an error response and no further processing of the request. Valid values are: "
    "- All: all dry run stages will be processed",
)
_FIELD_MANAGER = _query(
    "fieldManager",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes. The value must "
    "be less than or 128 characters long, and only contain printable characters, as defined by "
    "https://golang.org/pkg/unicode/#IsPrint.",
)
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields "
    "that are silently dropped from the object, and will ignore all but the last duplicate field that the "
    "decoder encounters. - Warn: This will send a warning via the standard warning response header for each "
    "unknown field that is dropped from the object, and for each duplicate field that is encountered. - "
    "Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from "
    "the object, or if any duplicate fields are present. The error returned from the server will contain all "
    "unknown and duplicate fields encountered.",
)
_FORCE = _query(
    "force",
    "boolean",
    'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by '
    "other people. Force flag must be unset for non-apply patch requests.",
)
_WRITE_PARAMS = (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION)
_LIST_PARAMS = (
    _query(
        "allowWatchBookmarks", "boolean", 'allowWatchBookmarks requests watch events with type "BOOKMARK".'
    ),
    _query(
        "continue",
        "string",
        "The continue option should be set when retrieving more results from the server.",
    ),
    _query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "integer", "limit is a maximum number of responses to return for a list call."),
    _query(
        "resourceVersion",
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _query(
        "resourceVersionMatch",
        "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _query("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    _query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    _query("watch", "boolean", "Watch for changes to the described resources and return them as a stream."),
)
_DELETE_PARAMS = (
    _DRY_RUN,
    _query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
    _query(
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "boolean",
        "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow "
        "fails with a corrupt object error.",
    ),
    _query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy."),
    _query("propagationPolicy", "string", "Whether and how garbage collection will be performed."),
)


def _content(
    schema_name: str, media_types: Sequence[str] = ("application/json", "application/yaml")
) -> dict[str, Any]:
    return {media: {"schema": {"$ref": _REF + schema_name}} for media in media_types}


def _responses(schema_name: str, *extra: tuple[str, str]) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _content(schema_name)}}
    for code, description in extra:
        responses[code] = {"description": description, "content": _content(schema_name)}
    responses["401"] = {"description": "Unauthorized"}
    return responses


class _PathBuilder:
    """The REST paths and schemas of one kind, laid out as `builder.go` registers its routes."""

    def __init__(self, kind: _Kind) -> None:
        self.kind = kind
        self.list_schema = kind.schema_name.removesuffix(kind.kind) + kind.list_kind
        self.prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        scope = f"{self.prefix}/namespaces/{{namespace}}" if kind.namespaced else self.prefix
        self.root = f"{scope}/{kind.plural}"
        self.scoped = ("Namespaced" if kind.namespaced else "") + kind.kind

    def operation(
        self, action: str, operation: tuple[str, str], path: str, description: str, **body: Any
    ) -> dict[str, Any]:
        """One operation; `operation` is its id's verb and rest, e.g. `("read", "NamespacedIntegration")`."""
        operation_id, tags = _operation_id(*operation, path)
        return {
            "description": description,
            "operationId": operation_id,
            "tags": tags,
            **body,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(self.kind.group, self.kind.version, self.kind.kind),
        }

    def paths(self) -> dict[str, Any]:
        kind, root, scoped = self.kind, self.root, self.scoped
        scope_params = (
            [_path_param("namespace", "object name and auth scope, such as for teams and projects")]
            if kind.namespaced
            else []
        )
        name_params = [_path_param("name", f"name of the {kind.kind}"), *scope_params, _PRETTY]
        patch_body = {
            "required": True,
            "content": {media: {"schema": {"$ref": _REF + _META + "Patch"}} for media in _PATCH_TYPES},
        }
        object_body = {"required": True, "content": {"*/*": {"schema": {"$ref": _REF + kind.schema_name}}}}
        delete_body = {"content": {"*/*": {"schema": {"$ref": _REF + _META + "DeleteOptions"}}}}
        # Every write operation declares fieldValidation: kubectl checks the first PATCH it finds of the kind.
        patch_params = [*_WRITE_PARAMS] if kind.group else [*_WRITE_PARAMS, _FORCE]
        status = _META + "Status"
        a = _article(kind.kind)
        paths: dict[str, Any] = {}
        if kind.namespaced:
            every = f"{self.prefix}/{kind.plural}"
            list_every = self.operation(
                "list",
                ("list", kind.kind + "ForAllNamespaces"),
                every,
                f"list or watch objects of kind {kind.kind}",
                parameters=[*_LIST_PARAMS],
                responses=_responses(self.list_schema),
            )
            paths[every] = {"get": list_every, "parameters": [_PRETTY]}
        paths[root] = {
            "get": self.operation(
                "list",
                ("list", scoped),
                root,
                f"list or watch objects of kind {kind.kind}",
                parameters=[*_LIST_PARAMS],
                responses=_responses(self.list_schema),
            ),
            "post": self.operation(
                "post",
                ("create", scoped),
                root,
                f"create {a}{kind.kind}",
                parameters=[*_WRITE_PARAMS],
                requestBody=object_body,
                responses=_responses(kind.schema_name, ("201", "Created"), ("202", "Accepted")),
            ),
            "delete": self.operation(
                "deletecollection",
                ("delete", "Collection" + scoped),
                root,
                f"delete collection of {kind.kind}",
                parameters=[*_DELETE_PARAMS, *_LIST_PARAMS],
                requestBody=delete_body,
                responses=_responses(status),
            ),
            "parameters": [*scope_params, _PRETTY],
        }
        item = f"{root}/{{name}}"
        paths[item] = {
            "get": self.operation(
                "get",
                ("read", scoped),
                item,
                f"read the specified {kind.kind}",
                parameters=[
                    _query("resourceVersion", "string", "When specified, shows the object at that version.")
                ],
                responses=_responses(kind.schema_name),
            ),
            "put": self.operation(
                "put",
                ("replace", scoped),
                item,
                f"replace the specified {kind.kind}",
                parameters=[*_WRITE_PARAMS],
                requestBody=object_body,
                responses=_responses(kind.schema_name, ("201", "Created")),
            ),
            "delete": self.operation(
                "delete",
                ("delete", scoped),
                item,
                f"delete {a}{kind.kind}",
                parameters=[*_DELETE_PARAMS],
                requestBody=delete_body,
                responses=_responses(status, ("202", "Accepted")),
            ),
            "patch": self.operation(
                "patch",
                ("patch", scoped),
                item,
                f"partially update the specified {kind.kind}",
                parameters=patch_params,
                requestBody=patch_body,
                responses=_responses(kind.schema_name, ("201", "Created")),
            ),
            "parameters": name_params,
        }
        if "status" in kind.subresources:
            sub = f"{item}/status"
            paths[sub] = {
                "get": self.operation(
                    "get",
                    ("read", scoped + "Status"),
                    sub,
                    f"read status of the specified {kind.kind}",
                    responses=_responses(kind.schema_name),
                ),
                "put": self.operation(
                    "put",
                    ("replace", scoped + "Status"),
                    sub,
                    f"replace status of the specified {kind.kind}",
                    parameters=[*_WRITE_PARAMS],
                    requestBody=object_body,
                    responses=_responses(kind.schema_name, ("201", "Created")),
                ),
                "patch": self.operation(
                    "patch",
                    ("patch", scoped + "Status"),
                    sub,
                    f"partially update status of the specified {kind.kind}",
                    parameters=patch_params,
                    requestBody=patch_body,
                    responses=_responses(kind.schema_name, ("201", "Created")),
                ),
                "parameters": name_params,
            }
        return paths

    def schemas(self) -> dict[str, Any]:
        kind = self.kind
        schema = dict(kind.schema)
        schema["x-kubernetes-group-version-kind"] = [_gvk(kind.group, kind.version, kind.kind)]
        list_schema = {
            "type": "object",
            "description": f"{kind.list_kind} is a list of {kind.kind}",
            "required": ["items"],
            "properties": {
                "apiVersion": _TYPE_META["apiVersion"],
                "items": {
                    "type": "array",
                    "description": f"List of {kind.plural}. More info: {_API_CONVENTIONS}",
                    "items": {"$ref": _REF + kind.schema_name},
                },
                "kind": _TYPE_META["kind"],
                "metadata": _ref(_META + "ListMeta", _LIST_META_DESCRIPTION),
            },
            "x-kubernetes-group-version-kind": [_gvk(kind.group, kind.version, kind.list_kind)],
        }
        return {kind.schema_name: schema, self.list_schema: list_schema}


def _article(noun: str) -> str:
    return "an " if noun[:1].lower() in "aeiou" else "a "


def _document(kinds: Sequence[_Kind], title: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas = _meta_schemas()
    for kind in kinds:
        builder = _PathBuilder(kind)
        paths.update(builder.paths())
        schemas.update(builder.schemas())
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v0.1.0"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _group_versions(crds: Sequence[CRDVersion]) -> dict[str, list[CRDVersion]]:
    grouped: dict[str, list[CRDVersion]] = {}
    for crd in crds:
        grouped.setdefault(f"apis/{crd.group}/{crd.version}", []).append(crd)
    return grouped


def openapi_v3_document(path: str, crds: Sequence[CRDVersion]) -> dict[str, Any] | None:
    """The document at `/openapi/v3/<path>` (`api/v1`, `apis/<group>/<version>`); None for unknown paths."""
    path = path.strip("/").split("?", 1)[0]
    if path in _BUILTIN_DOCUMENTS:
        return _document(_BUILTIN_DOCUMENTS[path](), "Kubernetes")
    group_crds = _group_versions(crds).get(path)
    if not group_crds:
        return None
    return _document([_crd_kind(crd) for crd in group_crds], "Kubernetes CRD Swagger")


def document_hash(document: Mapping[str, Any]) -> str:
    """The content hash the index puts in `?hash=` (the apiserver's is an upper-case SHA-512 hex too)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(canonical).hexdigest().upper()


def openapi_v3_index(crds: Sequence[CRDVersion]) -> dict[str, Any]:
    """`GET /openapi/v3`: every group-version's document path, with its content hash for caching."""
    paths: dict[str, Any] = {}
    for path in sorted({*_BUILTIN_DOCUMENTS, *_group_versions(crds)}):
        document = openapi_v3_document(path, crds)
        assert document is not None
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(document)}"}
    return {"paths": paths}
