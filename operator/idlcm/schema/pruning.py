"""Pruning: drop the fields the schema does not declare, as the API server does when it decodes a CR."""

from __future__ import annotations

from typing import Any

from idlcm.schema.node import Node

_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_MAX_SAFE_INTEGER = 2**53 - 1


def prune(obj: dict[Any, Any], root: Node) -> list[str]:
    """Drop unknown fields of a whole object in place; return their paths, sorted (`spec.foo`)."""
    pruned: list[str] = []
    _prune(obj, root, "", pruned, resource=True)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        # metadata is ObjectMeta whatever the schema says; the API server drops the rest.
        for key in [k for k in meta if k not in OBJECT_META_FIELDS]:
            pruned.append(f"metadata.{key}")
            del meta[key]
    pruned.sort()
    return pruned


def prune_nulls(value: Any, node: Node | None) -> None:
    """Drop `null` fields that are neither nullable nor defaulted (`PruneNonNullableNullsWithoutDefaults`)."""
    if isinstance(value, dict):
        for key in list(value):
            child = node.child(key) if node and isinstance(key, str) else None
            if value[key] is None and child is not None and not child.nullable and not child.has_default:
                del value[key]
            else:
                prune_nulls(value[key], child)
    elif isinstance(value, list):
        for item in value:
            prune_nulls(item, node.items if node else None)


def _prune(value: Any, node: Node | None, path: str, pruned: list[str], resource: bool = False) -> None:
    if node is not None and node.preserve_unknown:
        _prune_known(value, node, path, pruned)
        return
    if isinstance(value, dict):
        if node is None:
            pruned.extend(_join(path, key) for key in value)
            value.clear()
            return
        for key in list(value):
            if (resource or node.embedded) and key in _META_FIELDS:
                continue
            prop = node.properties.get(key) if isinstance(key, str) else None
            if prop is not None or node.has_additional:
                child = prop if prop is not None else node.additional
                _prune(value[key], child, _join(path, key), pruned)
                value[key] = _json_number(value[key], child)
            else:
                if key not in _META_FIELDS or path:
                    pruned.append(_join(path, key))
                del value[key]
    elif isinstance(value, list):
        items = node.items if node else None
        for i, item in enumerate(value):
            _prune(item, items, f"{path}[{i}]", pruned)
            value[i] = _json_number(item, items)


def _prune_known(value: Any, node: Node, path: str, pruned: list[str]) -> None:
    """Below `x-kubernetes-preserve-unknown-fields`: keep unknown fields, still prune declared ones."""
    if isinstance(value, dict):
        for key in list(value):
            if node.embedded and key in _META_FIELDS:
                continue
            child = node.child(key) if isinstance(key, str) else None
            if child is not None:
                _prune(value[key], child, _join(path, key), pruned)
                value[key] = _json_number(value[key], child)
    elif isinstance(value, list) and node.items is not None:
        for i, item in enumerate(value):
            _prune_known(item, node.items, f"{path}[{i}]", pruned)


def _json_number(value: Any, node: Node | None) -> Any:
    """An integral float in an integer field becomes an int, as a round trip through etcd makes it."""
    if (
        isinstance(value, float)
        and node is not None
        and "integer" in node.types
        and value.is_integer()
        and abs(value) <= _MAX_SAFE_INTEGER
    ):
        return int(value)
    return value


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
