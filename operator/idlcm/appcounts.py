"""Each ExternalApp's count of the Integrations that use it, kept up to date in the background.

Counting lists every Integration of the namespace. Done once per Integration, a burst of a thousand new
Integrations cost a thousand listings of up to a thousand objects each; here one listing answers every
request made before it started, and listings of one app are at least `spacing` seconds apart, and at least
`SHARE` times the last listing's duration: listing takes at most a twentieth of the time, however large
the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from idlcm.kube import Kube

logger = logging.getLogger(__name__)

SHARE = 20.0

AppKey = tuple[str, str]
"""(namespace, app name)."""


class AppCounter:
    """Writes `integrations` and `integrationNames` into the status of each ExternalApp on request."""

    def __init__(self, kube: Kube, *, spacing: float = 1.0) -> None:
        self._kube = kube
        self._spacing = spacing
        self._wanted: set[AppKey] = set()
        self._tasks: dict[AppKey, asyncio.Task[None]] = {}

    def request(self, namespace: str, app: str) -> None:
        """Count the app's Integrations soon (at once unless a count of it ran less than `spacing` ago)."""
        key = (namespace, app)
        self._wanted.add(key)
        if key not in self._tasks:
            self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key))

    async def settled(self) -> None:
        """Wait until every requested count is written (or has failed)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop counting (at shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, key: AppKey) -> None:
        try:
            while key in self._wanted:
                self._wanted.discard(key)  # a request from now on asks for another count
                started = time.monotonic()
                try:
                    await self._count(*key)
                except Exception as exc:  # the API server is unavailable: the next request counts again
                    logger.warning("counting the Integrations of app %s/%s failed: %s", *key, exc)
                await asyncio.sleep(max(self._spacing, SHARE * (time.monotonic() - started)))
        finally:
            with contextlib.suppress(KeyError):
                del self._tasks[key]

    async def _count(self, namespace: str, app: str) -> None:
        # An Integration being deleted no longer uses the app (its finalizer may still hold it for a while).
        names = sorted(
            [
                i["metadata"]["name"]
                async for page in self._kube.list_integrations(namespace)
                for i in page
                if (i.get("spec") or {}).get("app") == app and not i["metadata"].get("deletionTimestamp")
            ]
        )
        await self._kube.patch_app_status(
            namespace, app, {"integrations": len(names), "integrationNames": names[:100]}
        )
