"""B5 many Integrations: 1,000 Integrations of 5 accounts each to UpToDate through one operator process.

Run: .venv/bin/python bench/b5_many.py [--quick] [--count N] [--shared-tenant]

Each phase gets a fresh embedded Kubernetes API (in this process); the operator runs in a process of its
own, so that its peak RSS is its own, and so does the SCIM server (`scim_tenants.py`: each Integration
talks to its own tenant, i.e. its own app storage; `--shared-tenant` puts every Integration on one).
All Integrations are of one app in one namespace: the app is validated once, through the first.
The operator runs with the production tick (5 s): the Integrations waiting for the app's first validation
go on when it has passed, not at a tick.
Baseline: a bare kopf operator on the same embedded API that only patches `status.status = UpToDate` on
create. Throughput: Integrations that reached UpToDate per second, from the first create to the last
UpToDate. Targets: idlcm's peak RSS <= 200 MiB; throughput >= 0.7 x the bare operator's.

Where the difference goes is measured too: the CPU time of the operator, of the embedded API server (a
thread of this process) and of the SCIM server, and the requests the API server and the apps received,
per Integration. Both phases share the two cores with the API server, the SCIM server and this process.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import harness
from harness import Figure

from idlcm.devcluster import DevCluster
from idlcm.settings import Settings

RSS_MIB = 200.0
THROUGHPUT_SHARE = 0.7
# Production's tick: nothing in B5 waits for one (see the docstring); a shorter one only costs CPU.
OPERATOR_SETTINGS = dataclasses.replace(harness.SETTINGS, tick=Settings().tick)


@dataclasses.dataclass
class Phase:
    """One operator taking `count` Integrations to UpToDate, and what it cost everyone."""

    kind: str
    count: int
    create_seconds: float
    seconds: float
    max_rss_mib: float
    cpu_seconds: float
    api_cpu_seconds: float
    scim_cpu_seconds: float
    api_requests: dict[str, int]
    app_requests: dict[str, int]

    @property
    def throughput(self) -> float:
        """Integrations reaching UpToDate per second."""
        return self.count / self.seconds

    def per_integration(self, requests: dict[str, int]) -> float:
        """Requests per Integration."""
        return sum(requests.values()) / self.count


def _cpu_of(stat: Path) -> float:
    """utime + stime of a process or thread, from its /proc stat file (0 when it is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scim_server_stat() -> Path | None:
    """The /proc stat file of the SCIM tenants server this process started."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and b"scim_tenants.py" in command:
            return entry / "stat"
    return None


def _devcluster_stat() -> Path:
    """The /proc stat file of the embedded API server's thread."""
    thread = next(t for t in threading.enumerate() if t.name == "devcluster" and t.is_alive())
    return Path(f"/proc/self/task/{thread.native_id}/stat")


@contextmanager
def _counting_api_requests() -> Iterator[collections.Counter[str]]:
    """Count the requests the embedded API server answers, by method, while the block runs."""
    counts: collections.Counter[str] = collections.Counter()
    original = DevCluster.__call__

    async def counted(self: DevCluster, raw: Any) -> Any:
        counts[raw.method] += 1
        return await original(self, raw)

    DevCluster.__call__ = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        DevCluster.__call__ = original  # type: ignore[method-assign]


def phase(kind: str, count: int, tenants: harness.Tenants, *, shared: bool, timeout: float) -> Phase:
    """Create `count` Integrations with the `kind` operator running; wait until every one is UpToDate."""
    scim_stat = _scim_server_stat()
    with (
        harness.embedded_cluster() as cluster,
        tempfile.TemporaryDirectory(prefix="idlcm-b5-") as tmp,
        _counting_api_requests() as api_requests,
    ):
        namespace = cluster.namespace("b5")
        cluster.secret(namespace, harness.TOKEN_SECRET, {"token": tenants.token})
        watcher = harness.Watcher(cluster)
        names = [f"intg-{i:04d}" for i in range(count)]
        report_path = Path(tmp) / "operator.json"
        os.environ["IDLCM_BENCH_REPORT"] = str(report_path)  # the child reads it (harness passes os.environ)
        with harness.operator_process(cluster, kind, OPERATOR_SETTINGS) as reports:
            api_requests.clear()  # from here on: the phase itself
            api_cpu = _cpu_of(_devcluster_stat())
            scim_cpu = _cpu_of(scim_stat) if scim_stat else 0.0
            start = time.perf_counter()
            for i, name in enumerate(names):
                url = tenants.base_url("shared" if shared else f"{kind}-{i}")
                spec = harness.integration_spec(url, accounts=harness.people(f"{kind}{i}u", 5))
                cluster.create(namespace, name, spec)
            created = time.perf_counter()
            reached = watcher.wait_all([f"{namespace}/{n}" for n in names], harness.up_to_date, timeout)
            end = max(reached.values())
            api_cpu = _cpu_of(_devcluster_stat()) - api_cpu
            scim_cpu = (_cpu_of(scim_stat) if scim_stat else 0.0) - scim_cpu
            counted = dict(api_requests)
        del os.environ["IDLCM_BENCH_REPORT"]
        watcher.close()
        extra = json.loads(report_path.read_text()) if report_path.exists() else {}
    if not reports:
        raise SystemExit(f"the {kind} operator did not report its resource usage")
    child = reports[0]
    return Phase(
        kind,
        count,
        created - start,
        end - start,
        child.max_rss_mib,
        child.cpu_seconds,
        api_cpu,
        scim_cpu,
        counted,
        extra.get("app_requests", {}),
    )


def _describe(phase: Phase) -> str:
    return (
        f"{phase.seconds:.1f} s ({phase.throughput:.1f}/s), creates took {phase.create_seconds:.1f} s, "
        f"peak RSS {phase.max_rss_mib:.0f} MiB\n             CPU: operator {phase.cpu_seconds:.1f} s, API "
        f"server {phase.api_cpu_seconds:.1f} s, SCIM server {phase.scim_cpu_seconds:.1f} s; per Integration: "
        f"{phase.per_integration(phase.api_requests):.1f} API requests "
        f"{dict(sorted(phase.api_requests.items()))}, {phase.per_integration(phase.app_requests):.1f} "
        f"app requests {dict(sorted(phase.app_requests.items()))}"
    )


def main() -> None:
    args = harness.arguments(
        __doc__.splitlines()[0],
        count=(int, 1_000, "Integrations (100 with --quick)"),
        timeout=(float, 900.0, "seconds to wait for every Integration"),
        shared_tenant=(bool, False, "every Integration on one SCIM tenant (default: each on its own)"),
    )
    shared = args.shared_tenant
    count = min(args.count, 100) if args.quick else args.count
    title = f"B5 {count:,} Integrations x 5 accounts through one operator process"
    report = harness.Report("b5_many", title + (" (one shared SCIM tenant)" if shared else ""), args.quick)

    with harness.scim_tenants_process() as tenants:
        bare = phase("bare", count, tenants, shared=shared, timeout=args.timeout)
        print(f"  bare kopf: {_describe(bare)}", flush=True)
        idlcm = phase("idlcm", count, tenants, shared=shared, timeout=args.timeout)
        print(f"  idlcm:     {_describe(idlcm)}", flush=True)

    share = THROUGHPUT_SHARE
    report.add(
        Figure(
            "throughput (Integrations UpToDate/s)",
            idlcm.throughput,
            "/s",
            bare.throughput,
            f">= {share:g} x baseline",
            idlcm.throughput >= share * bare.throughput,
        )
    )
    report.add(Figure("first create -> last UpToDate", idlcm.seconds, "s", bare.seconds))
    report.add(
        Figure(
            "peak RSS of the operator",
            idlcm.max_rss_mib,
            "MiB",
            bare.max_rss_mib,
            f"<= {RSS_MIB:g} MiB",
            idlcm.max_rss_mib <= RSS_MIB,
        )
    )
    report.add(Figure("CPU time of the operator", idlcm.cpu_seconds, "s", bare.cpu_seconds))
    report.add(Figure("CPU time of the API server", idlcm.api_cpu_seconds, "s", bare.api_cpu_seconds))
    report.add(Figure("CPU time of the SCIM server", idlcm.scim_cpu_seconds, "s", bare.scim_cpu_seconds))
    report.add(
        Figure(
            "API requests per Integration",
            idlcm.per_integration(idlcm.api_requests),
            "",
            bare.per_integration(bare.api_requests),
        )
    )
    report.add(Figure("app requests per Integration", idlcm.per_integration(idlcm.app_requests), ""))
    report.add(Figure("creating the Integrations took", idlcm.create_seconds, "s", bare.create_seconds))
    report.notes.extend(_gap(bare, idlcm))
    report.details = {
        "count": count,
        "shared_tenant": shared,
        "tick": OPERATOR_SETTINGS.tick,
        "phases": [dataclasses.asdict(p) | {"throughput": p.throughput} for p in (bare, idlcm)],
    }
    report.finish(args.json)


def _gap(bare: Phase, idlcm: Phase) -> list[str]:
    """What the difference is made of, from the figures of this run."""
    work = idlcm.cpu_seconds + idlcm.api_cpu_seconds + idlcm.scim_cpu_seconds
    base = bare.cpu_seconds + bare.api_cpu_seconds + bare.scim_cpu_seconds
    cores = os.cpu_count() or 1
    per = 1000 / idlcm.count
    return [
        f"CPU per Integration, operator + API server + SCIM server: idlcm {per * work:.1f} ms, bare "
        f"{1000 * base / bare.count:.1f} ms (the operators alone: {per * idlcm.cpu_seconds:.1f} vs "
        f"{1000 * bare.cpu_seconds / bare.count:.1f} ms, start-up and imports included)",
        f"on {cores} cores that CPU alone bounds idlcm at about {cores * idlcm.count / work:.0f} "
        "Integrations/s; the bare operator keeps up with this benchmark creating them "
        f"({bare.count / bare.create_seconds:.0f}/s)",
        "idlcm does per Integration what the bare operator does not: its own validation against the app "
        "(4 SCIM requests: ServiceProviderConfig, one account, ResourceTypes, Schemas; the last two are "
        "shared between Integrations of one base URL, and each here has its own tenant), the provisioning "
        "(list users, whose tenant is empty: no groups listing; one Bulk create), a status patch and an "
        "Event per state (4 states: Validating, Validated, InProgress, UpToDate), its reads of the "
        "ExternalApp and the Secret",
    ]


if __name__ == "__main__":
    main()
