"""Watch streams: the initial state as ADDED (no resourceVersion or "0"), then changes, BOOKMARKs and 410s.

A watch reads the resource's bounded history from the resourceVersion it was given; one that asks for a
version older than the history retains (or falls that far behind) gets an `ERROR` event with a 410 Expired
Status and the stream ends, as the apiserver's watch cache does. With selectors, an object that starts or
stops matching is reported as ADDED or DELETED, as the apiserver's cacher does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from idlcm.devcluster import errors
from idlcm.devcluster.registry import Registry, matches
from idlcm.devcluster.resources import Resource
from idlcm.devcluster.selectors import FieldSelector, LabelSelector
from idlcm.devcluster.store import Change, Obj

_IDLE = 3600.0  # how long a watch with neither bookmarks nor a timeout sleeps between checks


class Closing:
    """Set when the cluster stops, so that open watches end instead of holding the server open."""

    def __init__(self) -> None:
        self.closed = False


def parse_rv(value: str | None) -> int | None:
    """A watch's starting resourceVersion: None for unset or "0" (send the current state first)."""
    if value in (None, "", "0"):
        return None
    try:
        return int(value or 0)
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {value!r}") from None


async def watch(
    registry: Registry,
    res: Resource,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    since: int | None,
    *,
    timeout_seconds: float | None,
    bookmarks: bool,
    bookmark_interval: float,
    closing: Closing,
) -> AsyncGenerator[dict[str, Any], None]:
    """The events of one watch request, until the timeout, a 410, or the cluster closing."""
    loop = asyncio.get_running_loop()
    store = registry.store
    history = store.history(res.key)
    deadline = loop.time() + timeout_seconds if timeout_seconds else None
    wakeup = history.wakeup
    if since is None:
        last = store.rv
        initial = registry.select(res, namespace, labels, fields)
        for obj in initial:
            yield {"type": "ADDED", "object": obj}
    else:
        last = since
    next_bookmark = loop.time() + bookmark_interval
    while not closing.closed:
        changes = history.since(last)
        if changes is None:
            yield {"type": "ERROR", "object": _expired(last, history.floor + 1)}
            return
        for change in changes:
            last = change.rv
            event = _event(change, namespace, labels, fields)
            if event is not None:
                yield event
        if changes:
            wakeup = history.wakeup  # taken before the next read: a change while yielding is not missed
            continue
        now = loop.time()
        if deadline is not None and now >= deadline:
            return
        if bookmarks and now >= next_bookmark:
            last = max(last, store.rv)  # nothing pending for this resource up to the latest version
            next_bookmark = now + bookmark_interval
            yield {"type": "BOOKMARK", "object": _bookmark(res, last)}
            wakeup = history.wakeup
            continue
        waits = [_IDLE]
        if deadline is not None:
            waits.append(deadline - now)
        if bookmarks:
            waits.append(next_bookmark - now)
        await _wait(wakeup, min(waits))
        wakeup = history.wakeup


async def _wait(wakeup: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wakeup.wait(), timeout=max(0.0, seconds))


def _visible(obj: Obj, namespace: str | None, labels: LabelSelector, fields: FieldSelector) -> bool:
    if namespace is not None and (obj["metadata"].get("namespace") or "") != namespace:
        return False
    return matches(obj, labels, fields)


def _event(
    change: Change, namespace: str | None, labels: LabelSelector, fields: FieldSelector
) -> dict[str, Any] | None:
    now_visible = _visible(change.obj, namespace, labels, fields)
    was_visible = change.old is not None and _visible(change.old, namespace, labels, fields)
    match change.type:
        case "ADDED":
            kind = "ADDED" if now_visible else None
        case "DELETED":
            kind = "DELETED" if now_visible or was_visible else None
        case _:
            kind = {(True, True): "MODIFIED", (True, False): "ADDED", (False, True): "DELETED"}.get(
                (now_visible, was_visible)
            )
    return None if kind is None else {"type": kind, "object": change.obj}


def _bookmark(res: Resource, rv: int) -> dict[str, Any]:
    return {"kind": res.kind, "apiVersion": res.api_version, "metadata": {"resourceVersion": str(rv)}}


def _expired(asked: int, oldest: int) -> dict[str, Any]:
    return errors.gone(f"too old resource version: {asked} ({oldest})").status()
