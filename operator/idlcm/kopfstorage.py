"""kopf's bookkeeping on an Integration, in a size that does not grow with its spec.

kopf keeps, per object, the "essence" it last handled (to tell a change from a mere write) and the progress
of its handlers. Its stock diff-base storage writes the whole essence, spec included, into one annotation: a
spec of a few thousand accounts passes the API server's 262,144 bytes for all annotations together, kopf's
patch is then refused for ever and the finalizer is never released. Here the essence is a digest: every
top-level stanza (the spec; status fields a handler watches) becomes `{"digest": <sha256>}`, and of the
metadata only the annotations idlcm's handlers watch are kept, each as a digest of its value. kopf computes
its diffs between two such essences, so any change of the spec is a change at field `spec` and a new value
of a watched annotation is a change there; what changed inside is not kept (idlcm's handlers read the
object, never the diff). Labels and other annotations are no change to kopf: no handler watches them.

An object last handled by the stock storage (key `last-handled-configuration`, the full essence) is read by
digesting that essence: an unchanged spec is no change, and the only difference, the format marker, matches
no handler, so kopf writes the new form once and the old annotation goes with that write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

import kopf
from kopf._cogs.structs import bodies, dicts, ids, patches

DIGEST_KEY = "last-handled-digest"
LEGACY_KEY = "last-handled-configuration"
FORMAT_MARKER = "digestFormat"
"""A top-level key of every essence this storage builds: a legacy essence lacks it (a one-time change that
no handler watches, so kopf stores the new form)."""
FORMAT = "sha256/1"
UNREADABLE = "unreadable"
"""The digest a stored essence that cannot be read stands for: it differs from any real one (one change)."""
MAX_MESSAGE = 512
"""kopf keeps the last error of a handler in its progress record; an exception's text can be long."""


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of a value (key order and spacing do not matter)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base as a digest, in the annotation `<prefix>/last-handled-digest` (about 200 bytes).

    `annotations`: the annotation keys whose changes handlers react to (kept, each as a digest)."""

    def __init__(
        self,
        *,
        prefix: str,
        annotations: Collection[str] = (),
        key: str = DIGEST_KEY,
        legacy_key: str = LEGACY_KEY,
        ignored_fields: Iterable[dicts.FieldSpec] | None = None,
    ) -> None:
        super().__init__(prefix=prefix, key=key, ignored_fields=ignored_fields)
        self.annotations = tuple(annotations)
        self.legacy_key = legacy_key

    def build(
        self, *, body: bodies.Body, extra_fields: Iterable[dicts.FieldSpec] | None = None
    ) -> bodies.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        return digested(essence, self.annotations, marked=True)

    def fetch(self, *, body: bodies.Body) -> bodies.BodyEssence | None:
        annotations = body.metadata.annotations
        for full_key in self.make_keys(self.key, body=body):
            if full_key in annotations:
                stored = _decoded(annotations[full_key])
                return cast(bodies.BodyEssence, stored) if stored is not None else _unreadable(marked=True)
        for full_key in self.make_keys(self.legacy_key, body=body):
            if full_key in annotations:
                legacy = _decoded(annotations[full_key])
                if legacy is None:
                    return _unreadable(marked=False)
                return digested(legacy, self.annotations, marked=False)
        return None

    def store(self, *, body: bodies.Body, patch: patches.Patch, essence: bodies.BodyEssence) -> None:
        super().store(body=body, patch=patch, essence=essence)
        for full_key in self.make_keys(self.legacy_key, body=body):
            if full_key in body.metadata.annotations:
                patch.metadata.annotations[full_key] = None  # the full essence goes with this write


class BoundedProgressStorage(kopf.AnnotationsProgressStorage):
    """kopf's per-handler progress in annotations, with the last error's text cut to MAX_MESSAGE characters
    (the rest of a record is timestamps, counters and flags; one record per handler)."""

    def store(
        self,
        *,
        key: ids.HandlerId,
        record: kopf.ProgressRecord,
        body: bodies.Body,
        patch: patches.Patch,
    ) -> None:
        message = record.get("message")
        if message is not None and len(message) > MAX_MESSAGE:
            record = cast(kopf.ProgressRecord, {**record, "message": message[: MAX_MESSAGE - 1] + "…"})
        super().store(key=key, record=record, body=body, patch=patch)


def digested(essence: Mapping[str, Any], annotations: Collection[str], *, marked: bool) -> bodies.BodyEssence:
    """The essence in digest form: each top-level stanza but metadata as `{"digest": ...}`, the watched
    annotations each as the digest of its value, and (`marked`) the format marker."""
    result: dict[str, Any] = {
        name: {"digest": digest(value)}
        for name, value in essence.items()
        if name not in ("metadata", FORMAT_MARKER)
    }
    present = (essence.get("metadata") or {}).get("annotations") or {}
    kept = {key: digest(present[key]) for key in annotations if key in present}
    if kept:
        result["metadata"] = {"annotations": kept}
    if marked:
        result[FORMAT_MARKER] = FORMAT
    return cast(bodies.BodyEssence, result)


def _decoded(encoded: Any) -> dict[str, Any] | None:
    try:
        decoded = json.loads(encoded)
    except (TypeError, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _unreadable(*, marked: bool) -> bodies.BodyEssence:
    """What an unreadable stored essence stands for: a spec unlike any (the spec handler runs once)."""
    result: dict[str, Any] = {"spec": {"digest": UNREADABLE}}
    if marked:
        result[FORMAT_MARKER] = FORMAT
    return cast(bodies.BodyEssence, result)
