"""The HTTP plumbing every HTTP connector shares: TLS settings, outbound limits and a response size cap."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2

from idlcm.connectors.errors import NeedsHumanError
from idlcm.connectors.ratelimit import RateLimiter

# Large enough for a page of 1,000 users or a bulk response, small enough to refuse a runaway answer.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Tls:
    """TLS: verification is on unless `insecure`; `ca_pem` trusts this bundle, not the system CAs."""

    insecure: bool = False
    ca_pem: bytes | None = field(default=None, repr=False)

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx2 takes as `verify`."""
        if self.insecure:
            return False
        if self.ca_pem is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cadata=self.ca_pem.decode("ascii", errors="replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise NeedsHumanError(
                f"the CA bundle is not valid PEM: {exc}", problem_class="TLSError"
            ) from None


RequestObserver = Callable[[str, str, float], None]
"""Told of each request sent to the app: method, code (the HTTP status, or 'error' when no whole answer came)
and the seconds it waited for the rate limiter (metrics)."""


def _ignore(method: str, code: str, waited: float) -> None:
    pass


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Admits each request through the rate limiter and reads the whole answer, refusing one past the cap."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        limiter: RateLimiter,
        max_response_bytes: int,
        observe: RequestObserver | None = None,
    ) -> None:
        self._inner = inner
        self._limiter = limiter
        self._max = max_response_bytes
        self._observe = observe or _ignore

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        async with self._limiter.slot() as waited:
            code = "error"  # until a whole answer arrived: refused, timed out, dropped mid-way
            try:
                response = await self._inner.handle_async_request(request)
                chunks: list[bytes] = []
                size = 0
                try:
                    async for chunk in response.stream:  # type: ignore[union-attr]
                        size += len(chunk)
                        if size > self._max:
                            code = str(response.status_code)
                            raise NeedsHumanError(
                                f"the app's answer exceeds {self._max} bytes", problem_class="InvalidResponse"
                            )
                        chunks.append(chunk)
                finally:
                    await response.aclose()
                code = str(response.status_code)
            except Exception:  # a cancellation (the operator stops) is not the app's doing: not counted
                self._observe(request.method, code, waited)
                raise
            self._observe(request.method, code, waited)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            content=b"".join(chunks),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
