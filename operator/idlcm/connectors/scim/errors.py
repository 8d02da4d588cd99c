"""Where SCIM and HTTP library errors enter idlcm: each becomes one scrubbed `ConnectorError`."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator

import httpx2
import pydantic
from scim2_client import (
    InvalidServiceDescriptionException,
    RequestNetworkException,
    SCIMClientException,
    UnexpectedStatusCodeException,
)
from scim2_models import SCIMException

from idlcm.connectors.errors import (
    ConnectorError,
    NeedsHumanError,
    PermanentError,
    RetryableError,
    TimedOutError,
    classify,
    parse_retry_after,
    scrub,
)


def is_library_error(exc: BaseException) -> bool:
    """Whether an exception comes from the SCIM/HTTP stack (and so must be translated)."""
    return isinstance(exc, SCIMClientException | SCIMException | httpx2.HTTPError | pydantic.ValidationError)


def translate(exc: BaseException, what: str, secrets: Iterable[str]) -> ConnectorError:
    """The ConnectorError for a library exception raised while doing `what`; never shows a secret."""
    secrets = list(secrets)

    def safe(text: str) -> str:
        return scrub(f"{what}: {text}", secrets)

    if isinstance(exc, RequestNetworkException):
        return network_error(exc.__cause__ or exc, what, secrets)
    if isinstance(exc, httpx2.HTTPError):
        return network_error(exc, what, secrets)
    if isinstance(exc, pydantic.ValidationError):
        return PermanentError(safe(f"invalid value: {exc.error_count()} validation error(s)"))
    source = getattr(exc, "source", None)
    response = source if isinstance(source, httpx2.Response) else None
    if isinstance(exc, SCIMException) and response is None:
        # Raised before sending: the request itself is not valid SCIM.
        return PermanentError(safe(f"invalid request: {exc.detail}"))
    if isinstance(exc, InvalidServiceDescriptionException):
        return NeedsHumanError(safe(exc.message), problem_class="SchemaIncompatible")
    status = response.status_code if response is not None else None
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
    location = response.headers.get("Location") if response is not None else None
    if isinstance(exc, SCIMException):
        return classify(
            status,
            detail=safe(exc.detail),
            retry_after=retry_after,
            scim_type=exc.scim_type or None,
            location=location,
        )
    if isinstance(exc, UnexpectedStatusCodeException) or (status is not None and not 200 <= status < 300):
        return classify(status, detail=safe("unexpected answer"), retry_after=retry_after, location=location)
    message = exc.message if isinstance(exc, SCIMClientException) else str(exc)
    if response is not None:  # what came instead, e.g. a login page (text/html): printable, bounded
        kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
        message += f" (HTTP {status}, {''.join(c for c in kind[:60] if c.isprintable())})"
    return NeedsHumanError(
        safe(f"the app's answer is not valid SCIM: {message}"), problem_class="InvalidResponse", status=status
    )


def network_error(exc: BaseException, what: str, secrets: Iterable[str]) -> ConnectorError:
    """The ConnectorError for a request that got no (complete) answer."""
    chain = list(_chain(exc))
    text = scrub(f"{what}: {type(exc).__name__}: {exc}", secrets)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return NeedsHumanError(f"{text} (TLS failed: check the CA bundle or URL)", problem_class="TLSError")
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return NeedsHumanError(f"{text} (check the URL)", problem_class="InvalidURL")
    if isinstance(exc, httpx2.TimeoutException):
        return TimedOutError(f"{text} (timed out)")
    return RetryableError(text)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
