"""Conformance fixtures: the official client for the cluster under test, a fresh namespace, raw HTTP.

The same tests run against the devcluster (default) or a real cluster (`IDLCM_CONFORMANCE_REAL_CLUSTER=1` with
`$KUBECONFIG`): there the CRDs are installed from `crds/` if missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import kubernetes.client
import kubernetes.config
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from idlcm import crds

REAL_CLUSTER = os.environ.get("IDLCM_CONFORMANCE_REAL_CLUSTER") == "1"
GROUP, VERSION = crds.GROUP, crds.VERSION


@dataclasses.dataclass
class Reply:
    """A raw HTTP answer: status code, headers, and the decoded JSON body (None if not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    warnings: list[str]
    text: str = ""  # the body as text (plain-text answers such as `404 page not found`)


class Http:
    """Raw requests through the official client's connection pool and credentials (any content type)."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        content_type: str,
        accept: str,
        query: Mapping[str, Any] | None,
        stream: bool,
    ) -> Any:
        headers: dict[str, str] = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        self.api.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
        url = self.api.configuration.host + path + ("?" + urlencode(query) if query else "")
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        return self.api.rest_client.pool_manager.request(
            method, url, body=data, headers=headers, preload_content=not stream, timeout=30
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        query: Mapping[str, Any] | None = None,
    ) -> Reply:
        """One request; the body is JSON-encoded unless it is bytes."""
        response = self._send(method, path, body, content_type, accept, query, stream=False)
        try:
            decoded = json.loads(response.data)
        except ValueError:
            decoded = None
        warnings = response.headers.getlist("Warning") if hasattr(response.headers, "getlist") else []
        text = response.data.decode(errors="replace")
        return Reply(response.status, dict(response.headers), decoded, warnings, text)

    def watch(
        self,
        path: str,
        query: Mapping[str, Any],
        *,
        count: int | None = None,
        accept: str = "application/json",
    ) -> list[dict[str, Any]]:
        """A watch's events: `count` of them, or all until the server ends the stream (`timeoutSeconds`)."""
        response = self._send("GET", path, None, "", accept, {**query, "watch": "true"}, stream=True)
        assert response.status == 200, response.data
        assert response.headers["Content-Type"].startswith("application/json")
        events: list[dict[str, Any]] = []
        for line in response:
            if line.strip():
                events.append(json.loads(line))
            if count is not None and len(events) >= count:
                break
        response.release_conn() if count is None else response.close()
        return events


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    """The official client, configured from the kubeconfig of the cluster under test."""
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def http(api: kubernetes.client.ApiClient) -> Http:
    """Raw HTTP to the cluster under test."""
    return Http(api)


@pytest.fixture
def core(api: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api)


@pytest.fixture
def custom(api: kubernetes.client.ApiClient, crds_installed: None) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api)


@pytest.fixture
def crds_installed(api: kubernetes.client.ApiClient) -> None:
    """The idlcm CRDs are served (installed from crds/ on a real cluster when missing)."""
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    for path in crds.crd_files():
        document = yaml.safe_load(path.read_text())
        name = document["metadata"]["name"]
        try:
            extensions.read_custom_resource_definition(name)
            continue
        except ApiException as e:
            if e.status != 404:
                raise
        extensions.create_custom_resource_definition(document)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            crd = extensions.read_custom_resource_definition(name)
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                break
            time.sleep(0.2)


@pytest.fixture
def namespace(core: kubernetes.client.CoreV1Api, crds_installed: None) -> Iterator[str]:
    """A fresh namespace for one test, deleted after it."""
    name = f"conformance-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise
