"""What the devcluster promises of the Kubernetes API, each behaviour a test.

Written against plain HTTP through the official client, so the same module runs against a real cluster:
`IDLCM_CONFORMANCE_REAL_CLUSTER=1 KUBECONFIG=... pytest tests/devcluster/test_conformance.py` (the tests that
need the devcluster itself are then skipped, saying so).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import kubernetes.client
import kubernetes.config
import pytest
from kubernetes.client.exceptions import ApiException

from idlcm import devcluster
from idlcm.devcluster import DevCluster

from .conftest import GROUP, REAL_CLUSTER, VERSION, Http

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
STALE = "the object has been modified; please apply your changes to the latest version and try again"
needs_devcluster = pytest.mark.skipif(REAL_CLUSTER, reason="devcluster-only: configures the cluster itself")


def integration(name: str = "crm", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Integration",
        "metadata": {"name": name},
        "spec": {
            "app": "crm",
            "connector": {
                "scim": {
                    "baseURL": "https://crm.example.com/scim/v2",
                    "auth": {"bearerToken": {"secretRef": {"name": "crm-token"}}},
                }
            },
            **spec,
        },
    }


def path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/integrations"
    return "/".join(p for p in (base, name, sub) if p)


def failure(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """The status code and Status body of a call that must fail."""
    with pytest.raises(ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body)


class Integrations:
    """CustomObjectsApi bound to Integrations in one namespace."""

    def __init__(self, custom: kubernetes.client.CustomObjectsApi, namespace: str) -> None:
        self.custom = custom
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        args = (GROUP, VERSION, self.namespace, "integrations", body)
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(*args)
        return result

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "integrations", name
        )
        return result

    def patch(self, name: str, body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "integrations", name, body
        )
        return result

    def patch_status(self, name: str, body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, "integrations", name, body
        )
        return result

    def replace(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.replace_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "integrations", name, body
        )
        return result

    def delete(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "integrations", name
        )
        return result

    def list(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "integrations", **kwargs
        )
        return result


@pytest.fixture
def intg(custom: kubernetes.client.CustomObjectsApi, namespace: str) -> Integrations:
    return Integrations(custom, namespace)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


# --- metadata ---------------------------------------------------------------------------------------------


def test_create_stamps_uid_resource_version_timestamp_generation(intg: Integrations) -> None:
    created = intg.create(integration())
    meta = created["metadata"]
    assert uuid.UUID(meta["uid"])
    assert meta["resourceVersion"].isdigit()
    assert RFC3339.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["namespace"] == intg.namespace
    assert intg.get("crm")["metadata"] == meta


def test_resource_versions_grow_across_kinds(intg: Integrations, core: kubernetes.client.CoreV1Api) -> None:
    first = intg.create(integration("a"))["metadata"]["resourceVersion"]
    second = core.create_namespaced_config_map(intg.namespace, {"metadata": {"name": "cm"}}).metadata
    third = intg.create(integration("b"))["metadata"]["resourceVersion"]
    assert int(first) < int(second.resource_version) < int(third)


def test_generate_name_appends_five_characters(intg: Integrations) -> None:
    body = integration()
    body["metadata"] = {"generateName": "crm-"}
    created = intg.create(body)
    assert re.fullmatch(r"crm-[a-z0-9]{5}", created["metadata"]["name"])


def test_missing_name_is_invalid(intg: Integrations) -> None:
    body = integration()
    body["metadata"] = {}
    code, status = failure(lambda: intg.create(body))
    assert (code, status["reason"]) == (422, "Invalid")
    assert "metadata.name" in status["message"]


def test_namespace_in_body_must_match_the_url(intg: Integrations) -> None:
    body = integration()
    body["metadata"]["namespace"] = "elsewhere"
    code, status = failure(lambda: intg.create(body))
    assert (code, status["reason"]) == (400, "BadRequest")
    assert "does not match the namespace" in status["message"]


def test_name_in_body_must_match_the_url(intg: Integrations) -> None:
    current = intg.create(integration())
    current["metadata"]["name"] = "other"
    code, status = failure(lambda: intg.replace("crm", current))
    assert (code, status["reason"]) == (400, "BadRequest")
    assert "does not match the name on the URL" in status["message"]


def test_create_twice_is_already_exists(intg: Integrations) -> None:
    intg.create(integration())
    code, status = failure(lambda: intg.create(integration()))
    assert (code, status["reason"]) == (409, "AlreadyExists")
    assert status["message"] == f'integrations.{GROUP} "crm" already exists'


def test_create_in_a_missing_namespace_is_not_found(custom: kubernetes.client.CustomObjectsApi) -> None:
    missing = Integrations(custom, f"missing-{uuid.uuid4().hex[:8]}")
    code, status = failure(lambda: missing.create(integration()))
    assert (code, status["reason"]) == (404, "NotFound")
    assert status["message"] == f'namespaces "{missing.namespace}" not found'


# --- concurrency ------------------------------------------------------------------------------------------


def test_stale_resource_version_conflicts(intg: Integrations) -> None:
    stale = intg.create(integration())
    intg.patch("crm", {"metadata": {"labels": {"touched": "yes"}}})
    stale["spec"]["dryRun"] = True
    code, status = failure(lambda: intg.replace("crm", stale))
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"] == f'Operation cannot be fulfilled on integrations.{GROUP} "crm": {STALE}'
    old_rv = stale["metadata"]["resourceVersion"]
    code, _ = failure(
        lambda: intg.patch("crm", {"metadata": {"resourceVersion": old_rv}, "spec": {"dryRun": True}})
    )
    assert code == 409


def test_replace_with_current_resource_version_succeeds(intg: Integrations) -> None:
    current = intg.create(integration())
    current["spec"]["dryRun"] = True
    replaced = intg.replace("crm", current)
    assert replaced["spec"]["dryRun"] is True
    assert int(replaced["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])


def test_replace_of_a_custom_resource_requires_a_resource_version(intg: Integrations) -> None:
    current = intg.create(integration())
    del current["metadata"]["resourceVersion"]
    code, status = failure(lambda: intg.replace("crm", current))
    assert (code, status["reason"]) == (422, "Invalid")
    assert "metadata.resourceVersion" in status["message"]


def test_a_write_that_changes_nothing_keeps_the_resource_version(intg: Integrations) -> None:
    created = intg.create(integration())
    same = intg.patch("crm", {"spec": {"app": "crm"}})
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


# --- patch ------------------------------------------------------------------------------------------------


def test_merge_patch_merges_and_null_deletes(intg: Integrations) -> None:
    intg.create(integration())
    intg.patch("crm", {"metadata": {"labels": {"a": "1", "b": "2"}}})
    patched = intg.patch("crm", {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}


def test_json_patch_applies_operations(intg: Integrations, http: Http) -> None:
    created = intg.create(integration())
    rv = created["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["idlcm.io/test"]},
        {"op": "replace", "path": "/spec/dryRun", "value": True},
        {"op": "add", "path": "/metadata/labels", "value": {"idlcm.io/c": "1"}},
    ]
    reply = http.request(
        "PATCH", path(intg.namespace, "crm"), ops, content_type="application/json-patch+json"
    )
    assert reply.status == 200, reply.body
    assert reply.body["metadata"]["finalizers"] == ["idlcm.io/test"]
    assert reply.body["spec"]["dryRun"] is True
    ops = [
        {"op": "remove", "path": "/metadata/labels/idlcm.io~1c"},  # "/" in a key is written "~1"
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]
    reply = http.request(
        "PATCH", path(intg.namespace, "crm"), ops, content_type="application/json-patch+json"
    )
    assert reply.status == 200, reply.body
    assert not reply.body["metadata"].get("labels")
    assert not reply.body["metadata"].get("finalizers")


def test_json_patch_failed_test_is_unprocessable(intg: Integrations, http: Http) -> None:
    intg.create(integration())
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
    reply = http.request(
        "PATCH", path(intg.namespace, "crm"), ops, content_type="application/json-patch+json"
    )
    assert reply.status == 422
    assert reply.body["kind"] == "Status"
    assert reply.body["status"] == "Failure"


def test_json_patch_on_a_missing_path_is_unprocessable(intg: Integrations, http: Http) -> None:
    intg.create(integration())
    ops = [{"op": "replace", "path": "/spec/nothing/here", "value": 1}]
    reply = http.request(
        "PATCH", path(intg.namespace, "crm"), ops, content_type="application/json-patch+json"
    )
    assert reply.status == 422


def test_strategic_merge_patch_of_a_custom_resource_is_unsupported(intg: Integrations, http: Http) -> None:
    intg.create(integration())
    reply = http.request(
        "PATCH",
        path(intg.namespace, "crm"),
        {"spec": {"dryRun": True}},
        content_type="application/strategic-merge-patch+json",
    )
    assert (reply.status, reply.body["reason"]) == (415, "UnsupportedMediaType")


def test_server_side_apply_creates_then_updates(intg: Integrations, http: Http) -> None:
    body = json.dumps(integration()).encode()
    query = {"fieldManager": "conformance"}
    created = http.request(
        "PATCH", path(intg.namespace, "crm"), body, content_type="application/apply-patch+yaml", query=query
    )
    assert created.status == 201, created.body
    updated_body = integration(dryRun=True)
    updated = http.request(
        "PATCH",
        path(intg.namespace, "crm"),
        json.dumps(updated_body).encode(),
        content_type="application/apply-patch+yaml",
        query=query,
    )
    assert updated.status == 200, updated.body
    assert intg.get("crm")["spec"]["dryRun"] is True


# --- generation and the status subresource ----------------------------------------------------------------


def test_generation_counts_spec_changes_only(intg: Integrations) -> None:
    intg.create(integration())
    assert (
        intg.patch("crm", {"metadata": {"labels": {"x": "y"}, "annotations": {"a": "b"}}})["metadata"][
            "generation"
        ]
        == 1
    )
    assert intg.patch_status("crm", {"status": {"status": "Validating"}})["metadata"]["generation"] == 1
    assert intg.patch("crm", {"spec": {"dryRun": True}})["metadata"]["generation"] == 2


def test_create_drops_status(intg: Integrations) -> None:
    body = integration()
    body["status"] = {"status": "UpToDate"}
    assert "status" not in intg.create(body)


def test_main_endpoint_keeps_the_old_status(intg: Integrations) -> None:
    intg.create(integration())
    intg.patch_status("crm", {"status": {"status": "Validating"}})
    patched = intg.patch("crm", {"spec": {"dryRun": True}, "status": {"status": "UpToDate"}})
    assert patched["status"] == {"status": "Validating"}
    assert patched["spec"]["dryRun"] is True


def test_status_endpoint_changes_status_only(intg: Integrations) -> None:
    intg.create(integration())
    patched = intg.patch_status(
        "crm",
        {
            "metadata": {"labels": {"ignored": "yes"}},
            "spec": {"dryRun": True},
            "status": {"status": "Validating"},
        },
    )
    assert patched["status"] == {"status": "Validating"}
    assert patched["spec"].get("dryRun") is not True
    assert "ignored" not in (patched["metadata"].get("labels") or {})


def test_status_endpoint_checks_the_resource_version(intg: Integrations) -> None:
    created = intg.create(integration())
    intg.patch("crm", {"metadata": {"labels": {"x": "y"}}})
    stale = {
        "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
        "status": {"message": "x"},
    }
    code, _ = failure(lambda: intg.patch_status("crm", stale))
    assert code == 409


# --- admission --------------------------------------------------------------------------------------------


def test_admission_prunes_unknown_fields_and_applies_defaults(intg: Integrations) -> None:
    created = intg.create(integration(unknownField=1))
    assert "unknownField" not in created["spec"]
    assert created["spec"]["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["key"] == "token"


def test_admission_rejects_schema_violations_with_causes(intg: Integrations) -> None:
    code, status = failure(lambda: intg.create(integration(app="Not_A_DNS_Label")))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith(f'Integration.{GROUP} "crm" is invalid')
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.app"]


def test_admission_runs_transition_rules_on_update(intg: Integrations) -> None:
    intg.create(integration())
    code, status = failure(lambda: intg.patch("crm", {"spec": {"app": "other"}}))
    assert code == 422
    assert "app is immutable" in status["message"]


def test_field_validation_strict_refuses_unknown_fields(intg: Integrations, http: Http) -> None:
    reply = http.request(
        "POST", path(intg.namespace), integration(unknownField=1), query={"fieldValidation": "Strict"}
    )
    assert (reply.status, reply.body["reason"]) == (400, "BadRequest")
    assert 'strict decoding error: unknown field "spec.unknownField"' in reply.body["message"]


def test_field_validation_warn_answers_a_warning_header(intg: Integrations, http: Http) -> None:
    reply = http.request(
        "POST", path(intg.namespace), integration(unknownField=1), query={"fieldValidation": "Warn"}
    )
    assert reply.status == 201
    assert 'unknown field \\"spec.unknownField\\"' in " ".join(reply.warnings)


# --- delete -----------------------------------------------------------------------------------------------


def test_delete_without_finalizers_removes_and_answers_success(intg: Integrations) -> None:
    created = intg.create(integration())
    status = intg.delete("crm")
    assert (status["kind"], status["status"]) == ("Status", "Success")
    assert status["details"]["uid"] == created["metadata"]["uid"]
    code, _ = failure(lambda: intg.get("crm"))
    assert code == 404


def test_delete_with_finalizers_marks_until_the_last_is_removed(intg: Integrations) -> None:
    body = integration()
    body["metadata"]["finalizers"] = ["idlcm.io/a", "idlcm.io/b"]
    intg.create(body)
    marked = intg.delete("crm")
    assert RFC3339.match(marked["metadata"]["deletionTimestamp"])
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert intg.get("crm")["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]

    code, status = failure(
        lambda: intg.patch("crm", {"metadata": {"finalizers": ["idlcm.io/a", "idlcm.io/new"]}})
    )
    assert (code, status["reason"]) == (422, "Invalid")
    assert "no new finalizers can be added" in status["message"]

    intg.patch("crm", {"metadata": {"finalizers": ["idlcm.io/b"]}})
    assert intg.get("crm")["metadata"]["finalizers"] == ["idlcm.io/b"]
    intg.patch("crm", {"metadata": {"finalizers": None}})
    code, _ = failure(lambda: intg.get("crm"))
    assert code == 404


def test_delete_collection_by_label_selector(intg: Integrations, http: Http) -> None:
    for name, team in (("a", "red"), ("b", "red"), ("c", "blue")):
        body = integration(name)
        body["metadata"]["labels"] = {"team": team}
        intg.create(body)
    reply = http.request("DELETE", path(intg.namespace), query={"labelSelector": "team=red"})
    assert reply.status == 200
    eventually(lambda: [i["metadata"]["name"] for i in intg.list()["items"]] == ["c"])


def test_deleting_a_namespace_deletes_its_objects(
    custom: kubernetes.client.CustomObjectsApi, core: kubernetes.client.CoreV1Api
) -> None:
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    doomed = Integrations(custom, name)
    doomed.create(integration())
    core.create_namespaced_config_map(name, {"metadata": {"name": "cm"}})
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as e:
            return e.status == 404
        return False

    eventually(gone, timeout=60 if REAL_CLUSTER else 5)
    code, _ = failure(lambda: doomed.get("crm"))
    assert code == 404


def test_a_terminating_namespace_waits_for_finalizers_and_refuses_new_objects(
    custom: kubernetes.client.CustomObjectsApi, core: kubernetes.client.CoreV1Api
) -> None:
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    doomed = Integrations(custom, name)
    body = integration()
    body["metadata"]["finalizers"] = ["idlcm.io/test"]
    doomed.create(body)
    core.delete_namespace(name)
    eventually(
        lambda: "deletionTimestamp" in doomed.get("crm")["metadata"], timeout=60 if REAL_CLUSTER else 5
    )
    assert core.read_namespace(name).status.phase == "Terminating"
    code, status = failure(lambda: doomed.create(integration("late")))
    assert (code, status["reason"]) == (403, "Forbidden")
    assert "because it is being terminated" in status["message"]
    doomed.patch("crm", {"metadata": {"finalizers": None}})

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as e:
            return e.status == 404
        return False

    eventually(gone, timeout=60 if REAL_CLUSTER else 5)


# --- list -------------------------------------------------------------------------------------------------


def test_list_has_kind_api_version_and_resource_version(intg: Integrations) -> None:
    created = intg.create(integration())
    listing = intg.list()
    assert (listing["kind"], listing["apiVersion"]) == ("IntegrationList", f"{GROUP}/{VERSION}")
    assert int(listing["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    assert [i["metadata"]["name"] for i in listing["items"]] == ["crm"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("team=red", ["a", "b"]),
        ("team==red", ["a", "b"]),
        ("team!=red", ["c", "d"]),
        ("team in (red,blue)", ["a", "b", "c"]),
        ("team notin (red)", ["c", "d"]),
        ("tier", ["a"]),
        ("!tier", ["b", "c", "d"]),
        ("team=red,tier=gold", ["a"]),
    ],
)
def test_list_by_label_selector(intg: Integrations, selector: str, expected: list[str]) -> None:
    for name, labels in (
        ("a", {"team": "red", "tier": "gold"}),
        ("b", {"team": "red"}),
        ("c", {"team": "blue"}),
        ("d", {}),
    ):
        body = integration(name)
        body["metadata"]["labels"] = labels
        intg.create(body)
    listing = intg.list(label_selector=selector)
    assert [i["metadata"]["name"] for i in listing["items"]] == expected


def test_list_by_field_selector(intg: Integrations) -> None:
    for name in ("a", "b", "c"):
        intg.create(integration(name))
    assert [i["metadata"]["name"] for i in intg.list(field_selector="metadata.name=b")["items"]] == ["b"]
    assert [i["metadata"]["name"] for i in intg.list(field_selector="metadata.name!=b")["items"]] == [
        "a",
        "c",
    ]
    code, _ = failure(lambda: intg.list(field_selector="spec.app=crm"))
    assert code == 400


def test_list_pages_with_limit_and_continue(intg: Integrations) -> None:
    for name in ("a", "b", "c", "d", "e"):
        intg.create(integration(name))
    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = intg.list(limit=2, **({"_continue": token} if token else {}))
        pages += 1
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert (names, pages) == (["a", "b", "c", "d", "e"], 3)


def test_cluster_wide_list_spans_namespaces(
    custom: kubernetes.client.CustomObjectsApi, core: kubernetes.client.CoreV1Api, namespace: str
) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": other}})
    try:
        Integrations(custom, namespace).create(integration("one"))
        Integrations(custom, other).create(integration("two"))
        listing = custom.list_cluster_custom_object(GROUP, VERSION, "integrations")
        found = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listing["items"]}
        assert {(namespace, "one"), (other, "two")} <= found
    finally:
        core.delete_namespace(other)


# --- watch ------------------------------------------------------------------------------------------------


def test_watch_from_a_resource_version_sends_only_later_changes(intg: Integrations, http: Http) -> None:
    intg.create(integration("before"))
    rv = intg.list()["metadata"]["resourceVersion"]
    intg.create(integration("after"))
    intg.patch("after", {"metadata": {"labels": {"x": "y"}}})
    intg.delete("after")
    events = http.watch(path(intg.namespace), {"resourceVersion": rv, "timeoutSeconds": 5}, count=3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "after"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert rvs[0] > int(rv)


def test_watch_replays_each_change_as_it_was(intg: Integrations, http: Http) -> None:
    # a patch that leaves metadata out must not rewrite the earlier state the watch replays
    rv = intg.list()["metadata"]["resourceVersion"]
    created = intg.create(integration())
    patched = intg.patch("crm", {"spec": {"dryRun": True}})
    events = http.watch(path(intg.namespace), {"resourceVersion": rv, "timeoutSeconds": 5}, count=2)
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events] == [
        ("ADDED", created["metadata"]["resourceVersion"]),
        ("MODIFIED", patched["metadata"]["resourceVersion"]),
    ]
    assert [e["object"]["metadata"]["generation"] for e in events] == [1, 2]
    assert [e["object"]["spec"].get("dryRun") for e in events] == [created["spec"].get("dryRun"), True]


def test_watch_replays_each_change_of_a_core_object_as_it_was(namespace: str, http: Http) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.request("GET", configmaps).body["metadata"]["resourceVersion"]
    created = http.request("POST", configmaps, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    patched = http.request(
        "PATCH", f"{configmaps}/cm", {"data": {"a": "2"}}, content_type="application/merge-patch+json"
    )
    assert (created.status, patched.status) == (201, 200)
    events = http.watch(configmaps, {"resourceVersion": rv, "timeoutSeconds": 5}, count=2)
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"], e["object"]["data"]) for e in events] == [
        ("ADDED", created.body["metadata"]["resourceVersion"], {"a": "1"}),
        ("MODIFIED", patched.body["metadata"]["resourceVersion"], {"a": "2"}),
    ]


@pytest.mark.parametrize("rv", [None, "0"])
def test_watch_without_a_resource_version_starts_with_the_current_state(
    intg: Integrations, http: Http, rv: str | None
) -> None:
    intg.create(integration("a"))
    intg.create(integration("b"))
    query: dict[str, Any] = {"timeoutSeconds": 5, **({"resourceVersion": rv} if rv else {})}
    events = http.watch(path(intg.namespace), query, count=2)
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_watch_with_selectors_reports_objects_entering_and_leaving(intg: Integrations, http: Http) -> None:
    intg.create(integration("a"))
    rv = intg.list()["metadata"]["resourceVersion"]
    intg.patch("a", {"metadata": {"labels": {"team": "red"}}})
    intg.patch("a", {"metadata": {"labels": {"team": "blue"}}})
    intg.create(integration("b"))
    query = {"resourceVersion": rv, "timeoutSeconds": 5}
    events = http.watch(path(intg.namespace), {**query, "labelSelector": "team=red"}, count=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
    ]
    by_name = http.watch(path(intg.namespace), {**query, "fieldSelector": "metadata.name=b"}, count=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in by_name] == [("ADDED", "b")]


def test_watch_ends_after_timeout_seconds(intg: Integrations, http: Http) -> None:
    started = time.monotonic()
    assert (
        http.watch(
            path(intg.namespace),
            {"timeoutSeconds": 1, "resourceVersion": intg.list()["metadata"]["resourceVersion"]},
        )
        == []
    )
    assert 0.8 < time.monotonic() - started < 5


def test_watch_as_table_sends_rows(intg: Integrations, http: Http) -> None:
    intg.create(integration())
    events = http.watch(path(intg.namespace), {"timeoutSeconds": 5}, accept=TABLE, count=1)
    assert [e["object"]["kind"] for e in events] == ["Table"]
    assert events[0]["object"]["rows"][0]["cells"][0] == "crm"


# --- discovery, tables, OpenAPI, errors -------------------------------------------------------------------


def test_core_discovery(http: Http) -> None:
    assert "v1" in http.request("GET", "/api").body["versions"]
    core = http.request("GET", "/api/v1").body
    assert (core["kind"], core["groupVersion"]) == ("APIResourceList", "v1")
    resources = {r["name"]: r for r in core["resources"]}
    assert resources["namespaces"]["namespaced"] is False
    assert {"secrets", "configmaps", "events"} <= set(resources)
    assert http.request("GET", "/version").body["major"] == "1"


def test_group_discovery_names_the_kinds(http: Http, crds_installed: None) -> None:
    groups = {g["name"]: g for g in http.request("GET", "/apis").body["groups"]}
    assert groups[GROUP]["preferredVersion"]["version"] == VERSION
    document = http.request("GET", f"/apis/{GROUP}/{VERSION}").body
    assert document["groupVersion"] == f"{GROUP}/{VERSION}"
    resources = {r["name"]: r for r in document["resources"]}
    assert resources["integrations"]["kind"] == "Integration"
    assert resources["integrations"]["shortNames"] == ["intg"]
    assert resources["integrations"]["categories"] == ["idlcm"]
    assert {"create", "delete", "get", "list", "patch", "update", "watch"} <= set(
        resources["integrations"]["verbs"]
    )
    assert "integrations/status" in resources
    assert resources["externalapps"]["categories"] == ["idlcm"]


def test_get_as_table_uses_the_printer_columns(intg: Integrations, http: Http) -> None:
    intg.create(integration())
    table = http.request("GET", path(intg.namespace), accept=TABLE).body
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "App"]
    assert table["rows"][0]["cells"][:2] == ["crm", "crm"]


def test_openapi_v3_lists_the_group(http: Http, crds_installed: None) -> None:
    index = http.request("GET", "/openapi/v3").body
    assert f"apis/{GROUP}/{VERSION}" in index["paths"]


def test_not_found_object_is_a_status(intg: Integrations) -> None:
    code, status = failure(lambda: intg.get("nothing"))
    assert code == 404
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'integrations.{GROUP} "nothing" not found',
        "reason": "NotFound",
        "details": {"name": "nothing", "group": GROUP, "kind": "integrations"},
        "code": 404,
    }


@pytest.mark.parametrize(
    "unknown",
    [
        "/nothing",
        "/apis/nothing.example.com",
        "/apis/nothing.example.com/v1",
        "/apis/nothing.example.com/v1/things",
        "/api/v9/secrets",
        f"/apis/{GROUP}/v9",
        f"/apis/{GROUP}/{VERSION}/nothings",  # the CRDs' handler hands on what no CRD defines
        f"/apis/{GROUP}/{VERSION}/namespaces/default/nothings",
        f"/apis/{GROUP}/{VERSION}/integrations/crm",  # a namespaced kind named without its namespace
    ],
)
def test_paths_outside_the_served_apis_are_plain_text_404s(
    http: Http, crds_installed: None, unknown: str
) -> None:
    reply = http.request("GET", unknown)
    assert reply.status == 404, unknown
    assert reply.headers["Content-Type"].startswith("text/plain"), reply.headers
    assert reply.text == "404 page not found\n"


@pytest.mark.parametrize(
    "unknown",
    [
        "/api/v1/nothings",
        "/api/v1/namespaces/default/nothings",
        "/api/v1/namespaces/default/secrets/s/nothing",
        "/apis/apiextensions.k8s.io/v1/nothings",
    ],
)
def test_unknown_paths_inside_a_built_in_group_version_are_statuses(http: Http, unknown: str) -> None:
    reply = http.request("GET", unknown)
    assert reply.status == 404, unknown
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound",
        "details": {},
        "code": 404,
    }


def test_an_unknown_subresource_of_a_custom_resource_is_its_not_found(intg: Integrations, http: Http) -> None:
    intg.create(integration())
    reply = http.request("GET", path(intg.namespace, "crm", "nothing"))
    assert reply.status == 404
    assert (reply.body["reason"], reply.body["message"]) == (
        "NotFound",
        f'integrations.{GROUP} "crm" not found',
    )


def test_malformed_bodies_are_statuses_without_tracebacks(intg: Integrations, http: Http) -> None:
    reply = http.request("POST", path(intg.namespace), b"{not json")
    assert reply.status == 400
    assert reply.body["kind"] == "Status"
    assert "Traceback" not in json.dumps(reply.body)


# --- object metadata: names, labels, annotations, finalizers ---------------------------------------------

SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
QUALIFIED = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character"
)
# Lengths: "... 63 bytes" since Kubernetes 1.35 ("characters" before), so the unit is left out below.
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)


def refusal_details(status: dict[str, Any], field: str) -> list[str]:
    """The messages of a 422's causes, all of which must be about `field`."""
    causes = status["details"]["causes"]
    assert {c["field"] for c in causes} == {field}, causes
    assert {c["reason"] for c in causes} <= {"FieldValueInvalid", "FieldValueTooLong"}, causes
    return [c["message"] for c in causes]


def test_an_invalid_label_key_is_refused_in_the_apiservers_words(intg: Integrations) -> None:
    body = integration()
    body["metadata"]["labels"] = {"a~b/c": "1"}
    code, status = failure(lambda: intg.create(body))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith(
        f'Integration.{GROUP} "crm" is invalid: metadata.labels: '
        f'Invalid value: "a~b/c": prefix part {SUBDOMAIN}'
    )
    assert refusal_details(status, "metadata.labels") == [
        status["message"].removeprefix(f'Integration.{GROUP} "crm" is invalid: metadata.labels: ')
    ]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Example.com/x", [f"prefix part {SUBDOMAIN}"]),
        ("/x", ["prefix part must be non-empty"]),
        ("x/", ["name part must be non-empty", f"name part {QUALIFIED}"]),
        ("-lead", [f"name part {QUALIFIED}"]),
        ("has space", [f"name part {QUALIFIED}"]),
        ("idlcm.io/" + "x" * 64, ["name part must be no more than 63 "]),
        (("x" * 63 + ".") * 4 + "io/x", ["prefix part must be no more than 253 "]),
        ("a/b/c", [f"a valid label key {QUALIFIED}"]),
    ],
)
def test_label_keys_are_qualified_names(intg: Integrations, key: str, expected: list[str]) -> None:
    body = integration()
    body["metadata"]["labels"] = {key: "v"}
    code, status = failure(lambda: intg.create(body))
    assert code == 422
    found = refusal_details(status, "metadata.labels")
    assert len(found) == len(expected), found
    for message, start in zip(found, expected, strict=True):
        assert message.startswith(f"Invalid value: {json.dumps(key)}: {start}"), message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-x", LABEL_VALUE), ("has space", LABEL_VALUE), ("x" * 64, "must be no more than 63 ")],
)
def test_label_values_are_short_names_or_empty(intg: Integrations, value: str, expected: str) -> None:
    body = integration()
    body["metadata"]["labels"] = {"team": value}
    code, status = failure(lambda: intg.create(body))
    assert code == 422
    [message] = refusal_details(status, "metadata.labels")
    assert message.startswith(f"Invalid value: {json.dumps(value)}: {expected}"), message


def test_valid_labels_are_stored(intg: Integrations) -> None:
    labels = {
        "app.kubernetes.io/name": "idlcm",
        "empty": "",
        "A_b.c-D": "x_Y.z-1",
        "x" * 63: "y" * 63,
        ("a" * 63 + ".") * 3 + "a" * 61 + "/k": "v",  # a prefix of 253 characters
    }
    body = integration()
    body["metadata"]["labels"] = labels
    assert intg.create(body)["metadata"]["labels"] == labels


def test_a_patch_to_an_invalid_label_is_refused_and_changes_nothing(intg: Integrations) -> None:
    created = intg.create(integration())
    code, status = failure(lambda: intg.patch("crm", {"metadata": {"labels": {"team": "-red"}}}))
    assert code == 422
    assert refusal_details(status, "metadata.labels")
    assert intg.get("crm")["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


ANNOTATIONS_TOO_LONG = "metadata.annotations: Too long: may not be more than 262144 bytes"


def test_annotations_up_to_256_kib_in_total_are_stored(intg: Integrations) -> None:
    body = integration()
    body["metadata"]["annotations"] = {"idlcm.io/a": "x" * (256 * 1024 - len("idlcm.io/a"))}
    assert intg.create(body)["metadata"]["annotations"] == body["metadata"]["annotations"]


def test_annotations_over_256_kib_in_total_are_too_long(intg: Integrations) -> None:
    # keys count too, and bytes, not characters: "é" is two bytes in UTF-8
    body = integration()
    body["metadata"]["annotations"] = {"a": "x" * (128 * 1024), "b": "é" * (64 * 1024)}
    code, status = failure(lambda: intg.create(body))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == f'Integration.{GROUP} "crm" is invalid: {ANNOTATIONS_TOO_LONG}'
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueTooLong",
            "message": "Too long: may not be more than 262144 bytes",
            "field": "metadata.annotations",
        }
    ]


def test_a_patch_that_grows_annotations_beyond_256_kib_is_refused(intg: Integrations) -> None:
    # what kopf's last-handled-configuration of a large spec runs into
    body = integration()
    body["metadata"]["annotations"] = {"idlcm.io/first": "x" * (200 * 1024)}
    created = intg.create(body)
    grow = {"metadata": {"annotations": {"kopf.idlcm.io/last-handled-configuration": "y" * (100 * 1024)}}}
    code, status = failure(lambda: intg.patch("crm", grow))
    assert code == 422
    assert status["message"] == f'Integration.{GROUP} "crm" is invalid: {ANNOTATIONS_TOO_LONG}'
    assert intg.get("crm")["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert intg.patch("crm", {"metadata": {"annotations": {"idlcm.io/first": None}}})


def test_annotation_keys_are_qualified_names_of_any_case(intg: Integrations) -> None:
    body = integration()
    body["metadata"]["annotations"] = {"Example.COM/Some-Key": "v"}
    assert intg.create(body)["metadata"]["annotations"] == {"Example.COM/Some-Key": "v"}
    code, status = failure(lambda: intg.patch("crm", {"metadata": {"annotations": {"a~b": "v"}}}))
    assert code == 422
    [message] = refusal_details(status, "metadata.annotations")
    assert message.startswith(f'Invalid value: "a~b": name part {QUALIFIED}'), message


def test_finalizers_are_qualified_names(intg: Integrations) -> None:
    body = integration()
    body["metadata"]["finalizers"] = ["idlcm.io/ok", "not ok"]
    code, status = failure(lambda: intg.create(body))
    assert code == 422
    [message] = refusal_details(status, "metadata.finalizers")
    assert message.startswith(f'Invalid value: "not ok": name part {QUALIFIED}'), message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Crm", SUBDOMAIN),
        ("crm_sales", SUBDOMAIN),
        ("crm.", SUBDOMAIN),
        ("x" * 254, "must be no more than 253 "),
    ],
)
def test_custom_resource_names_are_dns_subdomains(intg: Integrations, name: str, expected: str) -> None:
    code, status = failure(lambda: intg.create(integration(name)))
    assert (code, status["reason"]) == (422, "Invalid")
    messages = refusal_details(status, "metadata.name")
    assert messages[0].startswith(f"Invalid value: {json.dumps(name)}: {expected}"), messages
    assert status["details"]["name"] == name


def test_dotted_names_are_subdomains_and_taken(intg: Integrations) -> None:
    assert intg.create(integration("crm.sales"))["metadata"]["name"] == "crm.sales"


def test_secret_names_are_dns_subdomains(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    code, status = failure(
        lambda: core.create_namespaced_secret(namespace, {"metadata": {"name": "My_Token"}})
    )
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith(
        f'Secret "My_Token" is invalid: metadata.name: Invalid value: "My_Token": {SUBDOMAIN}'
    )
    assert core.create_namespaced_secret(namespace, {"metadata": {"name": "crm.token"}}).metadata.name


def test_namespace_names_are_dns_labels(core: kubernetes.client.CoreV1Api) -> None:
    code, status = failure(lambda: core.create_namespace({"metadata": {"name": "a.b"}}))
    assert (code, status["reason"]) == (422, "Invalid")
    assert (
        status["message"]
        == 'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": must not contain dots'
    )
    code, status = failure(lambda: core.create_namespace({"metadata": {"name": "A"}}))
    assert code == 422
    assert status["message"].startswith(
        'Namespace "A" is invalid: metadata.name: Invalid value: "A": '
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character"
    )


def test_service_names_are_dns_1035_labels(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    body = {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}
    code, status = failure(lambda: core.create_namespaced_service(namespace, body))
    assert (code, status["reason"]) == (422, "Invalid")
    names = [c["message"] for c in status["details"]["causes"] if c["field"] == "metadata.name"]
    assert names[0].startswith(
        'Invalid value: "1web": '
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
        "start with an alphabetic character, and end with an alphanumeric character"
    ), names


def test_rbac_names_are_path_segments(api: kubernetes.client.ApiClient, namespace: str) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    created = rbac.create_namespaced_role(namespace, {"metadata": {"name": "idlcm:Reader"}, "rules": []})
    assert created.metadata.name == "idlcm:Reader"
    code, status = failure(
        lambda: rbac.create_namespaced_role(namespace, {"metadata": {"name": "a%b"}, "rules": []})
    )
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == (
        'Role.rbac.authorization.k8s.io "a%b" is invalid: metadata.name: Invalid value: "a%b": '
        "may not contain '%'"
    )


# --- limits: what the apiserver and etcd take -----------------------------------------------------------

MIB = 1024 * 1024


def padded(body: Any, size: int) -> bytes:
    """The JSON of `body`, led by spaces to `size` bytes (the object decoded stays the same)."""
    encoded = json.dumps(body).encode()
    return b" " * (size - len(encoded)) + encoded


def test_a_request_body_of_3_mib_is_accepted(intg: Integrations, http: Http) -> None:
    reply = http.request("POST", path(intg.namespace), padded(integration(), 3 * MIB))
    assert reply.status == 201, reply.body


def test_a_request_body_over_3_mib_is_too_large(intg: Integrations, http: Http) -> None:
    reply = http.request("POST", path(intg.namespace), padded(integration(), 3 * MIB + 1))
    assert (reply.status, reply.body["reason"]) == (413, "RequestEntityTooLarge")
    assert reply.body["message"] == f"Request entity too large: limit is {3 * MIB}"


def test_an_integration_of_5000_accounts_with_every_field_is_stored(intg: Integrations) -> None:
    accounts = [
        {
            "userName": f"user-{i:04d}@example.com",
            "displayName": f"User {i:04d}",
            "givenName": f"Given{i:04d}",
            "familyName": f"Family{i:04d}",
            "email": f"user-{i:04d}@example.com",
            "active": i % 7 != 0,
            "title": "Engineer",
            "department": "Platform",
            "groups": ["engineering", f"team-{i % 50:02d}"],
        }
        for i in range(5000)
    ]
    body = integration(accounts=accounts)
    assert 1.2 * MIB < len(json.dumps(body)) < 1.45 * MIB
    created = intg.create(body)
    assert len(created["spec"]["accounts"]) == 5000
    assert len(intg.get("crm")["spec"]["accounts"]) == 5000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_secret_data_is_at_most_1_mib(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_secret(namespace, {"metadata": {"name": "full"}, "data": {"a": b64(b"x" * MIB)}})
    body = {"metadata": {"name": "over"}, "data": {"a": b64(b"x" * MIB), "b": b64(b"y")}}
    code, status = failure(lambda: core.create_namespaced_secret(namespace, body))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == 'Secret "over" is invalid: data: Too long: may not be more than 1048576 bytes'


def test_configmap_data_is_at_most_1_mib(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    # what a roster in a ConfigMap (spec.accountsFrom) can hold at most
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "full"}, "data": {"a": "x" * MIB}})
    body = {"metadata": {"name": "over"}, "data": {"a": "x" * MIB}, "binaryData": {"b": b64(b"y")}}
    code, status = failure(lambda: core.create_namespaced_config_map(namespace, body))
    assert (code, status["reason"]) == (422, "Invalid")
    assert (
        status["message"] == 'ConfigMap "over" is invalid: []: Too long: may not be more than 1048576 bytes'
    )
    grow = {"data": {"b": "y"}}
    code, status = failure(lambda: core.patch_namespaced_config_map("full", namespace, grow))
    assert code == 422


def test_data_keys_are_config_keys(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    body = {"metadata": {"name": "cm"}, "data": {"a b": "1", "ok.KEY_name-1": "2"}}
    code, status = failure(lambda: core.create_namespaced_config_map(namespace, body))
    assert (code, status["reason"]) == (422, "Invalid")
    [cause] = status["details"]["causes"]
    assert cause["field"] == "data[a b]"
    assert cause["message"].startswith(
        "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
    )


BLOB_GROUP = "conformance.idlcm.io"


@pytest.fixture
def blobs(http: Http, namespace: str) -> str:
    """The path of Blobs in the test namespace: a CRD whose objects hold anything, to store any size."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"blobs.{BLOB_GROUP}"},
        "spec": {
            "group": BLOB_GROUP,
            "scope": "Namespaced",
            "names": {"kind": "Blob", "plural": "blobs", "singular": "blob", "listKind": "BlobList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    crds_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    created = http.request("POST", crds_path, crd)
    assert created.status in (201, 409), created.body
    blobs_path = f"/apis/{BLOB_GROUP}/v1/namespaces/{namespace}/blobs"
    eventually(lambda: http.request("GET", blobs_path).status == 200, timeout=30)
    # Left installed, like the idlcm CRDs: on a real cluster a CRD being deleted refuses the next test's
    # objects until it is gone. The Blobs go with the test's namespace.
    return blobs_path


def blob(name: str, size: int) -> dict[str, Any]:
    return {"apiVersion": f"{BLOB_GROUP}/v1", "kind": "Blob", "metadata": {"name": name}, "data": "x" * size}


def test_an_object_etcd_can_store_is_stored(blobs: str, http: Http) -> None:
    reply = http.request("POST", blobs, blob("fits", int(1.4 * MIB)))
    assert reply.status == 201, reply.body


def test_an_object_too_large_for_etcd_is_refused_as_etcd_refuses_it(blobs: str, http: Http) -> None:
    # within the apiserver's 3 MiB request limit, beyond etcd's 1.5 MiB: etcd's error, passed on as a 500
    reply = http.request("POST", blobs, blob("huge", int(1.6 * MIB)))
    assert (reply.status, reply.body["message"]) == (500, "etcdserver: request is too large")
    assert not reply.body.get("reason")
    assert http.request("GET", f"{blobs}/huge").status == 404
    assert http.request("POST", blobs, blob("grows", 1000)).status == 201
    grown = http.request(
        "PATCH", f"{blobs}/grows", {"data": "x" * int(1.6 * MIB)}, content_type="application/merge-patch+json"
    )
    assert (grown.status, grown.body["message"]) == (500, "etcdserver: request is too large")
    assert len(http.request("GET", f"{blobs}/grows").body["data"]) == 1000


# --- core kinds -------------------------------------------------------------------------------------------


def test_secret_string_data_is_folded_into_data(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    body = {
        "metadata": {"name": "s"},
        "data": {"a": base64.b64encode(b"1").decode()},
        "stringData": {"b": "2"},
    }
    core.create_namespaced_secret(namespace, body)
    secret = core.read_namespaced_secret("s", namespace)
    assert {k: base64.b64decode(v).decode() for k, v in secret.data.items()} == {"a": "1", "b": "2"}
    assert secret.string_data is None
    assert secret.type == "Opaque"


@pytest.mark.parametrize(
    "content_type", ["application/merge-patch+json", "application/strategic-merge-patch+json"]
)
def test_secret_string_data_patch_changes_data_bumps_the_version_and_is_watched(
    core: kubernetes.client.CoreV1Api, namespace: str, http: Http, content_type: str
) -> None:
    # what `kubectl patch secret s -p '{"stringData": {"token": "new"}}'` sends
    created = core.create_namespaced_secret(
        namespace, {"metadata": {"name": "s"}, "stringData": {"token": "old"}}
    )
    rv = created.metadata.resource_version
    secret_path = f"/api/v1/namespaces/{namespace}/secrets/s"
    patched = http.request("PATCH", secret_path, {"stringData": {"token": "new"}}, content_type=content_type)
    assert patched.status == 200, patched.body
    assert patched.body["data"] == {"token": base64.b64encode(b"new").decode()}
    assert "stringData" not in patched.body
    new_rv = patched.body["metadata"]["resourceVersion"]
    assert int(new_rv) > int(rv)
    assert core.read_namespaced_secret("s", namespace).data == {"token": base64.b64encode(b"new").decode()}
    events = http.watch(
        f"/api/v1/namespaces/{namespace}/secrets", {"resourceVersion": rv, "timeoutSeconds": 5}, count=1
    )
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events] == [("MODIFIED", new_rv)]
    assert events[0]["object"]["data"] == {"token": base64.b64encode(b"new").decode()}
    again = http.request("PATCH", secret_path, {"stringData": {"token": "new"}}, content_type=content_type)
    assert again.status == 200, again.body
    assert again.body["metadata"]["resourceVersion"] == new_rv  # the same value again: a no-op


def test_events_are_listed_by_involved_object(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    for name in ("a", "b"):
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"generateName": "ev-"},
                "involvedObject": {"kind": "Integration", "name": name, "namespace": namespace},
                "reason": "Seen",
                "message": f"saw {name}",
                "type": "Normal",
            },
        )
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=b").items
    assert [e.message for e in events] == ["saw b"]


def test_namespaces_are_cluster_scoped_and_active(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    ns = core.read_namespace(namespace)
    assert ns.status.phase == "Active"
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == namespace
    assert "default" in [n.metadata.name for n in core.list_namespace().items]


# --- devcluster-only: bounds, bookmarks, fault injection --------------------------------------------------


@pytest.fixture
def small_cluster(tmp_path: Path) -> Iterator[tuple[DevCluster, Http]]:
    if REAL_CLUSTER:
        pytest.skip("devcluster-only: needs a devcluster with a tiny history and fast bookmarks")
    with devcluster.serve_in_thread(history_size=3, bookmark_interval=0.2, events_per_namespace=2) as cluster:
        config = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        client = kubernetes.config.new_client_from_config(config_file=str(config), persist_config=False)
        try:
            yield cluster, Http(client)
        finally:
            client.close()


@needs_devcluster
def test_watch_older_than_the_history_is_gone(small_cluster: tuple[DevCluster, Http]) -> None:
    cluster, http = small_cluster
    rv = http.request("GET", path("default")).body["metadata"]["resourceVersion"]
    for name in ("a", "b", "c", "d", "e"):
        assert http.request("POST", path("default"), integration(name)).status == 201
    history = cluster.store.history(f"{GROUP}/{VERSION}/integrations")
    assert len(history) == 3  # the ring buffer keeps the last 3 changes
    events = http.watch(path("default"), {"resourceVersion": rv, "timeoutSeconds": 5}, count=1)
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


@needs_devcluster
def test_watch_sends_bookmarks_when_allowed(small_cluster: tuple[DevCluster, Http]) -> None:
    _, http = small_cluster
    rv = http.request("GET", path("default")).body["metadata"]["resourceVersion"]
    http.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "cm"}})
    query = {"resourceVersion": rv, "timeoutSeconds": 5, "allowWatchBookmarks": "true"}
    events = http.watch(path("default"), query, count=2)
    assert {e["type"] for e in events} == {"BOOKMARK"}
    assert events[-1]["object"]["kind"] == "Integration"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) > int(rv)
    plain = http.watch(path("default"), {"resourceVersion": rv, "timeoutSeconds": 1})
    assert plain == []


@needs_devcluster
def test_events_are_bounded_per_namespace(small_cluster: tuple[DevCluster, Http]) -> None:
    _, http = small_cluster
    for name in ("e1", "e2", "e3"):
        event = {
            "metadata": {"name": name},
            "involvedObject": {"kind": "Integration", "name": "x"},
            "reason": "R",
        }
        assert http.request("POST", "/api/v1/namespaces/default/events", event).status == 201
    names = [
        e["metadata"]["name"] for e in http.request("GET", "/api/v1/namespaces/default/events").body["items"]
    ]
    assert names == ["e2", "e3"]


@needs_devcluster
def test_kmock_reactions_inject_faults(devcluster: DevCluster, http: Http) -> None:
    devcluster["get /api/v1/namespaces/default/configmaps/flaky"] << 503
    assert http.request("GET", "/api/v1/namespaces/default/configmaps/flaky").status == 503
    assert http.request("GET", "/api/v1/namespaces/default/configmaps/other").status == 404


@needs_devcluster
def test_kubectl_protobuf_creates_are_understood(devcluster: DevCluster, http: Http) -> None:
    # what `kubectl create secret generic s --from-literal=a=b` sends
    body = (
        b'k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x1e\n\x12\n\x02s1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
    )
    body += b'\x12\x06\n\x01a\x12\x01b\x1a\x00\x1a\x00"\x00'
    reply = http.request(
        "POST", "/api/v1/namespaces/default/secrets", body, content_type="application/vnd.kubernetes.protobuf"
    )
    assert reply.status == 201, reply.body
    assert reply.body["data"] == {"a": base64.b64encode(b"b").decode()}


@needs_devcluster
def test_a_created_crd_is_served_and_its_deletion_stops_serving(devcluster: DevCluster, http: Http) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    created = http.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert created.status == 201, created.body
    assert {c["type"] for c in created.body["status"]["conditions"]} == {"NamesAccepted", "Established"}
    widgets = "/apis/example.com/v1/namespaces/default/widgets"
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "size": 3}
    assert http.request("POST", widgets, widget).status == 201
    assert "widgets" in {r["name"] for r in http.request("GET", "/apis/example.com/v1").body["resources"]}
    assert (
        http.request(
            "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
        ).status
        == 200
    )
    assert http.request("GET", widgets).status == 404


# --- kopf ---------------------------------------------------------------------------------------------------


def _connection(kubeconfig: Path) -> kopf.ConnectionInfo:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=config, persist_config=False
    )
    token = (config.api_key or {}).get("authorization", "").removeprefix("Bearer ") or None
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


async def test_kopf_operator_creates_patches_posts_and_finalizes(
    kubeconfig: Path, intg: Integrations, core: kubernetes.client.CoreV1Api
) -> None:
    registry = kopf.OperatorRegistry()
    deleted = asyncio.Event()
    connection = _connection(kubeconfig)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = "idlcm.io/smoke-test"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="smoke.idlcm.io")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="smoke.idlcm.io")
        settings.posting.level = 0
        settings.watching.server_timeout = 10

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection

    @kopf.on.create(GROUP, VERSION, "integrations", registry=registry)
    def created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        patch.status["status"] = "Validating"
        patch.status["message"] = "seen by kopf"
        kopf.info(body, reason="Seen", message="the smoke test saw it")

    @kopf.on.delete(GROUP, VERSION, "integrations", registry=registry)
    def removed(**_: Any) -> None:
        deleted.set()

    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(registry=registry, standalone=True, namespaces=[intg.namespace], stop_flag=stop)
    )

    async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(check):
            assert time.monotonic() < deadline, "kopf did not get there in time"
            assert not operator.done(), operator
            await asyncio.sleep(0.1)

    def get() -> dict[str, Any]:
        return intg.get("crm")

    try:
        await asyncio.to_thread(intg.create, integration())
        await until(lambda: get().get("status", {}).get("status") == "Validating")
        assert "idlcm.io/smoke-test" in get()["metadata"]["finalizers"]
        await until(
            lambda: any(
                e.reason == "Seen"
                for e in core.list_namespaced_event(
                    intg.namespace, field_selector="involvedObject.name=crm"
                ).items
            )
        )
        await asyncio.to_thread(intg.delete, "crm")
        await asyncio.wait_for(deleted.wait(), timeout=10)

        def gone() -> bool:
            try:
                get()
            except ApiException as e:
                return e.status == 404
            return False

        await until(gone)
    finally:
        stop.set()
        await asyncio.wait_for(operator, timeout=10)
