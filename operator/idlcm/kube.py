"""The Kubernetes calls the reconcile story makes that kopf's own API does not offer.

The official client is synchronous; each call runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from idlcm.crds import GROUP, VERSION


class ConflictError(Exception):
    """The object changed since it was read (HTTP 409)."""


def unreachable(config: kubernetes.client.Configuration) -> str | None:
    """Why the cluster does not answer at all (e.g. 'ConnectionRefusedError'), or None when it does.

    It asks GET /version, which every client may read (no RBAC grant needed); any HTTP answer, 401 and
    403 included, means a cluster is there, and the operator's own calls say more.
    """
    import urllib3

    with kubernetes.client.ApiClient(config) as api:
        try:
            kubernetes.client.VersionApi(api).get_code(_request_timeout=10)
        except ApiException:
            return None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            return type(e).__name__
    return None


def unanswered(error: BaseException) -> bool:
    """Whether a Kubernetes call failed because the API server did not answer (refused, timed out, cut
    off) or said it could not (5xx, 429): the same call is worth making again soon."""
    import urllib3

    if isinstance(error, ApiException):
        return error.status == 429 or (error.status or 0) >= 500
    return isinstance(error, urllib3.exceptions.HTTPError | OSError)


class Kube:
    """Reads and writes of Integrations, ExternalApps and Secrets in one cluster."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, field_validation: str = "Warn") -> None:
        self._field_validation = field_validation
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)

    async def get_app(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ExternalApp, or None when it does not exist."""
        return await self._get(namespace, "externalapps", name)

    async def create_app(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create an ExternalApp; None when one of that name already exists."""
        try:
            created: dict[str, Any] = await _call(
                self._custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "externalapps",
                dict(body),
            )
        except ApiException as e:
            if e.status == 409:
                return None
            raise
        return created

    async def patch_app_status(
        self, namespace: str, name: str, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any]:
        """Merge-patch an ExternalApp's status; with `resource_version`, only if unchanged since."""
        return await self._patch_status(namespace, "externalapps", name, status, resource_version)

    async def patch_status(
        self, namespace: str, name: str, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any]:
        """Merge-patch an Integration's status (null deletes a field); with `resource_version`, only if
        unchanged since (else ConflictError)."""
        return await self._patch_status(namespace, "integrations", name, status, resource_version)

    async def list_integrations(
        self, namespace: str, *, page_size: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every Integration in the namespace, a page at a time: thousands of them never sit in memory at
        once (decoded, each takes tens of kilobytes)."""
        token: str | None = None
        while True:
            options: dict[str, Any] = {"limit": page_size}
            if token:
                options["_continue"] = token
            listing = self._custom.list_namespaced_custom_object
            result = await _call(listing, GROUP, VERSION, namespace, "integrations", **options)
            yield result.get("items", [])
            token = (result.get("metadata") or {}).get("continue")
            if not token:
                return

    async def read_secret(self, namespace: str, name: str) -> Secret | None:
        """A Secret's decoded data and resourceVersion, or None when it does not exist."""
        try:
            obj = await _call(self._core.read_namespaced_secret, name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return Secret.decode(name, obj.metadata.resource_version or "", obj.data or {})

    async def read_configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, or None when it does not exist."""
        try:
            obj = await _call(self._core.read_namespaced_config_map, name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return dict(obj.data or {})

    async def get_integration(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Integration, or None when it does not exist."""
        return await self._get(namespace, "integrations", name)

    async def _get(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await _call(
                self._custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return obj

    async def _patch_status(
        self,
        namespace: str,
        plural: str,
        name: str,
        status: Mapping[str, Any],
        resource_version: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            obj: dict[str, Any] = await _call(
                self._custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                field_validation=self._field_validation,
            )
        except ApiException as e:
            if e.status == 409:
                raise ConflictError(f"{plural} {namespace}/{name} changed concurrently") from None
            raise
        return obj


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one blocking client call in a worker thread (the client's return types are too loose to use)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class Secret:
    """The decoded content of a Secret; its repr never shows the values."""

    __slots__ = ("data", "name", "resource_version", "unreadable")

    def __init__(
        self, name: str, resource_version: str, data: Mapping[str, str], unreadable: Iterable[str] = ()
    ) -> None:
        self.name = name
        self.resource_version = resource_version
        self.data = dict(data)
        self.unreadable = frozenset(unreadable)
        """Keys whose value is not UTF-8 text (e.g. a DER certificate where PEM is expected)."""

    @classmethod
    def decode(cls, name: str, resource_version: str, encoded: Mapping[str, str]) -> Secret:
        """A Secret from its API form (`data`: base64 values)."""
        data: dict[str, str] = {}
        unreadable = []
        for key, value in encoded.items():
            try:
                data[key] = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                unreadable.append(key)  # named as such, their content never echoed
        return cls(name=name, resource_version=resource_version, data=data, unreadable=unreadable)

    def lacks(self, key: str) -> str | None:
        """Why `key` cannot be used (None when it can), in words for a message; never the value."""
        if key in self.data:
            return None
        return f"key {key!r} is not UTF-8 text" if key in self.unreadable else f"has no key {key!r}"

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, keys={sorted(self.data)!r})"
