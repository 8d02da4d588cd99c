"""The demo's examples: the files of `examples/demo/`, with the demo's SCIM URL and token filled in.

As written, the files pass `idlcm check`: their `baseURL` is `PLACEHOLDER_URL` and the Secrets that should
hold the app's token say `PLACEHOLDER_TOKEN` (any other token, such as the wrong one, is kept). The files are
applied in the order of their names, but `NAME-v2.yaml`, a later version of `NAME.yaml`, waits until the
Integrations it declares are `UpToDate` (the deletion-threshold scenario).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import kubernetes.client
import yaml

from idlcm.crds import GROUP, VERSION

NAMESPACE = "idlcm-demo"
PLACEHOLDER_URL = "http://127.0.0.1:8080/scim/v2"
PLACEHOLDER_TOKEN = "set-by-idlcm-demo"
LATER_SUFFIX = "-v2"
# An update is a merge patch of the whole document: a new accounts list replaces the old one.
MERGE_PATCH = "application/merge-patch+json"

Document = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Example:
    """One example file, rendered for this demo."""

    file: str
    documents: tuple[Document, ...]
    later: bool = False
    """A later version: applied once the Integrations it declares are UpToDate."""

    @property
    def integrations(self) -> tuple[str, ...]:
        """Names of the Integrations the file declares."""
        return tuple(d["metadata"]["name"] for d in self.documents if d.get("kind") == "Integration")


def source_dir() -> Path:
    """Where the demo's examples are: bundled in the wheel (`idlcm/_demo_examples`), or `examples/demo/` of
    a source checkout."""
    bundled = Path(__file__).resolve().parents[1] / "_demo_examples"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[3] / "examples" / "demo"


def render(directory: Path, base_url: str, token: str, *, sync_interval: str | None = None) -> list[Example]:
    """Every example of `directory`, in apply order, with the SCIM URL and token (and sync interval) set."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(
            f"no demo examples in {directory} (run from the source tree, or --no-examples)"
        )
    examples = []
    for path in files:
        documents = tuple(
            _filled(d, base_url, token, sync_interval) for d in yaml.safe_load_all(path.read_text()) if d
        )
        examples.append(Example(path.name, documents, later=path.stem.endswith(LATER_SUFFIX)))
    return examples


def _filled(document: Document, base_url: str, token: str, sync_interval: str | None) -> Document:
    if document.get("kind") == "Secret":
        data = document.get("stringData") or {}
        document["stringData"] = {k: token if v == PLACEHOLDER_TOKEN else v for k, v in data.items()}
    elif document.get("kind") == "Integration":
        spec = document.setdefault("spec", {})
        scim = spec.get("connector", {}).get("scim", {})
        if scim.get("baseURL") == PLACEHOLDER_URL:
            scim["baseURL"] = base_url
        if sync_interval is not None:
            spec.setdefault("sync", {})["interval"] = sync_interval
    return document


def write(examples: Iterable[Example], directory: Path) -> None:
    """Write the rendered files (for `kubectl apply -f` by hand)."""
    directory.mkdir(parents=True, exist_ok=True)
    for example in examples:
        (directory / example.file).write_text(yaml.safe_dump_all(example.documents, sort_keys=False))


def apply(api: kubernetes.client.ApiClient, example: Example) -> None:
    """Create each document of the example, or update it where it exists (as `kubectl apply` would)."""
    core = kubernetes.client.CoreV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    for document in example.documents:
        _apply(core, custom, document, example.file)


def _apply(
    core: kubernetes.client.CoreV1Api, custom: kubernetes.client.CustomObjectsApi, doc: Document, file: str
) -> None:
    kind, name = doc["kind"], doc["metadata"]["name"]
    ns = doc["metadata"].get("namespace", NAMESPACE)
    if kind == "Secret":
        _create_or_patch(
            lambda: core.create_namespaced_secret(ns, kubernetes.client.V1Secret.model_validate(doc)),
            lambda: core.patch_namespaced_secret(name, ns, doc, _content_type=MERGE_PATCH),
        )
    elif kind == "ConfigMap":
        _create_or_patch(
            lambda: core.create_namespaced_config_map(ns, kubernetes.client.V1ConfigMap.model_validate(doc)),
            lambda: core.patch_namespaced_config_map(name, ns, doc, _content_type=MERGE_PATCH),
        )
    elif kind == "Integration":
        args = (GROUP, VERSION, ns, "integrations")
        _create_or_patch(
            lambda: custom.create_namespaced_custom_object(*args, doc),
            lambda: custom.patch_namespaced_custom_object(*args, name, doc, _content_type=MERGE_PATCH),
        )
    else:
        raise ValueError(f"{file}: the demo applies no {kind}")


def token_secret(name: str, token: str) -> Example:
    """A Secret holding the app's bearer token under `token`, for Integrations brought by the user."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": {"token": token},
    }
    return Example(file=f"{name} (made by the demo)", documents=(secret,))


def ensure_namespace(api: kubernetes.client.ApiClient, name: str = NAMESPACE) -> None:
    """Create the namespace unless it exists."""
    core = kubernetes.client.CoreV1Api(api)
    namespace = kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    _create_or_patch(lambda: core.create_namespace(namespace), lambda: None)


def _create_or_patch(create: Callable[[], object], patch: Callable[[], object]) -> None:
    try:
        create()
    except kubernetes.client.ApiException as e:
        if e.status != 409:  # 409: it exists
            raise
        patch()
