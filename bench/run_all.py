"""Run the six benchmarks (B1..B6), each in a process of its own, then print every figure in one table.

Run: make bench                                  # the real sizes (what bench/RESULTS.md records)
     .venv/bin/python bench/run_all.py --quick   # smaller sizes, for iterating
     .venv/bin/python bench/run_all.py --only b1,b6

Each benchmark prints its own details as it runs and writes `bench/results/<name>.json`; this script then
prints a summary of every figure beside its baseline and target, and writes `bench/results/summary.json`.
A missed target is a figure (MISSED), not a failure: the exit status is 1 only when a benchmark could not
run to the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import harness

BENCHMARKS = (
    ("b1", "b1_latency"),
    ("b2", "b2_provision"),
    ("b3", "b3_steady_sync"),
    ("b4", "b4_drift"),
    ("b5", "b5_many"),
    ("b6", "b6_accounts_from"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. b1,b6")
    args = parser.parse_args()
    wanted = {name.strip().lower() for name in args.only.split(",") if name.strip()}
    unknown = wanted - {key for key, _ in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    machine = harness.machine()
    print(
        f"machine: {machine['nproc']} CPUs ({machine['cpus_usable']} usable), {machine['cpu']}, "
        f"{machine['memory']}, Python {machine['python']}"
    )
    started = time.monotonic()
    results, failed = [], []
    for key, script in BENCHMARKS:
        if wanted and key not in wanted:
            continue
        path = harness.RESULTS / f"{script}.json"
        path.unlink(missing_ok=True)
        command = [sys.executable, str(harness.BENCH / f"{script}.py"), "--json", str(path)]
        command += ["--quick"] if args.quick else []
        print(f"\n=== {key.upper()}: {script}.py{' --quick' if args.quick else ''}", flush=True)
        clock = time.monotonic()
        code = subprocess.call(command)
        print(f"=== {key.upper()} done in {time.monotonic() - clock:.0f} s (exit {code})", flush=True)
        if code != 0 or not path.exists():
            failed.append(f"{key.upper()} ({script}.py, exit {code})")
            continue
        results.append(json.loads(path.read_text()))
    total = time.monotonic() - started

    print(f"\n{'=' * 100}\nSummary{' (--quick)' if args.quick else ''}: {total / 60:.1f} min in all")
    for result in results:
        figures = [harness.Figure(**_fields(f)) for f in result["figures"]]
        print(f"\n{result['title']} ({result['seconds']:.0f} s)")
        print(harness.table(figures))
    verdicts = [f["verdict"] for r in results for f in r["figures"] if f["verdict"]]
    print(f"\ntargets: {verdicts.count('met')} met, {verdicts.count('MISSED')} missed", end="")
    print(f"; could not run: {', '.join(failed)}" if failed else "")
    summary = {
        "quick": args.quick,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "minutes": round(total / 60, 1),
        "machine": machine,
        "results": results,
        "failed": failed,
    }
    out = harness.RESULTS / "summary.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary: {Path(out).relative_to(harness.ROOT)}")
    return 1 if failed else 0


def _fields(figure: dict[str, object]) -> dict[str, object]:
    """A figure's JSON without the derived keys (ratio, verdict)."""
    return {k: v for k, v in figure.items() if k not in ("ratio", "verdict")}


if __name__ == "__main__":
    sys.exit(main())
