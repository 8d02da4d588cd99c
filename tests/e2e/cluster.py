"""Test-side access to the e2e cluster: Integrations and Secrets in a namespace of their own, and the SCIM
test app through the API server's service proxy (blocking calls: each test is a plain sequential story)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest

from idlcm.crds import GROUP, VERSION

OPERATOR_NAMESPACE = "idlcm-system"
SCIM_NAMESPACE = "idlcm-e2e"
SCIM_BASE_URL = f"http://scim.{SCIM_NAMESPACE}.svc:8000/v2"
_PROXY = f"/api/v1/namespaces/{SCIM_NAMESPACE}/services/scim:http/proxy/_e2e"

Obj = dict[str, Any]

# The nine states: an Event the operator posts on entering one says `<State>: <message>`.
STATES = frozenset(
    {
        "UnderValidation",
        "Validating",
        "Validated",
        "ValidationFailed",
        "UnderReview",
        "InProgress",
        "Failed",
        "Retrying",
        "UpToDate",
    }
)


class Scim:
    """The SCIM test app's control API (tests/e2e/scim_server.py), through `kubectl --raw` (stable across
    versions of the Python client, whose raw-call API changed)."""

    def __init__(self, kubeconfig: str) -> None:
        self._kubeconfig = kubeconfig

    def _call(self, verb: str, action: str, body: Mapping[str, Any] | None = None) -> Obj:
        result = subprocess.run(
            ["kubectl", verb, "--raw", f"{_PROXY}/{action}", *(["-f", "-"] if verb == "create" else [])],
            input=json.dumps(dict(body or {})) if verb == "create" else None,
            env={**os.environ, "KUBECONFIG": self._kubeconfig},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, f"SCIM control {action} failed: {result.stderr}"
        state: Obj = json.loads(result.stdout)
        return state

    def state(self) -> Obj:
        return self._call("get", "state")

    def reset(self, **capabilities: Any) -> Obj:
        return self._call("create", "reset", capabilities)

    def arm(self, **fault: Any) -> None:
        self._call("create", "faults", fault)

    def users(self) -> dict[str, Obj]:
        """userName -> the user as the app stores it."""
        return {u["userName"]: u for u in self.state()["users"]}


class Namespace:
    """One test's namespace in the e2e cluster."""

    def __init__(self, api: kubernetes.client.ApiClient, name: str) -> None:
        self.name = name
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)

    def create_secret(self, name: str, data: Mapping[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.core.create_namespaced_secret(self.name, {"metadata": {"name": name}, "data": encoded})

    def create_integration(self, name: str, spec: Mapping[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Integration", "metadata": {"name": name}}
        body["spec"] = dict(spec)
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.name, "integrations", body)

    def patch_integration(self, name: str, patch: Mapping[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.name, "integrations", name, dict(patch)
        )

    def delete_integration(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.name, "integrations", name)

    def get(self, plural: str, name: str) -> Obj | None:
        try:
            obj: Obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.name, plural, name)
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise
        return obj

    def wait_for(
        self, plural: str, name: str, predicate: Callable[[Obj | None], bool], timeout: float = 60.0
    ) -> Obj | None:
        """Poll until the predicate holds; fail with the last seen object otherwise."""
        deadline = time.monotonic() + timeout
        obj = self.get(plural, name)
        while not predicate(obj):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {plural}/{name}; last seen: {obj}")
            time.sleep(0.25)
            obj = self.get(plural, name)
        return obj

    def wait_status(
        self, name: str, status: str, *, generation: int | None = None, timeout: float = 60.0
    ) -> Obj:
        def reached(o: Obj | None) -> bool:
            st = (o or {}).get("status") or {}
            return st.get("status") == status and (
                generation is None or st.get("observedGeneration") == generation
            )

        obj = self.wait_for("integrations", name, reached, timeout)
        assert obj is not None
        return obj

    def wait_up_to_date(self, name: str, *, timeout: float = 60.0) -> Obj:
        """`UpToDate` for the current spec: the final state, which stays (unlike a passing one)."""

        def reached(o: Obj | None) -> bool:
            st = (o or {}).get("status") or {}
            generation = ((o or {}).get("metadata") or {}).get("generation")
            return st.get("status") == "UpToDate" and st.get("observedGeneration") == generation

        obj = self.wait_for("integrations", name, reached, timeout)
        assert obj is not None
        return obj

    def events_for(self, name: str) -> list[Any]:
        """The Events about this object, in the order they were created (etcd's revision order: kind runs one
        etcd, and the operator posts them one at a time)."""
        events = self.core.list_namespaced_event(self.name, field_selector=f"involvedObject.name={name}")
        return sorted(events.items, key=lambda e: int(e.metadata.resource_version))

    def announced(self, name: str, until: str, timeout: float = 30.0) -> list[str]:
        """The states the operator announced in Events for this Integration, once `until` is among them
        (the operator posts Events in the background: the last one may trail the status)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = [e.message or "" for e in self.events_for(name)]
            seen = [m.split(":", 1)[0] for m in messages if m.split(":", 1)[0] in STATES]
            if until in seen:
                return seen
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for an Event announcing {until} on {name}; seen: {seen}")
            time.sleep(0.25)

    def integrations(self) -> list[str]:
        result = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.name, "integrations")
        return [i["metadata"]["name"] for i in result.get("items", [])]


def api_client(kubeconfig: str) -> kubernetes.client.ApiClient:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=config)
    return kubernetes.client.ApiClient(config)


def namespace_for_test(api: kubernetes.client.ApiClient) -> Iterator[Namespace]:
    """A fresh namespace; at the end its Integrations are deleted (the operator releases them) and it goes."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core = kubernetes.client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    ns = Namespace(api, name)
    try:
        yield ns
    finally:
        for integration in ns.integrations():
            ns.delete_integration(integration)
        deadline = time.monotonic() + 60
        while ns.integrations() and time.monotonic() < deadline:
            time.sleep(0.5)
        core.delete_namespace(name)
