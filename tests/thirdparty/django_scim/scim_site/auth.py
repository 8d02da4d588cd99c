"""Bearer-token authentication in front of django-scim2 (which leaves authentication to the project)."""

import hmac
import os
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse


class ServiceClient(AnonymousUser):
    """The provisioning client: authenticated, and no row in the users table (so no extra SCIM User)."""

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.expected = f"Bearer {os.environ['SCIM_TOKEN']}".encode()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("Authorization", "").encode()
        request.user = ServiceClient() if hmac.compare_digest(given, self.expected) else AnonymousUser()
        return self.get_response(request)


class RequestLog:
    """One line per request on stdout (the server's log): method, path, status, body (never a header)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        body = request.body.decode(errors="replace")
        response = self.get_response(request)
        print(request.method, request.get_full_path(), response.status_code, body, flush=True)
        return response
