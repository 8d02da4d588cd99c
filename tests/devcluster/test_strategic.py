"""Strategic merge patch of built-in kinds: lists merged by the key the patch's directives reveal (as
`kubectl apply` and `kubectl patch` write them), atomic lists replaced, elements deleted and reordered."""

from __future__ import annotations

from typing import Any

from idlcm.devcluster import strategic


def _deployment(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


OPERATOR = {
    "name": "c",
    "image": "i:1",
    "args": ["a", "b"],
    "env": [{"name": "A", "value": "1"}, {"name": "B"}],
}


def test_kubectl_apply_patch_changes_one_field_and_deletes_one_env_entry() -> None:
    # What kubectl apply sends when the image changed and env B was removed from the manifest.
    patch = _deployment(
        {
            "$setElementOrder/env": [{"name": "A"}],
            "name": "c",
            "image": "i:2",
            "env": [{"$patch": "delete", "name": "B"}],
        }
    )
    patch["spec"]["template"]["spec"]["$setElementOrder/containers"] = [{"name": "c"}]
    merged = strategic.apply(_deployment(OPERATOR), patch)
    assert _containers(merged) == [
        {"name": "c", "image": "i:2", "args": ["a", "b"], "env": [{"name": "A", "value": "1"}]}
    ]
    assert _containers(_deployment(OPERATOR)) == [OPERATOR]  # the original is left alone


def test_a_container_patched_by_name_keeps_the_others_and_atomic_lists_are_replaced() -> None:
    side = {"name": "side", "image": "s"}
    merged = strategic.apply(_deployment(OPERATOR, side), _deployment({"name": "side", "args": ["x"]}))
    assert _containers(merged) == [OPERATOR, {"name": "side", "image": "s", "args": ["x"]}]
    replaced = strategic.apply(_deployment(OPERATOR), _deployment({"name": "c", "args": ["z"]}))
    assert _containers(replaced)[0]["args"] == ["z"]
    assert _containers(replaced)[0]["env"] == OPERATOR["env"]


def test_set_element_order_orders_the_patched_elements_before_the_servers_own() -> None:
    original = {"items": [{"k": "x"}, {"k": "y"}, {"k": "server"}]}
    patch = {"$setElementOrder/items": [{"k": "y"}, {"k": "x"}]}
    assert strategic.apply(original, patch) == {"items": [{"k": "y"}, {"k": "x"}, {"k": "server"}]}


def test_primitive_merge_lists_and_their_deletions() -> None:
    original = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["c", "a"],
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "finalizers": ["c"],
        }
    }
    assert strategic.apply(original, patch) == {"metadata": {"finalizers": ["c", "a"]}}


def test_map_directives_and_nulls() -> None:
    original = {"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}, "gone": 1, "kept": 2}}
    patch = {"spec": {"selector": {"$patch": "replace", "matchLabels": {"c": "3"}}, "gone": None}}
    assert strategic.apply(original, patch) == {"spec": {"selector": {"matchLabels": {"c": "3"}}, "kept": 2}}
    assert strategic.apply(original, {"spec": {"$patch": "delete"}}) == {}
    retained = strategic.apply(
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}},
    )
    assert retained == {"strategy": {"type": "Recreate"}}
