"""Parts that crash and come back, for the crash and two-replica suites: the operator as a process (killed
with SIGKILL, started again), the embedded Kubernetes API and the SCIM app on fixed ports (stopped and
started again with their state kept), and which operator process sent each SCIM request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client

from idlcm import runner
from idlcm.crds import GROUP, VERSION
from idlcm.devcluster import DevCluster
from scimapp import ScimApp, _ServerThread

FAST_ENV = {
    "IDLCM_TICK": "0.2",
    "IDLCM_FIELD_VALIDATION": "Strict",
    "IDLCM_VALIDATION_BACKOFF_BASE": "0.2",
    "IDLCM_VALIDATION_BACKOFF_CAP": "1",
    "IDLCM_VALIDATION_BACKOFF_MAX_ATTEMPTS": "20",
    "IDLCM_OPERATION_BACKOFF_BASE": "0.2",
    "IDLCM_OPERATION_BACKOFF_CAP": "1",
    "IDLCM_OPERATION_BACKOFF_MAX_ATTEMPTS": "20",
    "IDLCM_REQUEST_TIMEOUT": "5",
    "IDLCM_LEASE_SECONDS": "3",
}
"""Production logic with short waits: retries within a second, a look at each Integration every 0.2 s."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until the predicate gives something true; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ApiServer:
    """The embedded Kubernetes API in a thread of its own, on a port it keeps: `stop()` makes it unreachable,
    `start()` serves the same objects again on the same port (clients see a restarted API server)."""

    def __init__(self) -> None:
        self.cluster = DevCluster()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devcluster", daemon=True)
        self._thread.start()
        self.port = 0
        self.start()
        self.port = int(self.cluster.url.rsplit(":", 1)[1])

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> None:
        """Listen (again) on the port."""
        self._run(self.cluster.start(self.port))

    def stop(self) -> None:
        """Stop listening and end the open watches; the objects stay."""
        self._run(self.cluster.stop())

    def close(self) -> None:
        """Stop for good."""
        with contextlib.suppress(Exception):
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig pointing at this API."""
        return self.cluster.write_kubeconfig(path)


@dataclass(frozen=True)
class Arrival:
    """One request as it arrived at the SCIM app: when, from which client port, what."""

    time: float
    port: int
    method: str
    path: str
    sender: str | None = None
    """Which client sent it (see `RecordingScimApp.senders`), when known."""

    @property
    def is_write(self) -> bool:
        """A request that could change accounts."""
        return self.method in WRITE_METHODS and self.path.startswith("/v2/")


class RecordingScimApp(ScimApp):
    """The test SCIM app, noting each request as it arrives (before any answer), with its client port."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.write_count = 0
        """Write requests that arrived so far."""
        self.senders: dict[str, int] = {}
        """Name -> pid of the processes whose requests are told apart (looked up as each one arrives)."""
        super().__init__()

    def _sender(self, port: int) -> str | None:
        return next((n for n, pid in self.senders.items() if port in socket_ports(pid)), None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            port = int((scope.get("client") or ("", 0))[1])
            sender = self._sender(port) if self.senders else None
            arrival = Arrival(time.time(), port, scope["method"], scope["path"], sender)
            self.arrivals.append(arrival)
            self.write_count += arrival.is_write
        await super().__call__(scope, receive, send)


class ScimServer:
    """Serves a RecordingScimApp on a port it keeps: `stop()` and `start()` restart the server; the
    accounts stay (they live in the app)."""

    def __init__(self, app: RecordingScimApp) -> None:
        self.app = app
        self._thread: _ServerThread | None = None
        self.start()

    def start(self) -> None:
        """Serve (again) on the app's port (a free one the first time)."""
        self._thread = _ServerThread(self.app, port=self.app.port)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: connections are refused until `start()`."""
        assert self._thread is not None
        self._thread.stop()


class Operator:
    """`idlcm run` as a process against a kubeconfig, its output in a log file; killed and started again."""

    def __init__(
        self, kubeconfig: Path, log_dir: Path, *, name: str = "operator", options: tuple[str, ...] = ()
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        self.name = name
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.pids: list[int] = []

    def start(self, **env: str) -> None:
        """Start a new process (the previous one must be gone)."""
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        log = (self.log_dir / f"{self.name}-{self.starts}.log").open("wb")
        environ = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
        command = [sys.executable, "-m", "idlcm", "run", "--kubeconfig", str(self.kubeconfig)]
        options = ["--liveness", "off", "--metrics-port", "off", "--log-format", "json", *self.options]
        self.proc = subprocess.Popen(
            [*command, *options],
            env={**environ, **FAST_ENV, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.pids.append(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer or status written on the way out."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills += 1

    def stop(self) -> int | None:
        """Stop cleanly (SIGINT), SIGKILL after 20 s; the exit code (None if it was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    @property
    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """Everything every process of this operator printed, in order."""
        logs = [self.log_dir / f"{self.name}-{n}.log" for n in range(1, self.starts + 1)]
        return "".join(p.read_text(errors="replace") for p in logs if p.exists())


def socket_ports(pid: int) -> set[int]:
    """The local ports of the TCP sockets a process holds (from /proc: its fds, the kernel's TCP tables)."""
    inodes = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Cluster:
    """Blocking test-side calls on the embedded API (the test drives, the operator process acts)."""

    def __init__(self, kubeconfig: Path, namespace: str = "default") -> None:
        self.namespace = namespace
        self.client = kubernetes.client.ApiClient(runner.cluster_config(str(kubeconfig), None))
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)

    def create_secret(self, name: str, data: dict[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.core.create_namespaced_secret(self.namespace, {"metadata": {"name": name}, "data": encoded})

    def create_integration(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Integration",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "integrations", body)

    def patch_integration(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "integrations", name, patch
        )

    def delete_integration(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, "integrations", name)

    def integration(self, name: str) -> dict[str, Any] | None:
        """The Integration, or None when it is gone (or the API does not answer)."""
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "integrations", name, _request_timeout=5
            )
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise
        return obj

    def status(self, name: str) -> dict[str, Any]:
        """The Integration's status ({} when it has none or is gone)."""
        return dict((self.integration(name) or {}).get("status") or {})

    def events(self, name: str) -> list[Any]:
        """The Events about the Integration, oldest first."""
        found = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return sorted(found, key=lambda e: int(e.metadata.resource_version))

    def close(self) -> None:
        self.client.close()


@contextlib.contextmanager
def api_server() -> Iterator[ApiServer]:
    """An `ApiServer` for the duration of the block."""
    server = ApiServer()
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def scim_server(app: RecordingScimApp) -> Iterator[ScimServer]:
    """A `ScimServer` for the app for the duration of the block."""
    server = ScimServer(app)
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
