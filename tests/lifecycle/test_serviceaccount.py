"""The operator as its own ServiceAccount, with exactly the manifests' RBAC enforced by the embedded API:
installed with the real `kubectl apply -k` (the cluster-wide install and the namespaced overlay), started
as the Deployment starts it (`--peering=idlcm --priority=N`, plus `--namespace=idlcm` for the overlay; JSON
logs) with a token of its ServiceAccount, it is refused what its role does not grant, reaches UpToDate on an
Integration of the SCIM test app soon after start, and logs no error line."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import subprocess
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

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


@dataclasses.dataclass(frozen=True)
class Install:
    """One install variant: what to apply, the operator's ServiceAccount namespace, its extra arguments, the
    namespace of the test's Integration, and a request its RBAC refuses (with the apiserver's message)."""

    path: Path
    account_namespace: str
    options: tuple[str, ...]
    namespace: str
    refused: str


INSTALLS = {
    "namespaced": Install(
        MANIFESTS / "overlays" / "namespaced",
        "idlcm",
        ("--namespace=idlcm",),
        "idlcm",
        'secrets is forbidden: User "system:serviceaccount:idlcm:idlcm" cannot list resource "secrets" '
        'in API group "" in the namespace "default"',
    ),
    "cluster": Install(
        MANIFESTS,
        "idlcm-system",
        (),
        "default",
        'secrets "x" is forbidden: User "system:serviceaccount:idlcm-system:idlcm" cannot delete resource '
        '"secrets" in API group "" in the namespace "default"',
    ),
}
START_TIMEOUT = 120.0  # how long the test waits at most (2 loaded cores: the interpreter alone takes a while)
PROMPT = 25.0  # seconds from the operator's first log line to UpToDate: forbidden scans once stalled it ~50 s


def _log_time(output: str, containing: str) -> float:
    """The timestamp (epoch seconds) of the first JSON log record whose message contains the text."""
    for line in output.splitlines():
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue
        if containing in str(record.get("message", "")):
            return datetime.datetime.fromisoformat(record["timestamp"]).timestamp()
    raise AssertionError(f"no log line with {containing!r}")


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


@pytest.mark.parametrize("variant", sorted(INSTALLS))
def test_operator_as_its_service_account_reaches_up_to_date_without_error_lines(
    variant: str, tmp_path: Path
) -> None:
    install = INSTALLS[variant]
    app = RecordingScimApp()
    with api_server() as api, scim_server(app):
        admin = api.write_kubeconfig(tmp_path / "admin")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"), "KUBECONFIG": str(admin)}
        installed = subprocess.run(
            ["kubectl", "apply", "-k", str(install.path)], capture_output=True, text=True, env=env, timeout=60
        )
        assert installed.returncode == 0, installed.stderr
        token = api.cluster.rbac.mint(install.account_namespace, "idlcm")
        as_account = rbac.write_kubeconfig(
            api.cluster.url, token, tmp_path / "serviceaccount", install.account_namespace
        )

        cluster = Cluster(admin, install.namespace)
        operator = Operator(
            as_account, tmp_path, options=("--peering=idlcm", "--priority=1", *install.options)
        )
        try:
            # The operator's own identity is refused what its role does not grant, as on a cluster.
            probe = Cluster(as_account, "default")
            try:
                refused = (
                    (lambda: probe.core.list_namespaced_secret("default"))
                    if variant == "namespaced"
                    else (lambda: probe.core.delete_namespaced_secret("x", "default"))
                )
                with pytest.raises(kubernetes.client.ApiException) as denied:
                    refused()
                assert denied.value.status == 403
                assert json.loads(denied.value.body)["message"] == install.refused
            finally:
                probe.close()

            cluster.create_secret("acme-token", {"token": app.token})
            declared = people("ada", "grace")
            cluster.create_integration("crm", spec_for(app, *declared))
            operator.start()

            def up_to_date() -> dict[str, Any] | None:
                obj = cluster.integration("crm")
                status = (obj or {}).get("status") or {}
                generation = (obj or {}).get("metadata", {}).get("generation")
                if status.get("status") == "UpToDate" and status.get("observedGeneration") == generation:
                    return obj
                return None

            obj = wait_until(up_to_date, START_TIMEOUT, "the Integration to be UpToDate")
            assert_up_to_date_holds(obj, app, {})
            assert {u.user_name for u in app.users()} == {a["userName"] for a in declared}
            assert operator.alive
        finally:
            operator.stop()
            cluster.close()
        output = operator.output()
        elapsed = _log_time(output, "-> UpToDate") - _log_time(output, "")
        assert elapsed < PROMPT, f"UpToDate {elapsed:.1f}s after the operator's first log line"
        assert _error_lines(output) == [], "\n".join(_error_lines(output))
