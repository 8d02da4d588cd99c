"""What each verb does to the stored objects, as the apiserver's registry strategies do it.

Create, replace, patch, delete and list, with the metadata the apiserver stamps (uid, resourceVersion,
creationTimestamp, generation), optimistic concurrency (409), the status subresource's isolation, finalizers,
admission of custom resources, and namespaces. What the apiserver refuses is refused here in its words:
names by kind, label keys and values, annotation keys and their 256 KiB total, finalizer names, a Secret's
or ConfigMap's data keys and 1 MiB total, and (etcd's refusal, a 500) an object over etcd's 1.5 MiB request
limit. Everything here is synchronous: one request's write is atomic on the event loop, so no lock is needed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime
import json
import logging
import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from idlcm import crds as crd_files
from idlcm import patching
from idlcm.devcluster import admission, errors, kinds, strategic
from idlcm.devcluster.errors import ApiError
from idlcm.devcluster.resources import CONFIGMAPS, CRDS, EVENTS, NAMESPACES, SECRETS, Resource, from_crd
from idlcm.devcluster.selectors import FieldSelector, LabelSelector
from idlcm.devcluster.store import Obj, Store

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

_SERVER_SET = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
)
_KEPT_ON_UPDATE = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
ETCD_MAX_REQUEST_BYTES = (
    1536 * 1024
)  # etcd's default --max-request-bytes: a larger write never reaches storage
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")


def now_rfc3339() -> str:
    """The current time as the API writes timestamps: `2025-01-31T12:00:00Z`."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class WriteOptions:
    """The query parameters that shape a write."""

    dry_run: bool = False
    field_validation: str = "Warn"  # Strict, Warn, Ignore (the apiserver's default is Warn)
    field_manager: str | None = None
    force: bool = False


@dataclasses.dataclass
class Written:
    """The outcome of a write: the object to return (often the stored one: read it, never change it), the
    HTTP code, and warnings for `Warning:` headers."""

    obj: dict[str, Any]
    code: int = 200
    warnings: list[str] = dataclasses.field(default_factory=list)


class Registry:
    """The served resources and the semantics of every verb on their objects."""

    def __init__(
        self,
        store: Store,
        *,
        events_per_namespace: int = 1000,
        clock: Callable[[], str] = now_rfc3339,
    ) -> None:
        self.store = store
        self.events_per_namespace = events_per_namespace
        self._clock = clock
        self._resources: dict[tuple[str, str, str], Resource] = {}
        self._crd_resources: dict[str, list[Resource]] = {}  # CRD name → the resources it registered
        self.on_change: Callable[[], None] = lambda: None  # discovery must be refreshed

    def register(self, res: Resource) -> None:
        """Serve a resource."""
        self._resources[res.group, res.version, res.plural] = res
        self.on_change()

    def unregister(self, res: Resource) -> None:
        """Stop serving a resource and forget its objects."""
        self._resources.pop((res.group, res.version, res.plural), None)
        self.store.drop_resource(res.key)
        self.on_change()

    def resource(self, group: str, version: str, plural: str) -> Resource | None:
        """The served resource at this path, if any."""
        return self._resources.get((group, version, plural))

    def resources(self) -> list[Resource]:
        """All served resources."""
        return list(self._resources.values())

    def crd_versions(self) -> list[crd_files.CRDVersion]:
        """The served versions of all CRDs (for discovery, OpenAPI and tables)."""
        return [r.crd for r in self._resources.values() if r.crd is not None]

    def get(self, res: Resource, namespace: str, name: str) -> Obj:
        """The object, or 404."""
        obj = self.store.get(res.key, namespace, name)
        if obj is None:
            raise errors.not_found(res, name)
        return obj

    def select(
        self, res: Resource, namespace: str | None, labels: LabelSelector, fields: FieldSelector
    ) -> list[Obj]:
        """The objects matching the selectors, ordered by namespace and name (as etcd lists them)."""
        name = fields.exact_name()
        if name is not None and namespace is not None:
            found = self.store.get(res.key, namespace, name)
            candidates: Iterable[Obj] = [found] if found is not None else []
        else:
            candidates = self.store.objects(res.key, namespace)
        selected = [o for o in candidates if matches(o, labels, fields)]
        selected.sort(key=_sort_key)
        return selected

    def listing(
        self,
        res: Resource,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """A `<Kind>List` of the selected objects, paginated by `limit`/`continue`."""
        rv = self.store.rv
        items = self.select(res, namespace, labels, fields)
        if continue_token:
            start = _decode_continue(continue_token)
            items = [o for o in items if _sort_key(o) > start]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            meta["continue"] = _encode_continue(_sort_key(items[-1]), rv)
            meta["remainingItemCount"] = remaining
        return {
            "kind": res.effective_list_kind,
            "apiVersion": res.api_version,
            "metadata": meta,
            "items": items,
        }

    def create(self, res: Resource, namespace: str, body: Any, opts: WriteOptions) -> Written:
        """POST: stamp the metadata, admit, store; 201."""
        obj = _decode_object(res, body)
        meta = obj["metadata"]
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
            self._check_namespace_open(namespace)
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(
                    res,
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            meta["name"] = self._generate_name(res, namespace, str(meta["generateName"]))
        name = str(meta["name"])
        _check_name(res, name)
        if self.store.get(res.key, namespace, name) is not None:
            raise errors.already_exists(res, name)
        for key in _SERVER_SET:
            meta.pop(key, None)
        if res.has_status:
            obj.pop("status", None)
        _normalize(res, obj)
        _check_metadata(res, obj)
        _check_data(res, obj)
        if res == NAMESPACES:
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj, warnings = self._admit(res, obj, None, opts)
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self._clock()
        if _has_generation(res):
            meta["generation"] = 1
        new_resources = self._crd_resources_of(obj) if res == CRDS else None
        if opts.dry_run:
            return Written(obj, 201, warnings)
        if new_resources is not None:
            obj["status"] = _crd_status(obj, meta["creationTimestamp"])
        _check_storable(res, obj)
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(res.key, "ADDED", obj, None)
        if new_resources is not None:
            self._serve_crd(name, new_resources)
        if res == EVENTS:
            self._trim_events(namespace)
        return Written(obj, 201, warnings)  # stored objects are never mutated: no copy to hand out

    def replace(
        self, res: Resource, namespace: str, name: str, body: Any, opts: WriteOptions, subresource: str | None
    ) -> Written:
        """PUT: replace the whole object (or only its status, on /status); 409 on a stale resourceVersion."""
        old = self.get(res, namespace, name)
        new = _decode_object(res, body)
        _check_identity(new, namespace if res.namespaced else "", name)
        rv = new["metadata"].get("resourceVersion")
        if not rv:
            if _has_generation(res):
                raise errors.invalid(
                    res,
                    name,
                    [
                        (
                            "FieldValueInvalid",
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
        elif str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name, errors.STALE)
        return self._update(res, old, new, opts, subresource)

    def patch(
        self,
        res: Resource,
        namespace: str,
        name: str,
        content_type: str,
        body: bytes,
        opts: WriteOptions,
        subresource: str | None,
    ) -> Written:
        """PATCH: merge, JSON or (minimal) server-side apply; strategic merge only on built-in kinds."""
        accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] + ([] if res.crd is not None else [STRATEGIC_PATCH])
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, accepted)
        if content_type == APPLY_PATCH:
            return self._apply(res, namespace, name, body, opts, subresource)
        old = self.get(res, namespace, name)
        patch = _decode_json(body)
        if content_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise errors.bad_request(
                    "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                )
            try:
                new = patching.json_patch(old, patch)
            except patching.PatchError as e:
                raise errors.unprocessable(str(e)) from None
        else:
            if not isinstance(patch, dict):
                raise errors.bad_request(
                    "json: cannot unmarshal non-object into Go value of type map[string]any"
                )
            strategic_merge = content_type == STRATEGIC_PATCH  # merge keys read from the patch's directives
            new = strategic.apply(old, patch) if strategic_merge else _merged(old, patch)
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise errors.bad_request("the patched object is not a Kubernetes object")
        _check_identity(new, namespace if res.namespaced else "", name)
        rv = new["metadata"].get("resourceVersion")
        if rv and str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name, errors.STALE)
        return self._update(res, old, new, opts, subresource)

    def _apply(
        self,
        res: Resource,
        namespace: str,
        name: str,
        body: bytes,
        opts: WriteOptions,
        subresource: str | None,
    ) -> Written:
        """Minimal server-side apply: create, or merge the applied fields in (no field ownership)."""
        if not opts.field_manager:
            raise errors.bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager must be set for apply requests"
            )
        try:
            applied = yaml.safe_load(body.decode() or "{}")
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise errors.bad_request(f"error decoding YAML: {e}") from None
        obj = _decode_object(res, applied)
        _check_identity(obj, namespace if res.namespaced else "", name, on_apply=True)
        obj["metadata"]["name"] = name
        old = self.store.get(res.key, namespace, name)
        if old is None:
            if subresource:
                raise errors.not_found(res, name)
            return self.create(res, namespace, obj, opts)
        rv = obj["metadata"].get("resourceVersion")
        if rv and str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name, errors.STALE)
        new = _merged(old, _without_nulls(obj))
        return self._update(res, old, new, opts, subresource)

    def _update(
        self, res: Resource, old: Obj, new: dict[str, Any], opts: WriteOptions, subresource: str | None
    ) -> Written:
        name = old["metadata"]["name"]
        if subresource == "status":
            status = new.get("status")
            new = {**old, "metadata": copy.deepcopy(old["metadata"])}  # what `_update` writes is copied
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            if subresource is not None:
                raise errors.path_not_found()
            if res.has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        new["apiVersion"] = res.api_version
        new["kind"] = res.kind
        meta = new["metadata"]
        old_meta = old["metadata"]
        for key in _KEPT_ON_UPDATE:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("managedFields", None)
        meta.pop("selfLink", None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
            if added:
                raise errors.invalid(
                    res,
                    name,
                    [
                        (
                            "FieldValueForbidden",
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being deleted, "
                            f"found new finalizers {json.dumps(added)}",
                        )
                    ],
                )
        _normalize(res, new)
        _check_metadata(res, new)
        _check_data(res, new)
        if res.crd is not None and _content_of(new) == _content_of(old):
            # Only metadata changed (kopf's annotations and finalizers): the rest is what admission stored,
            # and the schema says the same of it again (unchanged values pass transition rules; ratcheting
            # lets them pass even a stricter schema). Admitting a 5,000-account spec takes seconds here.
            warnings: list[str] = []
        else:
            new, warnings = self._admit(res, new, old, opts)
        meta = new["metadata"]
        served = self._crd_resources_of(new) if res == CRDS else None
        if _has_generation(res) and _spec_of(res, new) != _spec_of(res, old):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1
        if new == old or opts.dry_run:  # a no-op write stores nothing and bumps nothing, as in the apiserver
            return Written(new, 200, warnings)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            meta["resourceVersion"] = str(self.store.next_rv())
            self._remove(res, new, old)
        else:
            _check_storable(res, new)
            meta["resourceVersion"] = str(self.store.next_rv())
            self.store.put(res.key, "MODIFIED", new, old)
            if served is not None:
                self._serve_crd(name, served)
        return Written(new, 200, warnings)

    def delete(
        self, res: Resource, namespace: str, name: str, options: Mapping[str, Any], dry_run: bool
    ) -> Written:
        """DELETE: mark it (finalizers) and return it, or remove it and return a Success Status."""
        old = self.get(res, namespace, name)
        preconditions = options.get("preconditions") or {}
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if uid and uid != old["metadata"].get("uid"):
            actual = old["metadata"].get("uid")
            why = f"Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
            raise errors.conflict(res, name, why)
        if rv and rv != old["metadata"].get("resourceVersion"):
            why = (
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {old['metadata'].get('resourceVersion')}"
            )
            raise errors.conflict(res, name, why)
        if res == NAMESPACES:
            return self._delete_namespace(old, dry_run)
        if dry_run:
            return Written(copy.deepcopy(dict(old)))
        if old["metadata"].get("finalizers"):
            return Written(copy.deepcopy(dict(self._mark_deleted(res, old))))
        gone = copy.deepcopy(dict(old))
        gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self._remove(res, gone, old)
        details: dict[str, Any] = {"name": name, "kind": res.plural, "uid": old["metadata"].get("uid")}
        if res.group:
            details["group"] = res.group
        return Written(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        )

    def delete_collection(
        self,
        res: Resource,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        options: Mapping[str, Any],
        dry_run: bool,
    ) -> dict[str, Any]:
        """DELETE on a collection: delete each selected object; a list of what was deleted or marked."""
        deleted: list[Obj] = []
        for obj in self.select(res, namespace, labels, fields):
            meta = obj["metadata"]
            written = self.delete(res, meta.get("namespace") or "", meta["name"], options, dry_run)
            deleted.append(written.obj if written.obj.get("kind") != "Status" else obj)
        return {
            "kind": res.effective_list_kind,
            "apiVersion": res.api_version,
            "metadata": {"resourceVersion": str(self.store.rv)},
            "items": deleted,
        }

    def _mark_deleted(self, res: Resource, old: Obj) -> Obj:
        if old["metadata"].get("deletionTimestamp"):
            return old
        marked = copy.deepcopy(dict(old))
        meta = marked["metadata"]
        meta["deletionTimestamp"] = self._clock()
        meta["deletionGracePeriodSeconds"] = 0
        if meta.get("generation"):
            meta["generation"] = int(meta["generation"]) + 1
        if res == NAMESPACES:
            marked["status"] = {"phase": "Terminating"}
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(res.key, "MODIFIED", marked, old)
        return marked

    def _remove(self, res: Resource, last: dict[str, Any], old: Obj) -> None:
        """Forget an object (its last state already carries the resourceVersion of the deletion)."""
        meta = last["metadata"]
        self.store.remove(res.key, last, old)
        if res == CRDS:
            for served in self._crd_resources.pop(meta["name"], []):
                self.unregister(served)
        namespace = meta.get("namespace")
        if namespace:
            self._finish_namespace(namespace)

    def _delete_namespace(self, old: Obj, dry_run: bool) -> Written:
        name = old["metadata"]["name"]
        if name in _UNDELETABLE_NAMESPACES:
            raise errors.forbidden(NAMESPACES, name, "this namespace may not be deleted")
        if dry_run:
            return Written(copy.deepcopy(dict(old)))
        marked = self._mark_deleted(NAMESPACES, old)
        for key, obj_name in self.store.keys_in_namespace(name):
            res = self._by_key(key)
            if res is not None and self.store.get(key, name, obj_name) is not None:
                self.delete(res, name, obj_name, {}, False)
        self._finish_namespace(name)
        return Written(copy.deepcopy(dict(marked)))

    def _finish_namespace(self, namespace: str) -> None:
        """Remove a terminating namespace once nothing is left in it (the namespace controller's job)."""
        ns = self.store.get(NAMESPACES.key, "", namespace)
        if ns is None or not ns["metadata"].get("deletionTimestamp") or ns["metadata"].get("finalizers"):
            return
        if self.store.keys_in_namespace(namespace):
            return
        gone = copy.deepcopy(dict(ns))
        gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.remove(NAMESPACES.key, gone, ns)

    def _by_key(self, key: str) -> Resource | None:
        for res in self._resources.values():
            if res.key == key:
                return res
        return None

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get(NAMESPACES.key, "", namespace)
        if ns is None:
            raise errors.not_found(NAMESPACES, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                NAMESPACES,
                namespace,
                f"unable to create new content in namespace {namespace} because it is being terminated",
                causes=[
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            )

    def _generate_name(self, res: Resource, namespace: str, prefix: str) -> str:
        for _ in range(100):
            name = prefix[:58] + "".join(random.choices(_SUFFIX_ALPHABET, k=5))
            if self.store.get(res.key, namespace, name) is None:
                return name
        raise errors.already_exists(res, prefix)  # pragma: no cover

    def _admit(
        self, res: Resource, obj: dict[str, Any], old: Obj | None, opts: WriteOptions
    ) -> tuple[dict[str, Any], list[str]]:
        if res.crd is None:
            kinds.validate(res, obj, old)
            return obj, []
        outcome = admission.admit(res.crd, obj, old)
        if outcome.pruned and opts.field_validation == "Strict":
            prefix = f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}'
            raise errors.bad_request(f"{prefix}: {outcome.strict_error()}")
        if outcome.refusal is not None:
            raise ApiError.from_status(outcome.refusal)
        return outcome.obj, outcome.warnings() if opts.field_validation == "Warn" else []

    def _crd_resources_of(self, obj: Mapping[str, Any]) -> list[Resource]:
        try:
            versions = crd_files.parse([obj])
        except (KeyError, TypeError, AttributeError) as e:
            raise errors.invalid(
                CRDS,
                str(obj["metadata"].get("name", "")),
                [("FieldValueRequired", "spec", f"Required value: {e}")],
            ) from None
        return [from_crd(v) for v in versions]

    def _serve_crd(self, name: str, served: list[Resource]) -> None:
        """Serve what a created or updated CRD defines; versions no longer served go, with their objects."""
        keys = {res.key for res in served}
        for gone in self._crd_resources.get(name, []):
            if gone.key not in keys:
                self.unregister(gone)
        self._crd_resources[name] = served
        for res in served:
            self.register(res)

    def _trim_events(self, namespace: str) -> None:
        """Keep at most `events_per_namespace` events: the apiserver expires events too (after an hour)."""
        excess = self.store.count(EVENTS.key, namespace) - self.events_per_namespace
        for obj in list(self.store.objects(EVENTS.key, namespace))[: max(0, excess)]:
            gone = copy.deepcopy(dict(obj))
            gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.remove(EVENTS.key, gone, obj)


def matches(obj: Obj, labels: LabelSelector, fields: FieldSelector) -> bool:
    """Whether an object is selected by both selectors."""
    return labels.matches(obj.get("metadata", {}).get("labels")) and fields.matches(obj)


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _encode_continue(key: tuple[str, str], rv: int) -> str:
    raw = json.dumps({"v": 1, "rv": rv, "start": list(key)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = data["start"]
        return (str(namespace), str(name))
    except (ValueError, KeyError, TypeError) as e:
        raise errors.bad_request(f"continue key is not valid: {e}") from None


def _has_generation(res: Resource) -> bool:
    return res.crd is not None or res == CRDS


def _spec_of(res: Resource, obj: Obj) -> dict[str, Any]:
    """What `generation` counts: everything but metadata (and status, when it is a subresource)."""
    skipped = {"metadata", "status"} if res.has_status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skipped}


def _content_of(obj: Obj) -> dict[str, Any]:
    """Everything but metadata: what a custom resource's schema admits beyond its name."""
    return {k: v for k, v in obj.items() if k != "metadata"}


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as e:
        raise errors.bad_request(f"error decoding patch: {e}") from None


def _decode_object(res: Resource, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body of the request is not a {res.kind} object")
    obj = copy.deepcopy(body)
    if obj.get("apiVersion") not in (None, res.api_version):
        raise errors.bad_request(
            f"the API version in the data ({obj['apiVersion']}) does not match the expected API version "
            f"({res.api_version})"
        )
    if obj.get("kind") not in (None, res.kind):
        raise errors.bad_request(
            f"the kind in the data ({obj['kind']}) does not match the expected kind ({res.kind})"
        )
    obj["apiVersion"] = res.api_version
    obj["kind"] = res.kind
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    return obj


def _check_identity(obj: Mapping[str, Any], namespace: str, name: str, *, on_apply: bool = False) -> None:
    meta = obj["metadata"]
    if meta.get("name", "") != name and not (on_apply and not meta.get("name")):
        raise errors.bad_request(
            f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})"
        )
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


# apimachinery's validation of object metadata (pkg/util/validation, pkg/api/validation), in its words
# (those of Kubernetes 1.35 and later: lengths in bytes, "a valid label key").
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character"
)
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # bytes of all annotation keys and values together
_RBAC_GROUP = "rbac.authorization.k8s.io"


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    """`RegexError`: the message, its examples (with Go's doubled space before each `or`), the regex."""
    shown = "".join(("  or " if i else "") + f"'{e}'," for i, e in enumerate(examples))
    lead = f" (e.g. {shown} " if examples else " ("
    return f"{message}{lead}regex used for validation is '{pattern}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} bytes"  # "characters" before Kubernetes 1.35


def _dns1123_subdomain_errors(value: str) -> list[str]:
    found = [_max_len_error(253)] if len(value) > 253 else []
    if not _matches(_DNS1123_SUBDOMAIN, value):
        found.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN,
                "example.com",
            )
        )
    return found


def _dns1123_label_errors(value: str) -> list[str]:
    found = [_max_len_error(63)] if len(value) > 63 else []
    if not _matches(_DNS1123_LABEL, value):
        if _matches(_DNS1123_SUBDOMAIN, value):
            found.append("must not contain dots")
        else:
            found.append(
                _regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                    "or '-', and must start and end with an alphanumeric character",
                    _DNS1123_LABEL,
                    "my-name",
                    "123-abc",
                )
            )
    return found


def _dns1035_label_errors(value: str) -> list[str]:
    found = [_max_len_error(63)] if len(value) > 63 else []
    if not _matches(_DNS1035_LABEL, value):
        found.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL,
                "my-name",
                "abc-123",
            )
        )
    return found


def _path_segment_errors(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _qualified_name_errors(value: str) -> list[str]:
    """`IsQualifiedName`: label keys, annotation keys (lowercased first) and finalizers."""
    name_rule = _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
    parts = value.split("/")
    found: list[str] = []
    if len(parts) > 2:
        return [
            f"a valid label key {name_rule} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            found.append("prefix part must be non-empty")
        else:
            found += [f"prefix part {e}" for e in _dns1123_subdomain_errors(prefix)]
    name = parts[-1]
    if not name:
        found.append("name part must be non-empty")
    elif len(name) > 63:
        found.append(f"name part {_max_len_error(63)}")
    if not _matches(_QUALIFIED_NAME, name):
        found.append(f"name part {name_rule}")
    return found


def _label_value_errors(value: str) -> list[str]:
    found = [_max_len_error(63)] if len(value) > 63 else []
    if not _matches(_LABEL_VALUE, value):
        found.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return found


def _name_errors(res: Resource, name: str) -> list[str]:
    """The rule the resource's strategy applies to names: most kinds take a DNS-1123 subdomain."""
    if res == NAMESPACES:
        return _dns1123_label_errors(name)
    if res.group == "" and res.plural == "services":
        return _dns1035_label_errors(name)
    if res.group == _RBAC_GROUP:
        return _path_segment_errors(name)
    return _dns1123_subdomain_errors(name)


def _invalid_value(value: str, detail: str) -> str:
    return f"Invalid value: {json.dumps(value, ensure_ascii=False)}: {detail}"


def _check_name(res: Resource, name: str) -> None:
    causes = [
        ("FieldValueInvalid", "metadata.name", _invalid_value(name, e)) for e in _name_errors(res, name)
    ]
    if causes:
        raise errors.invalid(res, name, causes)


def _check_metadata(res: Resource, obj: Mapping[str, Any]) -> None:
    """Labels, annotations and finalizers as `ValidateObjectMeta` checks them: 422 with every cause."""
    meta = obj["metadata"]
    causes: list[tuple[str, str, str]] = []
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise errors.bad_request("metadata.labels and metadata.annotations must be maps of strings")
    for key in sorted(labels):
        value = labels[key]
        if not isinstance(value, str):
            raise errors.bad_request(f"metadata.labels: the value of {key!r} is not a string")
        causes += [
            ("FieldValueInvalid", "metadata.labels", _invalid_value(key, e))
            for e in _qualified_name_errors(key)
        ]
        causes += [
            ("FieldValueInvalid", "metadata.labels", _invalid_value(value, e))
            for e in _label_value_errors(value)
        ]
    total = 0
    for key in sorted(annotations):
        value = annotations[key]
        if not isinstance(value, str):
            raise errors.bad_request(f"metadata.annotations: the value of {key!r} is not a string")
        causes += [
            ("FieldValueInvalid", "metadata.annotations", _invalid_value(key, e))
            for e in _qualified_name_errors(key.lower())
        ]
        total += len(key.encode()) + len(value.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(
            (
                "FieldValueTooLong",
                "metadata.annotations",
                f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
            )
        )
    for finalizer in meta.get("finalizers") or []:
        causes += [
            ("FieldValueInvalid", "metadata.finalizers", _invalid_value(str(finalizer), e))
            for e in _qualified_name_errors(str(finalizer))
        ]
    if causes:
        raise errors.invalid(res, str(meta.get("name", "")), causes)


MAX_DATA_BYTES = 1024 * 1024  # a Secret's or ConfigMap's data in total (core.MaxSecretSize)
_CONFIG_KEY = "[-._a-zA-Z0-9]+"


def _config_key_errors(key: str) -> list[str]:
    """`IsConfigMapKey`: the keys of a Secret's or ConfigMap's data."""
    found = [_max_len_error(253)] if len(key) > 253 else []
    if not _matches(_CONFIG_KEY, key):
        found.append(
            _regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_KEY,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if key in (".", ".."):
        found.append(f"must not be '{key}'")
    elif key.startswith(".."):
        found.append("must not start with '..'")
    return found


def _check_data(res: Resource, obj: Mapping[str, Any]) -> None:
    """A Secret's or ConfigMap's keys and total size (1 MiB), as `ValidateSecret`/`ValidateConfigMap`."""
    if res not in (SECRETS, CONFIGMAPS):
        return
    causes: list[tuple[str, str, str]] = []
    total = 0
    bags = ("data",) if res == SECRETS else ("data", "binaryData")
    for bag in bags:
        values = obj.get(bag) or {}
        if not isinstance(values, dict):
            raise errors.bad_request(f"{res.kind}.{bag} must be an object")
        for key in sorted(values):
            causes += [
                ("FieldValueInvalid", f"{bag}[{key}]", _invalid_value(key, e))
                for e in _config_key_errors(key)
            ]
            value = str(values[key])
            if res == SECRETS or bag == "binaryData":
                try:
                    total += len(base64.b64decode(value, validate=True))
                except binascii.Error:
                    raise errors.bad_request(
                        f'{res.kind} in version "v1" cannot be handled as a {res.kind}: illegal base64 data '
                        f"(key {key!r})"
                    ) from None
            else:
                total += len(value.encode())
    if res == CONFIGMAPS:
        both = set(obj.get("data") or {}) & set(obj.get("binaryData") or {})
        for key in sorted(both):
            detail = "duplicate of key present in binaryData"
            causes.append(("FieldValueInvalid", f"data[{key}]", _invalid_value(key, detail)))
    if total > MAX_DATA_BYTES:
        field = "data" if res == SECRETS else "[]"  # the ConfigMap's whole object: an empty path
        causes.append(("FieldValueTooLong", field, f"Too long: may not be more than {MAX_DATA_BYTES} bytes"))
    if causes:
        raise errors.invalid(res, str(obj["metadata"].get("name", "")), causes)


def _normalize(res: Resource, obj: dict[str, Any]) -> None:
    """Omit empty metadata lists and maps; merge a Secret's `stringData` into `data`, base64-encoded."""
    meta = obj["metadata"]
    for key in ("labels", "annotations", "finalizers", "ownerReferences"):
        if key in meta and not meta[key]:
            del meta[key]
    if res != SECRETS:
        return
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise errors.bad_request("Secret.data must be an object")
    data = dict(data)  # never write into a dict the stored object may share
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except binascii.Error:
            raise errors.bad_request(
                f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                f"at input byte 0 (key {key!r})"
            ) from None
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    obj.setdefault("type", "Opaque")


def _merged(old: Obj, patch: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch applied for `_update` to write into: `merge_patch` shares the parts the patch leaves
    alone with the stored object, which must never change (the watch history holds it). `_update` writes
    the top level and metadata (and `_normalize` a Secret's data, which it copies): those are copied here,
    not the whole object (a deep copy of an Integration of 5,000 accounts takes a fifth of a second)."""
    merged: dict[str, Any] = patching.merge_patch(old, patch)
    if isinstance(merged.get("metadata"), dict):
        merged["metadata"] = copy.deepcopy(merged["metadata"])
    return merged


def _strip_directives(patch: Any) -> Any:
    """Strategic-merge directives (`$patch`, `$setElementOrder/...`) do not mean anything to a merge patch."""
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [_strip_directives(v) for v in patch]
    return patch


def _without_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    return obj


def _check_storable(res: Resource, obj: Obj) -> None:
    """What etcd refuses: a write larger than its request limit (the value, and the key twice: the
    apiserver's transaction compares and puts it). The apiserver passes etcd's error on as a 500."""
    meta = obj["metadata"]
    key = f"/registry/{res.group or 'core'}/{res.plural}/{meta.get('namespace') or ''}/{meta['name']}"
    size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()) + 2 * len(key) + 64
    if size > ETCD_MAX_REQUEST_BYTES:
        message = "etcdserver: request is too large"  # not a Status of the apiserver's: no reason
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
        raise ApiError.from_status({**body, "code": 500})


def _crd_status(obj: Mapping[str, Any], now: str) -> dict[str, Any]:
    spec = obj.get("spec", {})
    return {
        "acceptedNames": spec.get("names", {}),
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now, "reason": r, "message": m}
            for t, r, m in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }
