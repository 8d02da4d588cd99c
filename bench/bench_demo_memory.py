"""Memory of `idlcm demo` left running: RSS sampled while the examples sync every few seconds, and its slope.

Run: .venv/bin/python bench/bench_demo_memory.py               # 60 s, a quick look
     .venv/bin/python bench/bench_demo_memory.py --minutes 60  # the real check: an hour of idle running

The whole demo runs in this process (the embedded API, the SCIM app, the operator, the status feed, the
plain-lines display writing to nowhere), with every example's sync.interval shortened (`--sync-interval`) so
that an hour holds hundreds of syncs. Memory is bounded when the slope after the warm-up is near zero: the
API keeps a bounded history of changes and Events, the rest keeps nothing per sync.
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
from pathlib import Path

from idlcm.demo import DemoOptions, run_demo

WARM_UP = 0.25  # the first quarter of the run is left out of the slope (imports, first provisioning, caches)


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
    args = parser.parse_args()
    duration = args.minutes * 60 if args.minutes is not None else args.seconds

    stop = threading.Event()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()

    def sample() -> None:
        while not stop.wait(args.every):
            elapsed, mb = time.monotonic() - started, rss_mb()
            samples.append((elapsed, mb))
            print(f"{elapsed:8.0f} s  {mb:8.1f} MB", flush=True)
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

    steady = [s for s in samples if s[0] >= duration * WARM_UP]
    if not samples:
        print("no sample taken: run longer than --every", file=sys.stderr)
        return 1
    first, peak, last = samples[0][1], max(m for _, m in samples), samples[-1][1]
    print(f"\nRSS first {first:.1f} MB, peak {peak:.1f} MB, last {last:.1f} MB ({len(samples)} samples)")
    print(f"slope after the first {WARM_UP:.0%}: {slope_per_hour(steady):+.1f} MB/hour")
    print(f"status changes shown: {out.lines} lines; exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
