"""The real kubectl against the embedded API: apply, get (tables, columns, short names, categories), describe,
patch, delete with finalizers, wait, watch, and server-side validation errors, each in its own namespace."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="the kubectl binary is not on PATH"),
]

TIMEOUT = 20.0  # seconds for any one kubectl call: a hang fails fast
_counter = itertools.count()


@dataclasses.dataclass(frozen=True)
class Kubectl:
    """kubectl bound to the devcluster's kubeconfig, a private cache directory and one namespace."""

    kubeconfig: Path
    home: Path
    namespace: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
        }

    def args(self, args: Sequence[str]) -> list[str]:
        return ["kubectl", f"--namespace={self.namespace}", *args]

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.args(args),
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def out(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def apply(self, *documents: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-f", "-", stdin=yaml.safe_dump_all(documents), check=check)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )


@pytest.fixture
def kubectl(kubeconfig: Path | str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """kubectl in a fresh namespace, created with `kubectl create namespace` (and deleted afterwards)."""
    home = tmp_path_factory.mktemp("kubectl-home")
    namespace = f"kubectl-{os.getpid()}-{next(_counter)}"
    client = Kubectl(Path(kubeconfig), home, namespace)
    result = client.run("create", "namespace", namespace)
    assert result.stdout.strip() == f"namespace/{namespace} created"
    yield client
    client.run("delete", "namespace", namespace, "--wait=false", check=False)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _secret(name: str = "crm-token") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {
            "token": "czNjcjN0"
        },  # not stringData: the server folds it into data, so re-apply would differ
    }


def _integration(name: str = "crm", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": {"name": name},
        "spec": {
            "app": "crm-app",
            "connector": {
                "scim": {
                    "baseURL": "https://crm.example.com/scim/v2",
                    "auth": {"bearerToken": {"secretRef": {"name": "crm-token"}}},
                }
            },
            **spec,
        },
    }


def _condition(type_: str, status: str, reason: str = "Synced", message: str = "all good") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": _rfc3339(datetime.now(UTC)),
    }


def _patch_status(kubectl: Kubectl, name: str, status: dict[str, Any]) -> None:
    result = kubectl.run(
        "patch",
        "integration",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert result.stdout.strip() == f"integration.idlcm.io/{name} patched"


def _table(output: str) -> list[list[str]]:
    """kubectl's human-readable table, cut at the header's column offsets (empty cells stay empty)."""
    lines = [line for line in output.splitlines() if line.strip()]
    starts = [match.start() for match in re.finditer(r"\S+(?: \S+)*", lines[0])]
    bounds = [*zip(starts, [*starts[1:], None], strict=True)]
    return [[line[start:end].strip() for start, end in bounds] for line in lines]


def _not_found(result: subprocess.CompletedProcess[str], resource: str, name: str) -> bool:
    return result.returncode != 0 and f'{resource} "{name}" not found' in result.stderr


def test_create_namespace_is_listed_as_active(kubectl: Kubectl) -> None:
    rows = _table(kubectl.out("get", "namespace", kubectl.namespace))
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    assert rows[1][:2] == [kubectl.namespace, "Active"]
    assert re.fullmatch(r"\d+s", rows[1][2])


def test_apply_creates_then_reports_unchanged_then_configured(kubectl: Kubectl) -> None:
    created = kubectl.apply(_secret(), _integration())
    assert created.stdout.splitlines() == ["secret/crm-token created", "integration.idlcm.io/crm created"]

    again = kubectl.apply(_secret(), _integration())
    assert again.stdout.splitlines() == ["secret/crm-token unchanged", "integration.idlcm.io/crm unchanged"]

    changed = kubectl.apply(_secret(), _integration(suspend=True))
    assert changed.stdout.splitlines() == [
        "secret/crm-token unchanged",
        "integration.idlcm.io/crm configured",
    ]
    assert kubectl.out("get", "integration", "crm", "-o", "jsonpath={.spec.suspend}") == "true"


def test_get_shows_the_printer_columns(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    _patch_status(
        kubectl,
        "crm",
        {
            "status": "UpToDate",
            "message": "3 accounts in sync",
            "conditions": [_condition("Ready", "True")],
            "accounts": {"desired": 3, "provisioned": 3, "summary": "3/3"},
            "lastSyncTime": _rfc3339(datetime.now(UTC) - timedelta(hours=2)),
        },
    )
    rows = _table(kubectl.out("get", "integrations"))
    assert rows[0] == ["NAME", "APP", "STATUS", "READY", "ACCOUNTS", "LAST SYNC", "AGE"]
    assert rows[1][:6] == ["crm", "crm-app", "UpToDate", "True", "3/3", "120m"]
    assert re.fullmatch(r"\d+s", rows[1][6])

    wide = _table(kubectl.out("get", "integrations", "-o", "wide"))
    assert wide[0] == ["NAME", "APP", "STATUS", "READY", "ACCOUNTS", "LAST SYNC", "AGE", "MESSAGE"]
    assert wide[1][-1] == "3 accounts in sync"

    assert _table(kubectl.out("get", "intg"))[1][:6] == rows[1][:6]
    assert _table(kubectl.out("get", "integration", "crm"))[1][:6] == rows[1][:6]


def test_get_unset_columns_are_blank(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    rows = _table(kubectl.out("get", "integrations"))
    assert rows[1][:6] == ["crm", "crm-app", "", "", "", ""]
    assert re.fullmatch(r"\d+s", rows[1][6])


def test_get_category_lists_both_kinds(kubectl: Kubectl) -> None:
    app = {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "ExternalApp",
        "metadata": {"name": "crm-app"},
        "spec": {"protocol": "SCIM", "baseURL": "https://crm.example.com/scim/v2"},
    }
    kubectl.apply(_secret(), _integration(), app)
    output = kubectl.out("get", "idlcm")
    assert "integration.idlcm.io/crm" in output
    assert "externalapp.idlcm.io/crm-app" in output
    names = kubectl.out("get", "idlcm", "-o", "name").split()
    assert sorted(names) == ["externalapp.idlcm.io/crm-app", "integration.idlcm.io/crm"]


def test_get_yaml_and_json(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    as_json = json.loads(kubectl.out("get", "integration", "crm", "-o", "json"))
    as_yaml = yaml.safe_load(kubectl.out("get", "integration", "crm", "-o", "yaml"))
    for obj in (as_json, as_yaml):
        assert obj["apiVersion"] == "idlcm.io/v1alpha1"
        assert obj["kind"] == "Integration"
        assert obj["metadata"]["name"] == "crm"
        assert obj["metadata"]["namespace"] == kubectl.namespace
        assert obj["metadata"]["uid"]
        assert obj["spec"]["app"] == "crm-app"
    listed = json.loads(kubectl.out("get", "integrations", "-o", "json"))
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["crm"]
    secret = json.loads(kubectl.out("get", "secret", "crm-token", "-o", "json"))
    assert secret["data"] == {"token": "czNjcjN0"}


def test_describe_shows_status_and_conditions(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    _patch_status(
        kubectl, "crm", {"status": "UpToDate", "conditions": [_condition("Ready", "True", message="in sync")]}
    )
    described = kubectl.out("describe", "integration", "crm")
    assert re.search(r"^Name:\s+crm$", described, re.MULTILINE)
    assert re.search(rf"^Namespace:\s+{kubectl.namespace}$", described, re.MULTILINE)
    assert re.search(r"^Status:$", described, re.MULTILINE)
    assert re.search(r"^\s+Conditions:$", described, re.MULTILINE)
    assert re.search(r"^\s+Type:\s+Ready$", described, re.MULTILINE)
    assert re.search(r"^\s+Message:\s+in sync$", described, re.MULTILINE)


def test_patch_merge_and_json(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    merged = kubectl.run("patch", "integration", "crm", "--type=merge", "-p", '{"spec": {"suspend": true}}')
    assert merged.stdout.strip() == "integration.idlcm.io/crm patched"
    patched = kubectl.run(
        "patch",
        "integration",
        "crm",
        "--type=json",
        "-p",
        '[{"op": "add", "path": "/spec/dryRun", "value": true}]',
    )
    assert patched.stdout.strip() == "integration.idlcm.io/crm patched"
    spec = json.loads(kubectl.out("get", "integration", "crm", "-o", "jsonpath={.spec}"))
    assert spec["suspend"] is True
    assert spec["dryRun"] is True
    unchanged = kubectl.run(
        "patch", "integration", "crm", "--type=merge", "-p", '{"spec": {"suspend": true}}'
    )
    assert unchanged.stdout.strip() == "integration.idlcm.io/crm patched (no change)"


def test_delete(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    deleted = kubectl.run("delete", "integration", "crm")
    assert deleted.stdout.strip() == 'integration.idlcm.io "crm" deleted'
    assert _not_found(kubectl.run("get", "integration", "crm", check=False), "integrations.idlcm.io", "crm")


def test_delete_with_finalizer_keeps_the_object_terminating(kubectl: Kubectl) -> None:
    integration = _integration()
    integration["metadata"]["finalizers"] = ["idlcm.io/test"]
    kubectl.apply(_secret(), integration)
    deleted = kubectl.run("delete", "integration", "crm", "--wait=false")
    assert deleted.stdout.strip() == 'integration.idlcm.io "crm" deleted'
    stamp = kubectl.out("get", "integration", "crm", "-o", "jsonpath={.metadata.deletionTimestamp}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)

    kubectl.run("patch", "integration", "crm", "--type=merge", "-p", '{"metadata": {"finalizers": null}}')
    assert _not_found(kubectl.run("get", "integration", "crm", check=False), "integrations.idlcm.io", "crm")


def test_wait_for_ready_condition_patched_meanwhile(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    waiter = kubectl.popen("wait", "--for=condition=Ready", "integration/crm", "--timeout=10s")
    try:
        time.sleep(0.5)
        _patch_status(kubectl, "crm", {"conditions": [_condition("Ready", "False", reason="Validating")]})
        time.sleep(0.3)
        _patch_status(kubectl, "crm", {"conditions": [_condition("Ready", "True")]})
        stdout, stderr = waiter.communicate(timeout=TIMEOUT)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, stderr
    assert stdout.strip() == "integration.idlcm.io/crm condition met"


def test_schema_violation_is_rejected_with_the_field_message(kubectl: Kubectl) -> None:
    kubectl.apply(_secret())
    result = kubectl.apply(_integration("bad", app="Not_A_DNS_Label"), check=False)
    assert result.returncode != 0
    # kubectl's rendering of a 422 Invalid Status: kind, name, then each cause as `field: message`.
    assert result.stderr.startswith(
        'The Integration "bad" is invalid: spec.app: Invalid value: "Not_A_DNS_Label"'
    )
    assert "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" in result.stderr
    assert _not_found(kubectl.run("get", "integration", "bad", check=False), "integrations.idlcm.io", "bad")


def test_unknown_field_fails_strict_validation(kubectl: Kubectl) -> None:
    kubectl.apply(_secret())
    result = kubectl.apply(_integration("typo", maxDeletion=3), check=False)
    assert result.returncode != 0
    assert "Error from server (BadRequest)" in result.stderr
    assert 'unknown field "spec.maxDeletion"' in result.stderr
    lenient = kubectl.run(
        "apply", "--validate=false", "-f", "-", stdin=yaml.safe_dump(_integration("typo", maxDeletion=3))
    )
    assert lenient.stdout.strip() == "integration.idlcm.io/typo created"
    spec = json.loads(kubectl.out("get", "integration", "typo", "-o", "jsonpath={.spec}"))
    assert "maxDeletion" not in spec  # pruned, as the apiserver prunes unknown fields


def test_apply_of_the_crd_files_is_validated_server_side(kubectl: Kubectl) -> None:
    crd_files = sorted((Path(__file__).parents[2] / "crds").glob("idlcm.io_*.yaml"))
    assert crd_files
    applied = (
        r"customresourcedefinition\.apiextensions\.k8s\.io/\w+\.idlcm\.io (created|configured|unchanged)\n"
    )
    for path in crd_files:
        assert re.fullmatch(applied, kubectl.out("apply", "-f", str(path)))


def test_explain_reads_the_crd_schema(kubectl: Kubectl) -> None:
    explained = kubectl.out("explain", "integration.spec.deprovision")
    assert "KIND:       Integration" in explained
    assert "GROUP:      idlcm.io" in explained
    assert re.search(r"^\s+maxDeletions\s+<integer>$", explained, re.MULTILINE)
    assert re.search(r"^\s+mode\s+<string>$", explained, re.MULTILINE)
    assert "Deactivate, Delete" in explained


def test_watch_prints_a_row_update(kubectl: Kubectl) -> None:
    kubectl.apply(_secret(), _integration())
    watcher = kubectl.popen("get", "integrations", "--watch")
    lines: queue.Queue[str] = queue.Queue()
    stdout = watcher.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()

    def next_row(deadline: float) -> list[str]:
        """The next printed row's words (watch rows are padded per event, so columns do not align)."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                words = lines.get(timeout=remaining).split()
            except queue.Empty:
                break
            if words and words[0] != "NAME":
                return words
        raise AssertionError("no row from kubectl get --watch in time")

    try:
        deadline = time.monotonic() + 10
        assert next_row(deadline)[:2] == ["crm", "crm-app"]
        _patch_status(kubectl, "crm", {"status": "Validating"})
        while "Validating" not in (row := next_row(deadline)):
            pass
        assert row[:3] == ["crm", "crm-app", "Validating"]
    finally:
        watcher.kill()
        watcher.communicate(timeout=TIMEOUT)
