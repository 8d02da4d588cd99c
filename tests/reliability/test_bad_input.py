"""Bad input: what the schema rejects never gets in; what gets in gets a clear status and Event; nothing
half-understood reaches the app; the operator keeps serving everyone else.

Examples come from hypothesis (tests/reliability/inputs.py), derandomized so every run checks the same ones.
One operator serves all of them at once, so a failure names the example (its defect, spec or roster) instead
of shrinking it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pydantic
import pytest
import yaml

from idlcm import check, crds
from idlcm.api.spec import IntegrationSpec
from idlcm.roster import MAX_ROWS
from idlcm.schema import SchemaValidator
from lifecycle import conftest as lifecycle
from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from reliability.inputs import Roster, bad_specs, every_defect, examples
from scimapp import ScimApp, running_scim_app

embedded = lifecycle.embedded
cluster = lifecycle.cluster
operator = lifecycle.operator

SPECS, SOAK_SPECS = 60, 600
"""Generated specs sent to the API (in `make test`, in `make soak`)."""
PER_DEFECT, SOAK_PER_DEFECT = 2, 10
"""Generated rosters per kind of defect (18 kinds) served at once by one operator."""


# -- the schema: the embedded API and `idlcm check` agree, and the operator understands what both admit


def _admitted_by_api(custom: kubernetes.client.CustomObjectsApi, namespace: str, obj: dict[str, Any]) -> bool:
    try:
        custom.create_namespaced_custom_object(
            crds.GROUP, crds.VERSION, namespace, "integrations", obj, field_validation="Strict"
        )
    except kubernetes.client.ApiException as e:
        status, body = e.status, e.body
    else:
        return True
    assert status in (400, 422), f"the API answered {status} (not a validation error): {body}"
    return False


def _check_says(path: Path, obj: dict[str, Any]) -> str:
    """What `idlcm check` prints for the object ('' when it finds it valid)."""
    path.write_text(yaml.safe_dump(obj, allow_unicode=True))
    out = io.StringIO()
    code = check.run([str(path)], out, io.StringIO())
    assert code in (0, 1), out.getvalue()
    return out.getvalue() if code else ""


def test_the_embedded_api_rejects_what_the_schema_rejects_and_check_says_so(
    embedded: kubernetes.client.Configuration, tmp_path: Path
) -> None:
    _schema_agreement(embedded, tmp_path, SPECS)


@pytest.mark.soak
def test_schema_agreement_at_soak_size(embedded: kubernetes.client.Configuration, tmp_path: Path) -> None:
    started = time.monotonic()
    tally = _schema_agreement(embedded, tmp_path, SOAK_SPECS)
    print(f"\nbad specs: {SOAK_SPECS} generated, {tally} in {time.monotonic() - started:.1f}s")


def _schema_agreement(config: kubernetes.client.Configuration, tmp_path: Path, count: int) -> dict[str, int]:
    """Send `count` generated specs to the API and to `idlcm check`; returns how many went which way."""
    client = kubernetes.client.ApiClient(config)
    core, custom = kubernetes.client.CoreV1Api(client), kubernetes.client.CustomObjectsApi(client)
    core.create_namespace({"metadata": {"name": "bad-specs"}})
    crd = crds.find("Integration")
    assert crd is not None
    validator = SchemaValidator.for_crd(crd)
    tally = {"rejected": 0, "admitted": 0, "operator rules": 0}

    for i, (what, spec) in enumerate(examples(bad_specs(), count)):
        obj = {
            "apiVersion": f"{crds.GROUP}/{crds.VERSION}",
            "kind": "Integration",
            "metadata": {"name": f"spec-{i}", "namespace": "bad-specs"},
            "spec": spec,
        }
        admission = validator.admit(obj)
        schema_ok = admission.ok and not admission.pruned  # kubectl's Strict: unknown fields are errors
        api_ok = _admitted_by_api(custom, "bad-specs", obj)
        says = _check_says(tmp_path / f"spec-{i}.yaml", obj)
        assert api_ok == schema_ok, f"{what}: the API and the schema disagree: {admission.errors}"
        if not api_ok:
            tally["rejected"] += 1
            assert says, f"{what}: rejected by the API, but `idlcm check` finds it valid"
            continue
        tally["admitted"] += 1
        # What the API admits, the operator reads, or `idlcm check` already named the problem.
        try:
            IntegrationSpec.model_validate(admission.obj["spec"])
        except pydantic.ValidationError:
            assert says, f"{what}: admitted, not understood, and `idlcm check` passes it"
            tally["operator rules"] += 1
        else:
            assert not says, f"{what}: the operator reads it, but `idlcm check` rejects it: {says}"
    # The examples reach every branch (a change of the generator that stops doing so fails here).
    assert min(tally.values()) > 0, tally
    client.close()
    return tally


# -- the operator: one operator, many bad Integrations at once, and a healthy one that must keep going


@pytest.fixture(scope="module")
def target() -> Iterator[ScimApp]:
    """A SCIM app of its own for the bad Integrations: any write it receives is a partial write."""
    with running_scim_app() as app:
        yield app


def _huge_roster() -> str:
    def name(i: int) -> str:
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        out = ""
        while True:
            i, r = divmod(i, 36)
            out = digits[r] + out
            if not i:
                return out

    return "userName\n" + "\n".join(name(i) for i in range(MAX_ROWS + 1)) + "\n"


@dataclasses.dataclass
class Case:
    """One bad Integration: its spec, the ConfigMap it reads, and what the operator must say about it."""

    name: str
    what: str
    spec: dict[str, Any]
    says: str
    """A fragment of the status message (and of a Warning Event)."""
    states: tuple[str, ...] = ("Failed",)
    reason: str | None = "InvalidAccounts"
    configmap: tuple[str, dict[str, str]] | None = None


def _cases(target: ScimApp, generated: list[Roster]) -> list[Case]:
    def spec(*accounts: dict[str, Any], roster: tuple[str, str] | None = None) -> dict[str, Any]:
        inline = accounts or ({"userName": f"inline-{uuid.uuid4().hex[:6]}@example.com"},)
        out = spec_for(target, *inline)
        out["app"] = "target"
        out["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["name"] = "target-token"
        if roster:
            out["accountsFrom"] = [{"configMapRef": {"name": roster[0], "key": roster[1]}}]
        return out

    def roster(name: str, what: str, key: str, text: str, says: str, *accounts: dict[str, Any]) -> Case:
        return Case(name, what, spec(*accounts, roster=(name, key)), says, configmap=(name, {key: text}))

    wrong_key = spec()
    wrong_key["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["key"] = "nope"
    binary = spec()
    binary["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["name"] = "binary"
    no_key = roster("no-key", "a ConfigMap without the key", "roster.csv", "", "has no key 'roster.csv'")
    no_key.configmap, no_key.states, no_key.reason = (
        ("no-key", {"else.csv": "userName\nzed\n"}),
        ("Retrying", "Failed"),
        None,
    )
    return [
        *(roster(f"roster-{i}", r.defect, r.key, r.text, r.says) for i, r in enumerate(generated)),
        roster(
            "huge", "a roster over the row limit", "all.csv", _huge_roster(), f"more than {MAX_ROWS} accounts"
        ),
        no_key,
        roster(
            "across",
            "the same userName inline and in a roster",
            "r.csv",
            "userName\nINLINE-DUP@example.com\n",
            "duplicate userNames",
            {"userName": "inline-dup@example.com"},
        ),
        # Addresses the CRD's `format: email` admits, but no SCIM app takes: refused before any write.
        roster(
            "roster-mail",
            "a roster address apps refuse",
            "m.csv",
            "userName,email\nhal,hal@example.com\nivy,ivy@localhost\n",
            "email: SCIM apps do not take this address",
        ),
        Case(
            "inline-mail",
            "an inline address apps refuse",
            spec({"userName": "fay@example.com"}, {"userName": "gus", "email": "gus@corp.local"}),
            "email: SCIM apps do not take this address",
            ("UnderReview",),
            "InvalidSpec",
        ),
        Case(
            "twice",
            "userNames that differ only in case",
            spec({"userName": "Carol@example.com"}, {"userName": "carol@EXAMPLE.com"}),
            "duplicate userName",
            ("UnderReview",),
            "InvalidSpec",
        ),
        Case(
            "no-configmap",
            "a ConfigMap that does not exist",
            spec(roster=("nowhere", "r.csv")),
            "not found",
            ("Retrying", "Failed"),
            None,
        ),
        Case(
            "binary-secret",
            "a Secret whose key is not text",
            binary,
            "key 'token' is not UTF-8 text",
            ("ValidationFailed", "UnderReview"),
            None,
        ),
        Case(
            "secret-key",
            "a Secret without the key",
            wrong_key,
            "has no key 'nope'",
            ("ValidationFailed", "UnderReview"),
            None,
        ),
    ]


async def _settled(cluster: Cluster, case: Case) -> dict[str, Any]:
    def done(obj: dict[str, Any] | None) -> bool:
        status = (obj or {}).get("status") or {}
        return status.get("status") in case.states and case.says in (status.get("message") or "")

    obj = await cluster.wait_for("integrations", case.name, done, timeout=30)
    assert obj is not None
    return obj


async def test_bad_input_gets_a_clear_status_writes_nothing_and_others_keep_syncing(
    cluster: Cluster,
    operator: OperatorFactory,
    scim_app: ScimApp,
    target: ScimApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _serve_bad_input(cluster, operator, scim_app, target, caplog, PER_DEFECT)


@pytest.mark.soak
async def test_bad_input_at_soak_size(
    cluster: Cluster,
    operator: OperatorFactory,
    scim_app: ScimApp,
    target: ScimApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = time.monotonic()
    cases = await _serve_bad_input(cluster, operator, scim_app, target, caplog, SOAK_PER_DEFECT)
    print(
        f"\nbad Integrations: {cases} served at once, all with a clear status and Warning Event, "
        f"0 writes to their app, the healthy one synced; {time.monotonic() - started:.1f}s"
    )


async def _serve_bad_input(
    cluster: Cluster,
    operator: OperatorFactory,
    scim_app: ScimApp,
    target: ScimApp,
    caplog: pytest.LogCaptureFixture,
    per_defect: int,
) -> int:
    """One operator, a healthy Integration and many bad ones; returns how many bad ones it served."""
    caplog.set_level(logging.WARNING)
    # Drawn before the operator starts: its threads use `random`, which hypothesis would take for the
    # strategies' doing.
    generated = every_defect(per_defect)
    target.reset()  # the app is the module's; its accounts and log are this test's
    threads = set(threading.enumerate())
    await operator(FAST)
    running = [t for t in threading.enumerate() if t.name == "operator" and t not in threads]

    # A healthy Integration in a namespace of its own, on an app of its own.
    team = Cluster(cluster.client.configuration, f"healthy-{uuid.uuid4().hex[:6]}")
    await team.call(team.core.create_namespace, {"metadata": {"name": team.namespace}})
    await team.create_secret("acme-token", {"token": scim_app.token})
    await team.apply_configmap("team", {"team.csv": "userName\nann@example.com\nben@example.com\n"})
    steady = spec_for(scim_app, *people("cleo"))
    steady["accountsFrom"] = [{"configMapRef": {"name": "team", "key": "team.csv"}}]
    await team.create_integration("steady", steady)
    await team.wait_status("steady", "UpToDate")

    # The bad ones' app, validated first through a suspended Integration (its discovery checks are reads).
    await cluster.create_secret("target-token", {"token": target.token})
    binary = {"metadata": {"name": "binary"}, "data": {"token": base64.b64encode(b"\xff\xfe\x00").decode()}}
    await cluster.call(cluster.core.create_namespaced_secret, cluster.namespace, binary)
    seed = spec_for(target, suspend=True)
    seed["app"] = "target"
    seed["connector"]["scim"]["auth"]["bearerToken"]["secretRef"]["name"] = "target-token"
    await cluster.create_integration("seed", seed)
    await cluster.wait_status("seed", "Validated")
    target.requests.clear()

    cases = _cases(target, generated)
    for case in cases:
        if case.configmap:
            await cluster.apply_configmap(*case.configmap)
    await asyncio.gather(*(cluster.create_integration(c.name, c.spec) for c in cases))

    # Meanwhile the team's roster changes: the healthy Integration provisions the newcomers.
    await team.apply_configmap(
        "team", {"team.csv": "userName\nann@example.com\nben@example.com\ndee@example.com\neve@example.com\n"}
    )
    await team.wait_for(
        "integrations",
        "steady",
        lambda o: ((o or {}).get("status") or {}).get("accounts", {}).get("summary") == "5/5",
        timeout=30,
    )
    await team.wait_status("steady", "UpToDate")
    assert {"dee@example.com", "eve@example.com"} <= set(in_app(scim_app))

    for case in cases:
        obj = await _settled(cluster, case)
        status = obj["status"]
        if case.reason:
            assert status["reason"] == case.reason, f"{case.what}: {status['reason']}: {status['message']}"
        shown = await cluster.announced(case.name, status["status"])
        assert status["status"] in shown, f"{case.what}: no Event for {status['status']}"
        events = await cluster.events_for(case.name)
        assert any(e.type == "Warning" and case.says in e.message for e in events), (
            f"{case.what}: no Warning Event saying {case.says!r}: {[e.message for e in events]}"
        )

    # Not one account of a half-understood spec reached the app: no write at all, only reads.
    assert [(r.method, r.path) for r in target.requests.writes] == []
    assert target.users() == []
    # The missing ConfigMap appears (GitOps tools apply in any order): that Integration carries on.
    await cluster.apply_configmap("nowhere", {"r.csv": "userName\nzoe@example.com\n"})
    await cluster.wait_for(
        "integrations",
        "no-configmap",
        lambda o: ((o or {}).get("status") or {}).get("status") == "UpToDate",
        timeout=30,
    )
    assert "zoe@example.com" in in_app(target)
    assert all(t.is_alive() for t in running), "the operator stopped"
    crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes == [], "a handler failed with an exception"
    return len(cases)


async def test_an_integration_whose_spec_stopped_making_sense_is_still_deprovisioned_on_deletion(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp
) -> None:
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    await operator(FAST)
    await cluster.create_integration("crm", spec_for(scim_app, *people("ann", "ben")))
    await cluster.wait_status("crm", "UpToDate")
    # The API admits userNames equal but for case; the operator cannot act on them.
    await cluster.patch_integration(
        "crm", {"spec": {"accounts": [{"userName": "Cy@example.com"}, {"userName": "cy@EXAMPLE.com"}]}}
    )
    stopped = await cluster.wait_status("crm", "UnderReview")
    assert stopped["status"]["reason"] == "InvalidSpec"

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=30)
    # Deprovisioning needs only the connection and the owner's stamp, not the declared accounts.
    assert {name: user["active"] for name, user in in_app(scim_app).items()} == {
        "ann@example.com": False,
        "ben@example.com": False,
    }
