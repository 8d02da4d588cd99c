"""OpenAPI v3 documents: structurally sound, GVK-tagged, and telling kubectl to validate server-side."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from idlcm import crds
from idlcm.devcluster.openapi import BUILTIN_KINDS, document_hash, openapi_v3_document, openapi_v3_index

CRD_PATH = "apis/idlcm.io/v1alpha1"
METHODS = ("get", "put", "post", "delete", "patch")


def _document(path: str) -> dict[str, Any]:
    document = openapi_v3_document(path, crds.load())
    assert document is not None
    return document


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _supports_query_param(document: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """kubectl's `supportsQueryParamV3`: the first PATCH operation of the GVK must declare the parameter."""
    for _, method, operation in _operations(document):
        if method == "patch" and operation.get("x-kubernetes-group-version-kind") == gvk:
            return any(p.get("name") == param for p in operation.get("parameters", []))
    return False


@pytest.fixture(params=[*BUILTIN_KINDS, CRD_PATH])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _document(request.param)


def test_every_ref_resolves_inside_the_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = {node["$ref"] for node in _walk(document) if isinstance(node, dict) and "$ref" in node}
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_document_is_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    for path, method, operation in _operations(document):
        assert operation["responses"]["200"]["description"] == "OK", (path, method)
        for parameter in operation.get("parameters", []):
            assert parameter["in"] in ("query", "path")
            assert "schema" in parameter


def test_path_templates_declare_their_path_parameters(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
        assert all(p["required"] for p in item.get("parameters", []) if p["in"] == "path")


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))


def test_crd_operations_are_named_like_the_apiserver() -> None:
    paths = _document(CRD_PATH)["paths"]
    item = paths["/apis/idlcm.io/v1alpha1/namespaces/{namespace}/integrations/{name}"]
    assert item["patch"]["operationId"] == "patchIdlcmIoV1alpha1NamespacedIntegration"
    assert item["patch"]["tags"] == ["idlcmIo_v1alpha1"]
    collection = paths["/apis/idlcm.io/v1alpha1/namespaces/{namespace}/integrations"]
    assert collection["delete"]["operationId"] == "deleteIdlcmIoV1alpha1CollectionNamespacedIntegration"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    every = paths["/apis/idlcm.io/v1alpha1/integrations"]["get"]
    assert every["operationId"] == "listIdlcmIoV1alpha1IntegrationForAllNamespaces"
    status = paths["/apis/idlcm.io/v1alpha1/namespaces/{namespace}/integrations/{name}/status"]
    assert status["patch"]["operationId"] == "patchIdlcmIoV1alpha1NamespacedIntegrationStatus"
    core = _document("api/v1")["paths"]["/api/v1/namespaces/{namespace}/secrets"]
    assert core["get"]["operationId"] == "listCoreV1NamespacedSecret"


def test_every_operation_and_kind_schema_carries_its_gvk() -> None:
    document = _document(CRD_PATH)
    schemas = document["components"]["schemas"]
    for crd in crds.load():
        gvk = {"group": crd.group, "version": crd.version, "kind": crd.kind}
        name = f"io.idlcm.{crd.version}.{crd.kind}"
        assert schemas[name]["x-kubernetes-group-version-kind"] == [gvk]
        list_gvk = {**gvk, "kind": crd.list_kind}
        assert schemas[f"io.idlcm.{crd.version}.{crd.list_kind}"]["x-kubernetes-group-version-kind"] == [
            list_gvk
        ]
    for path, method, operation in _operations(document):
        assert operation["x-kubernetes-group-version-kind"]["group"] == "idlcm.io", (path, method)
        assert operation["x-kubernetes-action"] in (
            "get",
            "list",
            "post",
            "put",
            "patch",
            "delete",
            "deletecollection",
        )


def test_crd_schema_is_published_with_kube_native_metadata() -> None:
    crd = crds.find("Integration")
    assert crd is not None
    schema = _document(CRD_PATH)["components"]["schemas"]["io.idlcm.v1alpha1.Integration"]
    assert schema["properties"]["spec"] == crd.schema["properties"]["spec"]
    assert schema["properties"]["status"] == crd.schema["properties"]["status"]
    assert schema["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert crd.schema["properties"]["metadata"] == {"type": "object"}  # the loaded CRD is untouched


@pytest.mark.parametrize(
    ("path", "group", "kind"),
    [
        (CRD_PATH, "idlcm.io", "Integration"),
        (CRD_PATH, "idlcm.io", "ExternalApp"),
        ("api/v1", "", "Secret"),
        ("api/v1", "", "ConfigMap"),
        ("api/v1", "", "Namespace"),
        ("api/v1", "", "Event"),
        ("apis/events.k8s.io/v1", "events.k8s.io", "Event"),
        ("apis/apiextensions.k8s.io/v1", "apiextensions.k8s.io", "CustomResourceDefinition"),
    ],
)
def test_kubectl_would_delegate_field_validation(path: str, group: str, kind: str) -> None:
    version = path.rsplit("/", 1)[-1]
    gvk = {"group": group, "kind": kind, "version": version}
    assert _supports_query_param(_document(path), gvk, "fieldValidation")


def test_every_builtin_resource_the_devcluster_serves_is_described() -> None:
    from idlcm.devcluster import (
        resources,
    )  # the server's own list; imported here to keep this module standalone

    for resource in resources.BUILTIN:
        path = f"apis/{resource.group}/{resource.version}" if resource.group else f"api/{resource.version}"
        assert resource.kind in BUILTIN_KINDS.get(path, ()), path
        gvk = {"group": resource.group, "kind": resource.kind, "version": resource.version}
        assert _supports_query_param(_document(path), gvk, "fieldValidation"), gvk


def test_every_write_operation_declares_field_validation(document: dict[str, Any]) -> None:
    writes = [(path, op) for path, method, op in _operations(document) if method in ("post", "put", "patch")]
    assert writes
    for path, operation in writes:
        names = {p["name"] for p in operation["parameters"]}
        assert {"fieldValidation", "fieldManager", "dryRun"} <= names, path


def test_patch_operations_accept_json_merge_and_apply_patches(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        if method == "patch":
            content = operation["requestBody"]["content"]
            assert {"application/json-patch+json", "application/merge-patch+json"} <= set(content), path
            # Built-ins leave strategic merge patches to kubectl's compiled-in types.
            assert "application/strategic-merge-patch+json" not in content


def test_namespaced_crds_have_namespaced_and_cluster_wide_paths() -> None:
    paths = set(_document(CRD_PATH)["paths"])
    for plural in ("integrations", "externalapps"):
        assert f"/apis/idlcm.io/v1alpha1/{plural}" in paths
        assert f"/apis/idlcm.io/v1alpha1/namespaces/{{namespace}}/{plural}" in paths
        assert f"/apis/idlcm.io/v1alpha1/namespaces/{{namespace}}/{plural}/{{name}}" in paths
        assert f"/apis/idlcm.io/v1alpha1/namespaces/{{namespace}}/{plural}/{{name}}/status" in paths


def test_core_document_covers_the_served_core_kinds() -> None:
    document = _document("api/v1")
    assert set(BUILTIN_KINDS["api/v1"]) == {
        "ConfigMap",
        "Event",
        "Namespace",
        "Secret",
        "Service",
        "ServiceAccount",
    }
    for kind in BUILTIN_KINDS["api/v1"]:
        assert f"io.k8s.api.core.v1.{kind}" in document["components"]["schemas"]
    paths = document["paths"]
    assert "/api/v1/namespaces/{name}" in paths  # Namespace is cluster-scoped
    assert "/api/v1/namespaces/{namespace}/secrets/{name}" in paths
    assert "/api/v1/namespaces/{name}/status" in paths


def test_explain_finds_the_schema_through_the_list_path() -> None:
    # kubectl explain takes the GVK from an operation on /apis/<g>/<v>/<plural>, then the schema carrying it.
    document = _document(CRD_PATH)
    gvk = document["paths"]["/apis/idlcm.io/v1alpha1/integrations"]["get"]["x-kubernetes-group-version-kind"]
    matches = [
        schema
        for schema in document["components"]["schemas"].values()
        if gvk in schema.get("x-kubernetes-group-version-kind", [])
    ]
    assert len(matches) == 1
    assert "connector" in matches[0]["properties"]["spec"]["properties"]


def test_index_lists_each_group_version_with_its_content_hash() -> None:
    loaded = crds.load()
    index = openapi_v3_index(loaded)
    assert set(index["paths"]) == {*BUILTIN_KINDS, CRD_PATH}
    for path, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{path}?hash=")
        document = openapi_v3_document(path, loaded)
        assert document is not None
        assert url.endswith(document_hash(document))


def test_unknown_paths_are_none_and_hash_suffix_is_ignored() -> None:
    loaded = crds.load()
    assert openapi_v3_document("apis/idlcm.io/v1", loaded) is None
    assert openapi_v3_document("apis/batch/v1", loaded) is None
    assert openapi_v3_document("api/v2", loaded) is None
    assert openapi_v3_document("/apis/idlcm.io/v1alpha1?hash=ABC", loaded) == _document(CRD_PATH)
    assert openapi_v3_index([])["paths"].keys() == set(BUILTIN_KINDS)
