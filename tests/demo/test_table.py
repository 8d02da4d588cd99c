"""What the demo prints: a live table on a terminal, one plain line per status change elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from idlcm.demo.feed import Row, Transition, row_of
from idlcm.demo.table import PlainLines, display_for, table

INTEGRATION = {
    "metadata": {"name": "crm-sales", "generation": 2},
    "spec": {"app": "acme-crm"},
    "status": {
        "status": "UpToDate",
        "reason": "ProvisionSucceeded",
        "message": "provision done: 12 created",
        "observedGeneration": 2,
        "accounts": {"summary": "12/12"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


def test_a_row_reads_what_kubectl_get_shows() -> None:
    row = row_of(INTEGRATION, ("Validated", "InProgress"))
    assert (row.name, row.app, row.status, row.ready, row.accounts) == (
        "crm-sales",
        "acme-crm",
        "UpToDate",
        "True",
        "12/12",
    )
    assert row.settled
    assert not row_of({"metadata": {"name": "new", "generation": 1}}).settled


def test_the_table_has_the_columns_and_the_statuses_seen() -> None:
    row = row_of(INTEGRATION, ("UnderValidation", "Validating", "Validated", "InProgress", "UpToDate"))
    console = Console(file=io.StringIO(), width=200)
    console.print(table([row]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for heading in ("NAME", "APP", "STATUS", "READY", "ACCOUNTS", "MESSAGE"):
        assert heading in text
    assert "12/12" in text
    assert "UnderValidation → Validating → Validated → InProgress → UpToDate" in text


def test_without_a_terminal_each_change_is_one_line() -> None:
    out = io.StringIO()
    display = display_for(out)
    assert isinstance(display, PlainLines)
    display.intro("export KUBECONFIG=/tmp/kc")
    row = row_of(INTEGRATION)
    display.show(
        [row], [Transition(0.0, row), Transition(1.0, Row("hr-portal", "hr", "", "", "", "", "", 1, 0))]
    )
    display.note("applied 5-crm-contractors-v2.yaml")
    lines = out.getvalue().splitlines()
    assert lines[0] == "export KUBECONFIG=/tmp/kc"
    assert lines[1].split()[1:4] == ["crm-sales", "UpToDate", "ProvisionSucceeded"]
    assert lines[1].endswith("12/12  provision done: 12 created")
    assert lines[2].split()[1:] == ["hr-portal", "(no", "status", "yet)"]
    assert lines[3].endswith("applied 5-crm-contractors-v2.yaml")
