"""B3 steady-state sync: 10,000 unchanged accounts, against one bare page-through of the app's users.

Run: .venv/bin/python bench/b3_steady_sync.py [--quick] [--accounts N] [--repeats N]

Set-up (not measured): the operator provisions the accounts from roster ConfigMaps. Then, alternately:
operator: from the `idlcm.io/sync-now` annotation until that sync shows UpToDate; baseline: the same SCIM
client paging through all users once (`ScimConnector.list_accounts`). Medians of the repeats.
Targets: operator <= 1.1 x baseline, and zero write requests at the app during the syncs.
"""

from __future__ import annotations

import time

import harness
from harness import Figure

from scimapp import ScimApp, running_scim_app

LIMIT = 1.1


def bare_page_through(app: ScimApp, expected: int) -> float:
    """Seconds for the bare client to read every account once."""
    connector = harness.bare_connector(app)

    async def read() -> float:
        await connector.capabilities()  # the operator's connector knows them from validation
        start = time.perf_counter()
        accounts = [account async for account in connector.list_accounts()]
        seconds = time.perf_counter() - start
        await connector.aclose()
        if len(accounts) != expected:
            raise SystemExit(f"baseline: read {len(accounts)} accounts, expected {expected}")
        return seconds

    return harness.run_async(read())


def main() -> None:
    args = harness.arguments(
        __doc__.splitlines()[0],
        accounts=(int, 10_000, "accounts (1,000 with --quick)"),
        repeats=(int, 3, "syncs and page-throughs measured (1 with --quick)"),
    )
    count, repeats = (1_000, 1) if args.quick else (args.accounts, args.repeats)
    report = harness.Report(
        "b3_steady_sync", f"B3 steady-state sync of {count:,} unchanged accounts", args.quick
    )

    syncs: list[harness.Run] = []
    baselines: list[float] = []
    shares: list[dict[str, float]] = []
    with (
        running_scim_app() as app,
        harness.embedded_cluster() as cluster,
        harness.Timeline().instrument() as timeline,
        harness.operator_thread(cluster),
    ):
        watcher = harness.Watcher(cluster)
        namespace, spec = harness.roster_integration(cluster, app, count)
        setup = harness.apply_and_wait(cluster, watcher, namespace, "crm", spec, timeout=900)
        print(f"  set-up: {count:,} accounts provisioned in {setup.seconds:.1f} s")
        since = time.time()
        for repeat in range(repeats):
            baselines.append(bare_page_through(app, count))
            syncs.append(harness.sync_and_wait(cluster, watcher, namespace, "crm", timeout=600))
            shares.append(timeline.shares(syncs[-1].start, syncs[-1].end))
            print(
                f"  {repeat + 1}/{repeats}: sync {syncs[-1].seconds:.2f} s,"
                f" page-through {baselines[-1]:.2f} s"
            )
            if syncs[-1].counts.get("unchanged") != count:
                raise SystemExit(f"sync: {syncs[-1].counts}")
        sync_writes = harness.writes(app, since)
        watcher.close()

    operator = harness.median([s.seconds for s in syncs])
    baseline = harness.median(baselines)
    report.add(
        harness.at_most_ratio(f"sync-now -> UpToDate (median of {repeats})", operator, baseline, LIMIT)
    )
    report.add(
        Figure("write requests during the syncs", sync_writes, "count", target="0", met=sync_writes == 0)
    )
    middle = sorted(range(repeats), key=lambda i: syncs[i].seconds)[repeats // 2]
    for category, label in (
        ("operation", "of which the operation"),
        ("kubernetes", "of which Kubernetes round trips"),
        ("other", "of which other"),
    ):
        report.add(Figure(label, shares[middle][category], "s"))
    report.details = {
        "accounts": count,
        "sync_seconds": [s.seconds for s in syncs],
        "baseline_seconds": baselines,
        "shares": shares,
        "counts": syncs[-1].counts,
        "setup_seconds": setup.seconds,
    }
    report.finish(args.json)


if __name__ == "__main__":
    main()
