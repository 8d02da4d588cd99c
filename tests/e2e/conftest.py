"""The e2e suite runs against a real cluster prepared by tests/e2e/run.sh (`make e2e`): the operator deployed
from manifests/ and the SCIM test app as a pod. Without IDLCM_E2E_KUBECONFIG every test here is skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest

from e2e.cluster import Namespace, Scim, api_client, namespace_for_test

HERE = Path(__file__).resolve().parent
KUBECONFIG = os.environ.get("IDLCM_E2E_KUBECONFIG")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KUBECONFIG:
        return
    skip = pytest.mark.skip(reason="e2e against a kind cluster: run `make e2e` (needs Docker and kind)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def api() -> Iterator[kubernetes.client.ApiClient]:
    """A client of the e2e cluster."""
    assert KUBECONFIG is not None
    client = api_client(KUBECONFIG)
    yield client
    client.close()


@pytest.fixture
def scim() -> Scim:
    """The in-cluster SCIM app, reset: fresh storage, credentials and faults."""
    assert KUBECONFIG is not None
    app = Scim(KUBECONFIG)
    app.reset()
    return app


@pytest.fixture
def ns(api: kubernetes.client.ApiClient) -> Iterator[Namespace]:
    """A fresh namespace for the test's Integrations, Secrets and ExternalApps."""
    yield from namespace_for_test(api)
