"""`idlcm demo`: the embedded Kubernetes API, a SCIM 2.0 app and the operator in one process, with examples.

Each part runs in a thread of its own, with its own event loop (kopf takes every task of its loop for its
own). The demo applies `examples/demo/`, writes a kubeconfig for the real kubectl, and shows the
Integrations as their statuses change until Ctrl-C, which stops the operator, the SCIM app and the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import kubernetes.client

from idlcm import devcluster, runner
from idlcm.demo import examples as demo_examples
from idlcm.demo import scimapp
from idlcm.demo.feed import Feed
from idlcm.demo.table import Display, display_for
from idlcm.settings import Settings

__all__ = ["DEFAULT_KUBECONFIG", "DemoOptions", "run_demo"]

DEFAULT_KUBECONFIG = Path("idlcm-demo.kubeconfig")
logger = logging.getLogger(__name__)

# Things move visibly: a look at each Integration every second, short retries (the wrong token reaches
# UnderReview within seconds). The environment still wins (IDLCM_TICK=5 idlcm demo).
DEMO_ENVIRONMENT = {
    "IDLCM_TICK": "1",
    "IDLCM_VALIDATION_BACKOFF_BASE": "2",
    "IDLCM_VALIDATION_BACKOFF_CAP": "10",
    "IDLCM_OPERATION_BACKOFF_BASE": "2",
    "IDLCM_OPERATION_BACKOFF_CAP": "30",
}
POLL_SECONDS = 0.25
TOKEN_SECRET = "demo-scim-token"
"""With --no-examples: the Secret (key `token`) holding the SCIM app's bearer token."""


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """What `idlcm demo` was asked for."""

    port: int = 0
    """Port of the embedded Kubernetes API on 127.0.0.1 (0: a free one)."""

    scim_port: int = 0
    """Port of the SCIM app on 127.0.0.1 (0: a free one)."""

    kubeconfig: Path = DEFAULT_KUBECONFIG
    """Where to write the kubeconfig for kubectl (kept after the demo)."""

    examples: bool = True
    """Apply the examples of `examples/demo/`."""

    sync_interval: str | None = None
    """Override the examples' `sync.interval` (the memory benchmark syncs often)."""

    live: bool | None = None
    """A live table (True), plain lines (False), or a live table when the output is a terminal (None)."""


def demo_settings() -> Settings:
    """The operator's settings for the demo: `DEMO_ENVIRONMENT`, overridden by the environment."""
    return Settings.from_env({**DEMO_ENVIRONMENT, **os.environ})


def run_demo(options: DemoOptions, out: TextIO | None = None, stop: threading.Event | None = None) -> int:
    """Run the demo until Ctrl-C, SIGTERM or `stop`; returns the exit code (0 on a clean stop)."""
    display = display_for(out or sys.stdout, live=options.live)
    try:
        with _logging_to(display.log_handler()), _stop_on_signals(), contextlib.suppress(KeyboardInterrupt):
            _run(options, display, stop or threading.Event())
    finally:
        display.close()
    display.note(f"idlcm demo stopped; the kubeconfig stays at {options.kubeconfig.resolve()}")
    return 0


def _run(options: DemoOptions, display: Display, stop: threading.Event) -> None:
    _check_free(options.port, "--port")
    _check_free(options.scim_port, "--scim-port")
    settings = demo_settings()
    # Left in reverse order: the operator, the SCIM app, then the API.
    with (
        devcluster.serve_in_thread(options.port) as cluster,
        scimapp.serve_in_thread(options.scim_port) as app,
        tempfile.TemporaryDirectory(prefix="idlcm-demo-") as workdir,
    ):
        rendered_dir = Path(workdir)
        config = runner.cluster_config(str(cluster.write_kubeconfig(rendered_dir / "kubeconfig")), None)
        examples: list[demo_examples.Example] = []
        if options.examples:
            examples = demo_examples.render(
                demo_examples.source_dir(), app.base_url, app.token, sync_interval=options.sync_interval
            )
            demo_examples.write(examples, rendered_dir)
        with _operator_in_thread(config, settings), kubernetes.client.ApiClient(config) as api:
            demo_examples.ensure_namespace(api)
            feed = Feed(api, demo_examples.NAMESPACE)
            feed.start()
            try:
                for example in examples:
                    if not example.later:
                        demo_examples.apply(api, example)
                if not examples:  # the token waits in a Secret for your own Integrations, never on screen
                    demo_examples.apply(api, demo_examples.token_secret(TOKEN_SECRET, app.token))
                kubeconfig = _write_kubeconfig(cluster, options.kubeconfig)
                display.intro(_help(cluster.url, app, kubeconfig, rendered_dir if examples else None))
                _follow(feed, display, api, [e for e in examples if e.later], stop)
                display.note("stopping the operator, the SCIM app and the API")
            finally:
                feed.stop()
    feed.join(timeout=5)  # the API server has stopped: the watch has ended


def _follow(
    feed: Feed,
    display: Display,
    api: kubernetes.client.ApiClient,
    later: list[demo_examples.Example],
    stop: threading.Event,
) -> None:
    """Show the Integrations as they change; apply each later version once its Integrations are UpToDate.
    Returns on `stop` or Ctrl-C."""
    try:
        while not stop.wait(POLL_SECONDS):
            rows = feed.rows()
            display.show(rows, feed.transitions())
            up_to_date = {r.name for r in rows if r.settled and r.status == "UpToDate"}
            for example in [e for e in later if set(e.integrations) <= up_to_date]:
                later.remove(example)
                demo_examples.apply(api, example)
                names = ", ".join(example.integrations)
                display.note(f"applied {example.file}, a new version of {names}: see what the operator does")
    except KeyboardInterrupt:
        return


@contextlib.contextmanager
def _operator_in_thread(config: kubernetes.client.Configuration, settings: Settings) -> Iterator[None]:
    """Run the operator in a thread with its own event loop; stop it (stop_flag) on leaving."""
    stop_flag, ready_flag = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(runner.run(config, settings=settings, stop_flag=stop_flag, ready_flag=ready_flag))
        except BaseException as e:
            failures.append(e)
            logger.error("the operator stopped: %s", e, exc_info=e)
        finally:
            ready_flag.set()

    thread = threading.Thread(target=main, name="operator", daemon=True)
    thread.start()
    try:
        while not ready_flag.wait(0.1):
            pass
        if failures:
            raise RuntimeError(f"the operator did not start: {failures[0]}") from failures[0]
        yield
    finally:
        stop_flag.set()
        thread.join(timeout=30)


def _check_free(port: int, flag: str) -> None:
    """Say which port is taken before a server thread fails on it."""
    if port == 0:
        return
    with socket.socket() as sock:
        try:
            sock.bind((scimapp.HOST, port))
        except OSError as e:
            raise OSError(e.errno, f"port {port} on {scimapp.HOST} is in use ({flag})") from None


def _write_kubeconfig(cluster: devcluster.DevCluster, path: Path) -> Path:
    """Write the kubeconfig for kubectl, its namespace the demo's; all at once (tests wait for the file)."""
    partial = path.with_name(path.name + ".partial")
    cluster.write_kubeconfig(partial)
    config = json.loads(partial.read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = demo_examples.NAMESPACE
    partial.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(partial, path)
    return path.resolve()


HR_PORTAL_FIX = (
    'kubectl patch secret hr-portal-scim -p "{\\"stringData\\":{\\"token\\":\\"'
    "$(kubectl get secret acme-crm-scim -o jsonpath='{.data.token}' | base64 -d)"
    '\\"}}"'
)
"""The command that mends hr-portal: the right token copied from the other Secret, never printed."""


def _help(api_url: str, app: scimapp.ScimApp, kubeconfig: Path, rendered: Path | None) -> str:
    """Where everything is, and the kubectl commands to try."""
    secret = "acme-crm-scim" if rendered is not None else TOKEN_SECRET
    lines = [
        f"Kubernetes API  {api_url}  (embedded, with the idlcm CRDs; namespace {demo_examples.NAMESPACE})",
        f"SCIM 2.0 app    {app.base_url}  (its bearer token in the Secret {secret}, key token)",
    ]
    if rendered is not None:
        lines.append(f"Examples        {rendered}/  (examples/demo/ with this app's URL and token)")
    lines += ["", "Use the real kubectl, from another terminal:", f"  export KUBECONFIG={kubeconfig}"]
    lines.append("  kubectl get integrations -w")
    if rendered is not None:
        lines += [
            "  kubectl describe integration hr-portal",
            "  # hr-portal's fix: give its Secret the app's token (nothing else to do; it validates again)",
            f"  {HR_PORTAL_FIX}",
            "  kubectl get integration crm-preview -o jsonpath='{.status.plan}'",
            '  kubectl annotate integration crm-contractors idlcm.io/revalidate="$(date +%s)" --overwrite',
            f"  kubectl apply -f {rendered}/2-crm-ops.yaml",
        ]
    else:
        lines.append(
            f"  kubectl apply -f YOUR-INTEGRATION.yaml   (baseURL {app.base_url}, tls.insecure: true, "
            f"auth.bearerToken.secretRef.name: {TOKEN_SECRET})"
        )
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


@contextlib.contextmanager
def _logging_to(handler: logging.Handler) -> Iterator[None]:
    """Warnings and errors go to the display; kopf's note that it leaves OS signals to us is dropped."""
    handler.setLevel(logging.WARNING)
    handler.addFilter(lambda record: not record.getMessage().startswith("OS signals are ignored"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the demo, even where the parent shell ignores SIGINT (a `&` job)."""
    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        yield
        return

    def interrupt(signum: int, frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
