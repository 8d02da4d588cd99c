"""B5 many Integrations: 1,000 Integrations of 5 accounts each to UpToDate through one operator process.

Run: .venv/bin/python bench/b5_many.py [--quick] [--count N] [--shared-tenant]

Each phase gets a fresh embedded Kubernetes API (in this process); the operator runs in a process of its
own, so that its peak RSS is its own, and so does the SCIM server (`scim_tenants.py`: each Integration
talks to its own tenant, i.e. its own app storage; `--shared-tenant` puts every Integration on one).
All Integrations are of one app in one namespace: the app is validated once, through the first.
Baseline: a bare kopf operator on the same embedded API that only patches `status.status = UpToDate` on
create. Throughput: Integrations that reached UpToDate per second, from the first create to the last
UpToDate. Targets: idlcm's peak RSS <= 200 MiB; throughput >= 0.7 x the bare operator's.
"""

from __future__ import annotations

import dataclasses
import time

import harness
from harness import Figure

RSS_MIB = 200.0
THROUGHPUT_SHARE = 0.7


@dataclasses.dataclass
class Phase:
    """One operator taking `count` Integrations to UpToDate."""

    kind: str
    count: int
    create_seconds: float
    seconds: float
    max_rss_mib: float
    cpu_seconds: float

    @property
    def throughput(self) -> float:
        """Integrations reaching UpToDate per second."""
        return self.count / self.seconds


def phase(kind: str, count: int, tenants: harness.Tenants, *, shared: bool, timeout: float) -> Phase:
    """Create `count` Integrations with the `kind` operator running; wait until every one is UpToDate."""
    with harness.embedded_cluster() as cluster:
        namespace = cluster.namespace("b5")
        cluster.secret(namespace, harness.TOKEN_SECRET, {"token": tenants.token})
        watcher = harness.Watcher(cluster)
        names = [f"intg-{i:04d}" for i in range(count)]
        with harness.operator_process(cluster, kind) as reports:
            start = time.perf_counter()
            for i, name in enumerate(names):
                url = tenants.base_url("shared" if shared else f"{kind}-{i}")
                spec = harness.integration_spec(url, accounts=harness.people(f"{kind}{i}u", 5))
                cluster.create(namespace, name, spec)
            created = time.perf_counter()
            reached = watcher.wait_all([f"{namespace}/{n}" for n in names], harness.up_to_date, timeout)
            end = max(reached.values())
        watcher.close()
    if not reports:
        raise SystemExit(f"the {kind} operator did not report its resource usage")
    child = reports[0]
    return Phase(kind, count, created - start, end - start, child.max_rss_mib, child.cpu_seconds)


def main() -> None:
    args = harness.arguments(
        __doc__.splitlines()[0],
        count=(int, 1_000, "Integrations (100 with --quick)"),
        timeout=(float, 900.0, "seconds to wait for every Integration"),
    )
    shared = "--shared-tenant" in __import__("sys").argv
    count = min(args.count, 100) if args.quick else args.count
    title = f"B5 {count:,} Integrations x 5 accounts through one operator process"
    report = harness.Report("b5_many", title + (" (one shared SCIM tenant)" if shared else ""), args.quick)

    with harness.scim_tenants_process() as tenants:
        bare = phase("bare", count, tenants, shared=shared, timeout=args.timeout)
        print(
            f"  bare kopf: {bare.seconds:.1f} s ({bare.throughput:.1f}/s),"
            f" creates took {bare.create_seconds:.1f} s, peak RSS {bare.max_rss_mib:.0f} MiB,"
            f" CPU {bare.cpu_seconds:.1f} s"
        )
        idlcm = phase("idlcm", count, tenants, shared=shared, timeout=args.timeout)
        print(
            f"  idlcm:     {idlcm.seconds:.1f} s ({idlcm.throughput:.1f}/s),"
            f" creates took {idlcm.create_seconds:.1f} s, peak RSS {idlcm.max_rss_mib:.0f} MiB,"
            f" CPU {idlcm.cpu_seconds:.1f} s"
        )

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
    report.add(Figure("creating the Integrations took", idlcm.create_seconds, "s", bare.create_seconds))
    report.details = {
        "count": count,
        "shared_tenant": shared,
        "tick": harness.SETTINGS.tick,
        "phases": [dataclasses.asdict(p) | {"throughput": p.throughput} for p in (bare, idlcm)],
    }
    report.finish(args.json)


if __name__ == "__main__":
    main()
