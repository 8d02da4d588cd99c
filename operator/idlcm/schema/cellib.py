"""The Kubernetes CEL library functions celpy lacks (strings, lists and regex extensions), in Python."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]  # RE2, as cel-go's regex library
from celpy import celtypes
from celpy.evaluation import CELEvalError


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return value


def _ascii_case(text: Any, upper: bool) -> celtypes.StringType:
    chars = ((c.upper() if upper else c.lower()) if c.isascii() else c for c in _string(text))
    return celtypes.StringType("".join(chars))


def lower_ascii(text: Any) -> celtypes.StringType:
    """`s.lowerAscii()`."""
    return _ascii_case(text, upper=False)


def upper_ascii(text: Any) -> celtypes.StringType:
    """`s.upperAscii()`."""
    return _ascii_case(text, upper=True)


def trim(text: Any) -> celtypes.StringType:
    """`s.trim()`: without leading and trailing whitespace."""
    return celtypes.StringType(_string(text).strip())


def replace(text: Any, old: Any, new: Any, limit: Any = -1) -> celtypes.StringType:
    """`s.replace(old, new[, n])`."""
    return celtypes.StringType(_string(text).replace(_string(old), _string(new), _int(limit)))


def split(text: Any, separator: Any, limit: Any = -1) -> celtypes.ListType:
    """`s.split(sep[, n])`."""
    value, sep, count = _string(text), _string(separator), _int(limit)
    if count == 0:
        return celtypes.ListType([])
    if not sep:
        head = list(value) if count < 0 else list(value[: count - 1])
        parts = head + ([value[count - 1 :]] if 0 < count <= len(value) else [])
    else:
        parts = value.split(sep, count - 1 if count > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def join(items: Any, separator: Any = "") -> celtypes.StringType:
    """`list.join([sep])`."""
    return celtypes.StringType(_string(separator).join(_string(i) for i in _list(items)))


def substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType | CELEvalError:
    """`s.substring(start[, end])`, in code points."""
    value = _string(text)
    first, last = _int(start), len(value) if end is None else _int(end)
    if not 0 <= first <= last <= len(value):
        return CELEvalError(f"index out of range: {first}, {last}")
    return celtypes.StringType(value[first:last])


def char_at(text: Any, index: Any) -> celtypes.StringType | CELEvalError:
    """`s.charAt(i)`."""
    value, position = _string(text), _int(index)
    if not 0 <= position <= len(value):
        return CELEvalError(f"index out of range: {position}")
    return celtypes.StringType(value[position : position + 1])


def index_of(container: Any, item: Any, offset: Any = 0) -> celtypes.IntType | CELEvalError:
    """`s.indexOf(sub[, offset])` and `list.indexOf(elem)`."""
    if isinstance(container, list):
        return celtypes.IntType(next((i for i, x in enumerate(container) if x == item), -1))
    value, start = _string(container), _int(offset)
    if not 0 <= start <= len(value):
        return CELEvalError(f"index out of range: {start}")
    return celtypes.IntType(value.find(_string(item), start))


def last_index_of(container: Any, item: Any) -> celtypes.IntType:
    """`s.lastIndexOf(sub)` and `list.lastIndexOf(elem)`."""
    if isinstance(container, list):
        return celtypes.IntType(max((i for i, x in enumerate(container) if x == item), default=-1))
    return celtypes.IntType(_string(container).rfind(_string(item)))


def is_sorted(items: Any) -> celtypes.BoolType:
    """`list.isSorted()`."""
    values = _list(items)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(values)))


def total(items: Any) -> Any:
    """`list.sum()`."""
    values = _list(items)
    if not values:
        return celtypes.IntType(0)
    result = values[0]
    for value in values[1:]:
        result = result + value
    return result


def smallest(items: Any) -> Any:
    """`list.min()`."""
    values = _list(items)
    return min(values) if values else CELEvalError("min called on an empty list")


def largest(items: Any) -> Any:
    """`list.max()`."""
    values = _list(items)
    return max(values) if values else CELEvalError("max called on an empty list")


def find(text: Any, pattern: Any) -> celtypes.StringType | CELEvalError:
    """`s.find(regex)`: the first match, or ""."""
    try:
        match = re2.search(_string(pattern), _string(text))
    except re2.error as e:
        return CELEvalError(f"invalid regex: {e}")
    return celtypes.StringType(match.group(0) if match else "")


def find_all(text: Any, pattern: Any, limit: Any = -1) -> celtypes.ListType | CELEvalError:
    """`s.findAll(regex[, n])`."""
    try:
        matches = [m.group(0) for m in re2.finditer(_string(pattern), _string(text))]
    except re2.error as e:
        return CELEvalError(f"invalid regex: {e}")
    count = _int(limit)
    return celtypes.ListType([celtypes.StringType(m) for m in (matches if count < 0 else matches[:count])])


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "trim": trim,
    "replace": replace,
    "split": split,
    "join": join,
    "substring": substring,
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "isSorted": is_sorted,
    "sum": total,
    "min": smallest,
    "max": largest,
    "find": find,
    "findAll": find_all,
}


@dataclasses.dataclass(frozen=True)
class OptionalValue:
    """A CEL `optional` value: what `oldSelf` is for a rule with `optionalOldSelf: true`."""

    present: bool
    content: Any = None


def _optional(value: Any) -> OptionalValue:
    if not isinstance(value, OptionalValue):
        raise TypeError(f"expected an optional, got {type(value).__name__}")
    return value


def has_value(value: Any) -> celtypes.BoolType:
    """`opt.hasValue()`."""
    return celtypes.BoolType(_optional(value).present)


def optional_value(value: Any) -> Any:
    """`opt.value()`."""
    opt = _optional(value)
    return opt.content if opt.present else CELEvalError("optional.none() dereference")


def or_value(value: Any, fallback: Any) -> Any:
    """`opt.orValue(x)`."""
    opt = _optional(value)
    return opt.content if opt.present else fallback


FUNCTIONS.update({"hasValue": has_value, "value": optional_value, "orValue": or_value})
