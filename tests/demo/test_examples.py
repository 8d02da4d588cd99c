"""The demo's examples: valid as written, and filled in with the demo's SCIM app as the demo applies them."""

from __future__ import annotations

import io
from pathlib import Path

from idlcm.check import run as check
from idlcm.demo import examples

EXAMPLES = sorted(examples.source_dir().glob("*.yaml"))


def test_the_demo_examples_pass_idlcm_check_as_written() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert EXAMPLES
    assert check([str(p) for p in EXAMPLES], out, err) == 0, out.getvalue()
    assert out.getvalue().endswith("all valid\n")


def test_every_scenario_of_the_demo_has_its_example() -> None:
    found = examples.render(examples.source_dir(), "http://127.0.0.1:1/scim/v2", "t")
    integrations = {name: e for e in found for name in e.integrations}
    assert {"crm-sales", "crm-ops", "crm-preview", "hr-portal", "crm-contractors"} <= set(integrations)
    sales = _integration(integrations["crm-sales"])
    assert len(sales["spec"]["accounts"]) == 12
    assert {g for a in sales["spec"]["accounts"] for g in a.get("groups", [])} == {"sales", "sales-ops"}
    assert _integration(integrations["crm-preview"])["spec"]["dryRun"] is True


def test_placeholders_take_the_apps_url_and_token_and_the_wrong_token_stays(tmp_path: Path) -> None:
    found = examples.render(examples.source_dir(), "http://127.0.0.1:4321/scim/v2", "the-token")
    for example in found:
        for doc in example.documents:
            if doc["kind"] == "Integration":
                assert doc["spec"]["connector"]["scim"]["baseURL"] == "http://127.0.0.1:4321/scim/v2"
                assert doc["metadata"]["namespace"] == examples.NAMESPACE
    tokens = {
        doc["metadata"]["name"]: doc["stringData"]["token"]
        for e in found
        for doc in e.documents
        if doc["kind"] == "Secret"
    }
    assert tokens == {"acme-crm-scim": "the-token", "hr-portal-scim": "not-the-right-token"}

    examples.write(found, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in EXAMPLES]
    assert examples.PLACEHOLDER_TOKEN not in (tmp_path / "1-crm-sales.yaml").read_text()


def test_the_second_version_waits_and_removes_more_than_max_deletions() -> None:
    found = examples.render(examples.source_dir(), "http://127.0.0.1:1/scim/v2", "t", sync_interval="5s")
    later = [e for e in found if e.later]
    assert [e.file for e in later] == ["5-crm-contractors-v2.yaml"]
    first = next(e for e in found if e.file == "5-crm-contractors.yaml")
    before, after = _integration(first)["spec"], _integration(later[0])["spec"]
    assert len(before["accounts"]) - len(after["accounts"]) > after["deprovision"]["maxDeletions"]
    assert before["sync"]["interval"] == after["sync"]["interval"] == "5s"


def _integration(example: examples.Example) -> dict:  # type: ignore[type-arg]
    return next(d for d in example.documents if d["kind"] == "Integration")
