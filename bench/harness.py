"""Shared parts of the benchmarks: the embedded API, the SCIM app, the operator, timing and the result files.

Every benchmark prints each figure beside the baseline measured in the same run and its target, and writes
`bench/results/<name>.json` (not committed; `bench/RESULTS.md` is the record). Benchmarks are programs, not
timed tests: a missed target prints MISSED with the ratio and the exit status stays 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
# The SCIM app of the tests (tests/scimapp.py) is the app the benchmarks run against.
sys.path.insert(0, str(ROOT / "tests"))

import kubernetes.client  # noqa: E402
import kubernetes.watch  # noqa: E402

from idlcm import runner  # noqa: E402
from idlcm.crds import GROUP, VERSION  # noqa: E402
from idlcm.devcluster import DevCluster, serve_in_thread  # noqa: E402
from idlcm.settings import SYNC_NOW_ANNOTATION, Settings  # noqa: E402

T = TypeVar("T")

# Production behaviour, with a short tick so that time-based work (waiting for the app's validation) is
# picked up quickly; syncs and re-validations are left to the benchmarks (long intervals in the specs).
SETTINGS = Settings(tick=0.5, seed=7)
TOKEN_SECRET = "acme-token"
# High enough never to throttle: the benchmarks measure the operator, not its rate limit.
RATE_LIMIT = {"requestsPerSecond": 10_000, "maxConcurrency": 8}
CONCURRENCY = RATE_LIMIT["maxConcurrency"]


# -- command line and results ---------------------------------------------------------------------------


def arguments(description: str, **extra: tuple[type, Any, str]) -> argparse.Namespace:
    """`--quick` (smaller sizes) and `--json PATH`, plus `name=(type, default, help)` options (a `bool` one
    is a flag)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the result (default: results/)"
    )
    for name, (kind, default, text) in extra.items():
        flag = f"--{name.replace('_', '-')}"
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=default, help=text)
        else:
            parser.add_argument(flag, type=kind, default=default, help=text)
    return parser.parse_args()


@dataclasses.dataclass
class Figure:
    """One measured figure, the bare baseline measured in the same run, and the target it is held to."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    """None: reported only (no target)."""

    @property
    def ratio(self) -> float | None:
        """value / baseline."""
        return self.value / self.baseline if self.baseline else None

    @property
    def verdict(self) -> str:
        """met, MISSED, or '' when there is no target."""
        return "" if self.met is None else ("met" if self.met else "MISSED")


def at_most_ratio(name: str, value: float, baseline: float, limit: float, unit: str = "s") -> Figure:
    """A figure held to `value <= limit x baseline`."""
    return Figure(name, value, unit, baseline, f"<= {limit:g} x baseline", value <= limit * baseline)


@dataclasses.dataclass
class Report:
    """The figures of one benchmark run, printed as a table and written as JSON."""

    name: str
    title: str
    quick: bool
    figures: list[Figure] = dataclasses.field(default_factory=list)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    started: float = dataclasses.field(default_factory=time.monotonic)

    def add(self, figure: Figure) -> Figure:
        """Keep a figure (and return it)."""
        self.figures.append(figure)
        return figure

    def finish(self, path: Path | None = None) -> None:
        """Print the table and write the JSON result."""
        elapsed = time.monotonic() - self.started
        print(f"\n{self.title}{' (--quick)' if self.quick else ''}")
        print(table(self.figures))
        for note in self.notes:
            print(f"  note: {note}")
        print(f"  ({elapsed:.0f} s)")
        path = path or RESULTS / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "name": self.name,
            "title": self.title,
            "quick": self.quick,
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "figures": [
                {**dataclasses.asdict(f), "ratio": f.ratio, "verdict": f.verdict} for f in self.figures
            ],
            "details": self.details,
            "notes": self.notes,
        }
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"  result: {_relative(path)}")


def table(figures: Sequence[Figure]) -> str:
    """The figures as aligned text: value, baseline, ratio, target, verdict."""
    rows = [("figure", "value", "baseline", "ratio", "target", "")]
    for f in figures:
        rows.append(
            (
                f.name,
                quantity(f.value, f.unit),
                "" if f.baseline is None else quantity(f.baseline, f.unit),
                "" if f.ratio is None else f"x{f.ratio:.2f}",
                f.target,
                f.verdict,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  "
        + "  ".join(
            cell.ljust(w) if i in (0, 4, 5) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def quantity(value: float, unit: str) -> str:
    """A value with its unit, at a sensible precision."""
    if unit in ("count", ""):
        return f"{value:,.0f}"
    digits = 3 if abs(value) < 10 else (2 if abs(value) < 100 else 1)
    return f"{value:,.{digits}f} {unit}"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# -- timing ---------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median (of at least one value)."""
    return statistics.median(values)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


async def timed_async(awaitable: Awaitable[T]) -> tuple[float, T]:
    """(seconds, result) of one await."""
    start = time.perf_counter()
    result = await awaitable
    return time.perf_counter() - start, result


class Clock:
    """Wall and CPU seconds of a block (`with Clock() as clock:`); CPU is this process's, every thread."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._wall = self._cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu


def cpu_figure(operator: Sequence[float], baseline: Sequence[float]) -> Figure:
    """Reported only: CPU seconds of this process (median), the operator's run beside the baseline's.
    Steadier than wall time when other work shares the machine."""
    return Figure("CPU of this process (median)", median(operator), "s", median(baseline))


Interval = tuple[float, float]


class Timeline:
    """Where the operator's time goes: intervals spent in Kubernetes calls, validation and the operation.

    Used with an operator running in this process: `instrument()` wraps the functions in place for the
    duration of a block. Shares are wall-clock time, each instant counted once, in this order of priority:
    Kubernetes round trips (idlcm's and kopf's own), validation, the operation; the rest is "other" (kopf's
    event delivery and bookkeeping, the story's own work between calls, the benchmark noticing the result).
    """

    CATEGORIES = ("kubernetes", "validation", "operation")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.intervals: dict[str, list[Interval]] = {c: [] for c in self.CATEGORIES}
        self.calls: dict[str, int] = dict.fromkeys(self.CATEGORIES, 0)

    def record(self, category: str, start: float, end: float) -> None:
        """Note one interval (perf_counter seconds)."""
        with self._lock:
            self.intervals[category].append((start, end))
            self.calls[category] += 1

    def wrap(self, category: str, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """`fn` (async), timed into `category`; a call still running counts up to the present."""

        @functools.wraps(fn)
        async def timed_call(*args: Any, **kwargs: Any) -> T:
            with self._lock:
                index = len(self.intervals[category])
                self.intervals[category].append((time.perf_counter(), math.inf))
                self.calls[category] += 1
            try:
                return await fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.intervals[category][index] = (
                        self.intervals[category][index][0],
                        time.perf_counter(),
                    )

        return timed_call

    @contextlib.contextmanager
    def instrument(self) -> Iterator[Timeline]:
        """Time the operator's Kubernetes calls, validations and operations while the block runs."""
        from kopf._cogs.clients import api as kopf_api

        from idlcm import kube, reconcile, validation

        targets: list[tuple[Any, str, str]] = [
            (kube, "_call", "kubernetes"),
            *((kopf_api, verb, "kubernetes") for verb in ("get", "post", "patch", "delete")),
            (validation.ConnectorValidator, "validate_app", "validation"),
            (validation.ConnectorValidator, "validate_integration", "validation"),
            (reconcile.Reconciler, "_operate", "operation"),
        ]
        saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]
        try:
            for owner, attr, category in targets:
                setattr(owner, attr, self.wrap(category, getattr(owner, attr)))
            yield self
        finally:
            for owner, attr, original in saved:
                setattr(owner, attr, original)

    def shares(self, start: float, end: float) -> dict[str, float]:
        """Seconds per category within [start, end], each instant counted once; 'other' is the rest."""
        window = [(start, end)]
        taken: list[Interval] = []
        out: dict[str, float] = {}
        with self._lock:
            intervals = {c: list(v) for c, v in self.intervals.items()}
        for category in self.CATEGORIES:
            mine = _subtract(_intersect(_merge(intervals[category]), window), taken)
            out[category] = sum(b - a for a, b in mine)
            taken = _merge([*taken, *mine])
        out["other"] = max(0.0, (end - start) - sum(out.values()))
        return out

    def count(self, category: str, start: float, end: float) -> int:
        """Calls of a category that started within [start, end]."""
        with self._lock:
            return sum(start <= a <= end for a, _ in self.intervals[category])


def _merge(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _intersect(intervals: Sequence[Interval], window: Sequence[Interval]) -> list[Interval]:
    (lo, hi), *_ = window
    return [(max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi]


def _subtract(intervals: Sequence[Interval], taken: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in intervals:
        pieces = [(a, b)]
        for c, d in taken:
            pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[1] > p[0]]
        out.extend(pieces)
    return out


# -- the embedded Kubernetes API ------------------------------------------------------------------------


class Cluster:
    """The embedded Kubernetes API in a thread, and blocking client calls against it (kubectl's)."""

    def __init__(self, devcluster: DevCluster, kubeconfig: Path) -> None:
        self.devcluster = devcluster
        self.kubeconfig = kubeconfig
        self.config = runner.cluster_config(str(kubeconfig), None)
        self.client = kubernetes.client.ApiClient(self.config)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)

    def namespace(self, prefix: str = "bench") -> str:
        """A new namespace."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    def secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """Create a Secret."""
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "data": encoded})

    def configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """Create a ConfigMap."""
        self.core.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": dict(data)})

    def apply(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """`kubectl apply --server-side` of an Integration."""
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Integration",
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec),
        }
        obj: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "integrations",
            name,
            body,
            field_manager="kubectl",
            _content_type="application/apply-patch+yaml",
        )
        return obj

    def create(self, namespace: str, name: str, spec: Mapping[str, Any]) -> None:
        """Create an Integration (POST)."""
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Integration", "metadata": {"name": name}}
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "integrations", {**body, "spec": dict(spec)}
        )

    def sync_now(self, namespace: str, name: str) -> None:
        """`kubectl annotate integration NAME idlcm.io/sync-now=<new value> --overwrite`."""
        patch = {"metadata": {"annotations": {SYNC_NOW_ANNOTATION: f"{time.time_ns()}"}}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "integrations", name, patch)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


@contextlib.contextmanager
def embedded_cluster() -> Iterator[Cluster]:
    """The embedded Kubernetes API with the CRDs, in its own thread, and a kubeconfig for it."""
    with serve_in_thread() as devcluster, tempfile.TemporaryDirectory(prefix="idlcm-bench-") as tmp:
        cluster = Cluster(devcluster, devcluster.write_kubeconfig(Path(tmp) / "kubeconfig"))
        try:
            yield cluster
        finally:
            cluster.close()


Snapshot = tuple[float, dict[str, Any]]
"""(perf_counter when seen, the object's status)."""


class Watcher:
    """Follows every Integration with a watch, keeping each status seen (by `namespace/name`) and when."""

    def __init__(self, cluster: Cluster) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(cluster.config))
        self._watch = kubernetes.watch.Watch()
        self._changed = threading.Condition()
        self._stopped = False
        self.history: dict[str, list[Snapshot]] = {}
        version = self._list()  # watched from here on: nothing between the listing and the watch is lost
        self._thread = threading.Thread(target=self._run, args=(version,), name="watcher", daemon=True)
        self._thread.start()

    def _list(self) -> str:
        listing = self._custom.list_cluster_custom_object(GROUP, VERSION, "integrations")
        seen = time.perf_counter()
        for obj in listing.get("items", []):
            self._note(seen, obj)
        return str(listing["metadata"]["resourceVersion"])

    def _note(self, seen: float, obj: Mapping[str, Any]) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        with self._changed:
            self.history.setdefault(key, []).append((seen, obj.get("status") or {}))
            self._changed.notify_all()

    def _run(self, version: str) -> None:
        while not self._stopped:
            try:
                stream = self._watch.stream(
                    self._custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    "integrations",
                    resource_version=version,
                    timeout_seconds=3600,
                )
                for event in stream:
                    seen = time.perf_counter()
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._note(seen, obj)
            except Exception:
                if self._stopped:
                    return
                time.sleep(0.05)
                with contextlib.suppress(Exception):
                    version = self._list()  # fell behind the watch history (410): start from now

    def mark(self, key: str) -> int:
        """A position in the history of `namespace/name`: `wait` after it sees only what came later."""
        with self._changed:
            return len(self.history.get(key, []))

    def wait(
        self, key: str, predicate: Callable[[dict[str, Any]], bool], *, after: int = 0, timeout: float = 600
    ) -> tuple[int, Snapshot]:
        """The first status of `namespace/name` after position `after` that satisfies the predicate:
        (its position, (time seen, status))."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                seen = self.history.get(key, [])
                for index in range(after, len(seen)):
                    if predicate(seen[index][1]):
                        return index + 1, seen[index]
                after = max(after, len(seen))
                left = deadline - time.monotonic()
                if left <= 0:
                    last = seen[-1][1] if seen else None
                    raise TimeoutError(f"integration {key}: timed out; last status {_brief(last)}")
                self._changed.wait(min(left, 1.0))

    def first_times(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, float]:
        """For each `namespace/name`: when it first satisfied the predicate."""
        with self._changed:
            found = {}
            for key, seen in self.history.items():
                for at, status in seen:
                    if predicate(status):
                        found[key] = at
                        break
            return found

    def wait_all(
        self, keys: Sequence[str], predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, float]:
        """Until each `namespace/name` has satisfied the predicate once; when each first did."""
        deadline = time.monotonic() + timeout
        wanted = set(keys)
        while True:
            found = self.first_times(predicate)
            if wanted <= found.keys():
                return {k: found[k] for k in wanted}
            if time.monotonic() > deadline:
                missing = sorted(wanted - found.keys())
                with self._changed:
                    states = collections.Counter(
                        str((self.history[k][-1][1] if self.history.get(k) else {}).get("status"))
                        for k in missing
                    )
                raise TimeoutError(f"{len(missing)} integrations not there in time; they are {dict(states)}")
            with self._changed:
                self._changed.wait(0.5)

    def close(self) -> None:
        """Stop watching."""
        self._stopped = True
        self._watch.stop()


def _brief(status: Mapping[str, Any] | None) -> str:
    if not status:
        return "none"
    return f"{status.get('status')} ({status.get('reason')}: {status.get('message')})"


def up_to_date(status: Mapping[str, Any]) -> bool:
    """The status of an Integration whose last operation succeeded."""
    return status.get("status") == "UpToDate"


def in_progress(op: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate: the status of an Integration running this operation."""
    return lambda s: s.get("status") == "InProgress" and (s.get("lastOperation") or {}).get("type") == op


def settled_badly(status: Mapping[str, Any]) -> bool:
    """A state a benchmark run must not end in (it would time out otherwise)."""
    return status.get("status") in ("Failed", "UnderReview", "ValidationFailed", "Retrying")


# -- the operator ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def operator_thread(cluster: Cluster, settings: Settings = SETTINGS) -> Iterator[None]:
    """idlcm's operator in its own thread and event loop (as in a deployment: kopf owns its loop)."""
    stop, ready = threading.Event(), threading.Event()
    coro = runner.run(cluster.config, settings=settings, stop_flag=stop, ready_flag=ready)
    thread = threading.Thread(target=asyncio.run, args=(coro,), name="operator", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the operator did not start")
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


@dataclasses.dataclass
class ChildReport:
    """What an operator process said when it stopped."""

    max_rss_mib: float
    cpu_seconds: float


@contextlib.contextmanager
def operator_process(
    cluster: Cluster, kind: str, settings: Settings = SETTINGS
) -> Iterator[list[ChildReport]]:
    """An operator (`idlcm` or the `bare` kopf one) in a process of its own; its report when it stops."""
    env = {
        **os.environ,
        "IDLCM_TICK": str(settings.tick),
        "IDLCM_SEED": str(settings.seed or ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, str(BENCH / "operator_process.py"), kind, str(cluster.kubeconfig)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    assert child.stdin is not None
    assert child.stdout is not None
    reports: list[ChildReport] = []
    try:
        line = child.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the {kind} operator did not start: {line!r}")
        yield reports
    finally:
        try:  # communicate() closes the child's stdin: then it stops
            out, _ = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
        for line in out.splitlines():
            if line.startswith("{"):
                reports.append(ChildReport(**json.loads(line)))


# -- the SCIM app and the bare client -------------------------------------------------------------------


def integration_spec(
    base_url: str,
    *,
    accounts: Sequence[Mapping[str, Any]] = (),
    roster: Sequence[tuple[str, str]] = (),
    app: str = "acme-crm",
) -> dict[str, Any]:
    """An Integration of the loopback SCIM app: no rate limiting, no periodic sync during the run."""
    return {
        "app": app,
        "connector": {
            "scim": {
                "baseURL": base_url,
                "auth": {"bearerToken": {"secretRef": {"name": TOKEN_SECRET}}},
                "tls": {"insecure": True},
                "rateLimit": dict(RATE_LIMIT),
            }
        },
        "accounts": list(accounts),
        "accountsFrom": [{"configMapRef": {"name": name, "key": key}} for name, key in roster],
        "sync": {"interval": "24h"},
        "deprovision": {"maxDeletions": 10},
    }


def people(prefix: str, count: int) -> list[dict[str, Any]]:
    """Declared accounts, every usual attribute set."""
    return [
        {
            "userName": f"{prefix}{i}@example.com",
            "displayName": f"User {prefix}{i}",
            "givenName": "User",
            "familyName": f"{prefix.title()}{i}",
            "email": f"{prefix}{i}@example.com",
            "title": "Engineer",
            "department": "R&D",
        }
        for i in range(count)
    ]


ROSTER_HEADER = "userName,displayName,givenName,familyName,email,active,title,department\n"


def roster_csv(prefix: str, start: int, stop: int) -> str:
    """A CSV roster (as an `accountsFrom` ConfigMap holds it) of the accounts numbered start..stop-1."""
    return ROSTER_HEADER + "".join(
        f"{prefix}{i}@example.com,User {prefix}{i},User,{prefix.title()}{i},{prefix}{i}@example.com,true,"
        "Engineer,R&D\n"
        for i in range(start, stop)
    )


def split_roster(
    cluster: Cluster, namespace: str, prefix: str, count: int, per_map: int
) -> list[tuple[str, str]]:
    """Create ConfigMaps holding `count` accounts, `per_map` each; their (name, key) references."""
    refs = []
    for part, start in enumerate(range(0, count, per_map)):
        name = f"roster-{part}"
        cluster.configmap(
            namespace, name, {"roster.csv": roster_csv(prefix, start, min(count, start + per_map))}
        )
        refs.append((name, "roster.csv"))
    return refs


@dataclasses.dataclass
class BareClient:
    """The baselines' client: scim2-client on httpx2 as its documentation uses it, with keep-alive, the
    operator's concurrency (`CONCURRENCY` connections) and the app's ServiceProviderConfig; nothing of
    idlcm's connector (no rate limiter, no response cap, no mapping to accounts, no group listing)."""

    scim: Any
    """scim2_client.engines.httpx2.AsyncSCIMClient"""
    config: Any
    """scim2_models.ServiceProviderConfig"""

    @property
    def page_size(self) -> int:
        """The largest page the app serves."""
        return int(self.config.filter.max_results or 100)

    async def page_through(self) -> list[Any]:
        """Every user, one page after the other at the largest page size (startIndex paging)."""
        from scim2_models import SearchRequest

        from idlcm.connectors.scim.mapping import UserModel

        users: list[Any] = []
        while True:
            search = SearchRequest[Any](start_index=len(users) + 1, count=self.page_size)
            page = await self.scim.query(UserModel, search)
            users.extend(page.resources or [])
            if not page.resources or len(users) >= (page.total_results or 0):
                return users

    async def bulk_create(self, users: Sequence[Any]) -> list[int]:
        """Create users with Bulk, `maxOperations` per request, up to `CONCURRENCY` requests at once; the
        status of every operation."""
        from scim2_models import BulkOperation, BulkRequest

        from idlcm.connectors.scim.mapping import UserModel

        size = int(self.config.bulk.max_operations)
        requests = [
            BulkRequest[UserModel](
                operations=[
                    BulkOperation[UserModel](
                        method=BulkOperation.Method.post, path="/Users", bulk_id=str(i), data=user
                    )
                    for i, user in enumerate(users[start : start + size], start)
                ]
            )
            for start in range(0, len(users), size)
        ]
        answers = await bounded_gather([self.scim.bulk(r) for r in requests], CONCURRENCY)
        return [int(str(op.status)) for answer in answers for op in answer.operations or []]

    async def patch_title(self, users: Sequence[Any], title: str) -> None:
        """PATCH (replace) the title of each user, up to `CONCURRENCY` requests at once."""
        from scim2_models import PatchOp, PatchOperation

        from idlcm.connectors.scim.mapping import UserModel

        def patch() -> Any:
            operation = PatchOperation[UserModel](op=PatchOperation.Op.replace_, path="title", value=title)
            return PatchOp[UserModel](operations=[operation])

        await bounded_gather([self.scim.modify(UserModel, u.id, patch()) for u in users], CONCURRENCY)


async def bounded_gather(awaitables: Sequence[Awaitable[T]], limit: int) -> list[T]:
    """The results of the awaitables, in order, with at most `limit` running at once."""
    semaphore = asyncio.Semaphore(limit)

    async def one(awaitable: Awaitable[T]) -> T:
        async with semaphore:
            return await awaitable

    return list(await asyncio.gather(*(one(a) for a in awaitables)))


@contextlib.asynccontextmanager
async def bare_client(app: Any) -> AsyncIterator[BareClient]:
    """A `BareClient` of the app (its ServiceProviderConfig read before the block: not timed)."""
    import httpx2
    from scim2_client.engines.httpx2 import AsyncSCIMClient
    from scim2_models import ServiceProviderConfig

    from idlcm.connectors.scim.mapping import provider

    http = httpx2.AsyncClient(
        base_url=app.base_url,
        headers={"Authorization": f"Bearer {app.token}"},
        limits=httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
        timeout=120,
        trust_env=False,
    )
    try:
        scim = AsyncSCIMClient(http, provider=provider())
        config = await scim.query(ServiceProviderConfig)
        scim.provider = provider(config)
        yield BareClient(scim, config)
    finally:
        await http.aclose()


def bare_connector(app: Any) -> Any:
    """idlcm's SCIM client for the app, at the benchmarks' concurrency (what the operator builds)."""
    from idlcm.connectors import BearerAuth, ScimConnector, Tls
    from idlcm.connectors.ratelimit import RateLimit

    limit = RateLimit(float(RATE_LIMIT["requestsPerSecond"]), CONCURRENCY)
    return ScimConnector(app.base_url, BearerAuth(app.token), Tls(insecure=True), limit)


def desired(roster: str, namespace: str, name: str, uid: str) -> list[Any]:
    """The accounts of a CSV roster as the operator creates them (owner stamp included): the bare input."""
    from idlcm.plan import Owner, desired_accounts
    from idlcm.roster import parse_roster

    parsed = parse_roster(roster, key="roster.csv", format="Auto")
    assert not parsed.errors, parsed.errors[:3]
    return desired_accounts(parsed.accounts, Owner(namespace, name, uid))


ROSTER_PER_MAP = 2_500
"""Accounts per roster ConfigMap (a ConfigMap holds at most 1 MiB)."""


def roster_integration(
    cluster: Cluster, app: Any, count: int, prefix: str = "u"
) -> tuple[str, dict[str, Any]]:
    """A new namespace with the token Secret and a roster of `count` accounts in ConfigMaps; the spec of an
    Integration of the SCIM app declaring them."""
    namespace = cluster.namespace("bench")
    cluster.secret(namespace, TOKEN_SECRET, {"token": app.token})
    refs = split_roster(cluster, namespace, prefix, count, ROSTER_PER_MAP)
    return namespace, integration_spec(app.base_url, roster=refs)


def writes(app: Any, since: float) -> int:
    """Write requests (POST, PUT, PATCH, DELETE) the SCIM app received since `since` (time.time())."""
    return sum(1 for r in app.requests.writes if r.time >= since)


# -- operations through the operator --------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One operation through the operator: seconds from the trigger until the watch saw it done."""

    seconds: float
    status: dict[str, Any]
    start: float
    end: float
    cpu: float = 0.0
    """CPU seconds of this process meanwhile (every thread: operator, SCIM app, embedded API, watch)."""

    @property
    def counts(self) -> dict[str, int]:
        """`status.lastOperation.counts`."""
        return dict((self.status.get("lastOperation") or {}).get("counts") or {})


def apply_and_wait(
    cluster: Cluster, watcher: Watcher, namespace: str, name: str, spec: Mapping[str, Any], timeout: float
) -> Run:
    """Apply an Integration and wait until it is UpToDate (or stuck: then stop the benchmark)."""
    start, cpu = time.perf_counter(), time.process_time()
    cluster.apply(namespace, name, spec)
    _, (seen, status) = watcher.wait(
        f"{namespace}/{name}", lambda s: up_to_date(s) or settled_badly(s), timeout=timeout
    )
    _require(status, f"{namespace}/{name} after apply")
    return Run(seen - start, status, start, seen, time.process_time() - cpu)


def sync_and_wait(cluster: Cluster, watcher: Watcher, namespace: str, name: str, timeout: float) -> Run:
    """Trigger a sync (the sync-now annotation) and wait until that sync has ended UpToDate."""
    key = f"{namespace}/{name}"
    mark = watcher.mark(key)
    start, cpu = time.perf_counter(), time.process_time()
    cluster.sync_now(namespace, name)
    position, _ = watcher.wait(key, in_progress("Sync"), after=mark, timeout=timeout)
    _, (seen, status) = watcher.wait(
        key, lambda s: up_to_date(s) or settled_badly(s), after=position, timeout=timeout
    )
    _require(status, f"{key} after sync-now")
    return Run(seen - start, status, start, seen, time.process_time() - cpu)


@dataclasses.dataclass
class Provisioned:
    """An Integration `crm` whose roster accounts idlcm's operator has provisioned (see `provisioned`)."""

    app: Any
    """scimapp.ScimApp"""
    cluster: Cluster
    timeline: Timeline
    watcher: Watcher
    namespace: str
    setup: Run

    def sync(self) -> Run:
        """Trigger a sync of `crm` and wait until it has ended UpToDate."""
        return sync_and_wait(self.cluster, self.watcher, self.namespace, "crm", timeout=600)


@contextlib.contextmanager
def provisioned(count: int) -> Iterator[Provisioned]:
    """The SCIM app on loopback, the embedded API and idlcm's operator (in this process, timed), with an
    Integration of `count` roster accounts already provisioned (the set-up, not measured)."""
    from scimapp import running_scim_app

    with (
        running_scim_app() as app,
        embedded_cluster() as cluster,
        Timeline().instrument() as timeline,
        operator_thread(cluster),
    ):
        watcher = Watcher(cluster)
        try:
            namespace, spec = roster_integration(cluster, app, count)
            setup = apply_and_wait(cluster, watcher, namespace, "crm", spec, timeout=900)
            print(f"  set-up: {count:,} accounts provisioned in {setup.seconds:.1f} s")
            yield Provisioned(app, cluster, timeline, watcher, namespace, setup)
        finally:
            watcher.close()


SHARE_LABELS = {
    "validation": "of which validation",
    "operation": "of which the operation",
    "kubernetes": "of which Kubernetes round trips",
    "other": "of which other",
}


def share_figures(shares: Mapping[str, float], categories: Sequence[str]) -> list[Figure]:
    """Reported-only figures: the seconds of a run spent in each category (`Timeline.shares`)."""
    return [Figure(SHARE_LABELS[c], shares[c], "s") for c in categories]


def _require(status: Mapping[str, Any], what: str) -> None:
    if not up_to_date(status):
        raise SystemExit(f"{what}: ended {_brief(status)}")


def run_async(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion in a fresh event loop (the bare baselines)."""

    async def wrapper() -> T:
        return await awaitable

    return asyncio.run(wrapper())


@dataclasses.dataclass(frozen=True)
class Tenants:
    """The many-apps SCIM server (`scim_tenants.py`): tenant `k` is at `<origin>/t/<k>/v2`."""

    origin: str
    token: str

    def base_url(self, tenant: str) -> str:
        """The SCIM base URL of one tenant."""
        return f"{self.origin}/t/{tenant}/v2"


@contextlib.contextmanager
def scim_tenants_process() -> Iterator[Tenants]:
    """The many-apps SCIM server in a process of its own."""
    child = subprocess.Popen(
        [sys.executable, str(BENCH / "scim_tenants.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        line = child.stdout.readline()
        if not line.startswith("{"):
            raise RuntimeError(f"the SCIM tenants server did not start: {line!r}")
        yield Tenants(**json.loads(line))
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
