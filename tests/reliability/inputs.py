"""Generated bad input for the reliability suites: accountsFrom rosters with one known defect each, and
Integration specs broken in the ways people break them (wrong types, huge lists, duplicates, bad emails).

Examples are drawn with hypothesis, derandomized (the same examples on every run and machine), and handed to
a test as a list, so that one operator can serve all of them at once (`examples`).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
from typing import Any, TypeVar

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from idlcm.api.spec import is_email

# The complete spec of the schema tests, and their values of any JSON type.
from schema.test_fuzz import FULL_SPEC, _paths, json_values

T = TypeVar("T")

# Text a person might put in a roster: any script, emoji, combining marks; no control characters, no
# surrogates, and no spaces at the ends (cells are trimmed).
_LETTERS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Co", "Cn"))
words = st.text(_LETTERS, min_size=1, max_size=16)
_local_parts = words.filter(lambda w: not set(w) & set("@<>,;"))
user_names = st.builds(lambda w, d: f"{w}@{d}.example", _local_parts, st.integers(0, 99))
not_emails = st.one_of(
    st.text(_LETTERS, min_size=1, max_size=20).filter(lambda s: "@" not in s),
    st.sampled_from(
        ["a@b@c.example", "alice at example.com", "@example.com", "alice@", "al ice@example.com"]
    ),
    # Admitted by the CRD's `format: email`, refused by SCIM apps.
    st.sampled_from(["ops@corp.local", "a@b", "root@localhost", "x@qa.test", "a..b@example.com"]),
)


def _other_case(user_name: str) -> str:
    """The same userName in other letters' case (SCIM compares userNames case-insensitively)."""
    return user_name.removesuffix(".example") + ".EXAMPLE"


def examples(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """`count` examples of a strategy, the same ones on every run (derandomized, no example database)."""
    found: list[T] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


@dataclasses.dataclass(frozen=True)
class Roster:
    """One accountsFrom ConfigMap value: valid accounts plus one defect, and what the operator must say."""

    defect: str
    key: str
    text: str
    format: str = "Auto"
    says: str = ""
    """A fragment the status message must contain (it names the problem, never the bad value)."""


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


CSV_DEFECTS = (
    "no userName column",
    "unknown column",
    "too many cells",
    "empty userName",
    "invalid email",
    "duplicate userName",
    "bad active",
    "long group",
    "no header",
)
YAML_DEFECTS = (
    "not a mapping",
    "userName not text",
    "groups not a list",
    "unknown field",
    "invalid email",
    "duplicate userName",
    "not a list",
    "not YAML",
    "empty",
)


@st.composite
def csv_rosters(draw: st.DrawFn, defect: str | None = None) -> Roster:
    """A CSV roster of valid rows (any script) with one defect among them."""
    names = draw(st.lists(user_names, min_size=1, max_size=8, unique_by=str.casefold))
    header = ["userName", "displayName", "email", "active", "groups"]
    rows = [
        [
            n,
            draw(words),
            n if is_email(n) else "",
            draw(st.sampled_from(["", "true", "no"])),
            draw(words).replace(";", ""),
        ]
        for n in names
    ]
    defect = defect or draw(st.sampled_from(CSV_DEFECTS))
    at = draw(st.integers(0, len(rows)))
    says = "line"
    if defect == "no userName column":
        header, rows = header[1:], [r[1:] for r in rows]
        says = "no userName column"
    elif defect == "unknown column":
        header = [*header, draw(st.sampled_from(["password", "manager", "??", "userName2"]))]
        says = "unknown column"
    elif defect == "too many cells":
        rows.insert(at, [draw(user_names), "x", "", "", "", "surplus"])
        says = "cells"
    elif defect == "empty userName":
        rows.insert(at, ["", draw(words), "", "", ""])
        says = "userName is missing"
    elif defect == "invalid email":
        rows.insert(at, [draw(user_names).upper() + "x", "", draw(not_emails), "", ""])
        says = "email: SCIM apps do not take this address"
    elif defect == "duplicate userName":
        rows.insert(at, [_other_case(names[0]), "", "", "", ""])
        says = "userName repeats line"
    elif defect == "bad active":
        rows.insert(at, [draw(user_names) + ".x", "", "", "maybe", ""])
        says = "active must be"
    elif defect == "long group":
        rows.insert(at, [draw(user_names) + ".y", "", "", "", "g" * 257])
        says = "group name"
    text = "" if defect == "no header" else _csv([header, *rows])
    if defect == "no header":
        says = "no header row"
    return Roster(defect=f"csv: {defect}", key="roster.csv", text=text, says=says)


@st.composite
def yaml_rosters(draw: st.DrawFn, defect: str | None = None) -> Roster:
    """A YAML roster of valid accounts (any script) with one defect among them."""
    names = draw(st.lists(user_names, min_size=1, max_size=8, unique_by=str.casefold))
    items: list[Any] = [{"userName": n, "displayName": draw(words), "groups": [draw(words)]} for n in names]
    defect = defect or draw(st.sampled_from(YAML_DEFECTS))
    at = draw(st.integers(0, len(items)))
    says = "item"
    if defect == "not a mapping":
        items.insert(at, draw(st.one_of(words, st.integers(), st.lists(st.integers(), max_size=2))))
        says = "expected a mapping"
    elif defect == "userName not text":
        items.insert(
            at, {"userName": draw(st.one_of(st.integers(), st.booleans(), st.lists(words, max_size=2)))}
        )
        says = "userName must be text"
    elif defect == "groups not a list":
        items.insert(
            at, {"userName": draw(user_names) + ".g", "groups": draw(st.one_of(words, st.integers()))}
        )
        says = "groups must be a list"
    elif defect == "unknown field":
        items.insert(at, {"userName": draw(user_names) + ".u", "password": draw(words)})
        says = "unknown field"
    elif defect == "invalid email":
        items.insert(at, {"userName": draw(user_names) + ".e", "email": draw(not_emails)})
        says = "email: SCIM apps do not take this address"
    elif defect == "duplicate userName":
        items.insert(at, {"userName": _other_case(names[0])})
        says = "userName repeats line"
    text = yaml.safe_dump(items, allow_unicode=True, sort_keys=False)
    if defect == "not a list":
        text = yaml.safe_dump({"users": items}, allow_unicode=True)
        says = "expected a YAML list"
    elif defect == "not YAML":
        text = text + "- {userName: [unclosed\n"
        says = "not valid YAML"
    elif defect == "empty":
        text = ""
        says = "expected a YAML list"
    key = draw(st.sampled_from(["roster.yaml", "people", "accounts.yml"]))
    return Roster(defect=f"yaml: {defect}", key=key, text=text, says=says)


def every_defect(per_defect: int) -> list[Roster]:
    """`per_defect` rosters of each kind of defect, CSV and YAML."""
    return [
        *(r for d in CSV_DEFECTS for r in examples(csv_rosters(d), per_defect)),
        *(r for d in YAML_DEFECTS for r in examples(yaml_rosters(d), per_defect)),
    ]


# -- Integration specs for the schema (embedded API vs `idlcm check`)


SPEC_PATHS = _paths(FULL_SPEC)


def _set(spec: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set the value at `path`, or where the path ends (an earlier mutation may have replaced a parent)."""
    target: Any = spec
    for step in path[:-1]:
        inner = _child(target, step)
        if not isinstance(inner, dict | list):
            if isinstance(target, dict):
                target[step] = value
            return
        target = inner
    if isinstance(target, dict) or (isinstance(path[-1], int) and path[-1] < len(target)):
        target[path[-1]] = value


def _child(container: Any, step: Any) -> Any:
    if isinstance(container, dict):
        return container.get(step)
    if isinstance(container, list) and isinstance(step, int) and step < len(container):
        return container[step]
    return None


def _account(i: int) -> dict[str, Any]:
    return {"userName": f"user{i}@example.com"}


@st.composite
def bad_specs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(what was done, spec): the base spec with one or two of the mistakes people make."""
    spec = copy.deepcopy(FULL_SPEC)
    done = []
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(
            st.sampled_from(
                [
                    "type",
                    "type",
                    "huge",
                    "duplicate",
                    "email",
                    "unicode",
                    "unknown field",
                    "namespace ref",
                    "url credentials",
                ]
            )
        )
        if kind == "type":
            path = draw(st.sampled_from(SPEC_PATHS))
            _set(spec, path, draw(json_values))
            done.append(f"{'.'.join(map(str, path))} = value of any type")
        elif kind == "huge":
            where = draw(st.sampled_from(["accounts", "groups", "accountsFrom", "scopes"]))
            if where == "accounts":
                spec["accounts"] = [_account(i) for i in range(5001)]
            elif where == "groups":
                spec["accounts"] = [{"userName": "a@example.com", "groups": [f"g{i}" for i in range(101)]}]
            elif where == "accountsFrom":
                spec["accountsFrom"] = [{"configMapRef": {"name": f"r{i}", "key": "k"}} for i in range(51)]
            else:
                oauth = {
                    "oauth2ClientCredentials": {
                        "tokenURL": "https://id.example.com/token",
                        "scopes": [f"s{i}" for i in range(33)],
                        "secretRef": {"name": "acme-oauth"},
                    }
                }
                _set(spec, ("connector", "scim", "auth"), oauth)
            done.append(f"huge {where}")
        elif kind == "duplicate":
            name = draw(user_names)
            other = draw(st.sampled_from([name, name.upper(), name.swapcase()]))
            spec["accounts"] = [{"userName": name}, {"userName": other}]
            done.append(f"duplicate userNames {name!r} {other!r}")
        elif kind == "email":
            spec["accounts"] = [{"userName": "a@example.com", "email": draw(not_emails)}]
            done.append("invalid email")
        elif kind == "unicode":
            field = draw(st.sampled_from(["app", "userName", "displayName", "secretName", "baseURL"]))
            text = draw(st.text(min_size=0, max_size=20))
            if field == "app":
                spec["app"] = text
            elif field in ("userName", "displayName"):
                spec["accounts"] = [{"userName": "a@example.com", field: text}]
            elif field == "secretName":
                _set(spec, ("connector", "scim", "auth", "bearerToken", "secretRef", "name"), text)
            else:
                _set(spec, ("connector", "scim", "baseURL"), "https://" + text)
            done.append(f"unicode {field}")
        elif kind == "url credentials":
            login = draw(st.sampled_from(["admin:hunter22@", "token@", ":secret@"]))
            _set(spec, ("connector", "scim", "baseURL"), f"https://{login}crm.example.com/scim/v2")
            done.append("credentials in baseURL")
        elif kind == "unknown field":
            spec[draw(st.sampled_from(["passwords", "namespace", "owner"]))] = draw(json_values)
            done.append("unknown spec field")
        else:
            ref = draw(
                st.sampled_from(
                    [
                        ("connector", "scim", "auth", "bearerToken", "secretRef"),
                        ("connector", "scim", "tls", "caSecretRef"),
                        ("accountsFrom", 0, "configMapRef"),
                    ]
                )
            )
            _set(spec, (*ref, "namespace"), draw(st.sampled_from(["kube-system", "other-team", ""])))
            done.append(f"namespace in {'.'.join(map(str, ref))}")
    return "; ".join(done), spec
