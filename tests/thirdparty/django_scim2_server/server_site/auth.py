"""Bearer-token access check for django-scim2-server (its SCIM2_SERVER_AUTH_CHECK setting)."""

import hmac
import os
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def bearer_token(request: HttpRequest) -> bool:
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, f"Bearer {os.environ['SCIM_TOKEN']}".encode())


class RequestLog:
    """One line per request on stdout (the server's log): method, path, status, body (never a header)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        body = request.body.decode(errors="replace")
        response = self.get_response(request)
        print(request.method, request.get_full_path(), response.status_code, body, flush=True)
        return response
