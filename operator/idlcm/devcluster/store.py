"""The devcluster's storage: the current objects, one global resourceVersion, and bounded change histories.

Objects are plain dicts, looked up in O(1) by (resource, namespace, name). A stored dict is never mutated:
every write stores a new one, so the histories and the lists can share them safely. Only the latest
version of an object is kept; the per-resource history of changes (for watches to resume from) is a ring
buffer of a configurable size.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

Obj = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Change:
    """One write to one object, as a watch reports it."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj  # the new state; for DELETED, the last state
    old: Obj | None  # the state before (None for ADDED), for watches with selectors


class History:
    """The latest changes of one resource: a ring buffer that watches read from and wait on."""

    def __init__(self, size: int) -> None:
        self._changes: collections.deque[Change] = collections.deque(maxlen=max(1, size))
        self.floor = 0  # every change after this resourceVersion is still retained (0: none ever evicted)
        self._wakeup = asyncio.Event()

    def append(self, change: Change) -> None:
        """Record a change and wake the watches."""
        if len(self._changes) == self._changes.maxlen:
            self.floor = self._changes[0].rv
        self._changes.append(change)
        self.wake()

    def since(self, rv: int) -> list[Change] | None:
        """The changes after `rv`, oldest first; None when some of them are no longer retained."""
        if rv < self.floor:
            return None
        newer: list[Change] = []
        for change in reversed(self._changes):
            if change.rv <= rv:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def __len__(self) -> int:
        return len(self._changes)

    @property
    def wakeup(self) -> asyncio.Event:
        """Set at the next change: take it before reading, then wait on it."""
        return self._wakeup

    def wake(self) -> None:
        """Wake every waiting watch (the cluster is closing)."""
        self._wakeup.set()
        self._wakeup = asyncio.Event()


class Store:
    """All objects of all resources, keyed by resource key, namespace ("" if cluster-scoped), and name."""

    def __init__(self, history_size: int = 1000) -> None:
        self.rv = 1  # the latest resourceVersion handed out
        self._history_size = history_size
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {}
        self._histories: dict[str, History] = {}

    def next_rv(self) -> int:
        """A new resourceVersion, greater than every earlier one."""
        self.rv += 1
        return self.rv

    def history(self, key: str) -> History:
        """The change history of a resource."""
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = History(self._history_size)
        return history

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        """The object, or None."""
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def objects(self, key: str, namespace: str | None = None) -> Iterator[Obj]:
        """The objects of a resource in one namespace, or in all (`None`), in insertion order."""
        by_namespace = self._objects.get(key, {})
        if namespace is not None:
            yield from list(by_namespace.get(namespace, {}).values())
            return
        for objs in list(by_namespace.values()):
            yield from list(objs.values())

    def count(self, key: str, namespace: str) -> int:
        """How many objects of a resource are in a namespace."""
        return len(self._objects.get(key, {}).get(namespace, {}))

    def keys_in_namespace(self, namespace: str) -> list[tuple[str, str]]:
        """(resource key, name) of every object in the namespace."""
        return [(key, name) for key, by_ns in self._objects.items() for name in by_ns.get(namespace, {})]

    def put(self, key: str, change_type: str, obj: Obj, old: Obj | None) -> None:
        """Store the object (its resourceVersion already stamped) and record the change."""
        meta = obj["metadata"]
        self._objects.setdefault(key, {}).setdefault(meta.get("namespace") or "", {})[meta["name"]] = obj
        self.history(key).append(Change(int(meta["resourceVersion"]), change_type, obj, old))

    def remove(self, key: str, obj: Obj, old: Obj | None) -> None:
        """Forget the object; `obj` is its last state (resourceVersion of the deletion) for the watches."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or ""
        by_ns = self._objects.get(key, {})
        by_ns.get(namespace, {}).pop(meta["name"], None)
        if namespace in by_ns and not by_ns[namespace]:
            del by_ns[namespace]
        self.history(key).append(Change(int(meta["resourceVersion"]), "DELETED", obj, old))

    def wake_all(self) -> None:
        """Wake every waiting watch of every resource."""
        for history in self._histories.values():
            history.wake()

    def drop_resource(self, key: str) -> None:
        """Forget all objects of a resource (its CRD is gone)."""
        self._objects.pop(key, None)
