"""B1 latency: `kubectl apply` of a 100-account Integration until it shows UpToDate, and where the time goes.

Run: .venv/bin/python bench/b1_latency.py [--quick] [--runs N] [--accounts N]

Each run applies (server-side apply) a new Integration in a new namespace, against the embedded Kubernetes
API and the SCIM app on loopback, and waits (a watch) for UpToDate: the app's first validation, the
Integration's own check, then the provisioning of its accounts (Bulk). The operator runs in this process,
in its own thread, so that its Kubernetes calls, validation and operation can be timed (`harness.Timeline`).
Target: median <= 2 s over 10 runs.
"""

from __future__ import annotations

import time

import harness
from harness import Figure

from scimapp import running_scim_app

TARGET_SECONDS = 2.0


def main() -> None:
    args = harness.arguments(
        __doc__.splitlines()[0],
        runs=(int, 10, "applies measured (default 10; 3 with --quick)"),
        accounts=(int, 100, "accounts per Integration"),
    )
    runs = min(args.runs, 3) if args.quick else args.runs
    report = harness.Report(
        "b1_latency", f"B1 latency: apply a {args.accounts}-account Integration -> UpToDate", args.quick
    )

    latencies: list[float] = []
    shares: list[dict[str, float]] = []
    calls: list[int] = []
    with (
        running_scim_app() as app,
        harness.embedded_cluster() as cluster,
        harness.Timeline().instrument() as timeline,
        harness.operator_thread(cluster),
    ):
        watcher = harness.Watcher(cluster)
        for run in range(runs):
            namespace = cluster.namespace("b1")
            cluster.secret(namespace, harness.TOKEN_SECRET, {"token": app.token})
            spec = harness.integration_spec(app.base_url, accounts=harness.people(f"r{run}u", args.accounts))
            start = time.perf_counter()
            cluster.apply(namespace, "crm", spec)
            timeline.record("kubernetes", start, time.perf_counter())  # the apply is a round trip too
            _, (seen, status) = watcher.wait(
                f"{namespace}/crm", lambda s: harness.up_to_date(s) or harness.settled_badly(s), timeout=120
            )
            created = (status.get("lastOperation") or {}).get("counts", {}).get("created")
            if not harness.up_to_date(status) or created != args.accounts:
                raise SystemExit(f"run {run}: ended {status.get('status')}: {status.get('message')}")
            latencies.append(seen - start)
            shares.append(timeline.shares(start, seen))
            calls.append(timeline.count("kubernetes", start, seen))
            print(
                f"  run {run + 1}/{runs}: {latencies[-1]:.3f} s  " + _shares_text(shares[-1], latencies[-1])
            )
        watcher.close()

    typical = harness.median(latencies)
    report.add(
        Figure(
            f"median apply -> UpToDate ({runs} runs)",
            typical,
            "s",
            target=f"<= {TARGET_SECONDS:g} s",
            met=typical <= TARGET_SECONDS,
        )
    )
    report.add(Figure("fastest run", min(latencies), "s"))
    report.add(Figure("slowest run", max(latencies), "s"))
    mean_total = sum(latencies) / len(latencies)
    for category in (*harness.Timeline.CATEGORIES, "other"):
        mean = sum(s[category] for s in shares) / len(shares)
        report.add(Figure(f"share: {_LABELS[category]}", 100 * mean / mean_total, "%"))
    report.add(Figure("Kubernetes calls per apply (median)", harness.median(calls), "count"))
    report.details = {
        "accounts": args.accounts,
        "latencies": latencies,
        "shares": shares,
        "kube_calls": calls,
    }
    report.notes.append(
        "each run is the first Integration of its app in a new namespace: it includes the app's first "
        "validation (read-only discovery) as well as the Integration's own check"
    )
    report.notes.append(
        "shares are wall-clock, each instant counted once: Kubernetes round trips (the apply, idlcm's calls, "
        "kopf's patches) before validation before the operation; 'other' is kopf's event delivery and "
        "bookkeeping between handlers, the story's own work and the watch reporting UpToDate"
    )
    report.finish(args.json)


_LABELS = {
    "kubernetes": "Kubernetes round trips",
    "validation": "validation (SCIM)",
    "operation": "operation (SCIM, plan)",
    "other": "other (kopf, scheduling)",
}


def _shares_text(shares: dict[str, float], total: float) -> str:
    return "  ".join(f"{k} {100 * v / total:.0f}%" for k, v in shares.items())


if __name__ == "__main__":
    main()
