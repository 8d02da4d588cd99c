"""kopf's bookkeeping on an Integration stays small whatever the spec's size (kopfstorage.py), and kopf still
tells a spec change from none: the API server refuses more than 262,144 bytes of annotations in total."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import kopf
from kopf._cogs.structs import dicts, diffs

from idlcm import patching
from idlcm.handlers import KOPF_PREFIX, WATCHED_ANNOTATIONS, build_registry
from idlcm.kopfstorage import (
    DIGEST_KEY,
    LEGACY_KEY,
    MAX_MESSAGE,
    BoundedProgressStorage,
    DigestDiffBaseStorage,
)
from idlcm.settings import REVALIDATE_ANNOTATION, SYNC_NOW_ANNOTATION
from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, spec_for
from scimapp import ScimApp

DIGEST_ANNOTATION = f"{KOPF_PREFIX}/{DIGEST_KEY}"
LEGACY_ANNOTATION = f"{KOPF_PREFIX}/{LEGACY_KEY}"
ANNOTATIONS_LIMIT = 262_144
"""What the real API server takes of metadata.annotations, all keys and values together."""


def storage() -> DigestDiffBaseStorage:
    return DigestDiffBaseStorage(prefix=KOPF_PREFIX, annotations=WATCHED_ANNOTATIONS)


def every_field(count: int) -> list[dict[str, Any]]:
    """`count` declared accounts with every field the CRD has."""
    return [
        {
            "userName": f"user{i:05d}@example.com",
            "displayName": f"User Number {i:05d}",
            "givenName": "User",
            "familyName": f"Number {i:05d}",
            "email": f"user{i:05d}@example.com",
            "active": True,
            "title": "Senior Account Representative",
            "department": "Customer Operations and Success",
            "groups": ["everyone", f"team-{i % 50:02d}"],
        }
        for i in range(count)
    ]


def integration(accounts: list[dict[str, Any]], **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": {
            "name": "crm",
            "namespace": "team",
            "uid": "0b1c",
            "resourceVersion": "41",
            "generation": 3,
            "labels": {"team": "sales"},
            "annotations": dict(annotations),
        },
        "spec": {"app": "acme-crm", "connector": {"scim": {"baseURL": "https://x"}}, "accounts": accounts},
        "status": {"status": "UpToDate"},
    }


def stored(raw: dict[str, Any], essence: kopf.BodyEssence, via: DigestDiffBaseStorage) -> dict[str, Any]:
    """The object after kopf's merge patch with the essence stored."""
    patch = kopf.Patch()
    via.store(body=kopf.Body(raw), patch=patch, essence=essence)
    return patching.merge_patch(raw, dict(patch))


def diff(via: DigestDiffBaseStorage, raw: dict[str, Any]) -> kopf.Diff:
    """The diff kopf computes for this object: the stored essence against the one built now."""
    body = kopf.Body(raw)
    progress = BoundedProgressStorage(prefix=KOPF_PREFIX)
    old, new = via.fetch(body=body), via.build(body=body)
    old = progress.clear(essence=old) if old is not None else None
    return diffs.diff(old, progress.clear(essence=new))


def changed_at(found: kopf.Diff, *field: str) -> bool:
    """Whether a handler watching `field` would run (kopf: the value there differs)."""
    return bool(diffs.reduce(found, list(field)))


def test_the_stored_essence_reads_back_as_built() -> None:
    via, raw = storage(), integration(every_field(3), **{REVALIDATE_ANNOTATION: "2026-12-04T01:00:00Z"})
    essence = via.build(body=kopf.Body(raw))

    after = stored(raw, essence, via)

    assert via.fetch(body=kopf.Body(after)) == essence
    assert not diff(via, after)


def test_the_annotation_is_small_and_the_same_size_for_5000_accounts_with_every_field() -> None:
    via = storage()
    small, large = integration(every_field(1)), integration(every_field(5000))
    assert len(json.dumps(large["spec"])) > 5 * ANNOTATIONS_LIMIT  # the stock storage could never hold it

    sizes = []
    for raw in (small, large):
        after = stored(raw, via.build(body=kopf.Body(raw)), via)
        annotations = after["metadata"]["annotations"]
        assert set(annotations) == {DIGEST_ANNOTATION}
        sizes.append(sum(len(k) + len(v) for k, v in annotations.items()))

    assert sizes[0] == sizes[1] < 300


def test_any_change_of_the_spec_is_a_change_at_field_spec() -> None:
    via, raw = storage(), integration(every_field(5000))
    after = stored(raw, via.build(body=kopf.Body(raw)), via)

    for change in (
        lambda s: s["accounts"][4321].update(title="Manager"),
        lambda s: s["accounts"].pop(),
        lambda s: s.update(suspend=True),
        lambda s: s["connector"]["scim"].update(baseURL="https://y"),
    ):
        edited = copy.deepcopy(after)
        change(edited["spec"])
        found = diff(via, edited)
        assert changed_at(found, "spec")
        assert not changed_at(found, "metadata", "annotations", REVALIDATE_ANNOTATION)


def test_what_no_handler_watches_is_no_change() -> None:
    via, raw = storage(), integration(every_field(10))
    after = stored(raw, via.build(body=kopf.Body(raw)), via)

    after["status"] = {"status": "InProgress", "message": "anything"}
    after["metadata"].update(resourceVersion="99", generation=4)
    after["metadata"]["labels"]["team"] = "ops"
    after["metadata"]["annotations"].update(
        {"example.com/note": "x", f"{KOPF_PREFIX}/tick": json.dumps({"started": "2026-12-04T01:00:00"})}
    )

    assert not diff(via, after)


def test_a_watched_annotation_set_or_changed_is_a_change_there() -> None:
    via, raw = storage(), integration(every_field(2))
    after = stored(raw, via.build(body=kopf.Body(raw)), via)

    after["metadata"]["annotations"][REVALIDATE_ANNOTATION] = "1"
    found = diff(via, after)
    assert changed_at(found, "metadata", "annotations", REVALIDATE_ANNOTATION)
    assert not changed_at(found, "spec")
    assert dicts.resolve(via.build(body=kopf.Body(after)), ["metadata", "annotations", REVALIDATE_ANNOTATION])

    again = stored(after, via.build(body=kopf.Body(after)), via)
    again["metadata"]["annotations"][REVALIDATE_ANNOTATION] = "2"
    assert changed_at(diff(via, again), "metadata", "annotations", REVALIDATE_ANNOTATION)


def test_an_object_handled_by_the_stock_storage_migrates_without_a_spec_change() -> None:
    # As kopf's AnnotationsDiffBaseStorage left it: the full essence, spec and all.
    stock = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX, key=LEGACY_KEY)
    raw = integration(every_field(50), **{SYNC_NOW_ANNOTATION: "now"})
    patch = kopf.Patch()
    stock.store(body=kopf.Body(raw), patch=patch, essence=stock.build(body=kopf.Body(raw)))
    legacy = patching.merge_patch(raw, dict(patch))
    assert LEGACY_ANNOTATION in legacy["metadata"]["annotations"]
    via = storage()

    found = diff(via, legacy)

    # One change, of the format marker only: no handler runs, kopf stores the new form.
    assert found
    assert not changed_at(found, "spec")
    assert all(not changed_at(found, "metadata", "annotations", key) for key in WATCHED_ANNOTATIONS)
    migrated = stored(legacy, via.build(body=kopf.Body(legacy)), via)
    assert LEGACY_ANNOTATION not in migrated["metadata"]["annotations"]
    assert DIGEST_ANNOTATION in migrated["metadata"]["annotations"]
    assert not diff(via, migrated)

    # A spec changed while the old version last ran is still a change, once.
    legacy["spec"]["accounts"].pop()
    assert changed_at(diff(via, legacy), "spec")


def test_an_unreadable_stored_essence_is_one_spec_change_not_a_crash() -> None:
    via = storage()
    for key in (LEGACY_ANNOTATION, DIGEST_ANNOTATION):
        raw = integration(every_field(2), **{key: "{not json"})
        found = diff(via, raw)
        assert changed_at(found, "spec")
        after = stored(raw, via.build(body=kopf.Body(raw)), via)
        assert not diff(via, after)


def test_a_long_error_in_kopfs_progress_record_is_cut() -> None:
    progress, raw = BoundedProgressStorage(prefix=KOPF_PREFIX), integration([])
    patch = kopf.Patch()
    record: kopf.ProgressRecord = {"started": "2026-12-04T01:00:00", "retries": 3, "message": "x" * 100_000}

    progress.store(key=kopf.HandlerId("deleted"), record=record, body=kopf.Body(raw), patch=patch)

    values = [v for k, v in dict(patch)["metadata"]["annotations"].items() if k.startswith(KOPF_PREFIX)]
    assert values
    assert all(len(v) < MAX_MESSAGE + 200 for v in values)
    assert json.loads(values[0])["retries"] == 3


def test_every_field_a_handler_reacts_to_is_kept_by_the_storage() -> None:
    # A handler on a field the digest form drops (a label, another annotation) would never run.
    registry = build_registry(FAST)
    kept = {("spec",)} | {("metadata", "annotations", key) for key in WATCHED_ANNOTATIONS}
    fields = {h.field for h in registry._changing.get_all_handlers() if h.field}
    assert fields
    assert fields <= kept


def dry_run_of(generation: int) -> Callable[[dict[str, Any] | None], bool]:
    """Whether the object shows the dry run of that generation of its spec."""

    def shown(obj: dict[str, Any] | None) -> bool:
        status = (obj or {}).get("status") or {}
        return status.get("observedGeneration") == generation and status.get("reason") == "DryRun"

    return shown


async def test_a_large_integration_keeps_small_annotations_and_its_updates_are_handled(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await operator()
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    # 2,000 accounts with every field: a spec of about 600 KB, more than twice what the API server takes of
    # annotations (the embedded API validates it whole on every write: more would only slow the suite).
    accounts = every_field(2000)
    assert len(json.dumps(accounts)) > 2 * ANNOTATIONS_LIMIT
    # A dry run plans them all without writing them: what is under test is kopf's bookkeeping.
    await cluster.create_integration("crm", spec_for(scim_app, *accounts, dryRun=True))
    first = await cluster.wait_for("integrations", "crm", dry_run_of(1), timeout=120)
    assert first is not None
    assert first["status"]["plan"]["creates"] == 2000

    accounts[17]["title"] = "Manager"
    accounts.pop()
    await cluster.patch_integration("crm", {"spec": {"accounts": accounts}})
    second = await cluster.wait_for("integrations", "crm", dry_run_of(2), timeout=120)
    assert second is not None
    assert second["status"]["plan"]["creates"] == 1999

    annotations = second["metadata"].get("annotations") or {}
    assert DIGEST_ANNOTATION in annotations
    assert LEGACY_ANNOTATION not in annotations
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=120)


async def test_an_integration_last_handled_by_the_stock_storage_migrates_and_keeps_working(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    created = await cluster.create_integration("crm", spec_for(scim_app, *every_field(3)))
    # As the previous version left it: kopf's stock diff base, the full essence, in the old annotation.
    stock = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX, key=LEGACY_KEY)
    patch = kopf.Patch()
    stock.store(body=kopf.Body(created), patch=patch, essence=stock.build(body=kopf.Body(created)))
    await cluster.patch_integration("crm", dict(patch))

    await operator()
    obj = await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: DIGEST_ANNOTATION in ((o or {})["metadata"].get("annotations") or {}),  # type: ignore[index]
        timeout=60,
    )
    assert obj is not None
    assert LEGACY_ANNOTATION not in obj["metadata"]["annotations"]
    await cluster.wait_status("crm", "UpToDate", timeout=60)

    await cluster.patch_integration("crm", {"spec": {"accounts": every_field(4)}})
    done = await cluster.wait_for(
        "integrations",
        "crm",
        lambda o: (
            (o or {}).get("status", {}).get("observedGeneration") == 2 and o["status"]["status"] == "UpToDate"
        ),  # type: ignore[index]
        timeout=60,
    )
    assert done is not None
    assert len(in_app(scim_app)) == 4
