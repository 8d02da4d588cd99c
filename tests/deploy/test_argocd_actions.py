"""The Argo CD actions of Integration (discovery, revalidate, sync-now, suspend, resume), run as Argo CD runs
them over actions/action_test.yaml, with os.time() fixed so that the expected objects are exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.lua import ArgoLua
from deploy.test_argocd_health import CUSTOMIZATIONS

ACTIONS = CUSTOMIZATIONS / "Integration" / "actions"
NOW = 1767225600  # 2026-01-01T00:00:00Z, as action_test.yaml says
SPEC = yaml.safe_load((ACTIONS / "action_test.yaml").read_text())


def load(path: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((ACTIONS / path).read_text())
    return obj


@pytest.mark.parametrize("case", SPEC["discoveryTests"], ids=lambda c: Path(c["inputPath"]).stem)
def test_discovery_enables_only_the_actions_that_make_sense(case: dict[str, Any]) -> None:
    result = ArgoLua(now=NOW).run(ACTIONS / "discovery.lua", load(case["inputPath"]))
    assert result == {a["name"]: {"disabled": a["disabled"]} for a in case["result"]}


@pytest.mark.parametrize(
    "case", SPEC["actionTests"], ids=lambda c: f"{c['action']}-{Path(c['inputPath']).stem}"
)
def test_action_returns_the_expected_object(case: dict[str, Any]) -> None:
    result = ArgoLua(now=NOW).run(ACTIONS / case["action"] / "action.lua", load(case["inputPath"]))
    assert result == load(case["expectedOutputPath"])


def test_every_action_is_discovered_and_tested() -> None:
    actions = sorted(p.parent.name for p in ACTIONS.glob("*/action.lua"))
    assert actions == ["resume", "revalidate", "suspend", "sync-now"]
    assert sorted({c["action"] for c in SPEC["actionTests"]}) == actions
    for case in SPEC["discoveryTests"]:
        assert sorted(a["name"] for a in case["result"]) == actions


@pytest.mark.parametrize(
    ("action", "annotation"), [("revalidate", "idlcm.io/revalidate"), ("sync-now", "idlcm.io/sync-now")]
)
def test_each_run_sets_a_new_annotation_value_even_within_one_second(action: str, annotation: str) -> None:
    lua = ArgoLua(now=NOW)
    obj = load("testdata/up-to-date.yaml")
    values = []
    for _ in range(3):
        obj = lua.run(ACTIONS / action / "action.lua", obj)
        values.append(obj["metadata"]["annotations"][annotation])
    assert values == [str(NOW), str(NOW + 1), str(NOW + 2)]

    lua.now = NOW + 60
    later = lua.run(ACTIONS / action / "action.lua", obj)
    assert later["metadata"]["annotations"][annotation] == str(NOW + 60)


def test_revalidate_keeps_other_annotations_and_replaces_a_non_numeric_value() -> None:
    obj = load("testdata/up-to-date.yaml")
    obj["metadata"]["annotations"] = {"idlcm.io/revalidate": "approve", "team.example.com/owner": "sales"}
    result = ArgoLua(now=NOW).run(ACTIONS / "revalidate" / "action.lua", obj)
    assert result["metadata"]["annotations"] == {
        "idlcm.io/revalidate": str(NOW),
        "team.example.com/owner": "sales",
    }


def test_the_actions_run_on_the_real_clock_too() -> None:
    result = ArgoLua().run(ACTIONS / "revalidate" / "action.lua", load("testdata/up-to-date.yaml"))
    assert int(result["metadata"]["annotations"]["idlcm.io/revalidate"]) > NOW
