"""Every rendered manifest is valid Kubernetes, offline: kubernetes-validate's schemas of the Kubernetes API
(strict: unknown fields fail), custom resources against the CRDs rendered with them, and the CRDs against the
structural-schema rules the API server enforces on top of JSON Schema."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from deploy.conftest import Document, render

# The oldest Kubernetes we support, and kubectl's version here.
KUBERNETES_VERSIONS = ("1.30.0", "1.32.0")

Schema = dict[str, Any]


def crd_schemas(documents: list[Document]) -> dict[tuple[str, str], Schema]:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD version in the render."""
    schemas = {}
    for doc in documents:
        if doc["kind"] == "CustomResourceDefinition":
            spec = doc["spec"]
            for version in spec["versions"]:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_validates_against_the_kubernetes_schemas(target: str, version: str) -> None:
    documents = render(target)
    custom = crd_schemas(documents)
    for doc in documents:
        key = (doc["apiVersion"], doc["kind"])
        if key in custom:
            jsonschema.validate(doc, _json_schema(custom[key]))
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_every_object_is_unique_and_namespaced_where_it_must_be(target: str) -> None:
    documents = render(target)
    keys = Counter((d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in documents)
    assert [k for k, n in keys.items() if n > 1] == []
    cluster_scoped = {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    for doc in documents:
        namespaced = doc["metadata"].get("namespace") is not None
        assert namespaced != (doc["kind"] in cluster_scoped), f"{doc['kind']}/{doc['metadata']['name']}"


def test_the_crds_come_from_crds_and_kopf(target: str) -> None:
    names = sorted(d["metadata"]["name"] for d in render(target) if d["kind"] == "CustomResourceDefinition")
    assert names == [
        "clusterkopfpeerings.kopf.dev",
        "externalapps.idlcm.io",
        "integrations.idlcm.io",
        "kopfpeerings.kopf.dev",
    ]


def test_the_crds_are_structural(target: str) -> None:
    for doc in render(target):
        if doc["kind"] != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        assert doc["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
        assert [v["storage"] for v in spec["versions"]].count(True) == 1
        for version in spec["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            assert schema["type"] == "object"
            problems = list(_structural_problems(schema, "openAPIV3Schema"))
            assert problems == [], f"{doc['metadata']['name']}/{version['name']}: {problems}"
            if "status" in schema.get("properties", {}) and spec["group"] == "idlcm.io":
                assert "status" in version.get("subresources", {}), "idlcm writes status via /status"


def _structural_problems(node: Schema, path: str) -> Any:
    """The structural-schema rules of apiextensions that JSON Schema alone does not check."""
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "type" not in node and not node.get("x-kubernetes-int-or-string") and not preserve:
        yield f"{path}: no type"
    if "properties" in node and "additionalProperties" in node:
        yield f"{path}: both properties and additionalProperties"
    if node.get("x-kubernetes-list-type") == "map":
        required = set(node.get("items", {}).get("required", []))
        missing = set(node.get("x-kubernetes-list-map-keys", [])) - required
        if missing:
            yield f"{path}: list-map keys {sorted(missing)} are not required in items"
    elif "x-kubernetes-list-map-keys" in node:
        yield f"{path}: x-kubernetes-list-map-keys without x-kubernetes-list-type: map"
    for name, child in node.get("properties", {}).items():
        yield from _structural_problems(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _structural_problems(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from _structural_problems(node["items"], f"{path}[]")


def _json_schema(schema: Schema) -> Schema:
    """An openAPIV3Schema as JSON Schema: the x-kubernetes-* keywords dropped (they constrain no value)."""
    if isinstance(schema, dict):
        return {k: _json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if isinstance(schema, list):
        return [_json_schema(v) for v in schema]
    return schema
