"""`/metrics` of a real operator: states, operations, durations, accounts, retries and outbound requests."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from collections import Counter

import pytest

from idlcm.metrics import Metrics
from lifecycle.conftest import FAST, Cluster, OperatorFactory, people, spec_for
from observability.conftest import scrape, scrape_until
from scimapp import ScimApp


async def test_provisioning_shows_state_operation_durations_accounts_and_requests(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp
) -> None:
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice", "bob")))
    await cluster.wait_status("crm", "UpToDate")

    samples = await scrape_until(
        metrics, lambda s: s.value("idlcm_operations_total", type="Provision", result="Succeeded") == 1
    )
    ns = cluster.namespace
    assert samples.value("idlcm_integration_status", namespace=ns, name="crm", status="UpToDate") == 1
    assert [s for s in samples.series("idlcm_integration_status") if s["namespace"] == ns] == [
        {"namespace": ns, "name": "crm", "status": "UpToDate"}
    ]
    assert samples.value("idlcm_integrations", status="UpToDate") == 1
    assert samples.value("idlcm_integrations", status="Failed") == 0
    assert samples.value("idlcm_operation_duration_seconds_count", type="Provision") == 1
    assert samples.value("idlcm_operation_duration_seconds_sum", type="Provision") > 0
    assert samples.value("idlcm_validation_duration_seconds_count", scope="app") == 1
    assert samples.value("idlcm_validation_duration_seconds_count", scope="integration") == 1
    assert samples.value("idlcm_validations_total", scope="integration", result="Passed") == 1
    assert samples.value("idlcm_accounts_total", type="Provision", outcome="created") == 2
    assert samples.value("idlcm_accounts_total", outcome="failed") == 0
    assert samples.value("idlcm_retries_total") == 0

    # Each request the app received is counted once, by method and the code it answered.
    answered = Counter((r.method, str(r.status)) for r in scim_app.requests)
    app = {"namespace": ns, "app": "acme-crm"}
    counted = {
        (s["method"], s["code"]): samples.value("idlcm_outbound_requests_total", **s)
        for s in samples.series("idlcm_outbound_requests_total")
        if s["namespace"] == ns
    }
    assert counted == answered
    assert counted["GET", "200"] > 0
    assert samples.value("idlcm_rate_limit_wait_seconds_count", **app) == len(scim_app.requests)


async def test_a_503_and_a_dropped_connection_are_counted_by_code_and_retried(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)
    scim_app.faults.arm(503, times=1, path_prefix="/Users", methods={"POST"})
    # The app creates the account, then the connection drops before the answer: no answer, "error".
    scim_app.faults.arm(drop=True, passthrough=True, times=1, path_prefix="/Users", methods={"POST"})
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))
    await cluster.wait_status("crm", "UpToDate", timeout=20)

    samples = await scrape_until(
        metrics, lambda s: s.value("idlcm_operations_total", type="Provision", result="Succeeded") == 1
    )
    posts = {"namespace": cluster.namespace, "app": "acme-crm", "method": "POST"}
    assert samples.value("idlcm_outbound_requests_total", **posts, code="503") == 1
    assert samples.value("idlcm_outbound_requests_total", **posts, code="error") == 1
    assert samples.value("idlcm_operations_total", type="Provision", result="Retrying") == 2
    assert samples.value("idlcm_retries_total", operation="Provision") == 2
    assert samples.value("idlcm_accounts_total", type="Provision", outcome="failed") == 2


async def test_a_failed_operation_is_counted_with_its_result_and_state(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp
) -> None:
    scim_app.configure(bulk=False)
    scim_app.faults.arm(400, times=None, path_prefix="/Users", methods={"POST"}, detail="userName rejected")
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice")))
    await cluster.wait_status("crm", "Failed")

    samples = await scrape_until(
        metrics, lambda s: s.value("idlcm_operations_total", type="Provision", result="Failed") == 1
    )
    assert samples.value("idlcm_integrations", status="Failed") == 1
    assert samples.value("idlcm_integration_status", name="crm", status="Failed") == 1
    assert samples.value("idlcm_outbound_requests_total", method="POST", code="400") == 1


async def test_a_deleted_integration_leaves_no_series_behind(
    cluster: Cluster, metrics: Metrics, scim_app: ScimApp
) -> None:
    await cluster.create_integration("crm", spec_for(scim_app, *people("alice"), deletionPolicy="Orphan"))
    await cluster.wait_status("crm", "UpToDate")
    await scrape_until(metrics, lambda s: s.value("idlcm_integrations", status="UpToDate") == 1)

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None)

    samples = await scrape_until(metrics, lambda s: s.value("idlcm_integrations", status="UpToDate") == 0)
    assert samples.series("idlcm_integration_status") == []


async def test_the_endpoint_stops_with_the_operator_and_frees_its_port(
    cluster: Cluster, operator: OperatorFactory
) -> None:
    metrics = Metrics()
    stop = await operator(FAST, metrics=metrics, metrics_port=0)
    port = metrics.port
    assert port
    assert "idlcm_integrations" in (await scrape(metrics)).text

    await stop()

    assert metrics.port is None
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/metrics", timeout=2)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: past TIME_WAIT
        sock.bind(("0.0.0.0", port))  # nobody listens there any more


def test_each_operator_has_a_registry_of_its_own() -> None:
    first, second = Metrics(), Metrics()
    first.operation_done("Sync", "Succeeded", 1.0)

    assert first.registry.get_sample_value("idlcm_operations_total", {"type": "Sync", "result": "Succeeded"})
    assert (
        second.registry.get_sample_value("idlcm_operations_total", {"type": "Sync", "result": "Succeeded"})
        is None
    )
