"""The demo's Integrations as the API shows them, kept current by a watch: every status change is seen."""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

import kubernetes.client
import kubernetes.watch
import urllib3

from idlcm.crds import GROUP, VERSION

PATH_LENGTH = 10  # statuses remembered per Integration
TRANSITIONS_KEPT = 1000  # changes kept until the display takes them


@dataclasses.dataclass(frozen=True)
class Row:
    """One Integration as the demo's table shows it."""

    name: str
    app: str
    status: str
    reason: str
    ready: str
    accounts: str
    message: str
    generation: int
    observed_generation: int
    path: tuple[str, ...] = ()
    """The statuses seen, oldest first (the last `PATH_LENGTH`)."""

    @property
    def settled(self) -> bool:
        """Whether the status describes the latest spec."""
        return self.observed_generation >= self.generation


@dataclasses.dataclass(frozen=True)
class Transition:
    """An Integration's status or reason changed (or it appeared)."""

    time: float
    row: Row


def row_of(obj: Mapping[str, Any], path: tuple[str, ...] = ()) -> Row:
    """The row of an Integration object."""
    status = obj.get("status") or {}
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    return Row(
        name=obj["metadata"]["name"],
        app=(obj.get("spec") or {}).get("app", ""),
        status=status.get("status", ""),
        reason=status.get("reason", ""),
        ready=ready.get("status", ""),
        accounts=(status.get("accounts") or {}).get("summary", ""),
        message=status.get("message", ""),
        generation=obj["metadata"].get("generation", 0),
        observed_generation=status.get("observedGeneration", 0),
        path=path,
    )


class Feed:
    """Watches the Integrations of one namespace in a thread; `rows()` and `transitions()` read it."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(api)
        self._namespace = namespace
        self._lock = threading.Lock()
        self._rows: dict[str, Row] = {}
        self._transitions: collections.deque[Transition] = collections.deque(maxlen=TRANSITIONS_KEPT)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the watch to end (it ends at once when the API server stops)."""
        self._stopping.set()

    def join(self, timeout: float) -> None:
        """Wait for the watch thread to end."""
        self._thread.join(timeout)

    def rows(self) -> list[Row]:
        """The Integrations, in the order they appeared."""
        with self._lock:
            return list(self._rows.values())

    def transitions(self) -> list[Transition]:
        """The changes since the last call."""
        with self._lock:
            taken = list(self._transitions)
            self._transitions.clear()
        return taken

    def _run(self) -> None:
        version: str | None = None
        while not self._stopping.is_set():
            try:
                if version is None:
                    listing = self._list()
                    self._replace(listing["items"])
                    version = listing["metadata"]["resourceVersion"]
                version = self._watch(version)
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError, ValueError):
                version = None  # a gap (410 Gone) or a lost connection: list again
                self._stopping.wait(0.5)

    def _list(self) -> dict[str, Any]:
        listing = self._custom.list_namespaced_custom_object(
            GROUP, VERSION, self._namespace, "integrations", _request_timeout=10
        )
        return cast(dict[str, Any], listing)

    def _watch(self, version: str) -> str:
        """Follow changes from `version` until the server ends the watch; returns the last version seen."""
        watch = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
        for event in watch.stream(  # type: ignore[no-untyped-call]
            self._custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self._namespace,
            "integrations",
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=10,
            _request_timeout=30,
        ):
            obj, kind = event["object"], event["type"]
            if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                raise ValueError(f"watch error: {obj}")  # list again
            version = obj["metadata"]["resourceVersion"]
            if kind == "DELETED":
                with self._lock:
                    self._rows.pop(obj["metadata"]["name"], None)
            elif kind != "BOOKMARK":
                self._upsert(obj)
            if self._stopping.is_set():
                watch.stop()  # type: ignore[no-untyped-call]
        return version

    def _replace(self, items: list[dict[str, Any]]) -> None:
        names = {item["metadata"]["name"] for item in items}
        with self._lock:
            for name in set(self._rows) - names:
                del self._rows[name]
        for item in items:
            self._upsert(item)

    def _upsert(self, obj: Mapping[str, Any]) -> None:
        with self._lock:
            old = self._rows.get(obj["metadata"]["name"])
            new = row_of(obj, old.path if old else ())
            if new.status and (not new.path or new.path[-1] != new.status):
                new = dataclasses.replace(new, path=(*new.path, new.status)[-PATH_LENGTH:])
            self._rows[new.name] = new
            if old is None or (old.status, old.reason) != (new.status, new.reason):
                self._transitions.append(Transition(time.time(), new))
