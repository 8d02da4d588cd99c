"""The operator as its own ServiceAccount, with exactly the namespaced manifests' RBAC enforced by the
embedded API: installed with the real `kubectl apply -k manifests/overlays/namespaced/`, started as the
Deployment starts it (`--peering=idlcm --priority=N --namespace=idlcm`, JSON logs) with a token of the
ServiceAccount `idlcm:idlcm`, it reaches UpToDate on an Integration of the SCIM test app soon after start
and logs no error line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from idlcm.devcluster import rbac
from invariants import assert_up_to_date_holds
from lifecycle.conftest import people, spec_for
from reliability.processes import Cluster, Operator, RecordingScimApp, api_server, scim_server, wait_until

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="the kubectl binary is not on PATH"),
    pytest.mark.skipif(
        os.environ.get("IDLCM_CONFORMANCE_REAL_CLUSTER") == "1", reason="needs the embedded API's tokens"
    ),
]

OVERLAY = Path(__file__).resolve().parents[2] / "manifests" / "overlays" / "namespaced"
NAMESPACE = "idlcm"  # the overlay's namespace and ServiceAccount name
START_TIMEOUT = 60.0  # how long the test waits at most (2 loaded cores)
PROMPT = 30.0  # UpToDate within this of the start: the forbidden cluster-wide scans once stalled it ~50 s


def _error_lines(output: str) -> list[str]:
    """The operator's log lines at level ERROR or above (JSON lines; anything else that is not JSON too)."""
    errors = []
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except ValueError:
            errors.append(line)  # a traceback or a line kopf printed itself: never expected at start
            continue
        level = str(record.get("level") or record.get("levelname") or record.get("severity") or "")
        if level.upper() in ("ERROR", "CRITICAL", "FATAL"):
            errors.append(line)
    return errors


def test_operator_as_its_namespaced_service_account_reaches_up_to_date_without_error_lines(
    tmp_path: Path,
) -> None:
    app = RecordingScimApp()
    with api_server() as api, scim_server(app):
        admin = api.write_kubeconfig(tmp_path / "admin")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"), "KUBECONFIG": str(admin)}
        installed = subprocess.run(
            ["kubectl", "apply", "-k", str(OVERLAY)], capture_output=True, text=True, env=env, timeout=60
        )
        assert installed.returncode == 0, installed.stderr
        token = api.cluster.rbac.mint(NAMESPACE, NAMESPACE)
        as_account = rbac.write_kubeconfig(api.cluster.url, token, tmp_path / "serviceaccount", NAMESPACE)

        cluster = Cluster(admin, NAMESPACE)
        operator = Operator(
            as_account, tmp_path, options=("--peering=idlcm", "--priority=1", f"--namespace={NAMESPACE}")
        )
        try:
            # The operator's own identity is refused what the Role does not grant, as on a cluster.
            probe = Cluster(as_account, NAMESPACE)
            try:
                with pytest.raises(kubernetes.client.ApiException) as denied:
                    probe.core.list_namespaced_secret("default")
                assert denied.value.status == 403
                assert json.loads(denied.value.body)["message"] == (
                    'secrets is forbidden: User "system:serviceaccount:idlcm:idlcm" cannot list resource '
                    '"secrets" in API group "" in the namespace "default"'
                )
            finally:
                probe.close()

            cluster.create_secret("acme-token", {"token": app.token})
            declared = people("ada", "grace")
            cluster.create_integration("crm", spec_for(app, *declared))
            started = time.monotonic()
            operator.start()

            def up_to_date() -> dict[str, Any] | None:
                obj = cluster.integration("crm")
                status = (obj or {}).get("status") or {}
                generation = (obj or {}).get("metadata", {}).get("generation")
                if status.get("status") == "UpToDate" and status.get("observedGeneration") == generation:
                    return obj
                return None

            obj = wait_until(up_to_date, START_TIMEOUT, "the Integration to be UpToDate")
            elapsed = time.monotonic() - started
            assert elapsed < PROMPT, f"UpToDate {elapsed:.1f}s after the start"
            assert_up_to_date_holds(obj, app, {})
            assert {u.user_name for u in app.users()} == {a["userName"] for a in declared}
            assert operator.alive
        finally:
            operator.stop()
            cluster.close()
        output = operator.output()
        assert _error_lines(output) == [], "\n".join(_error_lines(output))
