"""The uniqueness of `x-kubernetes-list-type: set` items and `map` keys (`ValidateListSetsAndMaps`)."""

from __future__ import annotations

from typing import Any

from idlcm.schema import errors, gofmt
from idlcm.schema.errors import FieldError
from idlcm.schema.node import Node

_UNSPECIFIED = ("unspecified",)  # a map item without its key field: equal only to another such item


def validate_list_types(value: Any, node: Node, path: str = "") -> list[FieldError]:
    """A `Duplicate value` error for the second appearance of each repeated set item or map key."""
    out: list[FieldError] = []
    _walk(value, node, path, out)
    return out


def _walk(value: Any, node: Node, path: str, out: list[FieldError]) -> None:
    if isinstance(value, list):
        _check_list(value, node, path, out)
        if node.items is not None:
            for i, item in enumerate(value):
                _walk(item, node.items, f"{path}[{i}]", out)
    elif isinstance(value, dict):
        for key, item in value.items():
            prop = node.properties.get(key) if isinstance(key, str) else None
            if prop is not None:
                _walk(item, prop, f"{path}.{key}" if path else str(key), out)
            elif node.additional is not None:
                _walk(item, node.additional, f"{path}[{key}]", out)


def _check_list(value: list[Any], node: Node, path: str, out: list[FieldError]) -> None:
    if node.list_type == "set":
        for i in _repeats([identity(item) for item in value]):
            out.append(FieldError(f"{path}[{i}]", errors.DUPLICATE, "", value[i]))
    elif node.list_type == "map":
        for i, item in enumerate(value):
            if item is not None and not isinstance(item, dict):
                detail = "must be an object for an array of list-type map"
                out.append(FieldError(f"{path}[{i}]", errors.INVALID, detail, item))
                return
        keys = [_map_key(item, node.list_map_keys) for item in value]
        for i in _repeats([identity(k) if k is not _UNSPECIFIED else _UNSPECIFIED for k in keys]):
            shown = {} if keys[i] is _UNSPECIFIED else keys[i]
            out.append(FieldError(f"{path}[{i}]", errors.DUPLICATE, "", shown))


def _map_key(item: Any, fields: tuple[str, ...]) -> Any:
    if len(fields) == 1:
        if not isinstance(item, dict) or fields[0] not in item:
            return _UNSPECIFIED
        return {fields[0]: item[fields[0]]}
    if not isinstance(item, dict):
        return {}
    return {f: item[f] for f in fields if f in item}


def _repeats(identities: list[Any]) -> list[int]:
    """Index of the second appearance of every repeated identity, in order."""
    seen: dict[Any, int] = {}
    repeats = []
    for i, each in enumerate(identities):
        seen[each] = seen.get(each, 0) + 1
        if seen[each] == 2:
            repeats.append(i)
    return repeats


def identity(value: Any) -> Any:
    """A hashable identity with Go's equality: scalars by type and value, compounds by their JSON."""
    if isinstance(value, dict | list):
        return ("json", gofmt.marshal(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("int" if isinstance(value, int) else "float", value)
    if value is None or isinstance(value, str):
        return (type(value).__name__, value)
    return ("other", repr(value))
