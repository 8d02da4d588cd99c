"""What the demo shows in the terminal: a live table of the Integrations (rich), or plain lines when piped."""

from __future__ import annotations

import collections
import logging
import sys
import time
from collections.abc import Sequence
from typing import Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from idlcm.demo.examples import NAMESPACE
from idlcm.demo.feed import Row, Transition

STYLES = {
    "UnderValidation": "blue",
    "Validating": "cyan",
    "Validated": "green",
    "ValidationFailed": "red",
    "UnderReview": "bold magenta",
    "InProgress": "cyan",
    "Failed": "bold red",
    "Retrying": "yellow",
    "UpToDate": "bold green",
}


class Display(Protocol):
    """Where the demo reports: the Integrations as they change, notes of what it did, and the logs."""

    def intro(self, text: str) -> None:
        """Where everything is and how to use it, once everything runs."""

    def show(self, rows: Sequence[Row], transitions: Sequence[Transition]) -> None:
        """The Integrations now, and the changes since the last call."""

    def note(self, text: str) -> None:
        """Something the demo did (e.g. applied an example)."""

    def log_handler(self) -> logging.Handler:
        """A handler for warnings and errors, writing where it does not garble the display."""

    def close(self) -> None:
        """Leave the last picture on the screen."""


def display_for(out: TextIO, *, live: bool | None = None) -> Display:
    """A live table on a terminal, plain lines otherwise (`live` forces one or the other)."""
    if live is None:
        live = out.isatty()
    return LiveTable(out) if live else PlainLines(out)


def table(rows: Sequence[Row]) -> Table:
    """The Integrations as a table: NAME, APP, STATUS, READY, ACCOUNTS, MESSAGE (and the statuses seen)."""
    grid = Table(expand=True, header_style="bold")
    grid.add_column("NAME", no_wrap=True)
    grid.add_column("APP", no_wrap=True)
    grid.add_column("STATUS", no_wrap=True)
    grid.add_column("READY", no_wrap=True)
    grid.add_column("ACCOUNTS", no_wrap=True, justify="right")
    grid.add_column("MESSAGE", ratio=1)
    for row in rows:
        status = Text(row.status or "(no status yet)", style=STYLES.get(row.status, "dim"))
        if row.reason and row.reason != row.status:
            status.append(f"\n{row.reason}", style="dim")
        message = Text(row.message)
        if row.path:
            message.append("\n" + " → ".join(row.path), style="dim")
        ready = Text(row.ready, style="green" if row.ready == "True" else "")
        grid.add_row(row.name, row.app, status, ready, row.accounts, message)
    return grid


class LiveTable:
    """A rich live display: the table, the demo's latest notes, then where things are and how to use them."""

    def __init__(self, out: TextIO) -> None:
        self._console = Console(file=out)
        self._intro = Text(
            "Starting the embedded Kubernetes API, the SCIM app and the operator…", style="dim"
        )
        self._notes: collections.deque[str] = collections.deque(maxlen=4)
        self._rows: Sequence[Row] = ()
        self._live = Live(self._render(), console=self._console, refresh_per_second=4)
        self._live.start()

    def intro(self, text: str) -> None:
        self._intro = Text(text, style="dim")
        self._live.update(self._render())

    def show(self, rows: Sequence[Row], transitions: Sequence[Transition]) -> None:
        self._rows = rows
        self._live.update(self._render())

    def note(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')}  {text}"
        if self._live.is_started:
            self._notes.append(line)
            self._live.update(self._render())
        else:
            self._console.print(line, markup=False, highlight=False)

    def log_handler(self) -> logging.Handler:
        # Printed through the live display's console: above the table, which stays whole.
        return RichHandler(console=self._console, show_path=False)

    def close(self) -> None:
        self._live.stop()

    def _render(self) -> RenderableType:
        title = Text(f"Integrations in namespace {NAMESPACE}", style="bold")
        notes = [Text(n, style="italic") for n in self._notes]
        return Group(title, table(self._rows), *notes, Text(), self._intro)


class PlainLines:
    """One line per status change (for logs, pipes and tests); the logs go to stderr."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def intro(self, text: str) -> None:
        self._write(text)

    def show(self, rows: Sequence[Row], transitions: Sequence[Transition]) -> None:
        for t in transitions:
            r = t.row
            stamp = time.strftime("%H:%M:%S", time.localtime(t.time))
            status = r.status or "(no status yet)"
            self._write(f"{stamp}  {r.name:<16} {status:<16} {r.reason:<26} {r.accounts:>6}  {r.message}")

    def note(self, text: str) -> None:
        self._write(f"{time.strftime('%H:%M:%S')}  {text}")

    def log_handler(self) -> logging.Handler:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        return handler

    def close(self) -> None:
        self._out.flush()

    def _write(self, line: str) -> None:
        self._out.write(line.rstrip() + "\n")
        self._out.flush()
