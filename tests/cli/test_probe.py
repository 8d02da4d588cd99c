"""`idlcm probe`: the read-only checks of an app from a laptop, its profile printed, never a write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes.client
import kubernetes.config
import pytest

from idlcm.cli import main
from scimapp import ScimApp

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
HTML_404 = {"status": 404, "body": "<html>Not Found</html>", "content_type": "text/html"}


def _probe(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["probe", *arguments])
    out, err = capsys.readouterr()
    return code, out, err


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n")
    return str(path)


def _only_reads(app: ScimApp) -> None:
    """The app received no POST, PUT, PATCH or DELETE (a token request is not to the app's SCIM API)."""
    assert app.requests.writes == []
    assert {r.method for r in app.requests if not r.path.startswith("/oauth")} == {"GET"}


def test_probe_of_a_healthy_app_prints_its_profile_and_writes_nothing(
    tmp_path: Path, scim_app: ScimApp
) -> None:
    token = _file(tmp_path, "token", scim_app.token)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "idlcm.cli",
            "probe",
            "--url",
            scim_app.base_url,
            "--token-file",
            token,
            "--insecure",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "authentication  Passed",
        "listing         Passed",
        "PATCH yes, Bulk yes, filter yes, ETag yes; page size 1000",
        "creates         Bulk, up to 1000 operations a request",
        "user changes    PATCH with If-Match (ETags)",
        "a probe never writes",
        "Result: passed",
    ):
        assert line in result.stdout, line
    assert scim_app.token not in result.stdout + result.stderr
    _only_reads(scim_app)


def test_a_refused_token_exits_1_naming_the_check_and_never_the_token(
    tmp_path: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-token-" + "7" * 20
    code, out, err = _probe(
        capsys, "--url", scim_app.base_url, "--token-file", _file(tmp_path, "t", wrong), "--insecure"
    )

    assert code == 1
    assert "Result: FAILED: check authentication failed" in out
    assert wrong not in out + err
    _only_reads(scim_app)


def test_oauth2_client_credentials_ask_a_token_and_never_print_the_secret(
    tmp_path: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = _file(tmp_path, "secret", scim_app.oauth.client_secret)
    code, out, err = _probe(
        capsys,
        "--url",
        scim_app.base_url,
        "--token-url",
        scim_app.token_url,
        "--client-id",
        scim_app.oauth.client_id,
        "--client-secret-file",
        secret,
        "--insecure",
    )

    assert code == 0, out + err
    assert "token endpoint issued a token the app accepts" in out
    assert scim_app.oauth.client_secret not in out + err
    assert scim_app.oauth.issued >= 1
    _only_reads(scim_app)


def test_basic_credentials_and_json_output(
    tmp_path: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    password = _file(tmp_path, "password", scim_app.basic_password)
    code, out, _ = _probe(
        capsys,
        "--url",
        scim_app.base_url,
        "--basic-user",
        scim_app.basic_username,
        "--basic-password-file",
        password,
        "--insecure",
        "--json",
    )

    assert code == 0
    profile = json.loads(out)
    assert profile["result"] == "Passed"
    assert {c["name"]: c["result"] for c in profile["checks"]}["authentication"] == "Passed"
    assert profile["capabilities"]["bulk"] is True
    assert profile["methods"]["lookups"] == "a userName/externalId `eq` filter"
    assert profile["notChecked"][0].startswith("writes: a probe never writes")
    assert scim_app.basic_password not in out
    _only_reads(scim_app)


def test_an_app_that_conforms_less_passes_with_its_warnings_and_what_was_assumed(
    tmp_path: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    scim_app.faults.arm(**HTML_404, times=None, path_prefix="/Schemas")
    scim_app.faults.arm(**HTML_404, times=None, path_prefix="/ServiceProviderConfig")
    token = _file(tmp_path, "token", scim_app.token)

    code, out, _ = _probe(capsys, "--url", scim_app.base_url, "--token-file", token, "--insecure")

    assert code == 0, out
    warnings = out.split("Warnings (non-conformance provisioning does not depend on)")[1].split(
        "Not checked"
    )[0]
    assert "publishes no /Schemas: RFC 7643's core schemas assumed" in warnings
    assert "no ServiceProviderConfig: assumed the conservative choices (no Bulk" in warnings
    assert "creates         one POST per account" in out
    assert "Result: passed with " in out
    _only_reads(scim_app)


def test_without_an_integration_only_what_idlcm_always_writes_must_be_stored(
    tmp_path: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    # An app whose Users have no Enterprise extension: no department, which no spec has asked for yet.
    scim_app.faults.arm(
        200,
        times=None,
        path_prefix="/ResourceTypes",
        methods={"GET"},
        body=json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 2,
                "Resources": [
                    {"id": "User", "name": "User", "endpoint": "/Users", "schema": CORE_USER},
                    {"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": CORE_GROUP},
                ],
            }
        ),
    )
    token = _file(tmp_path, "token", scim_app.token)

    code, out, _ = _probe(capsys, "--url", scim_app.base_url, "--token-file", token, "--insecure", "--json")

    assert code == 0, out
    profile = json.loads(out)
    assert profile["result"] == "Passed"
    assert profile["attributes"]["department"].startswith("no: the app's Users lack the Enterprise extension")
    assert {k: v for k, v in profile["attributes"].items() if k != "department"} == {
        name: "yes" for name in ("display_name", "email", "family_name", "given_name", "groups", "title")
    }
    _only_reads(scim_app)


def test_an_unavailable_app_exits_1(
    tmp_path: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    scim_app.faults.arm(503, times=None, path_prefix="/Users")
    token = _file(tmp_path, "token", scim_app.token)

    code, out, _ = _probe(capsys, "--url", scim_app.base_url, "--token-file", token, "--insecure")

    assert code == 1
    assert "check listing failed" in out
    _only_reads(scim_app)


def test_an_unreachable_app_exits_1_and_lists_what_was_not_checked(
    tmp_path: Path, unused_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _file(tmp_path, "token", "t0ken-abcdef")

    code, out, _ = _probe(
        capsys, "--url", f"http://127.0.0.1:{unused_port}/v2", "--token-file", token, "--insecure"
    )

    assert code == 1
    assert "connectivity    Failed" in out
    for name in ("tls", "authentication", "listing", "discovery", "schema", "capabilities"):
        assert f"  - {name}: not run" in out, name


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "name the app: --url URL"),
        (["--url", "http://127.0.0.1:9/v2", "--token-file", "{token}"], "plain HTTP"),
        (["--url", "https://127.0.0.1:9/v2"], "give one way to authenticate"),
        (["--url", "https://127.0.0.1:9/v2", "--token-file", "{missing}"], "cannot be read"),
        (["--url", "https://127.0.0.1:9/v2", "--basic-user", "u"], "needs both"),
        (["--from", "no-slash"], "expected NAMESPACE/INTEGRATION"),
    ],
)
def test_an_unusable_command_line_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    token = _file(tmp_path, "token", "t0ken-abcdef")
    filled = [a.format(token=token, missing=str(tmp_path / "nope")) for a in arguments]

    code, out, err = _probe(capsys, *filled)

    assert code == 1
    assert message in err
    assert out == ""
    assert "t0ken-abcdef" not in err


def test_from_an_integration_uses_its_own_secret_through_the_kubeconfig(
    kubeconfig: Path, scim_app: ScimApp, capsys: pytest.CaptureFixture[str]
) -> None:
    client = kubernetes.config.new_client_from_config(str(kubeconfig))
    try:
        kubernetes.client.CoreV1Api(client).create_namespaced_secret(
            "default",
            {"metadata": {"name": "acme-token"}, "stringData": {"token": scim_app.token}},
        )
        kubernetes.client.CustomObjectsApi(client).create_namespaced_custom_object(
            "idlcm.io",
            "v1alpha1",
            "default",
            "integrations",
            {
                "apiVersion": "idlcm.io/v1alpha1",
                "kind": "Integration",
                "metadata": {"name": "crm-sales"},
                "spec": {
                    "app": "acme-crm",
                    "connector": {
                        "scim": {
                            "baseURL": scim_app.base_url,
                            "auth": {"bearerToken": {"secretRef": {"name": "acme-token"}}},
                            "tls": {"insecure": True},
                        }
                    },
                    "accounts": [{"userName": "alice@example.com", "title": "Engineer"}],
                },
            },
        )
    finally:
        client.close()

    code, out, err = _probe(capsys, "--from", "default/crm-sales", "--kubeconfig", str(kubeconfig))
    missing = _probe(capsys, "--from", "default/nobody", "--kubeconfig", str(kubeconfig))

    assert code == 0, out + err
    assert "Result: passed" in out
    assert "title" in out  # the attributes the Integration maps were checked
    assert "department" not in out  # and only those
    assert scim_app.token not in out + err
    assert missing[0] == 1
    assert "Integration default/nobody not found" in missing[2]
    _only_reads(scim_app)
