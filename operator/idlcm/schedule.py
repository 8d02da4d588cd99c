"""When work is due for an Integration, read from its status alone (pure: the timestamps survive restarts)."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any

from idlcm.api.spec import parse_duration
from idlcm.states import Status


class Trigger(enum.StrEnum):
    """Why the story runs now."""

    CREATED = "Created"
    RESUMED = "Resumed"
    SPEC_CHANGED = "SpecChanged"
    SECRET_CHANGED = "SecretChanged"
    ACCOUNTS_CHANGED = "AccountsChanged"
    REVALIDATE = "Revalidate"
    TICK = "Tick"
    """A periodic look: `due` turns it into one of the two below, or nothing."""
    INTERVAL = "ValidationInterval"
    SYNC_DUE = "SyncDue"


class Op(enum.StrEnum):
    """The security operations, as `status.lastOperation.type` names them."""

    PROVISION = "Provision"
    UPDATE = "Update"
    DEPROVISION = "Deprovision"
    SYNC = "Sync"


def due(status: Mapping[str, Any], spec: Mapping[str, Any], moment: datetime.datetime) -> Trigger | None:
    """What a periodic look finds to do, from the timestamps in status (so it survives restarts). Ask only
    while no run of the Integration is under way (the reconciler holds its lock)."""
    value = status.get("status")
    retry_at = parse_time((status.get("retry") or {}).get("nextRetryAt"))
    if value == Status.UNDER_VALIDATION:
        return Trigger.RESUMED  # waiting for the app's validation: look at the app again
    if value in (Status.VALIDATION_FAILED, Status.RETRYING):
        return Trigger.RESUMED if retry_at is None or retry_at <= moment else None
    if value in (Status.VALIDATING, Status.IN_PROGRESS):
        # Asked only while no run is under way: this one was cut short (a status write the Kubernetes API
        # did not take, a crash): carry on now rather than when kopf retries the failed handler.
        return Trigger.RESUMED
    if value not in (Status.VALIDATED, Status.UP_TO_DATE, Status.FAILED):
        return None  # stopped for review, or new
    validation_end = parse_time((status.get("validation") or {}).get("endTime"))
    every = interval((spec.get("validation") or {}).get("interval"), 24 * 3600)
    if validation_end is not None and validation_end + every <= moment:
        return Trigger.INTERVAL
    # The last full look at the app: a sync, an operation, a dry-run plan or, before any, the validation.
    last = next(
        (
            t
            for t in (
                parse_time(status.get("lastSyncTime")),
                parse_time((status.get("lastOperation") or {}).get("endTime")),
                parse_time((status.get("plan") or {}).get("generatedAt")),
                validation_end,
            )
            if t is not None
        ),
        None,
    )
    sync = interval((spec.get("sync") or {}).get("interval"), 600)
    if last is None or last + sync <= moment:
        return Trigger.SYNC_DUE
    return None


def operation_for(trigger: Trigger, status: Mapping[str, Any]) -> Op | None:
    """The operation a trigger starts in a settled state (None: nothing to do)."""
    current = status.get("status")
    if trigger == Trigger.SYNC_DUE:
        return Op.SYNC if status.get("lastSyncTime") else Op.PROVISION
    if trigger == Trigger.ACCOUNTS_CHANGED:
        return Op.UPDATE if status.get("lastSyncTime") else Op.PROVISION
    if trigger in (Trigger.RESUMED, Trigger.CREATED) and current in (Status.RETRYING, Status.IN_PROGRESS):
        retried = (status.get("retry") or {}).get("operation") or (status.get("lastOperation") or {}).get(
            "type"
        )
        return Op(retried) if retried in {o.value for o in Op} else Op.SYNC
    if trigger in (Trigger.RESUMED, Trigger.CREATED) and current == Status.VALIDATED:
        return Op.UPDATE if status.get("lastSyncTime") else Op.PROVISION
    return None


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp from status, or None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def interval(value: Any, default: float) -> datetime.timedelta:
    """A Go duration from the spec, or the default when absent or unreadable."""
    try:
        return datetime.timedelta(seconds=parse_duration(value) if isinstance(value, str) else default)
    except ValueError:
        return datetime.timedelta(seconds=default)
