"""Isolation: an Integration reaches only its own namespace, and the operator uses no grant it does not need.

The CRD has no field naming another namespace (a `namespace` in a reference is refused under kubectl's
Strict field validation and dropped otherwise); the operator reads Secrets and ConfigMaps by name only in the
Integration's namespace, measured at the API server. The same measurement, over the operator's main flows,
shows every API call it makes is granted by the ClusterRole in manifests/, and every grant is either used or
named in tests/deploy/test_rbac.py as kopf's (peering, which a test operator runs without).
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp.web
import kubernetes.client
import pytest
import yaml

from deploy.test_rbac import CLUSTER_WIDE, Grant
from idlcm import check, crds
from idlcm.devcluster import DevCluster
from lifecycle import conftest as lifecycle
from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from scimapp import ScimApp

embedded = lifecycle.embedded
operator = lifecycle.operator

TEST_CLIENT = "idlcm-reliability-test"
"""The User-Agent of the test's own API calls, to tell them from the operator's."""

REFS = {
    "bearerToken": ("connector", "scim", "auth", "bearerToken", "secretRef"),
    "basic": ("connector", "scim", "auth", "basic", "secretRef"),
    "oauth2ClientCredentials": ("connector", "scim", "auth", "oauth2ClientCredentials", "secretRef"),
    "caSecretRef": ("connector", "scim", "tls", "caSecretRef"),
    "configMapRef": ("accountsFrom", 0, "configMapRef"),
}


def _with_ref(kind: str) -> dict[str, Any]:
    """A valid Integration whose reference of this kind exists, to add a namespace to."""
    scim: dict[str, Any] = {"baseURL": "https://crm.example.com/scim/v2"}
    if kind == "basic":
        scim["auth"] = {"basic": {"secretRef": {"name": "creds"}}}
    elif kind == "oauth2ClientCredentials":
        scim["auth"] = {
            "oauth2ClientCredentials": {
                "tokenURL": "https://id.example.com/t",
                "secretRef": {"name": "creds"},
            }
        }
    else:
        scim["auth"] = {"bearerToken": {"secretRef": {"name": "creds"}}}
    scim["tls"] = {"caSecretRef": {"name": "ca"}}
    spec = {
        "app": "acme-crm",
        "connector": {"scim": scim},
        "accountsFrom": [{"configMapRef": {"name": "roster", "key": "r.csv"}}],
    }
    return {
        "apiVersion": f"{crds.GROUP}/{crds.VERSION}",
        "kind": "Integration",
        "metadata": {"name": f"ref-{kind.lower()}", "namespace": "team-a"},
        "spec": spec,
    }


def _ref(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    target: Any = obj["spec"]
    for step in REFS[kind]:
        target = target[step]
    assert isinstance(target, dict)
    return target


# -- the schema


def _object_schemas(schema: dict[str, Any], path: str = "spec") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _object_schemas(child, f"{path}.{name}")
    if "items" in schema:
        yield from _object_schemas(schema["items"], f"{path}[]")


def test_no_field_of_the_crd_names_a_namespace_or_keeps_unknown_fields() -> None:
    crd = crds.find("Integration")
    assert crd is not None
    spec = crd.schema["properties"]["spec"]
    refs = 0
    for path, schema in _object_schemas(spec):
        assert "namespace" not in (schema.get("properties") or {}), path
        assert not schema.get("x-kubernetes-preserve-unknown-fields"), path
        assert schema.get("additionalProperties") in (None, False), path
        refs += path.endswith("Ref")
    assert refs == len(REFS)  # every reference kind is looked at


@pytest.mark.parametrize("kind", list(REFS))
def test_a_namespace_in_a_reference_is_refused_or_dropped(
    kind: str, embedded: kubernetes.client.Configuration, tmp_path: Path
) -> None:
    client = kubernetes.client.ApiClient(embedded)
    core, custom = kubernetes.client.CoreV1Api(client), kubernetes.client.CustomObjectsApi(client)
    core.create_namespace({"metadata": {"name": "team-a"}})
    obj = _with_ref(kind)
    _ref(obj, kind)["namespace"] = "kube-system"
    field = ".".join(str(s) if isinstance(s, str) else f"[{s}]" for s in REFS[kind]).replace(".[", "[")
    unknown = f'unknown field "spec.{field}.namespace"'

    def create(validation: str) -> Any:
        return custom.create_namespaced_custom_object(
            crds.GROUP, crds.VERSION, "team-a", "integrations", obj, field_validation=validation
        )

    # kubectl's default (Strict): refused, naming the field.
    with pytest.raises(kubernetes.client.ApiException) as refused:
        create("Strict")
    assert refused.value.status == 400
    assert unknown in json.loads(refused.value.body)["message"]
    # Any other client: stored without it (pruned), as a real API server does.
    stored = create("Warn")
    assert "namespace" not in _ref(stored, kind)
    assert _ref(stored, kind)["name"]
    # `idlcm check` says so before anything is applied.
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(obj))
    out = io.StringIO()
    assert check.run([str(path)], out, io.StringIO()) == 1
    assert unknown in out.getvalue()
    client.close()


# -- the operator, watched from the API server


@dataclasses.dataclass(frozen=True)
class Call:
    """One API request the operator made."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None

    @property
    def grant(self) -> Grant:
        return (self.group, self.resource, self.verb)


def _call(method: str, path: str, query: str) -> Call | None:
    """The RBAC view of a request (None: a non-resource URL such as discovery or /version)."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource, name = rest[0], rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource += "/" + rest[2]
    watch = parse_qs(query).get("watch", ["false"])[0] in ("true", "1")
    verb = {
        "GET": "get" if name else ("watch" if watch else "list"),
        "POST": "create",
        "PATCH": "patch",
        "PUT": "update",
        "DELETE": "delete" if name else "deletecollection",
    }[method]
    return Call(verb, group, resource, namespace, name)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every resource request made to the devcluster by anyone but the test's own client."""
    seen: list[Call] = []
    serve = DevCluster.__call__

    async def recording(self: DevCluster, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if request.headers.get("User-Agent") != TEST_CLIENT:
            call = _call(request.method, request.path, request.query_string)
            if call is not None:
                seen.append(call)
        return await serve(self, request)

    monkeypatch.setattr(DevCluster, "__call__", recording)
    return seen


async def _namespace(config: kubernetes.client.Configuration, prefix: str) -> Cluster:
    cluster = Cluster(config, f"{prefix}-{uuid.uuid4().hex[:6]}")
    cluster.client.user_agent = TEST_CLIENT
    await cluster.call(cluster.core.create_namespace, {"metadata": {"name": cluster.namespace}})
    return cluster


@pytest.fixture
async def teams(embedded: kubernetes.client.Configuration) -> AsyncIterator[tuple[Cluster, Cluster]]:
    a, b = await _namespace(embedded, "team-a"), await _namespace(embedded, "team-b")
    yield a, b
    a.client.close()
    b.client.close()


def _spec(app: ScimApp, name: str, secret: str, *accounts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec = spec_for(app, *accounts, **extra)
    spec["app"] = name
    spec["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["name"] = secret
    return spec


async def test_the_operator_reads_secrets_and_configmaps_only_in_the_integrations_namespace(
    teams: tuple[Cluster, Cluster], operator: OperatorFactory, scim_app: ScimApp, calls: list[Call]
) -> None:
    a, b = teams
    await operator(FAST)
    # Team B holds the app's real token and a roster; team A a wrong token under the same name.
    await b.create_secret("acme-token", {"token": scim_app.token})
    await b.create_secret("only-in-b", {"token": scim_app.token})
    await b.apply_configmap("roster", {"r.csv": "userName\nmallory@example.com\n"})
    await a.create_secret("acme-token", {"token": "not-the-token"})
    await a.create_secret("own", {"token": scim_app.token})

    # Each points at team B's objects (a namespace field, when not refused, is dropped: see above).
    same_name = _spec(scim_app, "same-name", "acme-token", *people("ann"))
    same_name["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["namespace"] = b.namespace
    await a.create_integration("same-name", same_name)
    await a.create_integration("only-in-b", _spec(scim_app, "only-in-b", "only-in-b", *people("ann")))
    roster = _spec(scim_app, "roster", "own", *people("ann"))
    roster["accountsFrom"] = [{"configMapRef": {"name": "roster", "key": "r.csv", "namespace": b.namespace}}]
    await a.create_integration("roster", roster)

    wrong = await a.wait_status("same-name", "UnderReview", timeout=30)
    assert wrong["status"]["reason"] == "InvalidCredentials"  # its own namespace's (wrong) token
    missing = await a.wait_for(
        "integrations",
        "only-in-b",
        lambda o: (
            f"Secret {a.namespace}/only-in-b not found" in ((o or {}).get("status") or {}).get("message", "")
        ),
        timeout=30,
    )
    assert missing is not None
    await a.wait_for(
        "integrations",
        "roster",
        lambda o: (
            f"ConfigMap {a.namespace}/roster not found" in ((o or {}).get("status") or {}).get("message", "")
        ),
        timeout=30,
    )

    assert scim_app.requests.writes == []
    assert "mallory@example.com" not in in_app(scim_app)
    reads = {
        (c.resource, c.namespace)
        for c in calls
        if c.verb == "get" and c.resource in ("secrets", "configmaps")
    }
    assert reads == {("secrets", a.namespace), ("configmaps", a.namespace)}


async def test_every_api_call_of_the_main_flows_is_granted_and_every_grant_is_used(
    teams: tuple[Cluster, Cluster], operator: OperatorFactory, scim_app: ScimApp, calls: list[Call]
) -> None:
    team, _ = teams
    await operator(FAST)
    await team.create_secret("acme-token", {"token": scim_app.token})
    await team.apply_configmap("roster", {"r.csv": "userName\nbob@example.com\n"})
    spec = spec_for(scim_app, *people("ann"))
    spec["accountsFrom"] = [{"configMapRef": {"name": "roster", "key": "r.csv"}}]
    await team.create_integration("crm", spec)
    await team.wait_status("crm", "UpToDate")
    # A roster edit, a spec change, a Secret rotation, then deletion (deprovisioning).
    await team.apply_configmap("roster", {"r.csv": "userName\nbob@example.com\ncy@example.com\n"})
    await team.wait_for("integrations", "crm", lambda o: "cy@example.com" in in_app(scim_app), timeout=30)
    await team.patch_integration("crm", {"spec": {"accounts": people("ann", "dee")}})
    await team.wait_for("integrations", "crm", lambda o: "dee@example.com" in in_app(scim_app), timeout=30)
    await team.update_secret("acme-token", {"token": scim_app.token, "rotated": "yes"})
    await team.wait_status("crm", "UpToDate")
    await team.delete_integration("crm")
    await team.wait_for("integrations", "crm", lambda o: o is None, timeout=30)

    used = {c.grant for c in calls}
    assert used - CLUSTER_WIDE.keys() == set(), "the operator called the API without a grant"
    # kopf peering is off in a test operator (standalone); the manifests run it with --peering.
    peering = {g for g in CLUSTER_WIDE if g[0] == "kopf.dev"}
    assert CLUSTER_WIDE.keys() - used - peering == set(), "granted, but no flow used it"


async def test_same_named_integrations_of_two_namespaces_never_touch_each_others_accounts(
    teams: tuple[Cluster, Cluster], operator: OperatorFactory, scim_app: ScimApp
) -> None:
    a, b = teams
    await operator(FAST)
    for team, names in ((a, ("ann", "ben")), (b, ("cy", "dee"))):
        await team.create_secret("acme-token", {"token": scim_app.token})
        spec = spec_for(scim_app, *people(*names), deprovision={"mode": "Delete", "maxDeletions": 10})
        await team.create_integration("crm", spec)
    for team in (a, b):
        await team.wait_status("crm", "UpToDate")
    # Team A also declares one of team B's accounts: it is reported, never taken over.
    await a.patch_integration("crm", {"spec": {"accounts": people("ann", "ben", "cy")}})
    conflict = await a.wait_for(
        "integrations",
        "crm",
        lambda o: any(f.get("userName") == "cy@example.com" for f in _failures(o)),
        timeout=30,
    )
    assert conflict is not None

    await a.delete_integration("crm")
    await a.wait_for("integrations", "crm", lambda o: o is None, timeout=30)
    assert set(in_app(scim_app)) == {"cy@example.com", "dee@example.com"}
    assert all(user["active"] for user in in_app(scim_app).values())
    assert b.namespace in in_app(scim_app)["cy@example.com"]["externalId"]


def _failures(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((((obj or {}).get("status") or {}).get("lastOperation") or {}).get("failures") or [])
