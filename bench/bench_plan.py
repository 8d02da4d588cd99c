"""Parse + diff of 1k / 10k / 100k accounts: shows that the diff is O(n) and checks the 10k target (figures).

Run: .venv/bin/python bench/bench_plan.py
The app holds 90% of the declared accounts (one in ten with a changed title), plus accounts of ours that are
no longer declared (5%) and accounts of others (5%): creates, updates, deactivations and unchanged.
"""

from __future__ import annotations

import functools
import gc
import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from idlcm.api import spec
from idlcm.connectors.base import Account
from idlcm.plan import Owner, Plan, desired_accounts, plan
from idlcm.roster import parse_roster

SIZES = (1_000, 10_000, 100_000)
TARGET_ROWS, TARGET_SECONDS = 10_000, 0.5
OWNER = Owner("team-a", "crm", "0b5c1f9e-1111-4d6a-9c1e-2f1d3c4b5a69")
T = TypeVar("T")


def roster_csv(n: int) -> str:
    """A CSV roster of `n` accounts with every column filled."""
    header = "userName,displayName,givenName,familyName,email,active,title,department,groups\n"
    rows = (
        f"user{i},User {i},User,N{i},user{i}@example.com,{'true' if i % 50 else 'false'},Engineer,R&D,"
        f"staff;team{i % 20}\n"
        for i in range(n)
    )
    return header + "".join(rows)


def app_state(desired: list[Account]) -> list[Account]:
    """What the app holds: most declared accounts (some drifted), ours to deprovision, and others'."""
    n = len(desired)
    held = [
        replace(a, id=f"id-{i}", title="Manager" if i % 10 == 0 else a.title, groups=())
        for i, a in enumerate(desired)
        if i % 10 != 9
    ]
    gone = [Account(f"gone{i}", external_id=OWNER.stamp(f"gone{i}"), id=f"gone-{i}") for i in range(n // 20)]
    others = [Account(f"other{i}", external_id=f"hr-{i}", id=f"other-{i}") for i in range(n // 20)]
    return [*held, *gone, *others]


def best_of(repeats: int, fn: Callable[[], T], *, collect: bool = True) -> tuple[float, T]:
    """The fastest of `repeats` runs, in seconds, and the last result; `collect=False` pauses the GC."""
    times = []
    for _ in range(repeats):
        gc.collect()
        if not collect:
            gc.disable()
        try:
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times), result


def main() -> None:
    columns = (("accounts", 9), ("parse s", 8), ("diff s", 7), ("total s", 8), ("diff µs/account", 16))
    print(*(f"{name:>{width}}" for name, width in columns), f"{'(GC paused)':>12}")
    per_account: dict[int, tuple[float, float]] = {}
    totals: dict[int, float] = {}
    summaries = {}
    for n in SIZES:
        text = roster_csv(n)
        repeats = 5 if n < 100_000 else 2
        parse_s, roster = best_of(repeats, functools.partial(parse_roster, text, key="a.csv", format="CSV"))
        assert not roster.errors
        assert len(roster.accounts) == n
        actual = app_state(desired_accounts(roster.accounts, OWNER))

        def diff(declared: list[spec.Account] = roster.accounts, app: list[Account] = actual) -> Plan:
            desired = desired_accounts(declared, OWNER)
            return plan(desired, app, owner=OWNER, mode="Deactivate", adopt_existing=False)

        diff_s, result = best_of(repeats, diff)
        paused_s, _ = best_of(repeats, diff, collect=False)
        per_account[n] = (diff_s / n * 1e6, paused_s / n * 1e6)
        totals[n], summaries[n] = parse_s + diff_s, result.summary()
        print(
            f"{n:>9,} {parse_s:>8.3f} {diff_s:>7.3f} {totals[n]:>8.3f}"
            f" {per_account[n][0]:>16.2f} {per_account[n][1]:>12.2f}"
        )
    print(f"\nplan for {SIZES[-1]:,}: {summaries[SIZES[-1]]}")
    for small, large in itertools.pairwise(SIZES):
        growth = [per_account[large][k] / per_account[small][k] for k in (0, 1)]
        print(
            f"diff time per account, {large:,} vs {small:,} accounts: x{growth[0]:.2f}"
            f" (GC paused: x{growth[1]:.2f}); O(n) keeps this near 1"
        )
    verdict = "met" if totals[TARGET_ROWS] <= TARGET_SECONDS else "MISSED"
    measured = f"{totals[TARGET_ROWS]:.3f} s"
    print(f"{TARGET_ROWS:,} CSV rows parse + diff: {measured} (target <= {TARGET_SECONDS} s: {verdict})")


if __name__ == "__main__":
    main()
