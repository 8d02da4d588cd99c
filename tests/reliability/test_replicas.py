"""Two replicas (issue 7): two operator processes against the same API, peering through kopf's
ClusterKopfPeering as the manifests deploy them. Only one acts at a time: the SCIM app tells each request's
sender apart (by the client socket's owner), and the standby never sends one while the active replica lives.
When the active replica is SIGKILLed, the standby takes over once its peer record expires.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import kubernetes.client
import yaml

from reliability.crashes import NAME, seed_unowned, spec, user_names
from reliability.processes import (
    Arrival,
    Cluster,
    Operator,
    RecordingScimApp,
    api_server,
    scim_server,
    wait_until,
)

PEERING_CRDS = Path(__file__).parents[2] / "manifests" / "base" / "kopf-peering-crds.yaml"
LIFETIME = 3
"""Seconds a replica's peer record lives without a keep-alive (production: 60)."""


def _peering(cluster: Cluster) -> None:
    """kopf's peering CRDs from the manifests, and the cluster-wide peering object `idlcm`."""
    extensions = kubernetes.client.ApiextensionsV1Api(cluster.client)
    for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
        if crd:
            extensions.create_custom_resource_definition(crd)
    body = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "idlcm"}}
    wait_until(lambda: _create_peering(cluster, body), 10, "the peering resource to be served")


def _create_peering(cluster: Cluster, body: dict[str, Any]) -> bool:
    try:
        cluster.custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", body)
    except kubernetes.client.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def _peers(cluster: Cluster) -> int:
    """How many replicas have a record in the peering object."""
    peering = cluster.custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", "idlcm")
    return len(peering.get("status") or {})


def _change_accounts(cluster: Cluster, app: RecordingScimApp, names: list[str], what: str) -> None:
    """Declare these accounts (the Integration's second generation) and wait until they are UpToDate."""
    cluster.patch_integration(NAME, {"spec": {"accounts": spec(app, names)["accounts"]}})
    wait_until(
        lambda: (
            cluster.status(NAME).get("observedGeneration") == 2
            and cluster.status(NAME).get("status") == "UpToDate"
        ),
        60,
        what,
    )


def _senders(arrivals: list[Arrival]) -> list[str | None]:
    return [a.sender for a in arrivals]


def test_two_replicas_one_acts_at_a_time_and_the_standby_takes_over_when_the_active_one_is_killed(
    tmp_path: Path,
) -> None:
    app = RecordingScimApp()
    app.configure(bulk=False)  # one request per account: many chances for a second sender to show
    names = user_names(60)
    with api_server() as api, scim_server(app):
        unowned = seed_unowned(app)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        cluster = Cluster(kubeconfig)
        _peering(cluster)
        cluster.create_secret("acme-token", {"token": app.token})
        env = {"IDLCM_PEERING_LIFETIME": str(LIFETIME)}
        replicas = {
            name: Operator(
                kubeconfig, tmp_path, name=name, options=("--peering", "idlcm", "--priority", priority)
            )
            for name, priority in (("high", "200"), ("low", "100"))
        }
        try:
            # One after the other, as a rolling update does: kopf pauses a replica only for work it has not
            # started; a replica alone at start acts at once (see docs/reliability.md, Two replicas).
            for replica in replicas.values():
                replica.start(**env)
                assert replica.proc is not None
                app.senders[replica.name] = replica.proc.pid
                wait_until(lambda: _peers(cluster) == len(app.senders), 30, f"{replica.name} to peer")
            cluster.create_integration(NAME, spec(app, names))
            wait_until(lambda: cluster.status(NAME).get("status") == "UpToDate", 60, "the provisioning")
            before = list(app.arrivals)
            assert len(before) > len(names)

            # kopf starts a replica paused; the standby never resumed while the active one lived.
            assert "Resuming operations" not in replicas["low"].output()
            replicas["high"].kill()
            killed = time.time()
            more = user_names(80)
            _change_accounts(cluster, app, more, "the standby to take over")
            held = {u.user_name for u in app.users()}
            after = [a for a in app.arrivals if a.time > killed]
        finally:
            outputs = {}
            for name, replica in replicas.items():
                replica.stop()
                outputs[name] = replica.output()
            cluster.close()

    # The arrivals before the seeding are the test's own; every other one came from one replica.
    ours = before[len(unowned) :]
    assert set(_senders(ours)) == {"high"}, "the standby sent requests while the active replica lived"
    assert after, "nobody acted after the kill"
    assert set(_senders(after)) == {"low"}, "requests after the kill came from another sender"
    assert set(more) <= held
    takeover = after[0].time - killed
    print(
        f"\ntwo replicas: {len(ours)} requests from the active one, {len(after)} from the standby after the "
        f"kill; first request of the standby {takeover:.1f}s after the kill (peer lifetime {LIFETIME}s)"
    )
    assert "Resuming operations after the pause" in outputs["low"]


def test_a_replica_started_mid_operation_stands_aside_until_the_running_one_is_done(tmp_path: Path) -> None:
    """The rolling-update case kopf's peering leaves open: the old replica is mid-provisioning when the new
    one (higher priority) starts. kopf pauses only the old one's new work; the Integration's lease keeps the
    new one from starting the same operation until the old one has given it back."""
    app = RecordingScimApp()
    app.configure(bulk=False)
    names, more = user_names(80), user_names(90)
    with api_server() as api, scim_server(app):
        integration = spec(app, names)  # the app's address is known once it is served
        integration["connector"]["scim"]["rateLimit"] = {"requestsPerSecond": 1000, "maxConcurrency": 1}
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        cluster = Cluster(kubeconfig)
        _peering(cluster)
        cluster.create_secret("acme-token", {"token": app.token})
        env = {"IDLCM_PEERING_LIFETIME": str(LIFETIME)}
        old = Operator(kubeconfig, tmp_path, name="old", options=("--peering", "idlcm", "--priority", "100"))
        new = Operator(kubeconfig, tmp_path, name="new", options=("--peering", "idlcm", "--priority", "200"))
        try:
            old.start(**env)
            assert old.proc is not None
            app.senders["old"] = old.proc.pid
            wait_until(lambda: _peers(cluster) == 1, 30, "old to peer")
            # Creates one at a time, 0.3 s each (up to 24 s): slow until the new replica has met the lease,
            # however long it takes to start; then the rest go at full speed.
            app.faults.arm(delay=0.3, times=None, methods={"POST"})
            cluster.create_integration(NAME, integration)
            wait_until(lambda: app.write_count >= 5, 30, "the provisioning to start")
            new.start(**env)
            assert new.proc is not None
            app.senders["new"] = new.proc.pid
            wait_until(
                lambda: "is being worked on by" in new.output(), 30, "the new replica to meet the lease"
            )
            app.faults.clear()
            wait_until(lambda: cluster.status(NAME).get("status") == "UpToDate", 60, "the provisioning")
            _change_accounts(cluster, app, more, "the new replica to provision the change")
            status = cluster.status(NAME)
            held = sorted(u.user_name for u in app.users())
        finally:
            outputs = {}
            for replica in (old, new):
                replica.stop()
                outputs[replica.name] = replica.output()
            cluster.close()

    arrivals = [a for a in app.arrivals if a.sender is not None]
    old_times = [a.time for a in arrivals if a.sender == "old"]
    new_times = [a.time for a in arrivals if a.sender == "new"]
    assert "Pausing operations in favour of" in outputs["old"]
    # The overlap happened (waited for above): the new replica tried while the old one worked, stood aside.
    assert old_times, "the old replica never reached the app"
    assert new_times, "the new replica never reached the app"
    assert max(old_times) < min(new_times), "both replicas sent requests to the app in the same period"
    creates = [a for a in arrivals if a.method == "POST" and a.path.startswith("/v2/Users")]
    assert len(creates) == len(more), "an account was created twice"
    assert held == sorted(more)
    assert "lease" not in status, "the lease was not given back"
    print(
        f"\nrolling update mid-operation: {len(old_times)} requests from the old replica, then "
        f"{len(new_times)} from the new one, {min(new_times) - max(old_times):.1f}s apart; "
        f"{len(creates)} creates for {len(more)} accounts"
    )
