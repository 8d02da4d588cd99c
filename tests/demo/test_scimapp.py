"""The demo's SCIM app: scim2-server on loopback under /scim/v2, only for its bearer token."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from idlcm.demo import scimapp


def _get(url: str, token: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, {}


def test_it_answers_its_token_refuses_others_and_frees_its_port() -> None:
    with scimapp.serve_in_thread() as app:
        assert app.base_url == f"http://127.0.0.1:{app.port}/scim/v2"
        status, body = _get(app.base_url + "/Users", app.token)
        assert (status, body["totalResults"]) == (200, 0)
        assert _get(app.base_url + "/Users", "not-the-right-token")[0] == 401
        assert _get(f"http://127.0.0.1:{app.port}/v2/Users", app.token)[0] == 404
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", app.port))


def test_each_app_has_a_token_of_its_own() -> None:
    with scimapp.serve_in_thread() as one, scimapp.serve_in_thread() as other:
        assert one.token != other.token
        assert _get(one.base_url + "/Users", other.token)[0] == 401


def test_a_port_in_use_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"), scimapp.serve_in_thread(taken.getsockname()[1]):
            pass
