"""How Go's fmt prints values, so that messages read exactly like the API server's."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_NAMED_ESCAPES = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
    "\\": r"\\",
    '"': r"\"",
}


def quote(text: str) -> str:
    """Go's `%q` / `strconv.Quote`: double quotes, printable characters kept, the rest escaped."""
    out = ['"']
    for char in text:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def number(value: float) -> str:
    """Go's `%v` of a float64: the shortest digits, in exponent form below 1e-4 or from 1e+06."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    text = "".join(map(str, digits)).rstrip("0") or "0"
    if text == "0":
        return "-0" if sign else "0"
    point = len(digits) + exponent  # digits before the decimal point
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    elif point <= 0:
        body = "0." + "0" * -point + text
    elif point >= len(text):
        body = text + "0" * (point - len(text))
    else:
        body = text[:point] + "." + text[point:]
    return ("-" if sign else "") + body


def value(obj: Any) -> str:
    """A bad value as `field.Error` prints it: `%v` for simple types, `%q` for strings, `%#v` for the rest."""
    if obj is None:
        return '"null"'  # field.Error turns a nil value into the string "null", then quotes it
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return number(obj)
    if isinstance(obj, str):
        return quote(obj)
    return sharp(obj)


def sharp(obj: Any) -> str:
    """Go's `%#v` of a JSON-like value (maps print sorted by key, as Go does)."""
    if obj is None:
        return "interface {}(nil)"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return number(obj)
    if isinstance(obj, str):
        return quote(obj)
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0]))
        return "map[string]interface {}{" + ", ".join(f"{quote(str(k))}:{sharp(v)}" for k, v in items) + "}"
    if isinstance(obj, list | tuple):
        return "[]interface {}{" + ", ".join(sharp(item) for item in obj) + "}"
    return quote(repr(obj))


def marshal(obj: Any) -> str:
    """Go's `json.Marshal` of a JSON-like value (sorted keys, no spaces); repr() for anything else."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return repr(obj)
