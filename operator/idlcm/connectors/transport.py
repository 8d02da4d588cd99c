"""The HTTP plumbing every HTTP connector shares: TLS settings, outbound limits and a response size cap."""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2

from idlcm.connectors.errors import NeedsHumanError, parse_retry_after
from idlcm.connectors.ratelimit import RateLimiter

# About ten times a page of 1,000 users with every mapped attribute (~0.85 MB from scim2-server), small
# enough that a runaway or hostile answer cannot exhaust the operator's memory (one per request in flight).
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
THROTTLE_RETRIES = 3
"""Times a request the app throttled (429) is sent again, after the pause it asked for, before its 429 is
the answer (a pause longer than the limiter waits out fails at once: the operation retries later)."""
THROTTLE_MAX_WAIT = 5.0
"""The longest Retry-After of a 429 waited out before sending the request again."""
THROTTLE_PAUSE = 1.0
"""Seconds paused after a 429 that names no Retry-After."""

# The statuses whose Retry-After pauses every request to the app, not only the one refused.
_PAUSING = frozenset({429, 503})
SCIM_JSON = "application/scim+json"
"""The media type RFC 7644 §8.1 registers for SCIM bodies: what request bodies go out as, first."""
PLAIN_JSON = "application/json"
"""What bodies go out as to an app that refused SCIM's own media type (415)."""


@dataclass(frozen=True)
class Tls:
    """TLS: verification is on unless `insecure`; `ca_pem` trusts this bundle, not the system CAs."""

    insecure: bool = False
    ca_pem: bytes | None = field(default=None, repr=False)

    def verify(self) -> ssl.SSLContext:
        """What httpx2 takes as `verify`: one context shared by every connector with the same settings."""
        return _context(self.insecure, self.ca_pem)


@functools.lru_cache(maxsize=64)
def _context(insecure: bool, ca_pem: bytes | None) -> ssl.SSLContext:
    # Shared: a context that loads the system CAs takes about a megabyte, and a connector per Integration
    # each made one or more (a thousand Integrations: a gigabyte). Contexts are safe to share; none is
    # changed after this.
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_pem is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=ca_pem.decode("ascii", errors="replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise NeedsHumanError(f"the CA bundle is not valid PEM: {exc}", problem_class="TLSError") from None


class MediaType:
    """The media type request bodies go out as to one app: SCIM's own until the app refuses it (415)."""

    def __init__(self) -> None:
        self.value = SCIM_JSON


class MediaTypes:
    """The media type of each app this process talks to, by base URL, so that a refusal is met once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, MediaType] = {}

    def of(self, base_url: str) -> MediaType:
        """The app's media type (shared by every connector to that app)."""
        with self._lock:
            return self._by_url.setdefault(base_url.rstrip("/"), MediaType())

    def forget(self, base_url: str) -> None:
        """Start this app from SCIM's own media type again."""
        with self._lock:
            self._by_url.pop(base_url.rstrip("/"), None)


MEDIA_TYPES = MediaTypes()
"""The process-wide record of the media type each app takes."""


RequestObserver = Callable[[str, str, float], None]
"""Told of each request sent to the app: method, code (the HTTP status, or 'error' when no whole answer came)
and the seconds it waited for the rate limiter (metrics)."""


def _ignore(method: str, code: str, waited: float) -> None:
    pass


class CappedBody:
    """Collects an answer's body, refusing (InvalidResponse) one past the cap before reading further."""

    def __init__(self, request: httpx2.Request, response: httpx2.Response, limit: int) -> None:
        self._request = request
        self._response = response
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise self._too_large()

    def add(self, chunk: bytes) -> None:
        """Take one more chunk of the body."""
        self._size += len(chunk)
        if self._size > self._limit:
            raise self._too_large()
        self._chunks.append(chunk)

    def response(self) -> httpx2.Response:
        """The answer, with the whole body read."""
        r = self._response
        content = b"".join(self._chunks)
        return httpx2.Response(
            r.status_code, headers=r.headers, content=content, extensions=r.extensions, request=self._request
        )

    def _too_large(self) -> NeedsHumanError:
        return NeedsHumanError(
            f"{self._request.method} {self._request.url.path}: the app's answer exceeds {self._limit} bytes, "
            "the most idlcm reads (IDLCM_MAX_RESPONSE_BYTES); not read further",
            problem_class="InvalidResponse",
            status=self._response.status_code,
        )


def read_capped(request: httpx2.Request, response: httpx2.Response, limit: int) -> httpx2.Response:
    """The answer with its whole body read, at most `limit` bytes (synchronous transports)."""
    try:
        body = CappedBody(request, response, limit)
        for chunk in response.stream:  # type: ignore[union-attr]
            body.add(chunk)
    finally:
        response.close()
    return body.response()


async def aread_capped(request: httpx2.Request, response: httpx2.Response, limit: int) -> httpx2.Response:
    """The answer with its whole body read, at most `limit` bytes."""
    try:
        body = CappedBody(request, response, limit)
        async for chunk in response.stream:  # type: ignore[union-attr]
            body.add(chunk)
    finally:
        await response.aclose()
    return body.response()


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Admits each request through the rate limiter and reads the whole answer, refusing one past the cap;
    a 429 or 503 with Retry-After pauses every request to the app for that long.

    With a `media` type, JSON request bodies go out as that type; an app answering 415 gets the same
    request once more as the other JSON type (SCIM's own or plain JSON), and that type from then on."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        limiter: RateLimiter,
        max_response_bytes: int,
        observe: RequestObserver | None = None,
        media: MediaType | None = None,
    ) -> None:
        self._inner = inner
        self._limiter = limiter
        self._max = max_response_bytes
        self._observe = observe or _ignore
        self._media = media

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send it; a 429 (nothing was done: the app asks to slow down) is sent again after the pause it
        asked for, at a lowered rate, up to `THROTTLE_RETRIES` times, then answered as it came."""
        for _ in range(THROTTLE_RETRIES):
            answer = await self._framed(request)
            if answer.status_code != 429:
                self._limiter.speed_up()
                return answer
            self._limiter.slow_down()
            pause = parse_retry_after(answer.headers.get("Retry-After"))
            if pause is not None and pause > THROTTLE_MAX_WAIT:
                return answer  # a long pause: the operation is retried no sooner than asked
            if pause is None:
                self._limiter.pause(THROTTLE_PAUSE)  # none given: a short pause of our own
            request = _again(request, request.headers)
        return await self._framed(request)

    async def _framed(self, request: httpx2.Request) -> httpx2.Response:
        media = self._media
        if media is None or not _is_json(request.headers.get("Content-Type")):
            return await self._send(request)
        sent_as = media.value
        request.headers["Content-Type"] = sent_as
        answer = await self._send(request)
        if answer.status_code != 415:
            return answer
        other = PLAIN_JSON if sent_as == SCIM_JSON else SCIM_JSON
        headers = request.headers.copy()
        headers["Content-Type"] = other
        retried = await self._send(_again(request, headers))
        if retried.status_code != 415:
            media.value = other  # (a concurrent request may have learnt it already: the same lesson)
        return retried

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        async with self._limiter.slot() as waited:
            code = "error"  # until a whole answer arrived: refused, timed out, dropped mid-way
            try:
                response = await self._inner.handle_async_request(request)
                if response.status_code in _PAUSING:
                    pause = parse_retry_after(response.headers.get("Retry-After"))
                    if pause:
                        self._limiter.pause(pause)
                try:
                    answer = await aread_capped(request, response, self._max)
                except NeedsHumanError:
                    code = str(response.status_code)  # too large: a whole answer came, under its status
                    raise
                code = str(response.status_code)
            except Exception:  # a cancellation (the operator stops) is not the app's doing: not counted
                self._observe(request.method, code, waited)
                raise
            self._observe(request.method, code, waited)
        return answer

    async def aclose(self) -> None:
        await self._inner.aclose()


def _again(request: httpx2.Request, headers: httpx2.Headers) -> httpx2.Request:
    """The same request, to send once more (with these headers)."""
    return httpx2.Request(
        request.method, request.url, headers=headers, content=request.content, extensions=request.extensions
    )


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").partition(";")[0].strip().lower()
    return kind in (SCIM_JSON, PLAIN_JSON)
