"""One rule, one wording: what the operator says in status and what `idlcm check` says of the same spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
import yaml

from idlcm.api.spec import EMAIL_REFUSED, IntegrationSpec
from idlcm.reconcile import _spec_errors

SPEC = {
    "app": "acme",
    "connector": {
        "scim": {
            "baseURL": "https://127.0.0.1:8443/scim/v2",
            "auth": {"bearerToken": {"secretRef": {"name": "acme-token"}}},
        }
    },
    # Both are addresses the CRD's `format: email` admits and no SCIM app takes.
    "accounts": [
        {"userName": "fay", "email": "fay@example.com"},
        {"userName": "gus", "email": "gus@corp.local"},
        {"userName": "hal", "email": "hal@localhost"},
    ],
}


def test_status_and_check_name_the_same_fields_in_the_same_words(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        IntegrationSpec.model_validate(SPEC)
    status_message = _spec_errors(caught.value)
    # Every error, not the first one only, each as kubectl names the field.
    assert status_message == (
        f"spec.accounts[1].email: {EMAIL_REFUSED}; spec.accounts[2].email: {EMAIL_REFUSED}"
    )

    doc = {"apiVersion": "idlcm.io/v1alpha1", "kind": "Integration", "metadata": {"name": "x"}, "spec": SPEC}
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "idlcm", "check", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if "email" in line]
    assert len(lines) == 2, done.stdout
    for index, line in zip((1, 2), lines, strict=True):
        assert f"spec.accounts[{index}].email: " in line
        assert line.endswith(EMAIL_REFUSED), line
