"""An operator in a process of its own, so that its memory is its own: idlcm's, or the bare kopf baseline.

    python bench/operator_process.py idlcm|bare KUBECONFIG

Prints `ready` once it watches, runs until its stdin closes, then prints one JSON line: peak RSS and CPU time.
The bare operator is the least a kopf operator does: on create, it patches one status field (`UpToDate`).
With `IDLCM_BENCH_REPORT=PATH`, idlcm's operator also writes there (JSON) the requests it sent to the apps,
by method, as its metrics counted them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import threading
from pathlib import Path
from typing import Any

import kopf

from idlcm.crds import GROUP  # not idlcm.settings: it imports the HTTP client stack

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


async def run(
    kind: str, kubeconfig: str, stop: threading.Event, ready: threading.Event, metrics: Any
) -> None:
    if kind == "idlcm":
        from idlcm import runner
        from idlcm.settings import Settings

        config = runner.cluster_config(kubeconfig, None)
        await runner.run(
            config, settings=Settings.from_env(), stop_flag=stop, ready_flag=ready, metrics=metrics
        )
        return
    os.environ["KUBECONFIG"] = kubeconfig
    await kopf.operator(
        registry=bare_registry(), clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready
    )


def app_requests(metrics: Any) -> dict[str, int]:
    """Requests sent to the apps, by HTTP method (`idlcm_outbound_requests_total`)."""
    counts: dict[str, int] = {}
    for metric in metrics.registry.collect():
        if metric.name == "idlcm_outbound_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    method = sample.labels["method"]
                    counts[method] = counts.get(method, 0) + int(sample.value)
    return counts


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
    metrics = None
    if kind == "idlcm":  # the bare operator imports nothing of idlcm's operator code
        from idlcm.metrics import Metrics

        metrics = Metrics()
    asyncio.run(run(kind, kubeconfig, stop, ready, metrics))
    report_path = os.environ.get("IDLCM_BENCH_REPORT")
    if report_path and metrics is not None:
        Path(report_path).write_text(json.dumps({"app_requests": app_requests(metrics)}))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {"max_rss_mib": usage.ru_maxrss / 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
