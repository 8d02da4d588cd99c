"""The HTTP face of the devcluster: a `kmock.KubernetesEmulator` whose storage and verbs are replaced.

What kmock still does here: the handler class and its DSL, so a test can inject faults ahead of the
emulation (`cluster['patch', kmock.resource('idlcm.io/v1alpha1/integrations')] << 500`); its resource
registry (`cluster.resources`) and the discovery documents built from it (`/apis`, `/apis/<group>`,
`/apis/<group>/<version>`, `/api/v1`, with kmock's `groupVersion: "/v1"` and subresource verbs fixed).

What is replaced: URL parsing (kmock's fails on `/api/v1/namespaces...`), the object storage (kmock keeps
every version of every object and re-checks its whole request log on every request: see `store.py`), every
verb (see `registry.py` and `watching.py`), error bodies (kmock puts server tracebacks in them; here a
path outside the served APIs is the apiserver's plain-text `404 page not found`), and the aiohttp serving
(kmock's `Server` patches aiohttp's DNS resolver process-wide, which a long-running `idlcm devcluster` and
concurrent clusters do not want; and aiohttp refuses bodies over 1 MiB, the apiserver over 3 MiB). Tables
and OpenAPI documents come from `tables.py` and `openapi.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import apps, parsing, rendering

from idlcm import crds
from idlcm.devcluster import errors, kinds, openapi, protobuf, selectors, tables, watching
from idlcm.devcluster.errors import ApiError
from idlcm.devcluster.protobuf import ProtobufError
from idlcm.devcluster.rbac import Authorizer
from idlcm.devcluster.registry import Registry, WriteOptions
from idlcm.devcluster.resources import BUILTIN, CRDS, NAMESPACES, VERBS, Resource
from idlcm.devcluster.store import Store

logger = logging.getLogger(__name__)

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+idlcm.devcluster",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_SUBRESOURCE_VERBS = ("get", "patch", "update")
MAX_REQUEST_BYTES = 3 * 1024 * 1024  # the apiserver's MaxRequestBodyBytes: 413 beyond it
_REACTION_LOG = 100  # requests kept for kmock's DSL to match reactions against (it needs a log)


@dataclasses.dataclass(frozen=True)
class Target:
    """What an API path points at."""

    res: Resource
    namespace: str | None  # None: all namespaces (or a cluster-scoped resource)
    name: str | None
    subresource: str | None


@attrs.define(kw_only=True)
class DevCluster(kmock.KubernetesEmulator):
    """An in-process Kubernetes API with the idlcm CRDs, for kopf, kubectl and the official clients."""

    crd_paths: Sequence[Path] | None = None  # CRD files to serve (default: the bundled `crds/`)
    history_size: int = 1000  # changes kept per resource for watches to resume from
    bookmark_interval: float = 60.0  # seconds between BOOKMARK events on watches that allow them
    events_per_namespace: int = 1000  # core v1 Events kept per namespace (the oldest are expired)
    host: str = "127.0.0.1"

    store: Store = attrs.field(init=False)
    registry: Registry = attrs.field(init=False)
    rbac: Authorizer = attrs.field(init=False)  # ServiceAccount tokens and RBAC (`rbac.py`)
    _closing: watching.Closing = attrs.field(init=False, factory=watching.Closing)
    _runner: aiohttp.web.ServerRunner | None = attrs.field(init=False, default=None)
    _port: int | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        # kmock's fallbacks (its own CRUD and discovery reactions) are deliberately not registered.
        self.store = Store(self.history_size)
        self.registry = Registry(self.store, events_per_namespace=self.events_per_namespace)
        self.registry.on_change = self._sync_discovery
        self.rbac = Authorizer(self.registry)
        for res in (*BUILTIN, *kinds.RESOURCES):
            self.registry.register(res)
        self.registry.create(NAMESPACES, "", {"metadata": {"name": "default"}}, WriteOptions())
        paths = self.crd_paths
        documents = {v.name: v.source for v in (crds.load(list(paths)) if paths is not None else crds.load())}
        for document in documents.values():
            self.registry.create(CRDS, "", dict(document), WriteOptions())

    @property
    def url(self) -> str:  # type: ignore[override]  # kmock's is a yarl.URL of its own Server
        """`http://127.0.0.1:<port>` while serving."""
        if self._port is None:
            raise RuntimeError("the devcluster is not serving")
        return f"http://{self.host}:{self._port}"

    async def start(self, port: int = 0) -> None:
        """Listen on the host and port (0: a free one); a stopped cluster starts again with its objects."""
        self._closing = watching.Closing()  # the watches that `stop` ended stay ended; new ones stay open
        await apps.RawHandler.__aenter__(self)
        loop = asyncio.get_running_loop()

        def request(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> aiohttp.web.BaseRequest:  # aiohttp's default refuses bodies over 1 MiB
            return aiohttp.web.BaseRequest(
                message, payload, protocol, writer, task, loop, client_max_size=MAX_REQUEST_BYTES
            )

        server = aiohttp.web.Server(self, handler_cancellation=True, request_factory=request)
        self._runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, self.host, port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        logger.info("devcluster serving at %s", self.url)

    async def stop(self) -> None:
        """End the open watches and stop listening."""
        self._closing.closed = True
        self.store.wake_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = None
        await apps.RawHandler.__aexit__(self, None, None, None)

    def write_kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig pointing at this cluster (context `devcluster`, namespace `default`)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "devcluster", "cluster": {"server": self.url}}],
            "users": [{"name": "devcluster", "user": {"token": "devcluster"}}],
            "contexts": [
                {
                    "name": "devcluster",
                    "context": {"cluster": "devcluster", "user": "devcluster", "namespace": "default"},
                }
            ],
            "current-context": "devcluster",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Serve one HTTP request: kmock reactions first (if any were declared), then the emulation."""
        try:
            body = await raw_request.read()
        except aiohttp.web.HTTPRequestEntityTooLarge:
            error = ApiError(
                413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BYTES}"
            )
            return _json(error.status(), error.code)
        try:
            if self._payloads:
                reacted = await self._react(raw_request, body)
                if reacted is not None:
                    return reacted
            return await self._respond(raw_request, body)
        except ApiError as e:
            return _json(e.status(), e.code)
        except PageNotFound:
            return _page_not_found()
        except Exception as e:
            logger.exception("devcluster: %s %s failed", raw_request.method, raw_request.path_qs)
            error = errors.internal(f"{type(e).__name__}: {e}")
            return _json(error.status(), error.code)

    async def _react(self, raw: aiohttp.web.BaseRequest, body: bytes) -> aiohttp.web.StreamResponse | None:
        """Let kmock's DSL answer, for reactions a test declared on the cluster; None if none matches."""
        target = self._target(raw.path, strict=False)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        parsed = parsing.ParsedPath(
            group=target.res.group if target else None,
            version=target.res.version if target else None,
            plural=target.res.plural if target else None,
            namespace=target.namespace if target else None,
            name=target.name if target else None,
            subresource=target.subresource if target else None,
        )
        request = rendering.Request(
            raw_request=raw,
            url=raw.url,
            method=raw.method,
            params=dict(raw.query),
            headers=dict(raw.headers),
            body=body,
            text=body.decode(errors="replace"),
            data=data,
            action=parsing.guess_k8s(parsed, kmock.method(raw.method), dict(raw.query)),
            resource=kmock.resource(target.res.group, target.res.version, target.res.plural)
            if target
            else None,
            namespace=parsed.namespace,
            name=parsed.name,
            subresource=parsed.subresource,
        )
        self._requests.append(request)
        del self._requests[:-_REACTION_LOG]
        try:
            return await apps.RawHandler._handle(self, request)
        except NotImplementedError:
            return None
        except kmock.KubernetesError as e:
            status = ApiError(e.status, e.reason or "InternalError", e.message or type(e).__name__).status()
            return _json(status, e.status)

    async def _respond(self, raw: aiohttp.web.BaseRequest, body: bytes) -> aiohttp.web.StreamResponse:
        path = raw.path.rstrip("/") or "/"
        user = self.rbac.authenticate(raw.headers)
        if path.startswith("/openapi/"):
            return self._openapi(path)
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        if raw.method == "GET":
            discovered = await self._discovery(path)
            if discovered is not None:
                return _json(discovered)
        target = self._target(path, strict=True)
        if target is None:
            raise self._unknown(path)
        query = raw.query
        res = target.res
        across = raw.method == "GET" and target.name is None  # only list and watch span namespaces
        if res.crd is not None and res.namespaced and target.namespace is None and not across:
            raise PageNotFound()  # the CRD handler hands a request of the wrong scope on
        if target.subresource is not None and target.subresource not in res.subresources:
            if res.crd is not None and target.name is not None:  # the CRD handler's answer
                raise errors.not_found(res, target.name)
            raise _path_not_found()
        self.rbac.authorize(user, raw.method, query, res, target.namespace, target.name, target.subresource)
        if target.subresource == "token" and target.name is not None:
            if raw.method != "POST":
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                    {},
                )
            token = self.rbac.token_request(target.namespace or "", target.name, _decode_object(raw, body))
            return _json(token, 201)
        method = raw.method
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                return await self._watch(raw, target)
            if target.name is None:
                listing = self.registry.listing(
                    res,
                    target.namespace,
                    *self._selectors(res, query),
                    limit=_int(query.get("limit")),
                    continue_token=query.get("continue"),
                )
                return _json(self._as_requested(raw, res, listing["items"], listing["metadata"]))
            obj = self.registry.get(res, target.namespace or "", target.name)
            return _json(self._as_requested(raw, res, [obj], None))
        opts = WriteOptions(
            dry_run=bool(query.getall("dryRun", [])),
            field_validation=query.get("fieldValidation", "Warn") or "Warn",
            field_manager=query.get("fieldManager"),
            force=query.get("force") in ("true", "1"),
        )
        if opts.field_validation not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{opts.field_validation}": '
                'supported values: "Ignore", "Strict", "Warn"'
            )
        namespace = target.namespace or ""
        if method == "POST" and target.name is None:
            if res.namespaced and target.namespace is None:
                raise errors.method_not_allowed(res, "create")
            written = self.registry.create(res, namespace, _decode_object(raw, body), opts)
        elif method == "PUT" and target.name is not None:
            written = self.registry.replace(
                res, namespace, target.name, _decode_object(raw, body), opts, target.subresource
            )
        elif method == "PATCH" and target.name is not None:
            content_type = raw.headers.get("Content-Type", "").split(";")[0].strip()
            written = self.registry.patch(
                res, namespace, target.name, content_type, body, opts, target.subresource
            )
        elif method == "DELETE" and target.name is not None and target.subresource is None:
            options = _delete_options(body, query)
            written = self.registry.delete(res, namespace, target.name, options, opts.dry_run)
        elif method == "DELETE" and target.name is None:
            options = _delete_options(body, query)
            listing = self.registry.delete_collection(
                res, target.namespace, *self._selectors(res, query), options, opts.dry_run
            )
            return _json(listing)
        else:
            raise errors.method_not_allowed(res, method.lower())
        return _json(written.obj, written.code, _warning_headers(written.warnings))

    def _target(self, path: str, *, strict: bool) -> Target | None:
        """Parse `/api/v1/...` and `/apis/<group>/<version>/...` into a resource and object."""
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and self.registry.resource(group, version, rest[2]):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            return None
        res = self.registry.resource(group, version, rest[0])
        if res is None:
            return None
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) == 3 else None
        if strict and namespace is not None and not res.namespaced:
            return None
        return Target(res, namespace, name, subresource)

    def _unknown(self, path: str) -> Exception:
        """What the apiserver answers for a path that no resource serves: inside a built-in group version,
        go-restful's JSON Status; anywhere else (an unknown group or version, a CRD's group, no API path)
        the plain-text `404 page not found` of its last handler."""
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version = "", parts[1]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            return PageNotFound()
        resources = self.registry.resources()
        if any(r.group == group and r.version == version and r.crd is None for r in resources):
            return _path_not_found()
        return PageNotFound()

    def _selectors(
        self, res: Resource, query: Mapping[str, str]
    ) -> tuple[selectors.LabelSelector, selectors.FieldSelector]:
        try:
            return (
                selectors.parse_labels(query.get("labelSelector")),
                selectors.parse_fields(query.get("fieldSelector"), res.field_labels),
            )
        except selectors.SelectorError as e:
            raise errors.bad_request(str(e)) from None

    def _as_requested(
        self,
        raw: aiohttp.web.BaseRequest,
        res: Resource,
        objs: Sequence[Mapping[str, Any]],
        list_meta: Mapping[str, Any] | None,
    ) -> Mapping[str, Any]:
        """The object or list as JSON, or as a Table / PartialObjectMetadata when the Accept header asks."""
        accept = raw.headers.get("Accept", "")
        if _accepts(accept, "Table"):
            try:
                return tables.render_table(
                    res.crd,
                    res.kind,
                    objs,
                    include_object=raw.query.get("includeObject", "Metadata"),
                    now=datetime.now(UTC),
                    list_metadata=list_meta,
                )
            except ValueError as e:
                raise errors.bad_request(str(e)) from None
        if _accepts(accept, "PartialObjectMetadata") or _accepts(accept, "PartialObjectMetadataList"):
            partial = [
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
                for o in objs
            ]
            if list_meta is None:
                return partial[0]
            return {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": list_meta,
                "items": partial,
            }
        if list_meta is None:
            return objs[0]
        return {
            "kind": res.effective_list_kind,
            "apiVersion": res.api_version,
            "metadata": list_meta,
            "items": objs,
        }

    async def _watch(self, raw: aiohttp.web.BaseRequest, target: Target) -> aiohttp.web.StreamResponse:
        res = target.res
        query = raw.query
        labels, fields = self._selectors(res, query)
        if target.name is not None:
            fields = selectors.FieldSelector(
                (
                    *fields.requirements,
                    selectors.FieldRequirement("metadata.name", "metadata.name", False, target.name),
                )
            )
        since = watching.parse_rv(query.get("resourceVersion"))
        as_table = _accepts(raw.headers.get("Accept", ""), "Table")
        include_object = query.get("includeObject", "Metadata")
        events = watching.watch(
            self.registry,
            res,
            target.namespace,
            labels,
            fields,
            since,
            timeout_seconds=_int(query.get("timeoutSeconds")),
            bookmarks=query.get("allowWatchBookmarks") in ("true", "1"),
            bookmark_interval=self.bookmark_interval,
            closing=self._closing,
        )
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(raw)
        first = True
        try:
            async for event in events:
                if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                    objs = [] if event["type"] == "BOOKMARK" else [event["object"]]
                    meta = {"resourceVersion": event["object"]["metadata"].get("resourceVersion", "")}
                    table = tables.render_table(
                        res.crd,
                        res.kind,
                        objs,
                        include_object=include_object,
                        now=datetime.now(UTC),
                        list_metadata=meta,
                        no_headers=not first,
                    )
                    event = {"type": event["type"], "object": table}
                    first = False
                await response.write(_dumps(event) + b"\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away: an ordinary end of a watch
        finally:
            await events.aclose()
        return response

    def _sync_discovery(self) -> None:
        """Mirror the registry into kmock's resource registry, which its discovery documents read."""
        self.resources.clear()
        for res in self.registry.resources():
            self.resources[kmock.resource(res.group, res.version, res.plural)] = kmock.ResourceInfo(
                kind=res.kind,
                singular=res.singular,
                namespaced=res.namespaced,
                verbs=set(VERBS),
                shortnames=set(res.short_names),
                categories=set(res.categories),
                subresources=set(res.subresources),
            )

    async def _discovery(self, path: str) -> Mapping[str, Any] | None:
        parts = [p for p in path.split("/") if p]
        if path == "/":
            return cast(dict[str, Any], await self._serve_root(rendering.Request()))  # kmock's Payload type
        if path == "/version":
            return KUBERNETES_VERSION
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.host}],
            }
        if path == "/apis":
            groups = cast(dict[str, Any], await self._serve_apis(rendering.Request()))
            groups["groups"].sort(key=lambda g: g["name"])
            return groups
        if len(parts) == 2 and parts[0] == "api":
            return await self._resource_list("", parts[1])
        if len(parts) == 2 and parts[0] == "apis":
            request = rendering.Request(resource=kmock.resource(group=parts[1]))
            try:
                return cast(dict[str, Any], await self._serve_group(request))
            except kmock.KubernetesError:
                raise PageNotFound() from None
        if len(parts) == 3 and parts[0] == "apis":
            return await self._resource_list(parts[1], parts[2])
        return None

    async def _resource_list(self, group: str, version: str) -> Mapping[str, Any]:
        if not any(r.group == group and r.version == version for r in self.registry.resources()):
            raise PageNotFound()
        request = rendering.Request(resource=kmock.resource(group=group, version=version))
        document = cast(dict[str, Any], await self._serve_version(request))
        document["groupVersion"] = f"{group}/{version}" if group else version  # kmock says "/v1"
        for entry in document["resources"]:
            if "/" in entry["name"]:
                entry["verbs"] = list(_SUBRESOURCE_VERBS)
                entry["singularName"] = ""
                entry["shortNames"] = []
                entry["categories"] = []
                entry.update(kinds.SUBRESOURCE_DISCOVERY.get((group, entry["name"]), {}))
            else:
                entry["verbs"] = sorted(entry["verbs"])
                entry["shortNames"] = sorted(entry["shortNames"])
                entry["categories"] = sorted(entry["categories"])
        document["resources"].sort(key=lambda entry: entry["name"])
        return document

    def _openapi(self, path: str) -> aiohttp.web.StreamResponse:
        crd_versions = self.registry.crd_versions()
        if path == "/openapi/v3":
            return _json(openapi.openapi_v3_index(crd_versions))
        if path.startswith("/openapi/v3/"):
            document = openapi.openapi_v3_document(path.removeprefix("/openapi/v3/"), crd_versions)
            if document is not None:
                return _json(document)
        raise _path_not_found()


def _path_not_found() -> ApiError:
    """go-restful's 404 inside a served group version, `details: {}` included."""
    status = errors.path_not_found().status()
    return ApiError.from_status({**status, "details": {}})


class PageNotFound(Exception):
    """A path the apiserver answers with plain text, as Go's `http.NotFound` does."""


def _page_not_found() -> aiohttp.web.Response:
    response = aiohttp.web.Response(status=404, text="404 page not found\n", content_type="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _json(value: Any, code: int = 200, headers: Mapping[str, str] | None = None) -> aiohttp.web.Response:
    response = aiohttp.web.Response(body=_dumps(value), status=code, content_type="application/json")
    for name, text in (headers or {}).items():
        response.headers.add(name, text)
    return response


def _warning_headers(warnings: Sequence[str]) -> dict[str, str]:
    if not warnings:
        return {}
    return {"Warning": ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)}


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as e:
        raise errors.bad_request(f"the body of the request could not be decoded as JSON: {e}") from None


def _decode_object(raw: aiohttp.web.BaseRequest, body: bytes) -> Any:
    content_type = raw.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if content_type == protobuf.CONTENT_TYPE:
        try:
            return protobuf.decode(body)
        except ProtobufError as e:
            raise errors.unsupported_media_type(content_type, ["application/json", "application/yaml"]) from e
    if content_type in ("application/yaml", "application/apply-patch+yaml"):
        try:
            return yaml.safe_load(body.decode() or "null")
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise errors.bad_request(f"the body of the request could not be decoded as YAML: {e}") from None
    return _decode(body)


def _delete_options(body: bytes, query: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if body.strip():
        decoded = _decode(body)
        if isinstance(decoded, dict):
            options.update(decoded)
    for key in ("propagationPolicy", "gracePeriodSeconds"):
        if key in query:
            options[key] = query[key]
    return options


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value or 0)
    except ValueError:
        raise errors.bad_request(f"invalid integer: {value!r}") from None


def _accepts(accept: str, as_kind: str) -> bool:
    """Whether the Accept header asks for `application/json;as=<as_kind>;g=meta.k8s.io`."""
    for media in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in media.split(";")[1:] if "=" in p)
        if params.get("as") == as_kind and params.get("g") == "meta.k8s.io":
            return True
    return False


@contextlib.asynccontextmanager
async def serve(port: int = 0, **options: Any) -> AsyncIterator[DevCluster]:
    """Run a DevCluster on 127.0.0.1 (a free port by default) in the current event loop."""
    cluster = DevCluster(**options)
    await cluster.start(port)
    try:
        yield cluster
    finally:
        await cluster.stop()
