"""Admission of a custom resource as kube-apiserver does it: prune, default, validate the schema, run CEL."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from idlcm.schema import errors, gofmt
from idlcm.schema.cel import validate_rules
from idlcm.schema.defaulting import apply_defaults
from idlcm.schema.errors import FieldError
from idlcm.schema.listtypes import validate_list_types
from idlcm.schema.node import Node, compile_node
from idlcm.schema.pruning import prune, prune_nulls
from idlcm.schema.structural import json_type, validate

if TYPE_CHECKING:
    from idlcm.crds import CRDVersion


@dataclasses.dataclass
class Admission:
    """What admission made of an object: the object as it would be stored, its errors, its dropped fields."""

    obj: dict[str, Any]
    """A pruned and defaulted deep copy (the input is never mutated)."""
    errors: list[FieldError]
    pruned: list[str]
    """Paths of the dropped unknown fields, e.g. `spec.foo` (an error under `fieldValidation=Strict`)."""

    @property
    def ok(self) -> bool:
        """True when the API server would accept the object."""
        return not self.errors


class SchemaValidator:
    """One CRD version's openAPIV3Schema and CEL rules, compiled once, applied to objects of that kind."""

    _cache: ClassVar[dict[tuple[str, str, str], SchemaValidator]] = {}

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.root: Node = compile_node(schema)

    @classmethod
    def for_crd(cls, crd: CRDVersion) -> SchemaValidator:
        """The validator of a CRD version, compiled on first use and again only when its schema changes."""
        key = (crd.group, crd.version, crd.kind)
        cached = cls._cache.get(key)
        if cached is None or (cached.schema is not crd.schema and cached.schema != crd.schema):
            cached = cls._cache[key] = cls(crd.schema)
        return cached

    def read(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The object as a read from storage returns it: pruned and defaulted, not validated."""
        try:
            return self._decode(obj)[0]
        except RecursionError:
            return {}

    def admit(self, obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> Admission:
        """Create (no `old`) or update admission of a whole object; never raises, whatever its shape."""
        try:
            return self._admit(obj, old)
        except RecursionError:
            error = FieldError(errors.NO_PATH, errors.INVALID, "object is nested too deeply", None)
            return Admission(obj={}, errors=[error], pruned=[])

    def _admit(self, obj: Any, old: Any) -> Admission:
        if not isinstance(obj, Mapping):
            kind = json_type(obj)
            detail = f" in body must be of type object: {gofmt.quote(kind)}"
            error = FieldError(errors.NO_PATH, errors.TYPE_INVALID, detail, kind)
            return Admission(obj={}, errors=[error], pruned=[])
        out, pruned = self._decode(obj)
        found = validate(out, self.root)
        found += validate_list_types(out, self.root)
        if self.root.has_rules:
            if errors.has_blocking(found):
                found.append(errors.cel_skipped())
            else:
                previous = self._decode(old)[0] if isinstance(old, Mapping) else None
                found += validate_rules(out, previous, self.root)
        return Admission(obj=out, errors=found, pruned=pruned)

    def _decode(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        out = _copy(obj)
        assert isinstance(out, dict)
        pruned = prune(out, self.root)
        prune_nulls(out, self.root)
        apply_defaults(out, self.root)
        return out, pruned


def _copy(value: Any) -> Any:
    """A deep copy of a JSON-like value (tuples become lists, as JSON has no tuples)."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
