"""B4 drift of 1%: 100 of 10,000 accounts changed out of band, repaired by a sync, against the bare work.

Run: .venv/bin/python bench/b4_drift.py [--quick] [--accounts N] [--repeats N]

Set-up (not measured): the operator provisions the accounts from roster ConfigMaps. Then, each repeat:
baseline: the same SCIM client pages through all users once and PATCHes 1% of them (title) at the same
concurrency: this is the drift; operator: from the `idlcm.io/sync-now` annotation until that sync shows
UpToDate, having PATCHed them back. Medians of the repeats.
Target: operator <= 1.2 x (one page-through + the bare PATCHes); exactly one write per drifted account.
"""

from __future__ import annotations

import asyncio
import time

import harness
from harness import Figure

from scimapp import ScimApp, running_scim_app

LIMIT = 1.2
DRIFT = 0.01


def bare_drift(app: ScimApp, expected: int, repeat: int) -> tuple[float, float, int]:
    """Page through every account, then change the title of 1% of them (a different 1% each repeat), with
    the bare client: (page-through seconds, PATCH seconds, accounts changed)."""
    connector = harness.bare_connector(app)

    async def drift() -> tuple[float, float, int]:
        await connector.capabilities()  # the operator's connector knows them from validation
        start = time.perf_counter()
        accounts = [account async for account in connector.list_accounts()]
        listed = time.perf_counter()
        if len(accounts) != expected:
            raise SystemExit(f"baseline: read {len(accounts)} accounts, expected {expected}")
        step = round(1 / DRIFT)
        chosen = sorted(accounts, key=lambda a: a.user_name)[repeat % step :: step]
        # Concurrency as the operator's: the connector's limiter admits maxConcurrency requests at once.
        await asyncio.gather(*(connector.update(a, {"title": f"Drifted {repeat}"}) for a in chosen))
        patched = time.perf_counter()
        await connector.aclose()
        return listed - start, patched - listed, len(chosen)

    return harness.run_async(drift())


def main() -> None:
    args = harness.arguments(
        __doc__.splitlines()[0],
        accounts=(int, 10_000, "accounts (1,000 with --quick)"),
        repeats=(int, 3, "drifts and repairs measured (1 with --quick)"),
    )
    count, repeats = (1_000, 1) if args.quick else (args.accounts, args.repeats)
    report = harness.Report(
        "b4_drift", f"B4 drift of 1% ({count // 100:,} of {count:,} accounts)", args.quick
    )

    syncs: list[harness.Run] = []
    baselines: list[tuple[float, float, int]] = []
    sync_writes: list[int] = []
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
        for repeat in range(repeats):
            baselines.append(bare_drift(app, count, repeat))
            since = time.time()
            syncs.append(harness.sync_and_wait(cluster, watcher, namespace, "crm", timeout=600))
            sync_writes.append(harness.writes(app, since))
            listed, patched, drifted = baselines[-1]
            print(
                f"  {repeat + 1}/{repeats}: sync {syncs[-1].seconds:.2f} s ({sync_writes[-1]} writes); "
                f"page-through {listed:.2f} s + {drifted} PATCHes {patched:.2f} s"
            )
            if syncs[-1].counts.get("updated") != drifted:
                raise SystemExit(f"sync: {syncs[-1].counts}")
        shares = [timeline.shares(s.start, s.end) for s in syncs]
        watcher.close()

    drifted = baselines[0][2]
    operator = harness.median([s.seconds for s in syncs])
    baseline = harness.median([listed + patched for listed, patched, _ in baselines])
    report.add(
        harness.at_most_ratio(f"sync-now -> UpToDate (median of {repeats})", operator, baseline, LIMIT)
    )
    report.add(Figure("  baseline: page-through", harness.median([b[0] for b in baselines]), "s"))
    report.add(Figure(f"  baseline: {drifted} PATCHes", harness.median([b[1] for b in baselines]), "s"))
    writes = max(sync_writes)
    report.add(Figure("write requests per sync", writes, "count", drifted, f"= {drifted}", writes == drifted))
    middle = sorted(range(repeats), key=lambda i: syncs[i].seconds)[repeats // 2]
    for category, label in (
        ("operation", "of which the operation"),
        ("kubernetes", "of which Kubernetes round trips"),
        ("other", "of which other"),
    ):
        report.add(Figure(label, shares[middle][category], "s"))
    report.details = {
        "accounts": count,
        "drifted": drifted,
        "sync_seconds": [s.seconds for s in syncs],
        "baseline_seconds": [{"page_through": b[0], "patches": b[1]} for b in baselines],
        "sync_writes": sync_writes,
        "shares": shares,
        "counts": syncs[-1].counts,
        "setup_seconds": setup.seconds,
    }
    report.finish(args.json)


if __name__ == "__main__":
    main()
