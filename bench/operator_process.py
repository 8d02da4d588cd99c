"""An operator in a process of its own, so that its memory is its own: idlcm's, or the bare kopf baseline.

    python bench/operator_process.py idlcm|bare KUBECONFIG

Prints `ready` once it watches, runs until its stdin closes, then prints one JSON line: peak RSS and CPU time.
The bare operator is the least a kopf operator does: on create, it patches one status field (`UpToDate`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import threading
from typing import Any

import kopf

from idlcm.settings import GROUP

KOPF_PREFIX = f"kopf.{GROUP}"  # as idlcm.handlers keeps kopf's bookkeeping (not imported: see bare_registry)


def bare_registry() -> kopf.OperatorRegistry:
    """A kopf operator that marks every new Integration UpToDate, and nothing else (it imports none of
    idlcm's operator code, so that its memory is kopf's alone)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # kopf's bookkeeping where idlcm keeps it (the CRD's status holds only declared fields).
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_PREFIX, key="last-handled-configuration"
        )
        settings.posting.level = logging.WARNING

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)  # reads $KUBECONFIG

    @kopf.on.create(GROUP, "v1alpha1", "integrations", registry=registry)
    async def created(patch: kopf.Patch, **_: Any) -> None:
        patch.status["status"] = "UpToDate"

    return registry


async def run(kind: str, kubeconfig: str, stop: threading.Event, ready: threading.Event) -> None:
    if kind == "idlcm":
        from idlcm import runner
        from idlcm.settings import Settings

        config = runner.cluster_config(kubeconfig, None)
        await runner.run(config, settings=Settings.from_env(), stop_flag=stop, ready_flag=ready)
        return
    os.environ["KUBECONFIG"] = kubeconfig
    await kopf.operator(
        registry=bare_registry(), clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready
    )


def main() -> None:
    kind, kubeconfig = sys.argv[1:3]
    stop, ready = threading.Event(), threading.Event()

    def announce() -> None:
        ready.wait()
        print("ready", flush=True)

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=announce, daemon=True).start()
    threading.Thread(target=wait_for_eof, daemon=True).start()
    asyncio.run(run(kind, kubeconfig, stop, ready))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {"max_rss_mib": usage.ru_maxrss / 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
