"""B2 initial provisioning: 10,000 accounts from roster ConfigMaps, against a bare create of the same users.

Run: .venv/bin/python bench/b2_provision.py [--quick] [--accounts N]

Operator: from applying the Integration (accounts in `accountsFrom` ConfigMaps) until it shows UpToDate:
the app's first validation, the Integration's check, reading the rosters, the listing, the plan and the
creates. Baseline: the same users (owner stamp included) created by scim2-client alone (`harness.BareClient`:
their scim2-models Users built from the accounts, then Bulk, as the app offers it, `maxOperations` per
request, at the operator's concurrency) into an empty app, measured before and after the operator (the mean
of both). Target: operator <= 1.15 x baseline.
"""

from __future__ import annotations

import time
import uuid

import harness
from harness import Figure

from idlcm.connectors.scim.mapping import to_user
from scimapp import ScimApp, running_scim_app

LIMIT = 1.15


def bare_create(app: ScimApp, count: int) -> tuple[harness.Clock, int]:
    """Wall and CPU seconds for the bare client to create the users into the (empty) app, and the writes
    it sent."""
    accounts = harness.desired(harness.roster_csv("u", 0, count), "bench-x", "crm", str(uuid.uuid4()))

    async def create() -> harness.Clock:
        async with harness.bare_client(app) as bare:
            with harness.Clock() as clock:
                # scim2-client sends scim2-models Users: building them is part of creating with it.
                users = [to_user(account) for account in accounts]
                statuses = await bare.bulk_create(users)
        failed = [s for s in statuses if s != 201]
        if len(statuses) != count or failed:
            raise SystemExit(f"baseline: {len(statuses)} answers, {len(failed)} failed")
        return clock

    since = time.time()
    clock = harness.run_async(create())
    return clock, harness.writes(app, since)


def main() -> None:
    args = harness.arguments(__doc__.splitlines()[0], accounts=(int, 10_000, "accounts (1,000 with --quick)"))
    count = 1_000 if args.quick else args.accounts
    report = harness.Report(
        "b2_provision", f"B2 initial provisioning of {count:,} accounts (Bulk)", args.quick
    )

    with running_scim_app() as app, harness.embedded_cluster() as cluster:
        baselines = [bare_create(app, count)]
        clock, sent = baselines[0]
        print(f"  baseline (bare Bulk creates): {clock.wall:.2f} s, {sent} write requests")
        app.reset()
        with harness.Timeline().instrument() as timeline, harness.operator_thread(cluster):
            watcher = harness.Watcher(cluster)
            namespace, spec = harness.roster_integration(cluster, app, count)
            since = time.time()
            run = harness.apply_and_wait(cluster, watcher, namespace, "crm", spec, timeout=900)
            operator_writes = harness.writes(app, since)
            shares = timeline.shares(run.start, run.end)
            watcher.close()
        print(f"  operator (apply -> UpToDate): {run.seconds:.2f} s, {operator_writes} write requests")
        if run.counts.get("created") != count or len(app.users()) != count:
            raise SystemExit(
                f"operator: created {run.counts.get('created')}, the app holds {len(app.users())}"
            )
        if not args.quick:
            app.reset()
            baselines.append(bare_create(app, count))
            print(f"  baseline again: {baselines[1][0].wall:.2f} s")

    baseline = sum(c.wall for c, _ in baselines) / len(baselines)
    report.add(harness.at_most_ratio("apply -> UpToDate", run.seconds, baseline, LIMIT))
    for figure in harness.share_figures(shares, ("validation", "kubernetes", "operation", "other")):
        report.add(figure)
    report.add(harness.cpu_figure([run.cpu], [c.cpu for c, _ in baselines]))
    report.add(Figure("write requests to the app", operator_writes, "count", baselines[0][1]))
    report.details = {
        "accounts": count,
        "operator_seconds": run.seconds,
        "baseline_seconds": [c.wall for c, _ in baselines],
        "cpu_seconds": {"operator": run.cpu, "baseline": [c.cpu for c, _ in baselines]},
        "shares": shares,
        "counts": run.counts,
    }
    report.notes.append(
        "the operator's time includes the app's first validation and the Integration's check (it starts at "
        "the apply); the baseline only creates"
    )
    report.finish(args.json)


if __name__ == "__main__":
    main()
