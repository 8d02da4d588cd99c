"""API errors as the apiserver words them: each one renders as a `v1 Status` body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from idlcm.devcluster.resources import Resource


class ApiError(Exception):
    """A request the API refuses; `status()` is the body a client gets."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})
        self.body: dict[str, Any] | None = None  # a ready-made Status body, e.g. from the schema validator

    def status(self) -> dict[str, Any]:
        """The `v1 Status` body of this error."""
        if self.body is not None:
            return self.body
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_status(cls, body: Mapping[str, Any]) -> ApiError:
        """Wrap a Status body built elsewhere (the schema validator's 422)."""
        error = cls(
            int(body.get("code", 422)), str(body.get("reason", "Invalid")), str(body.get("message", ""))
        )
        error.body = dict(body)
        return error


def _details(res: Resource, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    details.update(extra)
    return details


def not_found(res: Resource, name: str) -> ApiError:
    """404: `integrations.idlcm.io "x" not found`."""
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    """409: `integrations.idlcm.io "x" already exists`."""
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _details(res, name))


def conflict(res: Resource, name: str, why: str) -> ApiError:
    """409: `Operation cannot be fulfilled on integrations.idlcm.io "x": <why>`."""
    message = f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}'
    return ApiError(409, "Conflict", message, _details(res, name))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(res: Resource, name: str, causes: Sequence[tuple[str, str, str]]) -> ApiError:
    """422 with causes, each `(reason, field, message)`: `Integration.idlcm.io "x" is invalid: ...`."""
    texts = [f"{field}: {message}" for _, field, message in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    details: dict[str, Any] = {"name": name, "kind": res.kind}
    if res.group:
        details["group"] = res.group
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {summary}', details)


def forbidden(res: Resource, name: str, why: str, **extra: Any) -> ApiError:
    """403: `namespaces "x" is forbidden: <why>`."""
    return ApiError(
        403, "Forbidden", f'{res.qualified} "{name}" is forbidden: {why}', _details(res, name, **extra)
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def unprocessable(message: str) -> ApiError:
    """422 without causes: what the apiserver answers for a JSON patch that does not apply."""
    return ApiError(422, "Invalid", message)


def unsupported_media_type(content_type: str, accepted: Sequence[str]) -> ApiError:
    """415: the body's format is not one this endpoint accepts."""
    message = "the body of the request was in an unknown format - accepted media types include: " + ", ".join(
        accepted
    )
    if not content_type:
        message = "the body of the request has no content type; " + message
    return ApiError(415, "UnsupportedMediaType", message)


def method_not_allowed(res: Resource | None, verb: str) -> ApiError:
    """405: the verb is not served on this path."""
    what = res.kind if res is not None else "this path"
    return ApiError(405, "MethodNotAllowed", f'{verb} is not supported on resources of kind "{what}"')


def gone(message: str) -> ApiError:
    """410 Expired: a resourceVersion or continue token older than what is retained."""
    return ApiError(410, "Expired", message)


def path_not_found() -> ApiError:
    """404 for a URL that is no API path at all."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def internal(message: str) -> ApiError:
    """500: a bug in the devcluster (the traceback goes to the log, never to the client)."""
    return ApiError(
        500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]}
    )
