"""Kubernetes JSONPath (`k8s.io/client-go/util/jsonpath`), as printer columns and `-o jsonpath` use it.

A port of the parser and evaluator, minus `range`/`end`: fields, `*`, `..`, indexes and slices, unions,
`['key']`, quoted text, and filters such as `[?(@.type=="Ready")]`. Values are plain JSON (dict, list, str,
int, float, bool, None); a missing key yields no result, a present `null` yields `None`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeAlias

__all__ = ["JSONPath", "JSONPathError", "go_format", "parse"]


class JSONPathError(ValueError):
    """A template that does not parse, or an expression that cannot be evaluated on the data."""


@dataclasses.dataclass(frozen=True)
class _Text:
    text: str


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str


@dataclasses.dataclass(frozen=True)
class _Wildcard:
    pass


@dataclasses.dataclass(frozen=True)
class _Recursive:
    pass


@dataclasses.dataclass(frozen=True)
class _Literal:
    value: int | float | bool


@dataclasses.dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    capacity: int | None
    single: bool = False


@dataclasses.dataclass(frozen=True)
class _List:
    nodes: tuple[_Node, ...]


@dataclasses.dataclass(frozen=True)
class _Union:
    branches: tuple[_List, ...]


@dataclasses.dataclass(frozen=True)
class _Filter:
    left: _List
    right: _List
    operator: str


_Node: TypeAlias = _Text | _Field | _Wildcard | _Recursive | _Literal | _Slice | _List | _Union | _Filter

_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")
_DICT_KEY = re.compile(r"^'([^']*)'$")
_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$", re.DOTALL)
_NUMBER = re.compile(r"[+-]?[\d.]*")


class _Parser:
    """A recursive-descent twin of client-go's `jsonpath.Parser`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse_template(self) -> _List:
        nodes: list[_Node] = []
        while self.pos < len(self.text):
            start = self.text.find("{", self.pos)
            if start < 0:
                nodes.append(_Text(self.text[self.pos :]))
                break
            if start > self.pos:
                nodes.append(_Text(self.text[self.pos : start]))
            self.pos = start + 1
            nodes.append(self.parse_action(closing="}"))
        return _List(tuple(nodes))

    def parse_action(self, closing: str | None) -> _List:
        """The nodes up to `closing` (consumed), or to the end of input when `closing` is None."""
        nodes: list[_Node] = []
        while True:
            rest = self.text[self.pos :]
            if closing is None and not rest:
                return _List(tuple(nodes))
            if closing is not None and rest.startswith(closing):
                self.pos += len(closing)
                return _List(tuple(nodes))
            if rest.startswith("[?("):
                nodes.append(self.parse_filter())
            elif rest.startswith(".."):
                if nodes and isinstance(nodes[-1], _Recursive):
                    raise JSONPathError("invalid multiple recursive descent")
                self.pos += 2
                nodes.append(_Recursive())
                if self.pos < len(self.text) and _is_alphanumeric(self.text[self.pos]):
                    nodes.append(self.parse_field())
            elif not rest or rest[0] in "\r\n":
                raise JSONPathError("unclosed action")
            elif rest[0] in " @$":
                self.pos += 1
            elif rest[0] == "[":
                nodes.extend(self.parse_array())
            elif rest[0] in "\"'":
                nodes.append(self.parse_quote(rest[0]))
            elif rest[0] == ".":
                self.pos += 1
                nodes.append(self.parse_field())
            elif rest[0] in "+-" or rest[0].isdigit():
                nodes.append(self.parse_number())
            elif _is_alphanumeric(rest[0]):
                nodes.append(self.parse_identifier())
            else:
                raise JSONPathError(f"unrecognized character in action: {rest[0]!r}")

    def parse_field(self) -> _Node:
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            if char in _TERMINATORS:
                break
            self.pos += 1
        value = self.text[start : self.pos]
        return _Wildcard() if value == "*" else _Field(value.replace("\\", ""))

    def parse_identifier(self) -> _Node:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _TERMINATORS:
            self.pos += 1
        value = self.text[start : self.pos]
        if value in ("true", "false"):
            return _Literal(value == "true")
        raise JSONPathError(f"unsupported identifier {value!r} (range/end are not supported)")

    def parse_number(self) -> _Node:
        match = _NUMBER.match(self.text, self.pos)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()
        value = match.group()
        try:
            return _Literal(int(value))
        except ValueError:
            pass
        try:
            return _Literal(float(value))
        except ValueError:
            raise JSONPathError(f"cannot parse number {value}") from None

    def parse_quote(self, quote: str) -> _Node:
        start = self.pos
        self.pos += 1
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise JSONPathError("unterminated quoted string")
            if self.text[self.pos] == quote and self.text[self.pos - 1] != "\\":
                break
            self.pos += 1
        self.pos += 1
        return _Text(_unquote(self.text[start : self.pos]))

    def parse_array(self) -> list[_Node]:
        end = self.pos
        while True:
            end += 1
            if end >= len(self.text) or self.text[end] == "\n":
                raise JSONPathError("unterminated array")
            if self.text[end] == "]":
                break
        inner = self.text[self.pos + 1 : end]
        self.pos = end + 1
        if inner == "*":
            inner = ":"
        parts = inner.split(",")
        if len(parts) > 1:
            return [_Union(tuple(_parse_action_text(f"[{part.strip(' ')}]") for part in parts))]
        key = _DICT_KEY.match(inner)
        if key:
            return list(_parse_action_text(f".{key.group(1)}").nodes)
        match = _SLICE.match(inner)
        if not match:
            raise JSONPathError(f"invalid array index {inner}")
        first, second, third = match.groups()
        start = int(first) if first else None
        stop = int(second[1:]) if second and second[1:] else None
        capacity = int(third[1:]) if third and third[1:] else None
        # `[i]` is the slice `[i:i+1]` (counted after a negative i is resolved); `[]` selects everything.
        return [_Slice(start, stop, capacity, single=second is None)]

    def parse_filter(self) -> _Node:
        self.pos += 3
        start = self.pos
        begin = end = False
        pair = ""
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise JSONPathError("unterminated filter")
            char = self.text[self.pos]
            self.pos += 1
            if char in "\"'":
                if not begin:
                    begin, pair = True, char
                elif self.text[self.pos - 2] != "\\" and char == pair:
                    end = True
            elif char == ")" and begin == end:
                break
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise JSONPathError("unclosed array expect ]")
        self.pos += 1
        text = self.text[start : self.pos - 2]
        match = _FILTER.match(text)
        if match is None:
            return _Filter(_parse_action_text(text), _List(()), "exists")
        left, operator, right = match.groups()
        return _Filter(_parse_action_text(left), _parse_action_text(right), operator)


def _parse_action_text(text: str) -> _List:
    return _Parser(text).parse_action(closing=None)


def _is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalnum()


def _unquote(quoted: str) -> str:
    body = quoted[1:-1]
    if "\\" not in body:
        return body
    try:
        decoded: str = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise JSONPathError(f"unquote string {quoted} error {exc}") from None
    return decoded


class _Compare:
    """The comparisons of Go's text/template (`eq`, `lt`, ...): same basic kind only, else an error."""

    @staticmethod
    def kind(value: Any) -> str:
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float):
            return "float"
        if isinstance(value, str):
            return "string"
        raise JSONPathError("invalid type for comparison")

    @classmethod
    def apply(cls, operator: str, left: Any, right: Any) -> bool:
        left_kind, right_kind = cls.kind(left), cls.kind(right)
        if left_kind != right_kind:
            raise JSONPathError("incompatible types for comparison")
        if operator == "==":
            return bool(left == right)
        if operator == "!=":
            return bool(left != right)
        if left_kind == "bool":
            raise JSONPathError("invalid type for comparison")
        ordered: dict[str, Callable[[Any, Any], bool]] = {
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        if operator not in ordered:
            raise JSONPathError(f"unrecognized filter operator {operator}")
        return ordered[operator](left, right)


@dataclasses.dataclass(frozen=True)
class JSONPath:
    """A parsed JSONPath template, e.g. `{.status.conditions[?(@.type=="Ready")].status}`."""

    template: str
    root: _List

    def find_results(self, data: Any, *, allow_missing_keys: bool = True) -> list[list[Any]]:
        """One list of values per top-level node (text or `{...}` action), like `JSONPath.FindResults`."""
        evaluator = _Evaluator(allow_missing_keys)
        return [evaluator.walk([data], node) for node in self.root.nodes]

    def execute(self, data: Any, *, allow_missing_keys: bool = True) -> str:
        """The template rendered as text, like `kubectl -o jsonpath=...`."""
        results = self.find_results(data, allow_missing_keys=allow_missing_keys)
        return "".join(" ".join(_print_top(value) for value in values) for values in results)


def parse(template: str) -> JSONPath:
    """Parse a template; printer columns wrap their `jsonPath` as `"{" + path + "}"`."""
    return JSONPath(template, _Parser(template).parse_template())


class _Evaluator:
    def __init__(self, allow_missing_keys: bool) -> None:
        self.allow_missing_keys = allow_missing_keys

    def walk(self, values: list[Any], node: _Node) -> list[Any]:
        if isinstance(node, _List):
            for child in node.nodes:
                values = self.walk(values, child)
            return values
        if isinstance(node, _Text):
            return [node.text]
        if isinstance(node, _Literal):
            return [node.value for _ in values]
        if isinstance(node, _Field):
            return self.field(values, node.name)
        if isinstance(node, _Wildcard):
            return [child for value in values for child in _children(value)]
        if isinstance(node, _Recursive):
            return self.recursive(values)
        if isinstance(node, _Slice):
            return self.slice(values, node)
        if isinstance(node, _Union):
            return [result for branch in node.branches for result in self.walk(values, branch)]
        return self.filter(values, node)

    def field(self, values: list[Any], name: str) -> list[Any]:
        if not values:
            return []
        results = [value[name] for value in values if isinstance(value, dict) and name in value]
        if not results and not self.allow_missing_keys:
            raise JSONPathError(f"{name} is not found")
        return results

    def recursive(self, values: list[Any]) -> list[Any]:
        results: list[Any] = []
        for value in values:
            children = _children(value)
            if children:
                results.append(value)
                results.extend(self.recursive(children))
        return results

    def slice(self, values: list[Any], node: _Slice) -> list[Any]:
        results: list[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                raise JSONPathError(f"{_go_type(value)} is not array or slice")
            length = len(value)
            start = 0 if node.start is None else node.start
            start = start + length if start < 0 else start
            if node.single:
                stop = start + 1
            else:
                stop = length if node.stop is None else node.stop
                stop = stop + length if stop < 0 else stop
            if start != stop:
                if start >= length:
                    raise JSONPathError(f"array index out of bounds: index {start}, length {length}")
                if stop > length:
                    raise JSONPathError(f"array index out of bounds: index {stop - 1}, length {length}")
            # The third number is Go's `Slice3` capacity bound, not a step: it only limits, never skips.
            bound = length if node.capacity is None else node.capacity
            if not 0 <= start <= stop <= bound <= length:
                raise JSONPathError(f"slice bounds out of range [{start}:{stop}:{bound}]")
            results.extend(value[start:stop])
        return results

    def filter(self, values: list[Any], node: _Filter) -> list[Any]:
        results: list[Any] = []
        for value in values:
            if not isinstance(value, list):
                raise JSONPathError(f"{_print_top(value)} is not array or slice and cannot be filtered")
            for item in value:
                if node.operator == "exists":
                    try:
                        if self.walk([item], node.left):
                            results.append(item)
                    except JSONPathError:
                        pass
                    continue
                lefts = self.walk([item], node.left)
                if len(lefts) != 1:
                    raise JSONPathError("can only compare one element at a time")
                rights = self.walk([item], node.right)
                if len(rights) != 1:
                    raise JSONPathError("can only compare one element at a time")
                if _Compare.apply(node.operator, lefts[0], rights[0]):
                    results.append(item)
        return results


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value.encode())  # Go indexes a string by byte
    return []


def _go_type(value: Any) -> str:
    names = {bool: "bool", int: "int64", float: "float64", str: "string", dict: "map[string]interface {}"}
    return names.get(type(value), "interface {}")


def _print_top(value: Any) -> str:
    # text/template prints a nil interface as "<no value>" at the top level only.
    return "<no value>" if value is None else go_format(value)


def go_format(value: Any) -> str:
    """A JSON value as Go's `fmt.Sprint` prints the decoded `interface{}` (`map[a:1]`, `[x y]`, `1e+06`)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_format(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """`strconv.FormatFloat(v, 'g', -1, 64)`: shortest digits, exponent form when exp < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    point = len(digit_tuple) + exponent  # position of the decimal point after the first digit group
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"
