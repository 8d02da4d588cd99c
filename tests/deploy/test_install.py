"""Every install command the README shows works as typed on an empty cluster, checked by rendering: what
`kubectl apply -k` sends, in one request, holds no object of a kind whose CRD comes in the same request (the
API server answers `no matches for kind ... ensure CRDs are installed first` until that CRD is established),
and `kubectl apply -f` is never pointed at a folder holding a kustomization (kubectl reads it as one)."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess

import pytest
import yaml

from deploy.conftest import ROOT, TARGETS, Document, render
from idlcm.cli import main

README = ROOT / "README.md"

# What the README may show, each with how it is checked; a new form fails until it is added here.
APPLY_K = re.compile(r"^kubectl apply -k (\S+)$")
APPLY_F = re.compile(r"^kubectl apply -f (\S+)$")
FROM_IDLCM = "idlcm crds | kubectl apply -f -"


def readme_commands() -> list[str]:
    """Every `kubectl apply` command of the README: inline code spans and lines of code blocks."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if "kubectl apply" in command:
                commands.append(command)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        command = " ".join(span.split())  # a span may wrap over two lines
        if command in ("kubectl apply", "kubectl apply -f", "kubectl apply -k"):
            continue  # the verb named in a sentence, not a command to type
        if command.startswith("kubectl apply") or command.startswith("idlcm crds |"):
            commands.append(command)
    return commands


def render_dir(path: str) -> list[Document]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path}:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def same_request_hazards(documents: list[Document]) -> list[str]:
    """The objects of a kind that a CRD among the same documents defines."""
    defined = set()
    for doc in documents:
        if doc["kind"] == "CustomResourceDefinition":
            spec = doc["spec"]
            for version in spec["versions"]:
                defined.add((f"{spec['group']}/{version['name']}", spec["names"]["kind"]))
    return [
        f"{d['kind']}/{d['metadata']['name']}" for d in documents if (d["apiVersion"], d["kind"]) in defined
    ]


def test_the_readme_shows_the_install_commands_checked_here() -> None:
    commands = readme_commands()
    assert FROM_IDLCM in commands
    assert "kubectl apply -k manifests/" in commands
    assert "kubectl apply -k manifests/overlays/namespaced/" in commands
    for command in commands:
        assert command == FROM_IDLCM or APPLY_K.match(command) or APPLY_F.match(command), command


@pytest.mark.parametrize("command", sorted(set(readme_commands())))
def test_each_readme_install_command_works_in_one_go(command: str) -> None:
    if command == FROM_IDLCM:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["crds"]) == 0
        documents = [d for d in yaml.safe_load_all(out.getvalue()) if d]
        assert {d["kind"] for d in documents} == {"CustomResourceDefinition"}
        assert documents == render_dir("crds"), "idlcm crds and crds/ differ"
        return
    if match := APPLY_K.match(command):
        documents = render_dir(match[1])
        assert documents, command
        assert same_request_hazards(documents) == [], f"{command}: applied before their CRD is established"
        return
    match = APPLY_F.match(command)
    assert match, command
    path = ROOT / match[1]
    assert path.exists(), command
    if path.is_dir():
        assert not (path / "kustomization.yaml").exists(), f"{command}: a kustomization folder needs -k"


def test_no_kustomization_applies_an_object_with_its_crd(target: str) -> None:
    assert same_request_hazards(render(target)) == [], f"{TARGETS[target]}"


def test_the_hazard_check_sees_an_object_applied_with_its_crd() -> None:
    crd = render_dir("manifests/base")
    peering = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "idlcm"}}
    assert same_request_hazards([*crd, peering]) == ["ClusterKopfPeering/idlcm"]
