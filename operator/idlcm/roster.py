"""Accounts read from an `accountsFrom` ConfigMap key: CSV with a header row, or a YAML list (pure, no I/O).

Field names are those of `spec.accounts` (userName, displayName, givenName, familyName, email, active, title,
department, groups), matched ignoring case, spaces, `_` and `-` (so `username`, `user_name`, `User Name`
all work); `firstName` and `lastName` also stand for givenName and familyName. In CSV, `groups` are separated
by `;`, `active` is one of true/false/yes/no/1/0 (empty: true) and an empty cell leaves a field unset.
YAML is a list of mappings, or a mapping with an `accounts:` list; an empty document is an error (write `[]`).
Problems come back as errors with line numbers, never as exceptions; they name the field that is wrong but
never repeat its value (it may be personal data), only the account's userName.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import ValidationError

from idlcm.api import spec
from idlcm.plan import user_name_key, wire_name

if TYPE_CHECKING:
    from _csv import Reader as CSVReader

MAX_ROWS = 100_000
# Lengths as the CRD bounds them for inline accounts.
MAX_LENGTH = {"user_name": 256, "email": 320, "groups": 256}
MAX_GROUPS = 100
TEXT = ("user_name", "display_name", "given_name", "family_name", "email", "title", "department")
FIELDS = (*TEXT, "active", "groups")
_ALIASES = {
    **{wire_name(name).casefold(): name for name in FIELDS},
    **{name.replace("_", ""): name for name in FIELDS},
    "firstname": "given_name",
    "lastname": "family_name",
}
_NOISE = re.compile(r"[\s_\-]")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RosterError:
    """One problem in a roster; `line` is its line in the ConfigMap value (None: the roster as a whole)."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Roster:
    """The accounts of one source, and what was wrong with it (accounts in error are left out)."""

    accounts: list[spec.Account] = field(default_factory=list)
    errors: list[RosterError] = field(default_factory=list)


def parse_roster(text: str, *, key: str, format: Literal["Auto", "CSV", "YAML"] = "Auto") -> Roster:
    """The accounts in one ConfigMap value; `Auto` reads CSV when the key ends in `.csv`, else YAML."""
    if format == "CSV" or (format == "Auto" and key.casefold().endswith(".csv")):
        return _Reader().csv(text)
    return _Reader().yaml(text)


def field_name(column: str) -> str | None:
    """The account field a CSV column or YAML key stands for, or None."""
    return _ALIASES.get(_NOISE.sub("", column).casefold())


class _Reader:
    """Collects accounts and errors while reading one roster."""

    def __init__(self) -> None:
        self.roster = Roster()
        self.first_line: dict[str, int] = {}

    def csv(self, text: str) -> Roster:
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
        try:
            columns = self._header(reader)
            if columns is None:
                return self.roster
            for line, row in _rows(reader):
                if len(row) > len(columns):
                    self._error(line, f"{len(row)} cells, but the header names {len(columns)} columns")
                    continue
                values = {columns[i]: cell.strip() for i, cell in enumerate(row) if cell.strip()}
                self._add(line, "", _from_text(values))
        except csv.Error as error:
            self._error(reader.line_num, f"not valid CSV ({error})")
        except _TooLarge:
            self._refuse()
        return self.roster

    def yaml(self, text: str) -> Roster:
        loader = _LOADER(text)
        try:
            root = loader.get_single_node()
            repeated = _repeated_keys(root)  # before construction, which keeps only the last of each key
            data = loader.construct_document(root) if root is not None else None
        except (yaml.YAMLError, RecursionError) as error:  # RecursionError: deep nesting, pure-Python parser
            mark = getattr(error, "problem_mark", None)
            problem = getattr(error, "problem", None) or "cannot be read"
            self._error(mark.line + 1 if mark else None, f"not valid YAML: {problem}")
            return self.roster
        finally:
            loader.dispose()
        if isinstance(data, dict) and set(data) == {"accounts"}:
            root, data = _value_node(root, "accounts"), data["accounts"]
        if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
            self._error(None, "expected a YAML list of accounts (or a mapping with an `accounts:` list)")
            return self.roster
        if len(data) > MAX_ROWS:
            self._refuse()
            return self.roster
        for index, (item, node) in enumerate(zip(data, root.value, strict=True), start=1):
            line, where = node.start_mark.line + 1, f"item {index}"
            if not isinstance(item, dict):
                self._error(line, f"{where}: expected a mapping of account fields")
                continue
            if id(node) in repeated:
                self._error(line, f"{where}: given twice: {repeated[id(node)]}")
                continue
            self._add(line, where, self._fields(line, where, item))
        return self.roster

    def _header(self, reader: CSVReader) -> list[str] | None:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            self._error(None, "no header row: the first line must name the columns, e.g. userName,email")
            return None
        line, columns = reader.line_num, []
        for number, cell in enumerate(header, start=1):
            name = field_name(cell)
            if not cell.strip():
                self._error(line, f"column {number} has no name")
            elif name is None:
                self._error(line, f"column {number}: unknown column {_show(cell)}; expected {_expected()}")
            elif name in columns:
                self._error(line, f"column {number}: {wire_name(name)} is given twice")
            columns.append(name or "")
        if "user_name" not in columns:
            self._error(line, "no userName column")
        return None if self.roster.errors else columns

    def _fields(self, line: int, where: str, item: dict[Any, Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for key, value in item.items():
            name = field_name(key) if isinstance(key, str) else None
            if name is None:
                shown = _show(key) if isinstance(key, str) else "(not text)"
                self._error(line, f"{where}: unknown field {shown}; expected {_expected()}")
                return None
            if name in values:
                self._error(line, f"{where}: given twice: {wire_name(name)}")
                return None
            values[name] = value
        return values

    def _add(self, line: int, where: str, fields: dict[str, Any] | None) -> None:
        if fields is None:
            return
        values = {name: value for name, value in fields.items() if value is not None}
        user_name, prefix = values.get("user_name"), f"{where}: " if where else ""
        if user_name is not None and not isinstance(user_name, str):
            self._error(line, f"{prefix}userName must be text")
            return
        if not user_name or not user_name.strip():
            self._error(line, f"{prefix}userName is missing")
            return
        if len(user_name) > MAX_LENGTH["user_name"]:
            self._error(line, f"{prefix}userName is longer than {MAX_LENGTH['user_name']} characters")
            return
        shown = user_name if user_name.isprintable() else repr(user_name)
        who = f"{where} ({shown})" if where else shown
        if isinstance(values.get("active"), str):
            values["active"] = _BOOLEANS.get(values["active"].strip().casefold(), values["active"])
        problems = _problems(values)
        if problems:
            self._error(line, f"{who}: {'; '.join(problems)}")
            return
        try:
            account = spec.Account.model_validate(values)
        except ValidationError as error:
            names = sorted({wire_name(str(e["loc"][0])) for e in error.errors() if e["loc"]})
            self._error(line, f"{who}: invalid {', '.join(names) or 'account'}")
            return
        key = user_name_key(user_name)
        if key in self.first_line:
            self._error(line, f"{who}: userName repeats line {self.first_line[key]} (case-insensitively)")
            return
        self.first_line[key] = line
        self.roster.accounts.append(account)

    def _error(self, line: int | None, message: str) -> None:
        self.roster.errors.append(RosterError(line, message))

    def _refuse(self) -> None:
        self.roster.accounts.clear()
        self._error(None, f"more than {MAX_ROWS} accounts in one source: split it into several")


class _TooLarge(Exception):
    """A CSV roster with more than `MAX_ROWS` rows."""


def _rows(reader: CSVReader) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows after the header, each with the line it starts on."""
    count, end = 0, reader.line_num
    for row in reader:
        line, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if count > MAX_ROWS:
            raise _TooLarge
        yield line, row


def _from_text(cells: dict[str, str]) -> dict[str, Any]:
    """CSV cells as field values: `groups` become a list."""
    values: dict[str, Any] = dict(cells)
    if "groups" in cells:
        values["groups"] = [g.strip() for g in cells["groups"].split(";") if g.strip()]
    return values


def _problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with the fields of one account, by field name (never by value)."""
    problems = []
    for name in TEXT:
        value = values.get(name)
        limit = MAX_LENGTH.get(name, 256)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{wire_name(name)} must be text")
        elif len(value) > limit:
            problems.append(f"{wire_name(name)} is longer than {limit} characters")
        elif name == "email" and not spec.is_email(value):
            problems.append(f"email: {spec.EMAIL_REFUSED}")
    active = values.get("active")
    if active is not None and not isinstance(active, bool):
        problems.append("active must be one of true, false, yes, no, 1, 0")
    groups = values.get("groups")
    if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
        problems.append("groups must be a list of group names")
    elif groups and len(groups) > MAX_GROUPS:
        problems.append(f"more than {MAX_GROUPS} groups")
    elif any(not 0 < len(g) <= MAX_LENGTH["groups"] for g in groups or ()):
        problems.append(f"a group name is empty or longer than {MAX_LENGTH['groups']} characters")
    return problems


def _value_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The node of `key`'s value in a YAML mapping node."""
    pairs = node.value if isinstance(node, yaml.MappingNode) else []
    return next((value for name, value in pairs if name.value == key), None)


def _repeated_keys(root: yaml.Node | None) -> dict[int, str]:
    """The fields given twice in an item, by the item node's id()."""
    items = root if isinstance(root, yaml.SequenceNode) else _value_node(root, "accounts")
    repeated = {}
    for item in items.value if isinstance(items, yaml.SequenceNode) else []:
        if not isinstance(item, yaml.MappingNode):
            continue
        keys = [k.value for k, _ in item.value if isinstance(k, yaml.ScalarNode) and k.value != "<<"]
        names = [field_name(k) or k for k in keys]
        if twice := sorted({wire_name(n) for n in names if names.count(n) > 1}):
            repeated[id(item)] = ", ".join(twice)
    return repeated


def _show(text: str) -> str:
    """A column name or key as quoted in a message (shortened: it could be anything)."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _expected() -> str:
    """The field names, as a message lists them."""
    return ", ".join(wire_name(name) for name in FIELDS)
