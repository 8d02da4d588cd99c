"""One exception hierarchy, classified where errors enter: retryable, permanent or needs-human.

The specific errors (conflict, not found, stale version) subclass one of the three, so a caller that only
knows the three words still does the right thing. Messages never carry secrets: they are scrubbed.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterable

# Credentials as they may appear in text echoed by an app or an HTTP library.
_AFTER_SCHEME = re.compile(
    # After Bearer/Basic: 8+ token characters, not all lowercase (so "basic authentication" stays).
    r"\b([Bb]earer|[Bb]asic|BEARER|BASIC)\s+(?=[A-Za-z0-9._~+/=-]*[A-Z0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"
)
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\r\n]+")
_KEYED = re.compile(
    # `key=value`, `"key": "value"`, `key: value`: a value, not a nested object or list
    # (`"bearerToken": {"secretRef": ...}` is no credential). The key is a word of its own
    # (`accessToken`, `api-key`), not the end of another one.
    r"(?i)(?<![a-z0-9])((?:access[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|api[_-]?key"
    r"|password|passwd|token)['\"]?\s*([:=])\s*(['\"]?))([^'\"&,{}\[\]\s]+)"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9_+=-])[A-Za-z0-9_+=-]{32,}")


def _looks_like_credential(value: str) -> bool:
    """A value after an unquoted `token: ` is replaced only when it could be one: prose ("token: the app
    refused it", "wrong-token: Validating -> UnderValidation") is not."""
    return len(value) >= 6 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _keyed(match: re.Match[str]) -> str:
    prefix, separator, quote, value = match.groups()
    if separator == "=" or quote or _looks_like_credential(value):
        return prefix + REDACTED
    return match.group(0)


def _long_run(match: re.Match[str]) -> str:
    """An opaque token by its shape: 32+ characters mixing upper case, lower case and digits. Hex digests,
    UIDs and Kubernetes names have no upper case, so they stay readable."""
    run = match.group(0)
    has = (any(c.isupper() for c in run), any(c.islower() for c in run), any(c.isdigit() for c in run))
    return REDACTED if all(has) else run


REDACTED = "***"
MAX_RETRY_AFTER = 3600.0
"""The longest Retry-After believed, in seconds: an app asking for more is retried after an hour anyway."""


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secrets and anything that looks like a credential from a text."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _AFTER_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = _KEYED.sub(_keyed, text)
    text = _JWT.sub(REDACTED, text)
    return _LONG_RUN.sub(_long_run, text)


class SecretValues:
    """The secret values this process holds now (tokens, passwords), so that no log line shows them.

    Each holder (a connector's API client, an OAuth flow) replaces what it held before; a holder that is
    garbage-collected lets go of its values, so the set stays as small as the live connectors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # several operators (threads) may share a process
        self._held: weakref.WeakKeyDictionary[object, tuple[str, ...]] = weakref.WeakKeyDictionary()
        self._values: tuple[str, ...] = ()
        self._holders = 0  # a change means a holder was collected: compute the values again

    def hold(self, holder: object, values: Iterable[str]) -> None:
        """Remember the values `holder` holds now, instead of those it held before."""
        with self._lock:
            self._held[holder] = tuple(v for v in values if v and len(v) >= 4)
            self._holders = -1

    def values(self) -> tuple[str, ...]:
        """Every value held now (never log them)."""
        with self._lock:
            if len(self._held) != self._holders:
                self._values = tuple({v for values in self._held.values() for v in values})
                self._holders = len(self._held)
            return self._values


KNOWN_SECRETS = SecretValues()
"""The process-wide registry the log redaction reads (`idlcm.logs`)."""


class ConnectorError(Exception):
    """Something went wrong talking to an external app; the message is safe to show and log."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.message = scrub(message)
        self.status = status
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class RetryableError(ConnectorError):
    """Likely to pass later: throttling, an unavailable app, a timeout, a broken connection."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, status={self.status!r}, retry_after={self.retry_after!r})"


class PermanentError(ConnectorError):
    """The app refused this request for good (for this account); retrying the same request will not help."""


class NeedsHumanError(ConnectorError):
    """Nothing works until a person fixes something: credentials, permissions, URL, app capabilities."""

    def __init__(self, message: str, *, problem_class: str, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.problem_class = problem_class

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, problem_class={self.problem_class!r}, status={self.status!r})"


class ConflictError(PermanentError):
    """409: the account clashes with an existing one (e.g. its userName is taken)."""


class NotFoundError(PermanentError):
    """404: the account (or group) does not exist in the app (any more)."""


class PreconditionFailedError(RetryableError):
    """412: the account changed in the app since it was read; read it again and retry."""


class TimedOutError(RetryableError):
    """The app did not answer within the request timeout."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), at most MAX_RETRY_AFTER;
    None if absent or invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max(0.0, moment.timestamp() - (time.time() if now is None else now)), MAX_RETRY_AFTER)


def classify(
    status: int | None,
    *,
    detail: str = "",
    retry_after: float | None = None,
    scim_type: str | None = None,
    location: str | None = None,
) -> ConnectorError:
    """The error for an HTTP status (None: no answer at all, e.g. a timeout or a refused connection).

    `detail` says what was being done and what the app said; it leads the message. `location` is where a
    redirect pointed (only its origin is shown).
    """
    head = detail.strip().rstrip(":").strip()

    def say(text: str) -> str:
        return f"{head}: {text}" if head else text

    code = f"HTTP {status}{', ' + scim_type if scim_type else ''}"
    plain = f"{head} ({code})" if head else code
    if status is None:
        return RetryableError(head or "no answer from the app", retry_after=retry_after)
    if 300 <= status < 400:
        where = f" to {_origin(location)}" if location else ""
        return NeedsHumanError(
            say(
                f"the app answered with a redirect ({code}){where}; redirects are never followed since they "
                "could carry the credentials elsewhere: check the base URL"
            ),
            problem_class="InvalidURL",
            status=status,
        )
    if status == 401:
        return NeedsHumanError(
            say(f"the app refused the credentials ({code})"),
            problem_class="InvalidCredentials",
            status=status,
        )
    if status == 403:
        return NeedsHumanError(
            say(f"the credentials lack a permission ({code})"),
            problem_class="PermissionDenied",
            status=status,
        )
    if status == 404:
        return NotFoundError(plain, status=status)
    if status == 409:
        return ConflictError(plain, status=status)
    if status == 412:
        return PreconditionFailedError(plain, status=status)
    if status in (408, 425, 429, 503):
        return RetryableError(plain, status=status, retry_after=retry_after)
    if status == 501:
        return NeedsHumanError(plain, problem_class="MissingCapability", status=status)
    if status >= 500:
        return RetryableError(plain, status=status, retry_after=retry_after)
    if 200 <= status < 300:
        return NeedsHumanError(
            say(f"unexpected answer ({code})"), problem_class="InvalidResponse", status=status
        )
    return PermanentError(plain, status=status)


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL (never its path or query, which may carry anything)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme:
        return "a relative address"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"
