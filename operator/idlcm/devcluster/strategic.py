"""Strategic merge patch (`application/strategic-merge-patch+json`) of built-in kinds, as kubectl sends it.

The apiserver merges lists by the merge key its Go types declare (containers by `name`, env by `name`, ...).
Without those types, the merge key is read from the patch itself, which is how `kubectl apply` and
`kubectl patch` write it: `$setElementOrder/<list>` names each element by its key (`[{"name": "a"}]`) or
value (primitive lists), and `$patch: delete` elements carry their key. Lists the patch gives no key for are
merged by a few well-known keys of the core types (containers, env, volumes, volumeMounts, ports, ...) when
their elements have them, and replaced otherwise (atomic lists: args, command, rules, subjects).
Directives understood: `$patch: replace|delete|merge` on maps and list elements, `$setElementOrder/`,
`$deleteFromPrimitiveList/`, `$retainKeys`. A null deletes a key, as in a merge patch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"
# Merge keys of list fields in the core types, used when the patch names none (kubectl patch by hand).
_KNOWN_KEYS: Mapping[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "ports": ("containerPort", "port"),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
    "hostAliases": ("ip",),
    "secrets": ("name",),
}


def apply(original: Any, patch: Any) -> Any:
    """The original with the strategic merge patch applied (neither is changed)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _clean(patch)
    result: dict[str, Any] = copy.deepcopy(dict(original)) if isinstance(original, Mapping) else {}
    orders = {k[len(_ORDER) :]: v for k, v in patch.items() if k.startswith(_ORDER)}
    removals = {k[len(_DELETE_PRIMITIVES) :]: v for k, v in patch.items() if k.startswith(_DELETE_PRIMITIVES)}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = apply(result.get(key), value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, orders.get(key), removals.get(key))
        else:
            result[key] = copy.deepcopy(value)
    for key in {*orders, *removals} - set(patch):
        if isinstance(result.get(key), list):  # reordered or pruned only
            result[key] = _merge_list(key, result[key], [], orders.get(key), removals.get(key))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, original: Any, patch: list[Any], order: Any, removals: Any) -> list[Any]:
    old = list(original) if isinstance(original, list) else []
    if any(isinstance(e, Mapping) and e.get("$patch") == "replace" for e in patch):
        return [_clean(e) for e in patch if not (isinstance(e, Mapping) and e.get("$patch") == "replace")]
    key = _merge_key(field, old, patch, order)
    if key is None:
        primitive = isinstance(order, list) or isinstance(removals, list)
        if not primitive:
            return [_clean(e) for e in patch]  # an atomic list: replaced
        return _merge_primitives(old, patch, order, removals)
    merged = [copy.deepcopy(e) for e in old]
    for element in patch:
        if not isinstance(element, Mapping) or key not in element:
            merged.append(_clean(element))
            continue
        at = next(
            (i for i, e in enumerate(merged) if isinstance(e, Mapping) and e.get(key) == element[key]), None
        )
        if element.get("$patch") == "delete":
            if at is not None:
                del merged[at]
        elif at is None:
            merged.append(_clean(element))
        else:
            merged[at] = apply(merged[at], element)
    if isinstance(order, list):
        wanted = [e.get(key) for e in order if isinstance(e, Mapping)]
        merged = _ordered(merged, wanted, lambda e: e.get(key) if isinstance(e, Mapping) else None)
    return merged


def _merge_key(field: str, old: Sequence[Any], patch: Sequence[Any], order: Any) -> str | None:
    """The list's merge key, as the patch reveals it, else a known one its elements carry."""
    if isinstance(order, list) and order and isinstance(order[0], Mapping) and len(order[0]) == 1:
        return str(next(iter(order[0])))
    for element in patch:
        if isinstance(element, Mapping) and element.get("$patch") == "delete":
            keys = [k for k in element if not k.startswith("$")]
            if len(keys) == 1:
                return str(keys[0])
    elements = [e for e in (*old, *patch) if isinstance(e, Mapping)]
    if not elements or len(elements) != len(old) + len(patch):
        return None
    for candidate in _KNOWN_KEYS.get(field, ()):
        if all(candidate in e for e in elements):
            return candidate
    return None


def _merge_primitives(old: list[Any], patch: list[Any], order: Any, removals: Any) -> list[Any]:
    gone = list(removals) if isinstance(removals, list) else []
    merged = [v for v in old if v not in gone]
    merged += [v for v in patch if v not in merged]
    if isinstance(order, list):
        merged = _ordered(merged, list(order), lambda v: v)
    return merged


def _ordered(items: list[Any], wanted: list[Any], key_of: Any) -> list[Any]:
    """Items in the wanted order first, then the others (the server's own) in their order."""
    rank = {k: i for i, k in enumerate(wanted)}
    ranked = sorted((e for e in items if key_of(e) in rank), key=lambda e: rank[key_of(e)])
    return ranked + [e for e in items if key_of(e) not in rank]


def _clean(value: Any) -> Any:
    """A value without directives (what is stored of a new element or a replaced map)."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
