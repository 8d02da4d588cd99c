"""The in-process end-to-end scenarios (tests/lifecycle), replayed against a real cluster: the operator runs
as deployed by manifests/ (its image, RBAC, peering), the SCIM app runs as a pod, and the tests see only what
a user sees: the Kubernetes API and the app's stored users."""

from __future__ import annotations

from typing import Any

import kubernetes.client

from e2e.cluster import OPERATOR_NAMESPACE, SCIM_BASE_URL, Namespace, Scim


def spec(*accounts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An Integration of the in-cluster SCIM app with these accounts."""
    return {
        "app": "acme-crm",
        "connector": {
            "scim": {
                "baseURL": SCIM_BASE_URL,
                "auth": {"bearerToken": {"secretRef": {"name": "acme-token"}}},
                "tls": {"insecure": True},
            }
        },
        "accounts": list(accounts),
        **extra,
    }


def people(*names: str) -> list[dict[str, Any]]:
    return [{"userName": f"{n}@example.com", "displayName": n.title()} for n in names]


def token(ns: Namespace, scim: Scim) -> None:
    ns.create_secret("acme-token", {"token": scim.state()["token"]})


def test_first_integration_of_an_app_goes_under_validation_then_validated(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm-sales", spec())

    # Without accounts, Validated lasts a few milliseconds on the way to UpToDate: wait for the final state
    # and read the way there from the Events posted on each state change (a poll would miss Validated).
    obj = ns.wait_up_to_date("crm-sales")

    assert ns.announced("crm-sales", "UpToDate") == [
        "UnderValidation",
        "Validating",
        "Validated",
        "InProgress",
        "UpToDate",
    ]
    assert scim.users() == {}  # UpToDate: the app holds what the spec declares (nothing)

    conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert "idlcm.io/finalizer" in obj["metadata"]["finalizers"]
    app = ns.get("externalapps", "acme-crm")
    assert app is not None
    assert app["status"]["state"] == "Validated"


def test_provisioning_creates_exactly_the_declared_accounts(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm", spec(*people("alice", "bob")))

    obj = ns.wait_status("crm", "UpToDate")

    assert set(scim.users()) == {"alice@example.com", "bob@example.com"}
    assert obj["status"]["accounts"]["summary"] == "2/2"


def test_removing_an_account_deactivates_it(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm", spec(*people("alice", "bob")))
    ns.wait_status("crm", "UpToDate")

    ns.patch_integration("crm", {"spec": {"accounts": people("alice")}})
    ns.wait_status("crm", "UpToDate", generation=2)

    users = scim.users()
    assert users["bob@example.com"]["active"] is False
    assert users["alice@example.com"]["active"] is True


def test_missing_secret_fails_validation_then_recovers_when_it_appears(ns: Namespace, scim: Scim) -> None:
    ns.create_integration("crm", spec())
    # The retries are fast here (run.sh's overlay): after the last one the state is UnderReview, so the
    # Event of the failure is what stays to be seen, not the state.
    ns.announced("crm", "ValidationFailed")

    token(ns, scim)  # the operator watches Secrets (RBAC: secrets list/watch)

    ns.wait_up_to_date("crm")
    seen = ns.announced("crm", "UpToDate")
    assert seen[-4:] == ["Validating", "Validated", "InProgress", "UpToDate"]
    assert "ValidationFailed" in seen[:-4]
    assert scim.users() == {}


def test_suspend_stops_all_writes(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm", spec(*people("alice"), suspend=True))

    ns.wait_for("integrations", "crm", lambda o: ((o or {}).get("status") or {}).get("reason") == "Suspended")

    assert scim.users() == {}


def test_dry_run_publishes_the_plan_and_writes_nothing(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm", spec(*people("alice", "bob"), dryRun=True))

    obj = ns.wait_for("integrations", "crm", lambda o: bool(((o or {}).get("status") or {}).get("plan")))

    assert obj is not None
    assert scim.users() == {}


def test_retryable_failure_goes_retrying_then_up_to_date(ns: Namespace, scim: Scim) -> None:
    scim.reset(bulk=False)
    token(ns, scim)
    scim.arm(status=503, retry_after=1, times=2, path_prefix="/Users", methods=["POST"])
    ns.create_integration("crm", spec(*people("alice")))

    ns.wait_status("crm", "Retrying")
    obj = ns.wait_status("crm", "UpToDate")

    assert "retry" not in obj["status"]
    assert set(scim.users()) == {"alice@example.com"}


def test_mass_deprovision_stops_for_review_until_revalidated(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm", spec(*people("a", "b", "c", "d"), deprovision={"maxDeletions": 2}))
    ns.wait_status("crm", "UpToDate")

    ns.patch_integration("crm", {"spec": {"accounts": people("a")}})
    review = ns.wait_status("crm", "UnderReview")
    assert review["status"]["reason"] == "TooManyDeletions"
    assert all(u["active"] for u in scim.users().values())

    # What the Argo CD `revalidate` action does.
    ns.patch_integration("crm", {"metadata": {"annotations": {"idlcm.io/revalidate": "1767225600"}}})
    ns.wait_status("crm", "UpToDate")
    assert [n for n, u in sorted(scim.users().items()) if u["active"]] == ["a@example.com"]


def test_deleting_the_integration_deprovisions_its_accounts(ns: Namespace, scim: Scim) -> None:
    token(ns, scim)
    ns.create_integration("crm", spec(*people("alice", "bob"), deprovision={"mode": "Delete"}))
    ns.wait_status("crm", "UpToDate")

    ns.delete_integration("crm")
    ns.wait_for("integrations", "crm", lambda o: o is None)

    assert scim.users() == {}


def test_the_operator_runs_as_deployed_with_one_live_peer(api: kubernetes.client.ApiClient) -> None:
    pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod(
        OPERATOR_NAMESPACE, label_selector="app.kubernetes.io/component=operator"
    )
    assert [p.status.phase for p in pods.items] == ["Running"]
    pod = pods.items[0]
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.containers[0].security_context.read_only_root_filesystem is True
    peering = kubernetes.client.CustomObjectsApi(api).get_cluster_custom_object(
        "kopf.dev", "v1", "clusterkopfpeerings", "idlcm"
    )
    assert pod.metadata.name in (peering.get("status") or {})  # POD_ID names the peer
