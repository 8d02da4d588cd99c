"""Schema validation of a pruned, defaulted object, with the API server's messages (kube-openapi)."""

from __future__ import annotations

from typing import Any

from idlcm.schema import errors, gofmt
from idlcm.schema.errors import FieldError
from idlcm.schema.formats import is_valid
from idlcm.schema.node import Node

_MAX_SAFE_INTEGER = 2**53 - 1
_INT64 = range(-(2**63), 2**63)


def json_type(value: Any) -> str:
    """The JSON type of a decoded value as Go sees it (an integer beyond int64 decodes as a number)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if value in _INT64 else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def validate(value: Any, node: Node, path: str = "") -> list[FieldError]:
    """Every schema error of `value` (the whole object when `path` is "")."""
    out: list[FieldError] = []
    _validate(value, node, path, out)
    return out


def _field(path: str) -> str:
    return path or errors.NO_PATH


def _validate(value: Any, node: Node, path: str, out: list[FieldError]) -> None:
    kind = json_type(value)
    typed = _type_ok(value, kind, node)
    if not typed:
        detail = f"{path} in body must be of type {','.join(node.types)}: {gofmt.quote(kind)}"
        out.append(FieldError(_field(path), errors.TYPE_INVALID, detail, kind))
    _check_enum(value, node, path, out)  # kube-openapi checks the enum whatever the type
    if not typed or value is None:
        return
    if kind == "string":
        _check_string(value, node, path, out)
    elif kind in ("integer", "number"):
        _check_number(value, node, path, out)
    elif kind == "array":
        _check_array(value, node, path, out)
    elif kind == "object":
        _check_object(value, node, path, out)


def _type_ok(value: Any, kind: str, node: Node) -> bool:
    if value is None:
        return node.nullable or not node.types
    if not node.types or kind in node.types:
        return True
    if kind == "integer" and "number" in node.types:
        return True
    # An integral float passes as an integer (swag.IsFloat64AJSONInteger).
    return (
        kind == "number"
        and "integer" in node.types
        and isinstance(value, float)
        and value.is_integer()
        and abs(value) <= _MAX_SAFE_INTEGER
    )


def _check_enum(value: Any, node: Node, path: str, out: list[FieldError]) -> None:
    if node.enum is None or any(_json_equal(value, allowed) for allowed in node.enum):
        return
    shown = [v if isinstance(v, str) else gofmt.marshal(v) for v in node.enum]
    detail = "supported values: " + ", ".join(gofmt.quote(v) for v in shown) if shown else ""
    out.append(FieldError(_field(path), errors.NOT_SUPPORTED, detail, value))


def _check_string(value: str, node: Node, path: str, out: list[FieldError]) -> None:
    length = len(value)  # code points, as utf8.RuneCountInString
    if node.max_length is not None and length > node.max_length:
        detail = f"may not be more than {node.max_length} bytes"
        out.append(FieldError(_field(path), errors.TOO_LONG, detail, value))
    elif node.min_length is not None and length < node.min_length:
        detail = f"{path} in body should be at least {node.min_length} chars long"
        out.append(FieldError(_field(path), errors.INVALID, detail, value))
    elif node.pattern is not None and not _matches(value, node):
        pattern = node.pattern
        if node.pattern_error:
            pattern = f"{pattern}, but pattern is invalid: {node.pattern_error}"
        detail = f"{path} in body should match '{pattern}'"
        out.append(FieldError(_field(path), errors.INVALID, detail, value))
    if node.format and not is_valid(node.format, value):
        detail = f"{path} in body must be of type {node.format}: {gofmt.quote(value)}"
        out.append(FieldError(_field(path), errors.TYPE_INVALID, detail, value))


def _matches(value: str, node: Node) -> bool:
    if node.regex is None:
        return False
    try:
        return node.regex.search(value) is not None
    except Exception:  # re2 refuses some inputs (e.g. lone surrogates): treat as no match
        return False


def _bound(bound: float, value: float) -> str:
    # kube-openapi prints the bound as an int64 for an integer value, else as a float64.
    if isinstance(value, int) and not isinstance(bound, bool):
        return str(int(bound))
    return gofmt.number(float(bound))


def _check_number(value: float, node: Node, path: str, out: list[FieldError]) -> None:
    if node.multiple_of is not None and node.multiple_of > 0 and not _is_multiple(value, node.multiple_of):
        detail = f"{path} in body should be a multiple of {gofmt.number(float(node.multiple_of))}"
        out.append(FieldError(_field(path), errors.INVALID, detail, value))
    if node.maximum is not None and (
        value > node.maximum or (node.exclusive_maximum and value >= node.maximum)
    ):
        relation = "less than" if node.exclusive_maximum else "less than or equal to"
        detail = f"{path} in body should be {relation} {_bound(node.maximum, value)}"
        out.append(FieldError(_field(path), errors.INVALID, detail, value))
    if node.minimum is not None and (
        value < node.minimum or (node.exclusive_minimum and value <= node.minimum)
    ):
        relation = "greater than" if node.exclusive_minimum else "greater than or equal to"
        detail = f"{path} in body should be {relation} {_bound(node.minimum, value)}"
        out.append(FieldError(_field(path), errors.INVALID, detail, value))


def _is_multiple(value: float, factor: float) -> bool:
    if isinstance(value, int) and isinstance(factor, int):
        return value % factor == 0
    try:
        return (value / factor).is_integer()
    except OverflowError:
        return False


def _check_array(value: list[Any], node: Node, path: str, out: list[FieldError]) -> None:
    if node.min_items is not None and len(value) < node.min_items:
        detail = f"{path} in body should have at least {node.min_items} items"
        out.append(FieldError(_field(path), errors.INVALID, detail, len(value)))
    if node.max_items is not None and len(value) > node.max_items:
        detail = f"must have at most {node.max_items} items"
        out.append(FieldError(_field(path), errors.TOO_MANY, detail, len(value)))
    if node.items is not None:
        for i, item in enumerate(value):
            _validate(item, node.items, f"{path}[{i}]", out)


def _check_object(value: dict[Any, Any], node: Node, path: str, out: list[FieldError]) -> None:
    count = len(value)
    if node.min_properties is not None and count < node.min_properties:
        detail = f"{path} in body should have at least {node.min_properties} properties"
        out.append(FieldError(_field(path), errors.INVALID, detail, count))
        return
    if node.max_properties is not None and count > node.max_properties:
        detail = f"must have at most {node.max_properties} items"
        out.append(FieldError(_field(path), errors.TOO_MANY, detail, count))
        return
    prefix = f"{path}." if path else ""
    if node.additional is not None:
        for key, item in value.items():
            if key not in node.properties:
                _validate(item, node.additional, f"{prefix}{key}", out)
    for key, prop in node.properties.items():
        if key in value:
            _validate(value[key], prop, f"{prefix}{key}", out)
    for key in node.required:
        if key not in value:
            out.append(FieldError(f"{prefix}{key}", errors.REQUIRED, "", ""))


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality as Go's reflect.DeepEqual sees decoded values (true != 1, 1 == 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)
