"""`idlcm demo` as a newcomer runs it: a real process, watched with the real kubectl, stopped with Ctrl-C."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scimapp import free_port

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

IDLCM = [sys.executable, "-m", "idlcm"]
DEADLINE = 45.0


class Demo:
    """A running `idlcm demo` process, its ports, its output and kubectl pointed at it."""

    def __init__(self, tmp_path: Path, *args: str, command: tuple[str, ...] = (*IDLCM,)) -> None:
        self.port, self.scim_port = free_port(), free_port()
        self.kubeconfig = tmp_path / "demo" / "kubeconfig"
        self.out_path, self.err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
        ports = ["--port", str(self.port), "--scim-port", str(self.scim_port)]
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [*command, "demo", *ports, "--kubeconfig", str(self.kubeconfig), *args],
                env={**env, "HOME": str(tmp_path)},
                cwd=tmp_path,
                stdout=out,
                stderr=err,
                text=True,
            )

    @property
    def output(self) -> str:
        return self.out_path.read_text()

    @property
    def errors(self) -> str:
        return self.err_path.read_text()

    def wait_for_kubeconfig(self) -> None:
        deadline = time.monotonic() + 30
        while not self.kubeconfig.exists():
            assert self.proc.poll() is None, self.output + self.errors
            assert time.monotonic() < deadline, "the demo wrote no kubeconfig"
            time.sleep(0.1)

    def kubectl(self, *args: str) -> str:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "--request-timeout=10s", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def integrations(self) -> dict[str, dict[str, Any]]:
        items = json.loads(self.kubectl("get", "integrations", "-o", "json"))["items"]
        return {item["metadata"]["name"]: item for item in items}

    def wait_until(self, what: str, test: Callable[[dict[str, dict[str, Any]]], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not test(current := self.integrations()):
            assert self.proc.poll() is None, self.output + self.errors
            assert time.monotonic() < deadline, f"{what}: {_statuses(current)}"
            time.sleep(0.3)

    def interrupt(self) -> float:
        """Ctrl-C; the seconds it took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=20)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    demos: list[Demo] = []

    def start(*args: str) -> Demo:
        demos.append(Demo(tmp_path, *args))
        return demos[-1]

    yield start
    for demo in demos:
        demo.kill()


def _bindable(port: int) -> bool:
    """Whether a server could listen on the port again (closed connections may linger in TIME_WAIT)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def _seen(output: str, name: str) -> list[str]:
    """The statuses the demo printed for an Integration, in order (its lines: TIME NAME STATUS ...)."""
    return [line.split()[2] for line in output.splitlines() if line.split()[1:2] == [name]]


def _is_in_order(expected: list[str], seen: list[str]) -> bool:
    remaining = iter(seen)
    return all(status in remaining for status in expected)


def _status(obj: dict[str, Any] | None) -> tuple[str, str]:
    status = (obj or {}).get("status") or {}
    return status.get("status", ""), status.get("reason", "")


def _statuses(integrations: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {name: _status(obj) for name, obj in integrations.items()}


def _settled(integrations: dict[str, dict[str, Any]]) -> bool:
    s = _statuses(integrations)
    return (
        s.get("crm-sales", ("",))[0] == "UpToDate"
        and s.get("crm-ops", ("",))[0] == "UpToDate"
        and s.get("crm-preview") == ("Validated", "DryRun")
        and s.get("hr-portal") == ("UnderReview", "InvalidCredentials")
        and s.get("crm-contractors") == ("UnderReview", "TooManyDeletions")
    )


def test_the_demo_shows_every_documented_outcome_to_kubectl_and_stops_cleanly_on_ctrl_c(
    start_demo: Callable[..., Demo],
) -> None:
    demo = start_demo()
    demo.wait_for_kubeconfig()
    assert f"127.0.0.1:{demo.port}" in demo.kubeconfig.read_text()

    demo.wait_until("the examples reach their documented statuses", _settled)
    found = demo.integrations()

    table = demo.kubectl("get", "integrations").splitlines()
    assert table[0].split()[:5] == ["NAME", "APP", "STATUS", "READY", "ACCOUNTS"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["crm-sales"][1:5] == ["acme-crm", "UpToDate", "True", "12/12"]
    assert rows["crm-ops"][1:5] == ["acme-crm", "UpToDate", "True", "3/3"]

    preview = found["crm-preview"]["status"]
    assert preview["plan"]["creates"] == 4, preview["plan"]
    contractors = found["crm-contractors"]["status"]
    # Nothing was deprovisioned; the status tells what the spec asks for now, and that the stop was an end.
    assert contractors["accounts"]["desired"] == 2, contractors["accounts"]
    assert contractors["accounts"]["summary"] == "2/2", contractors["accounts"]
    assert contractors["lastOperation"]["endTime"], contractors["lastOperation"]
    assert contractors["lastOperation"]["counts"]["deactivated"] == 0, contractors["lastOperation"]
    assert "more than deprovision.maxDeletions=3" in contractors["message"]
    assert "HTTP 401" in found["hr-portal"]["status"]["message"]

    # `kubectl describe` shows the conditions and the Events the operator posted.
    described = demo.kubectl("describe", "integration", "hr-portal")
    assert re.search(r"^\s+Type:\s+Stalled$", described, re.MULTILINE), described
    events = described[described.index("\nEvents:") :]
    assert re.search(r"Warning\s+InvalidCredentials\s+", events), events

    # The output says how to use kubectl, and shows the states move.
    out = demo.output
    assert f"export KUBECONFIG={demo.kubeconfig.resolve()}" in out
    assert "kubectl get integrations -w" in out
    assert _is_in_order(
        ["UnderValidation", "Validating", "Validated", "InProgress", "UpToDate"], _seen(out, "crm-sales")
    )
    assert _is_in_order(["ValidationFailed", "UnderReview"], _seen(out, "hr-portal"))
    assert "applied 5-crm-contractors-v2.yaml" in out

    # The way out of TooManyDeletions that the demo prints: approve exactly that plan.
    demo.kubectl("annotate", "integration", "crm-contractors", "idlcm.io/revalidate=approved", "--overwrite")
    demo.wait_until("the approved plan runs", lambda i: _status(i.get("crm-contractors"))[0] == "UpToDate")
    counts = demo.integrations()["crm-contractors"]["status"]["lastOperation"]["counts"]
    assert counts["deactivated"] == 6, counts

    # hr-portal's way out, as the demo prints it: give its Secret the right token; nothing else to do.
    fix = next(line.strip() for line in out.splitlines() if "kubectl patch secret hr-portal-scim" in line)
    subprocess.run(
        ["bash", "-c", fix],
        env={**os.environ, "KUBECONFIG": str(demo.kubeconfig)},
        capture_output=True,
        timeout=60,
        check=True,
    )
    demo.wait_until(
        "hr-portal validates with its new token", lambda i: _status(i.get("hr-portal"))[0] == "UpToDate"
    )
    assert "SecretChanged" in demo.kubectl("describe", "integration", "hr-portal")
    token = json.loads(demo.kubectl("get", "secret", "acme-crm-scim", "-o", "json"))["data"]["token"]
    assert base64.b64decode(token).decode() not in demo.output  # the fix copies the token, never shows it

    seconds = demo.interrupt()
    assert demo.proc.returncode == 0, demo.output + demo.errors
    assert seconds < 10
    assert "Traceback" not in demo.errors, demo.errors
    assert "idlcm demo stopped; the kubeconfig stays at" in demo.output
    assert demo.kubeconfig.exists()
    assert _bindable(demo.port)
    assert _bindable(demo.scim_port)


def test_without_examples_the_api_is_empty_and_ready_for_your_own(start_demo: Callable[..., Demo]) -> None:
    demo = start_demo("--no-examples")
    demo.wait_for_kubeconfig()
    assert demo.integrations() == {}
    assert json.loads(demo.kubectl("get", "namespace", "idlcm-demo", "-o", "json"))["metadata"]["name"]
    assert "kubectl apply -f YOUR-INTEGRATION.yaml" in demo.output
    # The app's token waits in a Secret for your Integrations; it is never printed.
    secret = json.loads(demo.kubectl("get", "secret", "demo-scim-token", "-o", "json"))
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert token.startswith("demo-")
    assert token not in demo.output
    assert "auth.bearerToken.secretRef.name: demo-scim-token" in demo.output

    assert demo.interrupt() < 10
    assert demo.proc.returncode == 0, demo.output + demo.errors
    assert _bindable(demo.port)
    assert _bindable(demo.scim_port)


def test_a_port_in_use_is_reported_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*IDLCM, "demo", "--port", str(port), "--kubeconfig", str(tmp_path / "kc")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "idlcm: the demo could not start:" in done.stderr
    assert "Traceback" not in done.stderr
