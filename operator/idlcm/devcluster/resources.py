"""The resources the devcluster serves: core v1 kinds it needs, apiextensions, and the CRDs' kinds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from idlcm.crds import CRDVersion

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_COMMON_FIELDS = {"metadata.name": "metadata.name", "metadata.namespace": "metadata.namespace"}
_EVENT_FIELDS = {
    **{
        f"involvedObject.{f}": f"involvedObject.{f}"
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
    "reason": "reason",
    "reportingComponent": "reportingComponent",
    "source": "source.component",
    "type": "type",
}


@dataclasses.dataclass(frozen=True)
class Resource:
    """One served resource (group, version, plural) and what discovery says of it."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    list_kind: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    crd: CRDVersion | None = dataclasses.field(default=None, compare=False, repr=False)
    # field selector label → dotted path into the object
    field_labels: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType(_COMMON_FIELDS), compare=False, repr=False
    )

    @property
    def key(self) -> str:
        """`group/version/plural` (`v1/secrets` for core): the key of its objects in the store."""
        return f"{self.group}/{self.version}/{self.plural}" if self.group else f"{self.version}/{self.plural}"

    @property
    def api_version(self) -> str:
        """The objects' `apiVersion`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How error messages name the resource: `integrations.idlcm.io`, `secrets`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        """Whether `status` is a subresource (isolated from writes to the main endpoint)."""
        return "status" in self.subresources

    @property
    def effective_list_kind(self) -> str:
        """The `kind` of a list of these objects."""
        return self.list_kind or f"{self.kind}List"


def from_crd(crd: CRDVersion) -> Resource:
    """The resource a served CRD version defines."""
    labels = dict(_COMMON_FIELDS)
    for version in crd.source.get("spec", {}).get("versions", ()):
        if version.get("name") == crd.version:
            for field in version.get("selectableFields", ()) or ():
                path = str(field["jsonPath"]).lstrip(".")
                labels[path] = path
    return Resource(
        group=crd.group,
        version=crd.version,
        plural=crd.plural,
        kind=crd.kind,
        singular=crd.singular,
        namespaced=crd.namespaced,
        list_kind=crd.list_kind,
        short_names=crd.short_names,
        categories=crd.categories,
        subresources=tuple(s for s in crd.subresources if s == "status"),
        crd=crd,
        field_labels=MappingProxyType(labels),
    )


NAMESPACES = Resource(
    "",
    "v1",
    "namespaces",
    "Namespace",
    "namespace",
    False,
    short_names=("ns",),
    field_labels=MappingProxyType({"metadata.name": "metadata.name", "status.phase": "status.phase"}),
)
SECRETS = Resource(
    "",
    "v1",
    "secrets",
    "Secret",
    "secret",
    True,
    field_labels=MappingProxyType({**_COMMON_FIELDS, "type": "type"}),
)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", "configmap", True, short_names=("cm",))
EVENTS = Resource(
    "",
    "v1",
    "events",
    "Event",
    "event",
    True,
    short_names=("ev",),
    field_labels=MappingProxyType({**_COMMON_FIELDS, **_EVENT_FIELDS}),
)
EVENTS_V1 = Resource(
    "events.k8s.io",
    "v1",
    "events",
    "Event",
    "event",
    True,
    short_names=("ev",),
    field_labels=MappingProxyType(
        {
            **_COMMON_FIELDS,
            **{
                f"regarding.{f}": f"regarding.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion")
            },
            "reason": "reason",
            "reportingController": "reportingController",
            "type": "type",
        }
    ),
)
CRDS = Resource(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    "customresourcedefinition",
    False,
    short_names=("crd", "crds"),
    categories=("api-extensions",),
    subresources=("status",),
)
BUILTIN = (NAMESPACES, SECRETS, CONFIGMAPS, EVENTS, EVENTS_V1, CRDS)
