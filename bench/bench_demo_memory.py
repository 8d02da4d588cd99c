"""Memory of `idlcm demo` left running: RSS sampled while the examples sync every few seconds, and its slope.

Run: .venv/bin/python bench/bench_demo_memory.py               # 60 s, a quick look
     .venv/bin/python bench/bench_demo_memory.py --minutes 60  # the real check: an hour of idle running

The whole demo runs in this process (the embedded API, the SCIM app, the operator, the status feed, the
plain-lines display writing to nowhere), with every example's sync.interval shortened (`--sync-interval`) so
that an hour holds hundreds of syncs. Memory is bounded when RSS stops growing: the verdict holds the slope
over the second half of the run (extrapolated to MB per hour) to at most 5 MB/h, since the API keeps a
bounded history of changes and Events and the rest keeps nothing per sync. Writes results/demo_memory.json.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import harness
from harness import Figure

from idlcm.demo import DemoOptions, run_demo

WARM_UP = 0.25  # the first quarter of the run is left out of the slope (imports, first provisioning, caches)
BOUNDED_MB_PER_HOUR = 5.0  # what the second half of the run may still grow by, extrapolated to an hour


def rss_mb() -> float:
    """Resident set size of this process now (Linux), else its peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per hour."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 3600 if var else 0.0


def grown(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int = 12) -> None:
    """Print the allocation sites (their innermost idlcm/kopf/kmock frame) that grew the most."""
    ours = ("idlcm", "kopf", "kmock", "scim2", "aiohttp", "uvicorn", "prometheus")
    by_site: dict[str, list[int]] = {}
    for stat in after.compare_to(before, "traceback"):
        frames = [f for f in stat.traceback if any(name in f.filename for name in ours)]
        frame = (frames or list(stat.traceback))[-1]
        site = f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
        size, count = by_site.setdefault(site, [0, 0])
        by_site[site] = [size + stat.size_diff, count + stat.count_diff]
    print(f"\nwhere memory grew after the warm-up (tracemalloc, top {top}):")
    for site, (size, count) in sorted(by_site.items(), key=lambda item: -item[1][0])[:top]:
        print(f"  {size / 1024:+10.1f} KiB {count:+8d} blocks  {site}")


class _Nowhere(io.TextIOBase):
    """The display's output: counted, not kept (a StringIO would grow and be measured)."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, s: str) -> int:
        self.lines += s.count("\n")
        return len(s)

    def isatty(self) -> bool:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--minutes", type=float, help="how long to run, in minutes (overrides --seconds)")
    parser.add_argument("--sync-interval", default="5s", help="sync.interval of every example (default 5s)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the result (default: results/)"
    )
    parser.add_argument(
        "--trace", action="store_true", help="print where memory grew after the warm-up (tracemalloc; slower)"
    )
    args = parser.parse_args()
    duration = args.minutes * 60 if args.minutes is not None else args.seconds
    if args.trace:
        tracemalloc.start(12)
    warm: list[tracemalloc.Snapshot] = []

    stop = threading.Event()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()

    def sample() -> None:
        while not stop.wait(args.every):
            elapsed, mb = time.monotonic() - started, rss_mb()
            samples.append((elapsed, mb))
            print(f"{elapsed:8.0f} s  {mb:8.1f} MB", flush=True)
            if args.trace and not warm and elapsed >= duration * WARM_UP:
                warm.append(tracemalloc.take_snapshot())
            if elapsed >= duration:
                stop.set()

    out = _Nowhere()
    print(f"idlcm demo for {duration:.0f} s, sync every {args.sync_interval}, RSS every {args.every:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        options = DemoOptions(
            kubeconfig=Path(tmp) / "kubeconfig", sync_interval=args.sync_interval, live=False
        )
        sampler = threading.Thread(target=sample, name="sampler", daemon=True)
        sampler.start()
        code = run_demo(options, out=out, stop=stop)
        stop.set()  # also after Ctrl-C
        sampler.join(timeout=args.every + 1)

    if not samples:
        print("no sample taken: run longer than --every", file=sys.stderr)
        return 1
    if warm:
        grown(warm[0], tracemalloc.take_snapshot())
    title = f"idlcm demo left running {duration / 60:.0f} min"
    report = harness.Report("demo_memory", title, quick=False, started=started)
    steady = [s for s in samples if s[0] >= duration * WARM_UP]
    late = [s for s in samples if s[0] >= duration / 2]
    first, peak, last = samples[0][1], max(m for _, m in samples), samples[-1][1]
    report.add(Figure("RSS at the first sample", first, "MB"))
    report.add(Figure("RSS peak", peak, "MB"))
    report.add(Figure("RSS at the end", last, "MB"))
    report.add(Figure(f"slope after the first {WARM_UP:.0%}", slope_per_hour(steady), "MB/h"))
    slope = slope_per_hour(late)
    verdict = slope <= BOUNDED_MB_PER_HOUR
    report.add(
        Figure("slope over the second half", slope, "MB/h", None, f"<= {BOUNDED_MB_PER_HOUR:g} MB/h", verdict)
    )
    report.details = {"samples": samples, "sync_interval": args.sync_interval, "status_lines": out.lines}
    if duration < 30 * 60:
        report.notes.append(
            "a short run: the embedded API's bounded history, the Events and the app's request log are still "
            "filling up; the check of issue 5 is --minutes 60"
        )
    report.notes.append(
        f"{out.lines} status changes shown; {'bounded' if verdict else 'STILL GROWING'}: RSS {first:.1f} -> "
        f"{last:.1f} MB over {duration / 60:.0f} min with a sync of every example every {args.sync_interval}"
    )
    report.finish(args.json)
    return code


if __name__ == "__main__":
    sys.exit(main())
