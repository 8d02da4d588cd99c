"""The lease record in status (`idlcm.lease`): who holds it, when it expires, what a contender sees."""

from __future__ import annotations

import datetime
from typing import Any

from idlcm import lease

T0 = datetime.datetime(2026, 11, 29, 9, 0, 0, tzinfo=datetime.UTC)


def _status(holder: str, renewed: datetime.datetime, seconds: int = 60, **more: Any) -> dict[str, Any]:
    record = lease.Lease(holder, renewed, renewed, seconds).to_dict()
    return {"status": "InProgress", "lease": {**record, **more}}


def test_a_live_lease_of_another_process_is_held_until_it_expires() -> None:
    status = _status("idlcm-7d9f-abcde/1a2b3c4d", T0, 60)
    me = "idlcm-7d9f-xyz12/99887766"
    held = lease.held_by_other(status, me, T0 + datetime.timedelta(seconds=59))
    assert held is not None
    assert held.holder == "idlcm-7d9f-abcde/1a2b3c4d"
    assert held.expires() == T0 + datetime.timedelta(seconds=60)
    assert lease.held_by_other(status, me, T0 + datetime.timedelta(seconds=60)) is None


def test_own_lease_and_one_left_by_an_earlier_process_of_the_same_pod_are_not_anothers() -> None:
    me = "idlcm-7d9f-abcde/00000002"
    assert lease.held_by_other(_status(me, T0), me, T0) is None
    # The container restarted: same pod, a new random part. A pod runs one operator, so the old one is gone.
    assert lease.held_by_other(_status("idlcm-7d9f-abcde/00000001", T0), me, T0) is None


def test_no_lease_or_an_unreadable_one_is_held_by_nobody() -> None:
    me = "pod-a/1"
    assert lease.held_by_other({}, me, T0) is None
    assert lease.held_by_other({"lease": "garbage"}, me, T0) is None
    assert lease.held_by_other(_status("pod-b/1", T0, renewTime="not a time"), me, T0) is None
    assert lease.held_by_other(_status("pod-b/1", T0, leaseDurationSeconds=0), me, T0) is None
    assert lease.held_by_other(_status("", T0), me, T0) is None


def test_claim_keeps_the_acquire_time_of_its_own_lease_and_starts_a_new_one_otherwise() -> None:
    me, later = "pod-a/1", T0 + datetime.timedelta(seconds=20)
    renewed = lease.claim(_status(me, T0), me, later, 60)
    assert (renewed.acquired, renewed.renewed) == (T0, later)
    taken = lease.claim(_status("pod-b/1", T0), me, later, 60)
    assert (taken.holder, taken.acquired, taken.renewed) == (me, later, later)
    assert taken.to_dict() == {
        "holderIdentity": me,
        "acquireTime": "2026-11-29T09:00:20Z",
        "renewTime": "2026-11-29T09:00:20Z",
        "leaseDurationSeconds": 60,
    }
    assert lease.read({"lease": taken.to_dict()}) == taken


def test_identity_names_the_pod_and_differs_for_each_process() -> None:
    first = lease.identity({"POD_ID": "idlcm-7d9f-abcde"})
    second = lease.identity({"POD_ID": "idlcm-7d9f-abcde"})
    assert first.startswith("idlcm-7d9f-abcde/")
    assert first != second
    assert "/" in lease.identity({})
