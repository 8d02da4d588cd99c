"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) over plain JSON values; pure functions."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any


class PatchError(ValueError):
    """The patch does not apply to the document (the apiserver answers 422)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Sequence[Any]) -> Any:
    """RFC 6902: apply the operations in order to a copy of the document; PatchError when one fails."""
    doc = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, Mapping):
            raise PatchError(f"invalid JSON patch operation: {op!r}")
        kind = op.get("op")
        path = op.get("path")
        if not isinstance(path, str):
            raise PatchError(f"{kind} operation has no path")
        match kind:
            case "add":
                doc = _add(doc, path, copy.deepcopy(_value(op)))
            case "remove":
                doc, _ = _remove(doc, path)
            case "replace":
                doc, _ = _remove(doc, path, verb="replace")
                doc = _add(doc, path, copy.deepcopy(_value(op)), replacing=True)
            case "move":
                source = _from(op)
                if path.startswith(source + "/"):
                    raise PatchError(f"move operation: cannot move {source} into its own child {path}")
                doc, value = _remove(doc, source, verb="move")
                doc = _add(doc, path, value)
            case "copy":
                doc = _add(doc, path, copy.deepcopy(_get(doc, _from(op), verb="copy")))
            case "test":
                actual = _get(doc, path, verb="test")
                if not _json_equal(actual, _value(op)):
                    raise PatchError(f"testing value {path} failed: test failed")
            case _:
                raise PatchError(f"Unexpected kind: {kind}")
    return doc


def _value(op: Mapping[str, Any]) -> Any:
    if "value" not in op:
        raise PatchError(f"{op.get('op')} operation has no value")
    return op["value"]


def _from(op: Mapping[str, Any]) -> str:
    source = op.get("from")
    if not isinstance(source, str):
        raise PatchError(f"{op.get('op')} operation has no from")
    return source


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r} in {path}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise PatchError(f"array index {index} out of bounds in {path}")
    return index


def _parent(doc: Any, tokens: list[str], path: str, verb: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, allow_end=False)]
        else:
            raise PatchError(f"{verb} operation does not apply: doc is missing path: {path}: missing value")
    return node


def _get(doc: Any, path: str, *, verb: str) -> Any:
    tokens = _tokens(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path, verb)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, allow_end=False)]
    raise PatchError(f"{verb} operation does not apply: doc is missing path: {path}: missing value")


def _add(doc: Any, path: str, value: Any, *, replacing: bool = False) -> Any:
    tokens = _tokens(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path, "replace" if replacing else "add")
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: {path}: missing value")
    return doc


def _remove(doc: Any, path: str, *, verb: str = "remove") -> tuple[Any, Any]:
    tokens = _tokens(path)
    if not tokens:
        return None, doc
    parent = _parent(doc, tokens, path, verb)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, allow_end=False))
    raise PatchError(f"{verb} operation does not apply: doc is missing path: {path}: missing value")


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
