"""Logs: records about an Integration carry it and the operation (JSON fields); no record shows a secret."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

import kopf
import pytest
from kopf._core.actions.loggers import make_formatter

from idlcm.metrics import Metrics
from lifecycle.conftest import Cluster, people, spec_for
from scimapp import ScimApp

# What `idlcm run --log-format json` formats with (kopf.configure's formatter; not public in kopf).
JSON = make_formatter(kopf.LogFormat.JSON)


def _json(record: logging.LogRecord) -> dict[str, Any]:
    """The record as `--log-format json` prints it."""
    line: dict[str, Any] = json.loads(JSON.format(record))
    return line


async def test_log_records_about_an_integration_carry_namespace_name_and_operation(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))
    await cluster.wait_status("crm", "UpToDate")
    # The story logs how the operation ended right after its last status write: a moment after UpToDate.
    deadline = time.monotonic() + 5
    while not any("Provision Succeeded" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the operation's end was never logged"
        await asyncio.sleep(0.05)

    ours = [r for r in caplog.records if r.name.startswith("idlcm.") and hasattr(r, "object")]
    assert ours, "no log record about the Integration"
    for record in ours:
        line = _json(record)
        assert line["object"] == {
            "apiVersion": "idlcm.io/v1alpha1",
            "kind": "Integration",
            "namespace": cluster.namespace,
            "name": "crm",
            "uid": record.object["uid"],  # type: ignore[attr-defined]
        }
        assert "operation" in line
    done = [_json(r) for r in ours if "Provision Succeeded" in r.getMessage()]
    assert [line["operation"] for line in done] == ["Provision"]
    # The HTTP client's lines about the app's requests, made inside the story, name the Integration too.
    requests = [r for r in caplog.records if r.name.startswith("httpx2") and "HTTP Request" in r.getMessage()]
    assert requests
    assert all(getattr(r, "object", {}).get("name") == "crm" for r in requests)


async def test_no_log_record_shows_a_secret_the_operator_loaded(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))
    await cluster.wait_status("crm", "UpToDate")

    # Whatever logs it, however it got there (an app echoing it, a careless library), it is redacted.
    logging.getLogger("some.library").warning("the app answered: %s", f"unknown key {scim_app.token}")
    try:
        raise RuntimeError(f"echoed {scim_app.token}")
    except RuntimeError:
        logging.getLogger("idlcm.test").exception("it failed")

    text = caplog.text + "".join(json.dumps(_json(r)) for r in caplog.records)
    assert scim_app.token not in text
    assert base64.b64encode(scim_app.token.encode()).decode() not in text
    assert "the app answered: unknown key ***" in caplog.text
    assert "echoed ***" in caplog.text
