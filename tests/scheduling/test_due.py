"""What a periodic look at an Integration finds to do: read from status timestamps only (restart-safe)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from idlcm.schedule import Op, Trigger, due, operation_for

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)


def ago(seconds: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


SPEC: dict[str, Any] = {"validation": {"interval": "24h"}, "sync": {"interval": "10m"}}


def test_nothing_is_due_right_after_a_sync() -> None:
    status = {"status": "UpToDate", "lastSyncTime": ago(60), "validation": {"endTime": ago(60)}}
    assert due(status, SPEC, NOW) is None


def test_a_sync_is_due_after_the_sync_interval() -> None:
    status = {"status": "UpToDate", "lastSyncTime": ago(601), "validation": {"endTime": ago(601)}}
    assert due(status, SPEC, NOW) == Trigger.SYNC_DUE
    assert operation_for(Trigger.SYNC_DUE, status) == Op.SYNC


def test_a_failed_operation_is_synced_again_after_the_interval_from_its_end() -> None:
    status = {"status": "Failed", "lastOperation": {"endTime": ago(601)}, "validation": {"endTime": ago(900)}}
    assert due(status, SPEC, NOW) == Trigger.SYNC_DUE


def test_revalidation_is_due_after_the_validation_interval_and_comes_first() -> None:
    status = {"status": "UpToDate", "lastSyncTime": ago(86401), "validation": {"endTime": ago(86401)}}
    assert due(status, SPEC, NOW) == Trigger.INTERVAL


@pytest.mark.parametrize("state", ["Retrying", "ValidationFailed"])
def test_a_retry_is_due_at_next_retry_at_and_not_before(state: str) -> None:
    waiting = {"status": state, "retry": {"nextRetryAt": ago(-5)}}
    ready = {"status": state, "retry": {"nextRetryAt": ago(0)}}
    assert due(waiting, SPEC, NOW) is None
    assert due(ready, SPEC, NOW) == Trigger.RESUMED


def test_a_retrying_operation_resumes_as_the_same_operation() -> None:
    status = {"status": "Retrying", "retry": {"operation": "Update", "nextRetryAt": ago(1)}}
    assert operation_for(Trigger.RESUMED, status) == Op.UPDATE


def test_an_integration_waiting_for_its_app_looks_again_every_tick() -> None:
    assert due({"status": "UnderValidation"}, SPEC, NOW) == Trigger.RESUMED


@pytest.mark.parametrize("state", ["UnderReview", None])
def test_nothing_periodic_happens_while_stopped_or_new(state: str | None) -> None:
    assert due({"status": state, "lastSyncTime": ago(10**6)}, SPEC, NOW) is None


@pytest.mark.parametrize("state", ["InProgress", "Validating"])
def test_a_run_cut_short_resumes_at_the_next_look(state: str) -> None:
    # A tick asks only while no run is under way: a run that left this state behind was interrupted.
    status = {"status": state, "lastSyncTime": ago(1), "lastOperation": {"type": "Update"}}
    assert due(status, SPEC, NOW) == Trigger.RESUMED
    assert operation_for(Trigger.RESUMED, status) == (Op.UPDATE if state == "InProgress" else None)


def test_a_dry_run_replans_at_the_sync_interval_from_its_last_plan() -> None:
    status = {"status": "Validated", "plan": {"generatedAt": ago(30)}, "validation": {"endTime": ago(700)}}
    assert due(status, SPEC, NOW) is None
    status["plan"] = {"generatedAt": ago(601)}
    assert due(status, SPEC, NOW) == Trigger.SYNC_DUE


def test_a_broken_interval_falls_back_to_the_default() -> None:
    status = {"status": "UpToDate", "lastSyncTime": ago(601), "validation": {"endTime": ago(601)}}
    assert due(status, {"sync": {"interval": "soon"}}, NOW) == Trigger.SYNC_DUE
