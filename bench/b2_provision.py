"""B2 initial provisioning: 10,000 accounts from roster ConfigMaps, against a bare create of the same users.

Run: .venv/bin/python bench/b2_provision.py [--quick] [--accounts N]

Operator: from applying the Integration (accounts in `accountsFrom` ConfigMaps) until it shows UpToDate:
the app's first validation, the Integration's check, the listing, the plan and the creates. Baseline: the
same users (owner stamp included) created with the same SCIM client (`ScimConnector.create_many`: Bulk,
as the app offers it) at the same concurrency, into an empty app, measured before and after the operator
(the mean of both). Target: operator <= 1.15 x baseline.
"""

from __future__ import annotations

import time
import uuid

import harness
from harness import Figure

from scimapp import ScimApp, running_scim_app

LIMIT = 1.15


def bare_create(app: ScimApp, count: int) -> tuple[float, int]:
    """Seconds to create the accounts with the bare client into the (empty) app, and the writes it sent."""
    accounts = harness.desired(harness.roster_csv("u", 0, count), "bench-x", "crm", str(uuid.uuid4()))
    connector = harness.bare_connector(app)

    async def create() -> float:
        await connector.capabilities()  # the operator's connector knows them from validation
        seconds, results = await harness.timed_async(connector.create_many(accounts))
        await connector.aclose()
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise SystemExit(f"baseline: {len(failed)} creates failed, e.g. {failed[0]}")
        return seconds

    since = time.time()
    seconds = harness.run_async(create())
    return seconds, harness.writes(app, since)


def main() -> None:
    args = harness.arguments(__doc__.splitlines()[0], accounts=(int, 10_000, "accounts (1,000 with --quick)"))
    count = 1_000 if args.quick else args.accounts
    report = harness.Report(
        "b2_provision", f"B2 initial provisioning of {count:,} accounts (Bulk)", args.quick
    )

    with running_scim_app() as app, harness.embedded_cluster() as cluster:
        baselines = [bare_create(app, count)]
        print(f"  baseline (bare create_many): {baselines[0][0]:.2f} s, {baselines[0][1]} write requests")
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
            print(f"  baseline again: {baselines[1][0]:.2f} s")

    baseline = sum(s for s, _ in baselines) / len(baselines)
    report.add(harness.at_most_ratio("apply -> UpToDate", run.seconds, baseline, LIMIT))
    for category, label in (
        ("validation", "of which validation"),
        ("kubernetes", "of which Kubernetes round trips"),
        ("operation", "of which the operation"),
        ("other", "of which other"),
    ):
        report.add(Figure(label, shares[category], "s"))
    report.add(Figure("write requests to the app", operator_writes, "count", baselines[0][1]))
    report.details = {
        "accounts": count,
        "operator_seconds": run.seconds,
        "baseline_seconds": [s for s, _ in baselines],
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
