"""Who may work on an Integration right now: a lease in its status, claimed before any write.

kopf's peering pauses a replica's *new* work when a higher-priority replica appears, not the work it has in
flight: during a rolling update the old pod may still be provisioning an Integration that the new pod starts
on. The lease closes that gap. A run claims it with its first status write, which carries the
resourceVersion it read (the API server refuses the write if anyone wrote since); it keeps it while it
writes to the app and gives it back with the write that ends the run. A replica that finds another's live
lease stands aside until it is released or expires. Pure: the clock is an argument, no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import secrets
import socket
from collections.abc import Mapping
from typing import Any

from idlcm.states import rfc3339


class Busy(Exception):
    """Another run holds the Integration, or its status moved under this run: try again after `delay`."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class LeaseHeld(Busy):
    """Another replica holds a live lease on the Integration."""


class StaleStatus(Busy):
    """The status changed since this run read it (another writer): the run starts over from the new one."""


class LeaseLost(Exception):
    """This run's lease was taken over or could not be renewed in time: it must not write to the app."""


@dataclasses.dataclass(frozen=True)
class Lease:
    """The `status.lease` record (the fields and meaning of a coordination.k8s.io Lease)."""

    holder: str
    acquired: datetime.datetime
    renewed: datetime.datetime
    seconds: float

    def expires(self) -> datetime.datetime:
        """When a contender may take it over without the holder's release."""
        return self.renewed + datetime.timedelta(seconds=self.seconds)

    def to_dict(self) -> dict[str, Any]:
        """The wire form kept in status."""
        return {
            "holderIdentity": self.holder,
            "acquireTime": rfc3339(self.acquired),
            "renewTime": rfc3339(self.renewed),
            "leaseDurationSeconds": int(self.seconds),
        }


def identity(environ: Mapping[str, str] | None = None) -> str:
    """This process's holder identity, `<pod>/<random>`: the pod is `POD_ID` (the manifests set the pod's
    name) or, outside Kubernetes, `<host>-<pid>`; the random part tells a restarted container apart."""
    env = os.environ if environ is None else environ
    pod = env.get("POD_ID") or f"{socket.gethostname()}-{os.getpid()}"
    return f"{pod}/{secrets.token_hex(4)}"


def read(status: Mapping[str, Any]) -> Lease | None:
    """The lease recorded in status; None when there is none or it cannot be read (no one holds it then)."""
    record = status.get("lease")
    if not isinstance(record, Mapping):
        return None
    renewed = _time(record.get("renewTime"))
    holder = record.get("holderIdentity")
    seconds = record.get("leaseDurationSeconds")
    if not holder or renewed is None or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    return Lease(str(holder), _time(record.get("acquireTime")) or renewed, renewed, float(seconds))


def held_by_other(status: Mapping[str, Any], me: str, now: datetime.datetime) -> Lease | None:
    """The live lease of another holder, if any. An earlier process of this pod (same pod part, another
    random part) is no other: a pod runs one operator, so that process is gone."""
    lease = read(status)
    if lease is None or lease.holder == me or _pod(lease.holder) == _pod(me):
        return None
    return lease if lease.expires() > now else None


def claim(status: Mapping[str, Any], me: str, now: datetime.datetime, seconds: float) -> Lease:
    """The lease this holder writes: renewed now, acquired when it first took it."""
    current = read(status)
    acquired = current.acquired if current is not None and current.holder == me else now
    return Lease(me, acquired, now, seconds)


def _pod(holder: str) -> str:
    return holder.rpartition("/")[0] or holder


def _time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)
