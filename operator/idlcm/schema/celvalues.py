"""JSON-like Python values → celpy values, typed by the schema as the API server's `UnstructuredToVal`."""

from __future__ import annotations

import base64
import datetime
import re
from typing import Any

from celpy import celtypes

from idlcm.schema.formats import is_date
from idlcm.schema.node import Node

# CEL reserved words; a property with such a name is `self.__namespace__` in a rule.
_RESERVED = frozenset(
    [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ]
)
_ESCAPES = re.compile(r"__|[-./]")
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPED = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
# What the rule of a resource root (or an embedded resource) sees of metadata.
_ROOT_META = ("name", "generateName")


def escape(name: str) -> str | None:
    """The CEL identifier of a property (`foo-bar` → `foo__dash__bar`), or None if it has none."""
    if not name or name[0].isdigit():
        return None
    if name in _RESERVED:
        return f"__{name}__"
    escaped = _ESCAPES.sub(lambda m: _ESCAPED[m[0]], name)
    return escaped if _IDENT.fullmatch(escaped) else None


def to_cel(value: Any, node: Node | None, resource_root: bool = False) -> Any:
    """The CEL value of `value` at a node of type `node` (None: untyped, converted by its JSON type)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float):
        return _number(value, node)
    if isinstance(value, str):
        return _string(value, node)
    if isinstance(value, list | tuple):
        items = node.items if node else None
        return celtypes.ListType([to_cel(item, items) for item in value])
    if isinstance(value, dict):
        return _object(value, node, resource_root or bool(node and node.embedded))
    return None


def _number(value: float, node: Node | None) -> Any:
    wants_double = node is not None and node.types == ("number",)
    if isinstance(value, float) and not wants_double and value.is_integer() and abs(value) < 2**63:
        value = int(value)  # an integral JSON number decodes as an int64 in Go
    if isinstance(value, int) and not wants_double and -(2**63) <= value < 2**63:
        return celtypes.IntType(value)
    try:
        return celtypes.DoubleType(float(value))
    except OverflowError:
        return celtypes.DoubleType(float("inf") if value > 0 else float("-inf"))


def _string(value: str, node: Node | None) -> Any:
    fmt = node.format.replace("-", "") if node else ""
    try:
        if fmt == "datetime":
            return celtypes.TimestampType(value.upper())
        if fmt == "date" and is_date(value):
            day = datetime.date.fromisoformat(value)
            return celtypes.TimestampType(
                datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
            )
        if fmt == "duration":
            return celtypes.DurationType(value)
        if fmt == "byte":
            return celtypes.BytesType(base64.b64decode(value, validate=True))
    except Exception:  # celpy parses timestamps with pendulum, whose errors are its own classes
        pass  # invalid for its format: schema validation reports it, and CEL sees the plain string
    return celtypes.StringType(value)


def _object(value: dict[Any, Any], node: Node | None, resource_root: bool) -> celtypes.MapType:
    if node is None or not node.types or (node.has_additional and not node.has_properties):
        child = node.additional if node else None
        return celtypes.MapType({celtypes.StringType(str(k)): to_cel(v, child) for k, v in value.items()})
    fields: dict[Any, Any] = {}
    if node.preserve_unknown:
        fields.update({celtypes.StringType(str(k)): to_cel(v, None) for k, v in value.items()})
    for key, prop in node.properties.items():
        name = escape(key)
        if name is not None and key in value:
            fields[celtypes.StringType(name)] = to_cel(value[key], prop)
    if resource_root:
        for key in ("apiVersion", "kind"):
            if isinstance(value.get(key), str):
                fields[celtypes.StringType(key)] = celtypes.StringType(value[key])
        meta = value.get("metadata")
        if isinstance(meta, dict):
            fields[celtypes.StringType("metadata")] = celtypes.MapType(
                {celtypes.StringType(k): to_cel(meta[k], None) for k in _ROOT_META if k in meta}
            )
    return celtypes.MapType(fields)
