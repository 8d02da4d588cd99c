"""The string formats the API server validates in CRD schemas; all other formats are ignored, as it does."""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable

import re2  # type: ignore[import-untyped]

# k8s validates only these (apiextensions-apiserver `supportedVersionedFormats`), compared without dashes;
# anything else, int64 and int32 included, is stripped from the schema and never checked.
SUPPORTED = frozenset(
    {
        "bsonobjectid",
        "uri",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "cidr",
        "mac",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
        "isbn",
        "isbn10",
        "isbn13",
        "creditcard",
        "ssn",
        "hexcolor",
        "rgbcolor",
        "byte",
        "password",
        "date",
        "duration",
        "datetime",
    }
)

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
# strfmt's DateTimePattern for the part after the "t"; note its unescaped "." (any character).
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))", re.ASCII)
# RE2 (linear time) for the address: a backtracking engine can take hours on a long run of spaces.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x{80}-\x{10FFFF}]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_ADDR_SPEC = rf"(?:{_DOT_ATOM}|{_QUOTED})@(?:{_DOT_ATOM}|\[[^\[\]\\\r\n]*\])"
_DISPLAY = rf"(?:(?:{_ATEXT}|[ .])+|{_QUOTED})"
# net/mail.ParseAddress accepts `addr-spec` and `display-name <addr-spec>`.
_EMAIL = re2.compile(rf"\s*(?:{_ADDR_SPEC}|{_DISPLAY}?\s*<{_ADDR_SPEC}>)\s*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# strfmt's HostnamePattern, label by label (its letters and symbols approximated by \w without "_").
_LABEL_ONLY = re.compile(r"[^\W_](?:-?[^\W_]{0,62})?")
_LABEL = re.compile(r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?")
_LABEL_LAST = re.compile(r"[^\W_](?:-?[^\W_]){1,62}")
_UUID = {
    "uuid": re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"),
    "uuid3": re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}"),
    "uuid4": re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}"),
    "uuid5": re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}"),
}
_MAC = re.compile(
    r"(?i)(?:[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){7}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){19}"
    r"|[0-9a-f]{4}(?:\.[0-9a-f]{4}){2}|[0-9a-f]{4}(?:\.[0-9a-f]{4}){3}|[0-9a-f]{4}(?:\.[0-9a-f]{4}){9})"
)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})")
_HEXCOLOR = re.compile(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_UNIT_DURATION = re.compile(
    r"\d+\s*(?:ns|nanoseconds?|us|µs|microseconds?|ms|milliseconds?|s|sec|seconds?|m|min|minutes?"
    r"|h|hr|hours?|d|days?|w|wk|weeks?)",
    re.IGNORECASE,
)


def effective_format(fmt: object) -> str:
    """The format as the API server keeps it: the name when supported, else "" (not validated)."""
    if isinstance(fmt, str) and fmt.replace("-", "") in SUPPORTED:
        return fmt
    return ""


def is_valid(fmt: str, text: str) -> bool:
    """Whether `text` is valid for the (supported) format `fmt`; formats without a checker pass."""
    checker = _CHECKERS.get(fmt.replace("-", ""))
    return checker(text) if checker else True


def is_date(text: str) -> bool:
    """RFC 3339 full-date, e.g. `2024-02-29` (Go's `time.Parse("2006-01-02")`)."""
    match = _DATE.fullmatch(text)
    if not match:
        return False
    try:
        datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def is_date_time(text: str) -> bool:
    """strfmt's `IsDateTime`: a full-date, `t`, and a time with seconds and a zone, e.g. `...T10:00:00Z`."""
    parts = text.lower().split("t")
    if len(parts) < 2 or not is_date(parts[0]):
        return False
    match = _TIME.fullmatch(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def is_email(text: str) -> bool:
    """An address Go's `net/mail.ParseAddress` accepts (`a@b.example` or `Name <a@b.example>`)."""
    try:
        return _EMAIL.fullmatch(text) is not None
    except Exception:  # re2 refuses text it cannot encode (lone surrogates): not an address
        return False


def is_hostname(text: str) -> bool:
    """An RFC 1034 host name as strfmt's `IsHostname` checks it (labels of at most 63, 255 in all)."""
    labels = text.split(".")
    if len(text) > 255 or any(len(label) > 63 for label in labels):
        return False
    if len(labels) == 1:
        return _LABEL_ONLY.fullmatch(text) is not None
    *inner, last = labels
    return all(_LABEL.fullmatch(label) for label in inner) and _LABEL_LAST.fullmatch(last) is not None


def is_uri(text: str) -> bool:
    """What Go's `url.ParseRequestURI` accepts: an absolute URI or an absolute path, no control bytes."""
    if not text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return False
    if text.startswith("/"):
        return True
    scheme = _SCHEME.match(text)
    if not scheme:
        return False
    rest = text[scheme.end() :]
    if rest.startswith("//"):
        authority = rest[2:].split("/", 1)[0].split("?", 1)[0]
        return " " not in authority
    return True


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        if "%" in text:
            return False
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return check


def _is_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _matches(regex: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: regex.fullmatch(text) is not None


def _is_duration(text: str) -> bool:
    return bool(_GO_DURATION.fullmatch(text) or _UNIT_DURATION.fullmatch(text))


_CHECKERS: dict[str, Callable[[str], bool]] = {
    "datetime": is_date_time,
    "date": is_date,
    "email": is_email,
    "uri": is_uri,
    "hostname": is_hostname,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
    "mac": _matches(_MAC),
    "byte": _matches(_BASE64),
    "hexcolor": _matches(_HEXCOLOR),
    "duration": _is_duration,
    **{name: _matches(rx) for name, rx in _UUID.items()},
}
