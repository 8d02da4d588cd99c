"""Defaulting: fill in `default` values as the API server does, on every write and on every read."""

from __future__ import annotations

import copy
from typing import Any

from idlcm.schema.node import Node


def apply_defaults(value: Any, node: Node | None) -> None:
    """Default `value` in place (`structuraldefaulting.Default`): missing fields and non-nullable nulls.

    A defaulted object is walked like any other, so `tls: {}` then gets `tls.insecure: false`.
    """
    if node is None:
        return
    if isinstance(value, dict):
        for key, prop in node.properties.items():
            if prop.has_default and (key not in value or (value[key] is None and not prop.nullable)):
                value[key] = copy.deepcopy(prop.default)
        for key in list(value):
            child = node.properties.get(key) if isinstance(key, str) else None
            if child is not None:
                apply_defaults(value[key], child)
            elif node.additional is not None:
                if value[key] is None and not node.additional.nullable and node.additional.has_default:
                    value[key] = copy.deepcopy(node.additional.default)
                apply_defaults(value[key], node.additional)
    elif isinstance(value, list) and node.items is not None:
        items = node.items
        for i in range(len(value)):
            if value[i] is None and not items.nullable and items.has_default:
                value[i] = copy.deepcopy(items.default)
            apply_defaults(value[i], items)
