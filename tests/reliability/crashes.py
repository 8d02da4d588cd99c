"""The crash-safety scenarios (issue 7), sized by a `Scale`: a small one in `make test`, 2,000 accounts in
`make soak`. Each drives a real operator process against the embedded API and a real SCIM app, breaks one
part at seeded random points, and returns `Figures`: what the app holds at the end, and how long it took.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import math
import random
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lifecycle.conftest import spec_for
from reliability.processes import (
    Cluster,
    Operator,
    RecordingScimApp,
    ScimServer,
    api_server,
    scim_server,
    wait_until,
)
from scimapp import ScimApp

NAME = "crm"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclasses.dataclass(frozen=True)
class Scale:
    """How big a run is."""

    accounts: int
    """Accounts provisioned."""
    keep: int
    """Accounts the spec keeps when it drops the rest (the mass deprovision)."""
    kills: tuple[int, int, int]
    """SIGKILLs of the operator during the provisioning, the mass deprovision and the deletion."""
    outages: int
    """Restarts of the SCIM app (and outages of the Kubernetes API) per run."""
    outage_seconds: tuple[float, float]
    """How long each outage lasts (drawn between the two)."""
    timeout: float
    """Seconds a phase may take to converge after its last fault."""
    idle_outage: float | None = None
    """How long the Kubernetes API is away while nothing runs (None: drawn like the others)."""
    seed: int = 7


# The timeouts stay below the 60 s after which kopf retries a failed handler: a run cut short must resume
# by itself (the next look at the Integration), not by kopf's retry.
SMALL = Scale(accounts=300, keep=60, kills=(5, 3, 2), outages=2, outage_seconds=(0.3, 1.5), timeout=40)
# The soak's idle outage outlasts kopf's retries of a request (~54 s): the watches must still come back.
FULL = Scale(
    accounts=2000,
    keep=200,
    kills=(12, 8, 4),
    outages=4,
    outage_seconds=(0.5, 5.0),
    timeout=600,
    idle_outage=75.0,
)


@dataclasses.dataclass
class Figures:
    """What a run did and what the app held at the end."""

    scenario: str
    accounts: int
    faults: list[str] = dataclasses.field(default_factory=list)
    """Each fault injected: the phase, and how many writes into the phase it struck."""
    converged: dict[str, float] = dataclasses.field(default_factory=dict)
    """Seconds from the last fault of a phase (or its start) until the app and status matched the spec."""
    duplicates: int = 0
    """Accounts the app holds more than once (by userName, case-insensitively)."""
    missing: int = 0
    """Declared accounts absent or inactive."""
    left_active: int = 0
    """Accounts that should be deprovisioned but are still active."""
    strays: int = 0
    """Accounts of ours that were never declared."""
    unowned_touched: int = 0
    """Accounts the operator does not own that changed or were written to."""
    creates: int = 0
    """Creates the app received (alone or in Bulk): one per declared account when none was tried twice."""
    create_conflicts: int = 0
    """Creates of an account already created: each an attempt at a duplicate (the app refuses them)."""
    notes: dict[str, int] = dataclasses.field(default_factory=dict)
    """More counts a scenario reports (e.g. the Retrying Events on the way)."""
    seconds: float = 0.0

    def line(self) -> str:
        """One line for `make soak`'s output and docs/reliability.md."""
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.converged.items())
        return (
            f"{self.scenario}: {self.accounts} accounts, {len(self.faults)} faults; duplicates "
            f"{self.duplicates}, missing {self.missing}, left active {self.left_active}, strays "
            f"{self.strays}, unowned touched {self.unowned_touched}, creates {self.creates}, "
            f"create conflicts {self.create_conflicts}; converged after the last fault: {phases}; "
            f"total {self.seconds:.1f}s" + "".join(f"; {k} {v}" for k, v in self.notes.items())
        )


def user_names(count: int) -> list[str]:
    """The declared userNames."""
    return [f"user{i:05d}@example.com" for i in range(count)]


def spec(app: ScimApp, names: list[str], *, max_deletions: int = 10) -> dict[str, Any]:
    """The Integration: these accounts in the loopback app, deprovisioned by deactivation."""
    accounts = [{"userName": n, "displayName": n.split("@")[0]} for n in names]
    deprovision = {"mode": "Deactivate", "maxDeletions": max_deletions}
    return spec_for(app, *accounts, deprovision=deprovision, deletionPolicy="Deprovision")


def seed_unowned(app: ScimApp) -> dict[str, str]:
    """Accounts the operator must never touch: created by hand, by another Integration, by an earlier
    Integration of the same name. Returns id -> the account as stored (JSON)."""
    stamps = [
        ("boss@example.com", None),
        ("auditor@example.com", None),
        ("user00001@other.example", None),
        ("ghost@example.com", f"idlcm:default/other:{uuid.uuid4()}:ghost@example.com"),
        ("old@example.com", f"idlcm:default/{NAME}:{uuid.uuid4()}:old@example.com"),
    ]
    for user_name, external_id in stamps:
        body: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True}
        if external_id:
            body["externalId"] = external_id
        request = urllib.request.Request(
            f"{app.base_url}/Users",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {app.token}", "Content-Type": "application/scim+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
    return {u.id: _dump(u) for u in app.users()}


def _dump(user: Any) -> str:
    return json.dumps(user.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)


def tally(
    figures: Figures,
    app: RecordingScimApp,
    *,
    active: set[str],
    inactive: set[str],
    unowned: dict[str, str],
) -> None:
    """Count what the app holds against what it should: `active` declared, `inactive` deprovisioned."""
    users = app.users()
    names = collections.Counter(u.user_name.lower() for u in users)
    by_name = {u.user_name.lower(): u for u in users}
    figures.duplicates = sum(n - 1 for n in names.values() if n > 1)
    figures.missing = sum(1 for n in active if n not in by_name or by_name[n].active is False)
    figures.left_active = sum(1 for n in inactive if n in by_name and by_name[n].active is not False)
    ours = {u.user_name.lower() for u in users if u.id not in unowned}
    figures.strays = len(ours - active - inactive)
    current = {u.id: _dump(u) for u in users}
    changed = {i for i, before in unowned.items() if current.get(i) != before}
    written = {i for i in unowned for a in app.arrivals if a.is_write and i in a.path}
    figures.unowned_touched = len(changed | written)
    attempts = collections.Counter(n.lower() for n in created_user_names(app))
    for user in unowned.values():
        attempts[json.loads(user)["userName"].lower()] -= 1  # seeded by the test
    figures.creates = sum(attempts.values())
    figures.create_conflicts = sum(n - 1 for n in attempts.values() if n > 1)


def created_user_names(app: ScimApp) -> Iterator[str]:
    """The userName of every create the app received (alone or in a Bulk request), answered or not; a
    request cut off by a kill before its body arrived created nothing and is left out."""
    for request in app.requests.select("POST", "/v2/"):
        try:
            body = request.json()
        except ValueError:
            continue
        if request.path.rstrip("/").endswith("/Users"):
            yield body["userName"]
        elif request.path.rstrip("/").endswith("/Bulk"):
            for operation in body.get("Operations", ()):
                if operation.get("method") == "POST":
                    yield operation["data"]["userName"]


@dataclasses.dataclass
class World:
    """The parts of one run: the SCIM app and its server, the embedded API, the operator process."""

    app: RecordingScimApp
    scim: ScimServer
    api: Any
    cluster: Cluster
    operator: Operator
    unowned: dict[str, str]
    rng: random.Random

    def generation(self) -> int:
        return int(((self.cluster.integration(NAME) or {}).get("metadata") or {}).get("generation") or 0)

    def up_to_date(self, generation: int) -> bool:
        """Status says UpToDate for this generation of the spec."""
        status = self.cluster.status(NAME)
        return status.get("status") == "UpToDate" and status.get("observedGeneration") == generation

    def declare(self, names: list[str]) -> None:
        """Change the spec to declare these accounts."""
        self.cluster.patch_integration(NAME, {"spec": {"accounts": spec(self.app, names)["accounts"]}})

    def settled(self, generation: int, active: set[str], inactive: set[str]) -> bool:
        """Status says UpToDate for this generation, and the app holds these accounts active and inactive."""
        return self.up_to_date(generation) and self.app_holds(active, inactive)

    def gone(self, inactive: set[str]) -> bool:
        """The Integration is gone, and these accounts are inactive."""
        return self.cluster.integration(NAME) is None and self.app_holds(set(), inactive)

    def app_holds(self, active: set[str], inactive: set[str]) -> bool:
        """The app holds these accounts active and those inactive."""
        by_name = {u.user_name.lower(): u.active for u in self.app.users()}
        return all(by_name.get(n) is True for n in active) and all(by_name.get(n) is False for n in inactive)


@contextlib.contextmanager
def world(tmp_path: Path, seed: int, **capabilities: Any) -> Iterator[World]:
    """The SCIM app (unowned accounts seeded), the embedded API with the token's Secret, an operator (not
    started); everything stopped at the end."""
    app = RecordingScimApp()
    app.configure(**capabilities)
    with api_server() as api, scim_server(app) as scim:
        unowned = seed_unowned(app)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        cluster = Cluster(kubeconfig)
        cluster.create_secret("acme-token", {"token": app.token})
        operator = Operator(kubeconfig, tmp_path)
        try:
            yield World(app, scim, api, cluster, operator, unowned, random.Random(seed))
        finally:
            operator.stop()
            cluster.close()


class Faults:
    """Strikes a fault at seeded random points: after a number of app writes into the phase, or (now and
    then) a time after the operator started, to land in start-up, validation or the listing too."""

    def __init__(self, w: World, figures: Figures) -> None:
        self.w = w
        self.figures = figures
        self.last = self.started = time.monotonic()

    def phase(
        self,
        name: str,
        count: int,
        expected_writes: int,
        strike: Callable[[], None],
        done: Callable[[], bool] = lambda: False,
        *,
        timed: float = 0.2,
    ) -> None:
        """Strike `count` times while the phase runs. Most strikes come after a number of app writes, spread
        over the `expected_writes` of the phase; a share `timed` come a while after the previous strike (in
        start-up, validation, listing). `done` says when the phase is over: a strike due then comes now."""
        rng, app = self.w.rng, self.w.app
        start = app.write_count
        kinds = [rng.random() < timed for _ in range(count)]
        span = max(2, expected_writes)
        marks = sorted(rng.sample(range(1, span), min(kinds.count(False), span - 1)))
        for is_timed in kinds:
            if is_timed:
                pause = rng.uniform(0.5, 2.5)
                time.sleep(pause)
                where = f"{pause:.1f}s after a start"
            else:
                mark = marks.pop(0) if marks else 0
                self._wait_writes(max(start + mark, app.write_count + 1), done)
                where = f"{app.write_count - start} writes in"
            strike()
            self.last = time.monotonic()
            self.figures.faults.append(f"{name}: {where} (t={time.monotonic() - self.started:.1f}s)")

    def _wait_writes(self, target: int, done: Callable[[], bool]) -> None:
        """Until `target` writes arrived, or the phase is over (looked at every 0.2 s: it costs more)."""
        deadline = time.monotonic() + 120
        look = 0.0
        while self.w.app.write_count < target:
            now = time.monotonic()
            if now > look:
                if done() or now > deadline:
                    return
                look = now + 0.2
            time.sleep(0.002)

    def converge(self, name: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until the predicate holds; note the time since the last fault."""
        wait_until(predicate, timeout, f"{name} to converge", interval=0.1)
        self.figures.converged[name] = time.monotonic() - self.last


def operator_killed(tmp_path: Path, scale: Scale) -> Figures:
    """SIGKILL the operator during a provisioning, a mass deprovision (approved after the safety stop) and
    the deletion of the Integration; start it again each time."""
    clock = time.monotonic()
    names = user_names(scale.accounts)
    every, kept = set(names), set(names[: scale.keep])
    figures = Figures("operator SIGKILLed", scale.accounts)
    # One create per request, so that a kill can land between any two accounts.
    with world(tmp_path, scale.seed, bulk=False) as w:
        faults = Faults(w, figures)

        def kill() -> None:
            w.operator.kill()
            w.operator.start()

        w.cluster.create_integration(NAME, spec(w.app, names))
        w.operator.start()
        provisioned = functools.partial(w.settled, 1, every, set())
        faults.phase("provision", scale.kills[0], scale.accounts, kill, provisioned)
        faults.converge("provision", provisioned, scale.timeout)

        w.cluster.patch_integration(
            NAME, {"spec": {"accounts": spec(w.app, names[: scale.keep])["accounts"]}}
        )
        wait_until(lambda: w.cluster.status(NAME).get("reason") == "TooManyDeletions", 60, "the safety stop")
        assert w.app_holds(every, set()), "the safety stop deprovisioned accounts"
        w.cluster.patch_integration(NAME, {"metadata": {"annotations": {"idlcm.io/revalidate": "approve"}}})
        deprovisioned = functools.partial(w.settled, 2, kept, every - kept)
        faults.phase("deprovision", scale.kills[1], scale.accounts - scale.keep, kill, deprovisioned)
        faults.converge("deprovision", deprovisioned, scale.timeout)

        w.cluster.delete_integration(NAME)
        deleted = functools.partial(w.gone, every)
        faults.phase("delete", scale.kills[2], scale.keep, kill, deleted)
        faults.converge("delete", deleted, scale.timeout)
        tally(figures, w.app, active=set(), inactive=every, unowned=w.unowned)
    figures.seconds = time.monotonic() - clock
    return figures


def app_restarted(tmp_path: Path, scale: Scale) -> Figures:
    """Stop the SCIM app (its accounts kept) and start it again, during a provisioning (in Bulk chunks) and
    a mass deprovision."""
    clock = time.monotonic()
    names = user_names(scale.accounts)
    every, kept = set(names), set(names[: scale.keep])
    figures = Figures("SCIM app restarted", scale.accounts)
    with world(tmp_path, scale.seed + 1, bulk=True, max_operations=25) as w:
        faults = Faults(w, figures)

        def restart() -> None:
            w.scim.stop()
            time.sleep(w.rng.uniform(*scale.outage_seconds))
            w.scim.start()

        w.cluster.create_integration(NAME, spec(w.app, names, max_deletions=scale.accounts))
        w.operator.start()
        provisioned = functools.partial(w.settled, 1, every, set())
        faults.phase("provision", scale.outages, scale.accounts // 25, restart, provisioned)
        faults.converge("provision", provisioned, scale.timeout)
        w.cluster.patch_integration(
            NAME, {"spec": {"accounts": spec(w.app, names[: scale.keep])["accounts"]}}
        )
        deprovisioned = functools.partial(w.settled, 2, kept, every - kept)
        faults.phase("deprovision", scale.outages, scale.accounts - scale.keep, restart, deprovisioned)
        faults.converge("deprovision", deprovisioned, scale.timeout)
        tally(figures, w.app, active=kept, inactive=every - kept, unowned=w.unowned)
        figures.notes["Retrying events"] = sum(1 for e in w.cluster.events(NAME) if e.reason == "Retrying")
    figures.seconds = time.monotonic() - clock
    return figures


def api_away(tmp_path: Path, scale: Scale) -> Figures:
    """Stop the embedded Kubernetes API (its objects kept) for a while during a provisioning, start it again
    on the same port: the operator reconnects, its status catches up, and it still sees spec changes."""
    clock = time.monotonic()
    names = user_names(scale.accounts)
    every = set(names)
    figures = Figures("Kubernetes API away", scale.accounts)
    with world(tmp_path, scale.seed + 2, bulk=False) as w:
        faults = Faults(w, figures)

        strikes = iter(range(1, scale.outages + 1))

        def outage(seconds: float | None = None) -> None:
            w.api.stop()
            if next(strikes, 0) == scale.outages:
                # Away until the operation has written every account: its closing status write fails.
                wait_until(lambda: w.app_holds(every, set()), scale.timeout, "the accounts", interval=0.1)
            time.sleep(w.rng.uniform(*scale.outage_seconds) if seconds is None else seconds)
            w.api.start()

        w.cluster.create_integration(NAME, spec(w.app, names))
        # The last outage lasts until every account is written, which takes as long as the machine needs (up
        # to the phase's timeout): the lease must outlive it, or the operator rightly stops writing (it could
        # not renew) and the accounts the test waits for never come. Derived, not tuned to one machine.
        lease = math.ceil(scale.timeout + scale.outage_seconds[1]) + 5
        w.operator.start(IDLCM_LEASE_SECONDS=str(lease))
        provisioned = functools.partial(w.settled, 1, every, set())
        faults.phase("provision", scale.outages, scale.accounts, outage, provisioned, timed=0.0)
        faults.converge("provision", provisioned, scale.timeout)
        status = w.cluster.status(NAME)
        assert status["accounts"]["provisioned"] == scale.accounts, status["accounts"]

        # Away while nothing happens, then a change: the operator's watches must have come back.
        time.sleep(1.0)  # idle: the watches settled since the last outage
        outage(scale.idle_outage)
        faults.last = time.monotonic()
        figures.faults.append(f"idle: while nothing ran ({scale.idle_outage or 'short'} s)")
        assert w.operator.alive, "the operator exited during the outage"
        more = user_names(scale.accounts + 5)
        w.declare(more)
        faults.converge("spec change", functools.partial(w.settled, 2, set(more), set()), scale.timeout)
        tally(figures, w.app, active=set(more), inactive=set(), unowned=w.unowned)
    figures.seconds = time.monotonic() - clock
    return figures
