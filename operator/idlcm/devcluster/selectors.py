"""Label and field selectors (`?labelSelector=`, `?fieldSelector=`), parsed and matched as the API does."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|!=|=|>|<)\s*({_VALUE})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")


class SelectorError(ValueError):
    """A selector that does not parse (a 400 for the client)."""


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One label requirement: `key op values`."""

    key: str
    op: str  # =, !=, in, notin, exists, !, >, <
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether labels satisfy it; `!=` and `notin` hold when the key is absent."""
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.op:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case ">" | "<":
                try:
                    actual, limit = int(value), int(next(iter(self.values)))
                except ValueError:
                    return False
                return present and (actual > limit if self.op == ">" else actual < limit)
        return False  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; the empty selector selects everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        return all(r.matches(labels or {}) for r in self.requirements)


def parse_labels(text: str | None) -> LabelSelector:
    """Parse `a=b,c!=d,e in (f,g),!h,i`."""
    if not text or not text.strip():
        return LabelSelector()
    requirements: list[Requirement] = []
    for part in _split_outside_parens(text):
        part = part.strip()
        if m := _SET.match(part):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQUALITY.match(part):
            op = "=" if m.group(2) == "==" else m.group(2)
            if op in "><" and not m.group(3).lstrip("-").isdigit():
                raise SelectorError(
                    "unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer: "
                    + repr(part)
                )
            requirements.append(Requirement(m.group(1), op, frozenset({m.group(3)})))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise SelectorError(
                f"unable to parse requirement: found {part!r}, expected: in, notin, =, ==, !=, gt, lt"
            )
    return LabelSelector(tuple(requirements))


def _split_outside_parens(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if depth != 0:
        raise SelectorError(f"unable to parse requirement: unbalanced parentheses in {text!r}")
    return parts


@dataclasses.dataclass(frozen=True)
class FieldRequirement:
    """One field requirement: `path = value` or `path != value`."""

    label: str
    path: str
    negated: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Compare the field's string value (missing: empty string)."""
        actual: Any = obj
        for step in self.path.split("."):
            actual = actual.get(step) if isinstance(actual, Mapping) else None
        text = "" if actual is None else str(actual)
        return (text == self.value) != self.negated


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    """All field requirements must hold."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object is selected."""
        return all(r.matches(obj) for r in self.requirements)

    def exact_name(self) -> str | None:
        """The name an `metadata.name=x` requirement pins, if any (a point lookup instead of a scan)."""
        for r in self.requirements:
            if r.label == "metadata.name" and not r.negated:
                return r.value
        return None


def parse_fields(text: str | None, supported: Mapping[str, str]) -> FieldSelector:
    """Parse `metadata.name=x,metadata.namespace!=y` against the labels the resource supports."""
    if not text or not text.strip():
        return FieldSelector()
    requirements: list[FieldRequirement] = []
    for part in _split_unescaped(text, ","):
        if not part.strip():
            continue
        label, op, value = _split_operator(part)
        label = label.strip()
        if label not in supported:
            raise SelectorError(f"field label not supported: {label}")
        requirements.append(FieldRequirement(label, supported[label], op == "!=", _unescape(value)))
    return FieldSelector(tuple(requirements))


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _split_operator(part: str) -> tuple[str, str, str]:
    i = 0
    while i < len(part):
        if part[i] == "\\":
            i += 2
            continue
        for op in ("!=", "==", "="):
            if part.startswith(op, i):
                return part[:i], op, part[i + len(op) :]
        i += 1
    raise SelectorError(f"invalid selector: '{part}'; can't understand '{part}'")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
