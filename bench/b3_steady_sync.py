"""B3 steady-state sync: 10,000 unchanged accounts, against one bare page-through of the app's users.

Run: .venv/bin/python bench/b3_steady_sync.py [--quick] [--accounts N] [--repeats N]

Set-up (not measured): the operator provisions the accounts from roster ConfigMaps. Then, alternately:
operator: from the `idlcm.io/sync-now` annotation until that sync shows UpToDate; baseline: scim2-client
alone (`harness.BareClient`) paging through all users once at the largest page size. Medians of the repeats.
Targets: operator <= 1.1 x baseline, and zero write requests at the app during the syncs (counted at the
app, from its request log).
"""

from __future__ import annotations

import time

import harness
from harness import Figure

from scimapp import ScimApp

LIMIT = 1.1


def bare_page_through(app: ScimApp, expected: int) -> harness.Clock:
    """Wall and CPU seconds for the bare client to read every user once."""

    async def read() -> harness.Clock:
        async with harness.bare_client(app) as bare:
            with harness.Clock() as clock:
                users = await bare.page_through()
        if len(users) != expected:
            raise SystemExit(f"baseline: read {len(users)} users, expected {expected}")
        return clock

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
    baselines: list[harness.Clock] = []
    with harness.provisioned(count) as bench:
        since = time.time()
        for repeat in range(repeats):
            baselines.append(bare_page_through(bench.app, count))
            syncs.append(bench.sync())
            print(
                f"  {repeat + 1}/{repeats}: sync {syncs[-1].seconds:.2f} s,"
                f" page-through {baselines[-1].wall:.2f} s"
            )
            if syncs[-1].counts.get("unchanged") != count:
                raise SystemExit(f"sync: {syncs[-1].counts}")
        sync_writes = harness.writes(bench.app, since)
        shares = [bench.timeline.shares(s.start, s.end) for s in syncs]

    operator = harness.median([s.seconds for s in syncs])
    baseline = harness.median([b.wall for b in baselines])
    report.add(
        harness.at_most_ratio(f"sync-now -> UpToDate (median of {repeats})", operator, baseline, LIMIT)
    )
    report.add(
        Figure("write requests during the syncs", sync_writes, "count", target="0", met=sync_writes == 0)
    )
    report.add(harness.cpu_figure([s.cpu for s in syncs], [b.cpu for b in baselines]))
    middle = sorted(range(repeats), key=lambda i: syncs[i].seconds)[repeats // 2]
    for figure in harness.share_figures(shares[middle], ("operation", "kubernetes", "other")):
        report.add(figure)
    report.details = {
        "accounts": count,
        "sync_seconds": [s.seconds for s in syncs],
        "baseline_seconds": [b.wall for b in baselines],
        "cpu_seconds": {"sync": [s.cpu for s in syncs], "baseline": [b.cpu for b in baselines]},
        "shares": shares,
        "counts": syncs[-1].counts,
        "setup_seconds": bench.setup.seconds,
    }
    report.notes.append(
        "the sync also lists the app's groups (one more paged listing) and writes status twice "
        "(InProgress, then UpToDate); the baseline only reads the users"
    )
    report.finish(args.json)


if __name__ == "__main__":
    main()
