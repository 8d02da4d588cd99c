"""`idlcm run` as deployed: `--metrics-port` serves /metrics, `--log-format json` prints JSON lines."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config

from idlcm.crds import GROUP, VERSION
from lifecycle.conftest import spec_for
from scimapp import ScimApp, free_port


def _apply(kubeconfig: Path, app: ScimApp) -> kubernetes.client.CustomObjectsApi:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    token = base64.b64encode(app.token.encode()).decode()
    kubernetes.client.CoreV1Api(client).create_namespaced_secret(
        "default", {"metadata": {"name": "acme-token"}, "data": {"token": token}}
    )
    spec = spec_for(app, {"userName": "alice@example.com"})
    custom = kubernetes.client.CustomObjectsApi(client)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Integration",
        "metadata": {"name": "crm"},
        "spec": spec,
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", "integrations", body)
    return custom


def test_run_serves_metrics_and_logs_json_lines_naming_the_integration_never_the_token(
    tmp_path: Path, scim_app: ScimApp
) -> None:
    kubeconfig, port = tmp_path / "kubeconfig", free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    command = [
        sys.executable,
        "-m",
        "idlcm.cli",
        "run",
        "--embedded",
        "--embedded-kubeconfig",
        str(kubeconfig),
    ]
    options = ["--liveness", "off", "--log-format", "json", "--metrics-port", str(port)]
    proc = subprocess.Popen(
        [*command, *options],
        env={**env, "HOME": str(tmp_path), "IDLCM_TICK": "0.2"},
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
        custom = _apply(kubeconfig, scim_app)
        status: dict[str, Any] = {}
        while status.get("status") != "UpToDate":
            assert time.monotonic() < deadline + 30, f"stuck at {status}"
            time.sleep(0.2)
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "integrations", "crm")
            status = obj.get("status") or {}
        deadline = time.monotonic() + 10
        while 'idlcm_operations_total{result="Succeeded",type="Provision"} 1.0' not in (
            metrics := urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        ):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)

    assert proc.returncode == 0, output
    assert 'idlcm_integration_status{name="crm",namespace="default",status="UpToDate"} 1.0' in metrics
    assert scim_app.token not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    about = [line for line in lines if (line.get("object") or {}).get("name") == "crm"]
    assert about, output
    assert all(line["object"]["namespace"] == "default" for line in about)
    provision = [line for line in about if line.get("operation") == "Provision"]
    assert any("Provision Succeeded" in line["message"] for line in provision), provision
