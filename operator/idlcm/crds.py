"""The CustomResourceDefinitions of idlcm, loaded from `crds/` (the one source of the API)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

GROUP = "idlcm.io"
VERSION = "v1alpha1"


@dataclasses.dataclass(frozen=True)
class CRDVersion:
    """One served version of a CRD, with everything a client or an API server needs of it."""

    group: str
    version: str
    kind: str
    list_kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    namespaced: bool
    schema: Mapping[str, Any]
    printer_columns: tuple[Mapping[str, Any], ...]
    subresources: tuple[str, ...]
    source: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)

    @property
    def api_version(self) -> str:
        """The `apiVersion` of objects of this kind, e.g. `idlcm.io/v1alpha1`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """The CRD's own name, `<plural>.<group>`."""
        return f"{self.plural}.{self.group}"


def crds_dir() -> Path:
    """Where the CRD files are: bundled in the wheel, or `crds/` of a source checkout."""
    bundled = Path(__file__).parent / "_crds"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "crds"


def parse(documents: Iterable[Mapping[str, Any]]) -> list[CRDVersion]:
    """Every served version of every CustomResourceDefinition among the documents."""
    result: list[CRDVersion] = []
    for doc in documents:
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        names = spec["names"]
        for ver in spec["versions"]:
            if not ver.get("served", True):
                continue
            result.append(
                CRDVersion(
                    group=spec["group"],
                    version=ver["name"],
                    kind=names["kind"],
                    list_kind=names.get("listKind", names["kind"] + "List"),
                    plural=names["plural"],
                    singular=names.get("singular", names["kind"].lower()),
                    short_names=tuple(names.get("shortNames", ())),
                    categories=tuple(names.get("categories", ())),
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    schema=ver["schema"]["openAPIV3Schema"],
                    printer_columns=tuple(ver.get("additionalPrinterColumns", ())),
                    subresources=tuple(ver.get("subresources", {}) or {}),
                    source=doc,
                )
            )
    return result


def load(paths: Sequence[Path] | None = None) -> list[CRDVersion]:
    """Load CRD versions from the given files, or from every YAML file in `crds_dir()`."""
    if paths is None:
        return list(_load_default())
    docs: list[Mapping[str, Any]] = []
    for path in paths:
        docs.extend(yaml.safe_load_all(path.read_text()))
    return parse(docs)


def crd_files() -> list[Path]:
    """The CRD files in `crds_dir()` (the kustomization beside them is not one)."""
    files = sorted(crds_dir().glob(f"{GROUP}_*.yaml"))
    if not files:
        raise FileNotFoundError(f"no CRD files found in {crds_dir()}")
    return files


@functools.cache
def _load_default() -> tuple[CRDVersion, ...]:
    return tuple(load(crd_files()))


def find(kind: str, api_version: str | None = None) -> CRDVersion | None:
    """The CRD version serving this kind (and apiVersion, when given) among the default CRDs."""
    for crd in _load_default():
        if crd.kind == kind and (api_version is None or crd.api_version == api_version):
            return crd
    return None
