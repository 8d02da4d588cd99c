"""The health endpoint (`idlcm run --liveness URL`): 503 until the operator's watches run, then 200.

kopf's own endpoint answers 200 as soon as the startup handlers ran, while its watch streams may still be
stalled (forbidden listings retried for a minute): a pod was ready and nothing was watched. Here the answer
is 200 only once every watch idlcm depends on (Integrations, Secrets, ConfigMaps, in each namespace served, or
cluster-wide) has listed its objects once, i.e. kopf streams events for them. It stays 200 from then on while
the event loop runs (kopf restarts a broken stream itself); that is also what liveness needs. A replica that
kopf's peering has paused for an active peer also answers 200, saying it stands by (`"standby": true`): it
watches nothing on purpose, and a 503 would have it restarted or hold up a rolling update for ever.

kopf has no public signal for "this watch has listed": its watch stream yields a `LISTED` bookmark after the
initial listing, which `track()` notes for the operator whose settings it is given. kopf is pinned
(pyproject) and `tests/lifecycle/test_namespaced_start.py` fails if this stops being seen.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Collection, Iterable
from typing import Any

import aiohttp.web
from kopf._cogs.clients import watching
from kopf._cogs.configs.configuration import OperatorSettings

logger = logging.getLogger(__name__)

PEERING_GROUP = "kopf.dev"
WatchKey = tuple[str, str, str | None]
"""(API group, plural, namespace or None for cluster-wide) of one watch stream."""


class Watches:
    """The watch streams an operator needs, and those that have listed their objects at least once."""

    def __init__(self, resources: Iterable[tuple[str, str]], namespaces: Collection[str]) -> None:
        scopes: list[str | None] = list(namespaces) or [None]
        self.expected: frozenset[WatchKey] = frozenset(
            (group, plural, ns) for group, plural in resources for ns in scopes
        )
        self.listed: set[WatchKey] = set()
        self.pauses: list[Any] = []
        """kopf's pause toggles of the streams (on while peering makes this replica stand by)."""
        self.peering_listed = False
        """Whether kopf's peering object stream has listed (before that, a pause is kopf not knowing yet)."""

    @property
    def running(self) -> bool:
        return self.expected <= self.listed

    @property
    def standing_by(self) -> bool:
        """Paused by kopf's peering for a peer, once kopf has read the peering object (with `--peering`,
        kopf keeps every watch paused from the start until it has seen that object)."""
        return self.peering_listed and any(pause.is_on() for pause in self.pauses)

    def missing(self) -> list[WatchKey]:
        return sorted(self.expected - self.listed, key=str)

    def note(self, key: WatchKey) -> None:
        if key[0] == PEERING_GROUP:
            self.peering_listed = True
        if key in self.expected and key not in self.listed:
            self.listed.add(key)
            if self.running:
                logger.info("all %d watches run: ready", len(self.expected))


_tracked: dict[int, tuple[OperatorSettings, Watches]] = {}
_original_watch = watching.infinite_watch


def track(settings: OperatorSettings, watches: Watches) -> None:
    """Note the listings of the operator that runs with these kopf settings (until `untrack`)."""
    _install()
    _tracked[id(settings)] = (settings, watches)


def untrack(settings: OperatorSettings) -> None:
    _tracked.pop(id(settings), None)


def _install() -> None:
    if watching.infinite_watch is not _watch:
        watching.infinite_watch = _watch


def _watch(*, settings: OperatorSettings, resource: Any, namespace: Any, **kwargs: Any) -> Any:
    stream = _original_watch(settings=settings, resource=resource, namespace=namespace, **kwargs)
    found = _tracked.get(id(settings))
    if found is None or found[0] is not settings:
        return stream
    paused = kwargs.get("operator_paused")
    if paused is not None and all(p is not paused for p in found[1].pauses):
        found[1].pauses.append(paused)
    return _noting(stream, found[1], (resource.group, resource.plural, namespace))


async def _noting(stream: Any, watches: Watches, key: WatchKey) -> AsyncIterator[Any]:
    async with contextlib.aclosing(stream):
        async for event in stream:
            if event is watching.Bookmark.LISTED:
                watches.note(key)
            yield event


class Endpoint:
    """The HTTP endpoint: GET <path> answers 200 when the watches run (or the replica stands by for a peer),
    else 503 naming the watches that have not listed yet."""

    def __init__(self, url: str, watches: Watches) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"the health endpoint must be an http:// URL: {url}")
        self.host, self.port, self.path = parts.hostname or "localhost", parts.port or 80, parts.path or "/"
        self.watches = watches
        self._runner: aiohttp.web.AppRunner | None = None

    async def start(self) -> None:
        app = aiohttp.web.Application()
        app.add_routes([aiohttp.web.get(self.path, self._answer)])
        self._runner = aiohttp.web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        logger.debug("serving health at http://%s:%s%s", self.host, self.port, self.path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _answer(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        if self.watches.standing_by:
            return aiohttp.web.json_response({"watching": False, "standby": True})
        if self.watches.running:
            return aiohttp.web.json_response({"watching": True})
        missing = [f"{plural}.{group or 'core'}@{ns or '*'}" for group, plural, ns in self.watches.missing()]
        return aiohttp.web.json_response({"watching": False, "waitingFor": missing}, status=503)
