"""docs/states.md says what the code does: its tables and diagram are checked against idlcm.states."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from idlcm.states import TRANSITIONS, Event, Status, allowed_events, conditions_for, transition

DOC = Path(__file__).parents[2] / "docs" / "states.md"
EVERY: tuple[Status | None, ...] = (None, *Status)
GUARDS: dict[str, bool | None] = {"—": None, "app validated": True, "app not validated": False}
Row = tuple[Status | None, Event, bool | None, Status]


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _table(header: str) -> list[list[str]]:
    """Return the cells of the body rows of the markdown table whose header row starts with `header`."""
    lines = _text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _name(cell: str) -> str:
    """Unquote `Name`."""
    match = re.fullmatch(r"`(\w+)`", cell)
    assert match, f"expected a `Name`, got {cell!r}"
    return match.group(1)


def _sources(cell: str) -> list[Status | None]:
    if cell == "any":
        return list(EVERY)
    return [None if part.strip() == "(none)" else Status(_name(part.strip())) for part in cell.split(",")]


def _doc_rows() -> list[Row]:
    rows: list[Row] = []
    for source, event, guard, target in _table("| From | Event | Guard | To |"):
        for state in _sources(source):
            rows.append((state, Event(_name(event)), GUARDS[guard], Status(_name(target))))
    return rows


def _code_rows() -> list[Row]:
    return [
        (state, rule.event, rule.app_validated, rule.target) for rule in TRANSITIONS for state in rule.sources
    ]


def test_every_transition_in_the_code_is_in_the_doc() -> None:
    missing = set(_code_rows()) - set(_doc_rows())
    assert not missing, f"docs/states.md lacks: {sorted(map(str, missing))}"


def test_every_transition_in_the_doc_is_in_the_code() -> None:
    extra = set(_doc_rows()) - set(_code_rows())
    assert not extra, f"docs/states.md has transitions the code lacks: {sorted(map(str, extra))}"


def test_the_doc_lists_no_transition_twice() -> None:
    rows = _doc_rows()
    assert len(rows) == len(set(rows))


def test_every_state_has_its_own_section() -> None:
    headings = re.findall(r"^### `(\w+)`$", _text(), flags=re.MULTILINE)
    assert headings == [s.value for s in Status]


def test_every_event_is_explained() -> None:
    explained = re.findall(r"^- `(\w+)`: ", _text(), flags=re.MULTILINE)
    assert explained == [e.value for e in Event]


@pytest.mark.parametrize("passed", [True, False, None])
def test_the_conditions_table_matches_conditions_for(passed: bool | None) -> None:
    rows = _table("| Status | Ready | Validated | Reconciling | Stalled |")
    assert [Status(_name(row[0])) for row in rows] == list(Status)
    last = {True: "True", False: "False", None: "Unknown"}[passed]
    for cells in rows:
        status = Status(_name(cells[0]))
        found = conditions_for(
            status,
            reason="R",
            message="",
            generation=1,
            now=datetime(2026, 1, 1, tzinfo=UTC),
            validation_passed=passed,
        )
        documented = [last if cell == "last result" else cell for cell in cells[1:]]
        assert [c.status for c in found] == documented, status


def test_every_arrow_of_the_diagram_is_a_real_transition() -> None:
    diagram = _text().split("```mermaid", 1)[1].split("```", 1)[0]
    arrows = re.findall(r"^\s*(\[\*\]|\w+) --> (\w+) : (.+)$", diagram, flags=re.MULTILINE)
    assert arrows
    for source_name, target_name, label in arrows:
        source = None if source_name == "[*]" else Status(source_name)
        for token in label.split(" / "):
            # "Event (app validated)" names its guard; a bare event must reach the target under some guard.
            name, _, guard = token.strip().partition(" (")
            event = Event(name)
            assert event in allowed_events(source), (source_name, token)
            guards = [GUARDS[guard.rstrip(")")]] if guard else [True, False]
            reached = {transition(source, event, app_validated=bool(g)) for g in guards}
            assert Status(target_name) in reached, (source_name, token, target_name)
