"""`idlcm run` as a user starts it: a real process, the real kubectl."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scimapp import ScimApp

IDLCM = [sys.executable, "-m", "idlcm.cli"]

INTEGRATION = """
apiVersion: v1
kind: Secret
metadata: {name: acme-token}
stringData: {token: TOKEN}
---
apiVersion: idlcm.io/v1alpha1
kind: Integration
metadata: {name: crm-sales}
spec:
  app: acme-crm
  connector:
    scim:
      baseURL: BASE_URL
      auth: {bearerToken: {secretRef: {name: acme-token}}}
      tls: {insecure: true}
  accounts:
    - {userName: alice@example.com}
"""


def _env_without_cluster(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config either
    return env


def _run_without_cluster(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IDLCM, "run", "--liveness", "off", *arguments],
        env=_env_without_cluster(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_a_cluster_says_so_and_points_at_the_embedded_api(tmp_path: Path) -> None:
    result = _run_without_cluster(tmp_path)
    assert result.returncode == 1
    assert "no Kubernetes cluster configured" in result.stderr
    assert "--embedded" in result.stderr
    assert "`idlcm demo`" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_against_a_cluster_that_does_not_answer_says_so(tmp_path: Path, unused_port: int) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{unused_port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    result = subprocess.run(
        [*IDLCM, "run", "--kubeconfig", str(kubeconfig), "--liveness", "off"],
        env=_env_without_cluster(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"the Kubernetes cluster at http://127.0.0.1:{unused_port} is not reachable" in result.stderr
    assert "`idlcm demo`" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_run_embedded_provisions_an_applied_integration_and_stops_cleanly_on_sigint(
    tmp_path: Path, scim_app: ScimApp
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [*IDLCM, "run", "--embedded", "--embedded-kubeconfig", str(kubeconfig), "--liveness", "off"],
        env={**_env_without_cluster(tmp_path), "IDLCM_TICK": "0.2", "IDLCM_FIELD_VALIDATION": "Strict"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the embedded API did not come up"
            time.sleep(0.1)
        kubectl = ["kubectl", "--kubeconfig", str(kubeconfig), "--request-timeout=10s"]
        manifest = tmp_path / "integration.yaml"
        manifest.write_text(
            INTEGRATION.replace("TOKEN", scim_app.token).replace("BASE_URL", scim_app.base_url)
        )
        subprocess.run([*kubectl, "apply", "-f", str(manifest)], check=True, capture_output=True, timeout=30)

        status = ""
        while status != "UpToDate":
            assert time.monotonic() < deadline + 30, f"stuck at {status!r}"
            out = subprocess.run(
                [*kubectl, "get", "integration", "crm-sales", "-o", "json"],
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
            status = json.loads(out).get("status", {}).get("status", "")
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert scim_app.token not in output
    assert [u.user_name for u in scim_app.users()] == ["alice@example.com"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--shard", "Sales_EU"], "shard name 'Sales_EU'"),
        (["--shard-selector", "!idlcm.io/shard"], "--shard-selector needs --shard NAME"),
    ],
)
def test_run_refuses_an_unusable_shard_before_connecting(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = _run_without_cluster(tmp_path, "--metrics-port", "off", *arguments)
    assert result.returncode == 1
    assert message in result.stderr
    assert "no Kubernetes cluster configured" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IDLCM_TICK", "soon", "IDLCM_TICK='soon': not a number"),
        ("IDLCM_REQUEST_TIMEOUT", "inf", "IDLCM_REQUEST_TIMEOUT='inf': not a finite number"),
        ("IDLCM_LEASE_SECONDS", "1", "IDLCM_LEASE_SECONDS='1': must be at least 3"),
        ("IDLCM_OPERATION_BACKOFF_MAX_ATTEMPTS", "2.5", "not a whole number"),
        ("IDLCM_FIELD_VALIDATION", "strict", "one of Strict, Warn, Ignore"),
    ],
)
@pytest.mark.parametrize("command", ["run", "demo"])
def test_an_unusable_setting_is_named_before_anything_starts(
    tmp_path: Path, command: str, variable: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [*IDLCM, command],
        env={**_env_without_cluster(tmp_path), variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "no Kubernetes cluster configured" not in result.stderr
