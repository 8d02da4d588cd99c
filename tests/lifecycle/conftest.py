"""A real kopf operator (idlcm's handlers) running in-process against the embedded Kubernetes API."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from idlcm import runner
from idlcm.backoff import BackoffPolicy
from idlcm.crds import GROUP, VERSION
from idlcm.settings import Settings
from idlcm.validation import Validator
from invariants import assert_up_to_date_holds
from scimapp import RUNNING, ScimApp

# Fast retries so that the failure paths finish within a test; the logic is the production one.
FAST = Settings(
    validation_backoff=BackoffPolicy(base=0.2, factor=2.0, cap=1.0, max_attempts=3),
    operation_backoff=BackoffPolicy(base=0.2, factor=2.0, cap=1.0, max_attempts=4),
    tick=0.2,
    field_validation="Strict",
    seed=7,
    lease_seconds=3,
)


class Cluster:
    """Test-side access to the embedded API: plain client calls, run in a thread."""

    def __init__(self, config: kubernetes.client.Configuration, namespace: str) -> None:
        self.namespace = namespace
        self.client = kubernetes.client.ApiClient(config)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def create_secret(self, name: str, data: Mapping[str, str]) -> None:
        body = {
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        await self.call(self.core.create_namespaced_secret, self.namespace, body)

    async def update_secret(self, name: str, data: Mapping[str, str]) -> None:
        body = {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        await self.call(self.core.patch_namespaced_secret, name, self.namespace, body)

    async def apply_configmap(self, name: str, data: Mapping[str, str]) -> None:
        """Create the ConfigMap, or replace its data."""
        try:
            await self.call(
                self.core.create_namespaced_config_map,
                self.namespace,
                {"metadata": {"name": name}, "data": data},
            )
        except kubernetes.client.ApiException as e:
            if e.status != 409:
                raise
            await self.call(self.core.patch_namespaced_config_map, name, self.namespace, {"data": data})

    async def create_integration(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Integration",
            "metadata": {"name": name},
            "spec": spec,
        }
        return await self.call(  # type: ignore[no-any-return]
            self.custom.create_namespaced_custom_object, GROUP, VERSION, self.namespace, "integrations", body
        )

    async def patch_integration(self, name: str, patch: Mapping[str, Any]) -> None:
        await self.call(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            "integrations",
            name,
            patch,
        )

    async def delete_integration(self, name: str) -> None:
        await self.call(
            self.custom.delete_namespaced_custom_object, GROUP, VERSION, self.namespace, "integrations", name
        )

    async def get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.call(  # type: ignore[no-any-return]
                self.custom.get_namespaced_custom_object, GROUP, VERSION, self.namespace, plural, name
            )
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise

    async def events_for(self, name: str) -> list[Any]:
        events = await self.call(
            self.core.list_namespaced_event, self.namespace, field_selector=f"involvedObject.name={name}"
        )
        return sorted(events.items, key=lambda e: int(e.metadata.resource_version))

    async def wait_for(
        self,
        plural: str,
        name: str,
        predicate: Callable[[dict[str, Any] | None], bool],
        *,
        timeout: float = 15.0,
        interval: float = 0.05,
    ) -> dict[str, Any] | None:
        """Poll the object until the predicate holds; fail with the last seen object otherwise (`interval`:
        longer for a large object, whose every read costs the API and this process)."""
        deadline = time.monotonic() + timeout
        obj = await self.get(plural, name)
        while not predicate(obj):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {plural}/{name}; last seen: {obj}")
            await asyncio.sleep(interval)
            obj = await self.get(plural, name)
        if plural == "integrations" and obj is not None:
            await self.check_up_to_date(obj)  # whatever a test waited for, an UpToDate must hold
        return obj

    async def announced(self, name: str, until: str, timeout: float = 10.0) -> list[str]:
        """The states the operator announced in Events for this Integration, up to `until`."""
        deadline = time.monotonic() + timeout
        while True:
            events = await self.events_for(name)
            seen = [e.message.split(":", 1)[0] for e in events if e.message and ":" in e.message]
            if until in seen or time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.05)

    async def wait_status(
        self, name: str, status: str, *, timeout: float = 15.0, interval: float = 0.05
    ) -> dict[str, Any]:
        """Wait for this status; `UpToDate` for the current spec (observedGeneration), and then the app's
        storage must hold what the spec declares (`invariants.assert_up_to_date_holds`)."""

        def reached(o: dict[str, Any] | None) -> bool:
            if o is None:
                return False
            seen = o.get("status", {})
            if status == "UpToDate" and seen.get("observedGeneration") != o["metadata"].get("generation"):
                return False
            return seen.get("status") == status

        obj = await self.wait_for("integrations", name, reached, timeout=timeout, interval=interval)
        assert obj is not None
        return obj

    async def check_up_to_date(self, obj: Mapping[str, Any]) -> None:
        """If the Integration is UpToDate and its app is a test app run here, assert the app holds what the
        spec declares (`invariants.assert_up_to_date_holds`)."""
        if (obj.get("status") or {}).get("status") != "UpToDate":
            return
        app = RUNNING.get(
            str(((obj.get("spec") or {}).get("connector") or {}).get("scim", {}).get("baseURL"))
        )
        if app is None:
            return
        rosters: dict[str, dict[str, str]] = {}
        for source in (obj.get("spec") or {}).get("accountsFrom") or []:
            name = source["configMapRef"]["name"]
            try:
                found = await self.call(self.core.read_namespaced_config_map, name, self.namespace)
            except kubernetes.client.ApiException:
                continue
            rosters[name] = dict(found.data or {})
        assert_up_to_date_holds(obj, app, rosters)


StatusLog = dict[str, list[str]]


@pytest.fixture
def embedded(kubeconfig: Path) -> kubernetes.client.Configuration:
    """The client configuration of the cluster under test (the devcluster runs in its own thread: kopf
    treats every task of its event loop as its own and would cancel the server's)."""
    return runner.cluster_config(str(kubeconfig), None)


@pytest.fixture
async def cluster(embedded: kubernetes.client.Configuration) -> AsyncIterator[Cluster]:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    c = Cluster(embedded, namespace)
    await c.call(c.core.create_namespace, {"metadata": {"name": namespace}})
    yield c
    c.client.close()


OperatorFactory = Callable[..., Awaitable[Callable[[], Awaitable[None]]]]


@pytest.fixture
async def operator(embedded: kubernetes.client.Configuration) -> AsyncIterator[OperatorFactory]:
    """Start the operator with the given settings (and validator; None: the default one), in its own
    thread and event loop as in a real deployment (kopf takes every task of its loop for its own); stopped
    at teardown."""
    running: list[tuple[threading.Event, threading.Thread]] = []

    async def stop(flag: threading.Event, thread: threading.Thread) -> None:
        flag.set()
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive(), "the operator did not stop"

    async def start(
        settings: Settings = FAST, validator: Validator | None = None, **options: Any
    ) -> Callable[[], Awaitable[None]]:
        """Start one operator (`options`: more arguments of `runner.run`, e.g. metrics); the returned
        coroutine function stops it (e.g. to restart it mid-way)."""
        flag, ready = threading.Event(), threading.Event()
        coro = runner.run(
            embedded, settings=settings, validator=validator, stop_flag=flag, ready_flag=ready, **options
        )
        thread = threading.Thread(target=asyncio.run, args=(coro,), name="operator", daemon=True)
        thread.start()
        running.append((flag, thread))
        assert await asyncio.to_thread(ready.wait, 10), "the operator did not start"
        return lambda: stop(flag, thread)

    yield start
    for flag, thread in running:
        await stop(flag, thread)


def spec_for(app: ScimApp, *accounts: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """An Integration of the loopback SCIM app (token in the Secret acme-token) with these accounts."""
    return {
        "app": "acme-crm",
        "connector": {
            "scim": {
                "baseURL": app.base_url,
                "auth": {"bearerToken": {"secretRef": {"name": "acme-token"}}},
                "tls": {"insecure": True},
                "rateLimit": {"requestsPerSecond": 1000, "maxConcurrency": 8},
            }
        },
        "accounts": list(accounts),
        **extra,
    }


def people(*names: str, **fields: Any) -> list[dict[str, Any]]:
    """Declared accounts `<name>@example.com` with a display name."""
    return [{"userName": f"{n}@example.com", "displayName": n.title(), **fields} for n in names]


def in_app(app: ScimApp) -> dict[str, dict[str, Any]]:
    """userName -> the user as the app stores it (camelCase JSON)."""
    return {u.user_name: u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in app.users()}
