"""B4 drift of 1%: 100 of 10,000 accounts changed out of band, repaired by a sync, against the bare work.

Run: .venv/bin/python bench/b4_drift.py [--quick] [--accounts N] [--repeats N]

Set-up (not measured): the operator provisions the accounts from roster ConfigMaps. Then, each repeat:
baseline: scim2-client alone (`harness.BareClient`) pages through all users once and PATCHes the title of
1% of them, up to the operator's concurrency at once: this is the drift; operator: from the
`idlcm.io/sync-now` annotation until that sync shows UpToDate, having PATCHed them back. Medians of the
repeats. Target: operator <= 1.2 x (one page-through + the bare PATCHes); one write per drifted account.
"""

from __future__ import annotations

import dataclasses
import time

import harness
from harness import Figure

from scimapp import ScimApp

LIMIT = 1.2
DRIFT = 0.01


@dataclasses.dataclass
class Drift:
    """The bare work of one repeat: page-through and PATCHes (wall seconds), CPU, users changed."""

    listed: float
    patched: float
    cpu: float
    drifted: int


def bare_drift(app: ScimApp, expected: int, repeat: int) -> Drift:
    """Page through every user, then change the title of 1% of them (a different 1% each repeat), with
    the bare client."""

    async def drift() -> Drift:
        async with harness.bare_client(app) as bare:
            with harness.Clock() as listing:
                users = await bare.page_through()
            if len(users) != expected:
                raise SystemExit(f"baseline: read {len(users)} users, expected {expected}")
            step = round(1 / DRIFT)
            chosen = sorted(users, key=lambda u: u.user_name)[repeat % step :: step]
            with harness.Clock() as patching:
                await bare.patch_title(chosen, f"Drifted {repeat}")
        return Drift(listing.wall, patching.wall, listing.cpu + patching.cpu, len(chosen))

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
    baselines: list[Drift] = []
    sync_writes: list[int] = []
    with harness.provisioned(count) as bench:
        for repeat in range(repeats):
            baselines.append(bare_drift(bench.app, count, repeat))
            since = time.time()
            syncs.append(bench.sync())
            sync_writes.append(harness.writes(bench.app, since))
            bare = baselines[-1]
            print(
                f"  {repeat + 1}/{repeats}: sync {syncs[-1].seconds:.2f} s ({sync_writes[-1]} writes); "
                f"page-through {bare.listed:.2f} s + {bare.drifted} PATCHes {bare.patched:.2f} s"
            )
            if syncs[-1].counts.get("updated") != bare.drifted:
                raise SystemExit(f"sync: {syncs[-1].counts}")
        shares = [bench.timeline.shares(s.start, s.end) for s in syncs]

    drifted = baselines[0].drifted
    operator = harness.median([s.seconds for s in syncs])
    baseline = harness.median([b.listed + b.patched for b in baselines])
    report.add(
        harness.at_most_ratio(f"sync-now -> UpToDate (median of {repeats})", operator, baseline, LIMIT)
    )
    report.add(Figure("  baseline: page-through", harness.median([b.listed for b in baselines]), "s"))
    report.add(Figure(f"  baseline: {drifted} PATCHes", harness.median([b.patched for b in baselines]), "s"))
    writes = max(sync_writes)
    report.add(Figure("write requests per sync", writes, "count", drifted, f"= {drifted}", writes == drifted))
    report.add(harness.cpu_figure([s.cpu for s in syncs], [b.cpu for b in baselines]))
    middle = sorted(range(repeats), key=lambda i: syncs[i].seconds)[repeats // 2]
    for figure in harness.share_figures(shares[middle], ("operation", "kubernetes", "other")):
        report.add(figure)
    report.details = {
        "accounts": count,
        "drifted": drifted,
        "sync_seconds": [s.seconds for s in syncs],
        "baseline_seconds": [{"page_through": b.listed, "patches": b.patched} for b in baselines],
        "cpu_seconds": {"sync": [s.cpu for s in syncs], "baseline": [b.cpu for b in baselines]},
        "sync_writes": sync_writes,
        "shares": shares,
        "counts": syncs[-1].counts,
        "setup_seconds": bench.setup.seconds,
    }
    report.finish(args.json)


if __name__ == "__main__":
    main()
