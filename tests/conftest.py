"""Root fixtures: the embedded Kubernetes API (`devcluster`) and a kubeconfig pointing at it (`kubeconfig`).

With `IDLCM_CONFORMANCE_REAL_CLUSTER=1`, `kubeconfig` is `$KUBECONFIG` (a real cluster) and the tests that
need the devcluster itself are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from idlcm.devcluster import DevCluster, serve_in_thread

# The real SCIM app on loopback (scim_server, scim_app, scim_tls_*, unused_port fixtures), for every folder.
pytest_plugins = ["scimapp"]

REAL_CLUSTER = os.environ.get("IDLCM_CONFORMANCE_REAL_CLUSTER") == "1"


@pytest.fixture
def devcluster() -> Iterator[DevCluster]:
    """A running devcluster in a background thread (so that blocking clients and kubectl can use it)."""
    if REAL_CLUSTER:
        pytest.skip("devcluster-only: IDLCM_CONFORMANCE_REAL_CLUSTER=1 runs against a real cluster")
    with serve_in_thread() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The kubeconfig of the cluster under test: the devcluster's, or `$KUBECONFIG` for a real cluster."""
    if REAL_CLUSTER:
        path = os.environ.get("KUBECONFIG")
        if not path or not Path(path).is_file():
            pytest.skip("IDLCM_CONFORMANCE_REAL_CLUSTER=1 but $KUBECONFIG points at no kubeconfig file")
        return Path(path)
    cluster: DevCluster = request.getfixturevalue("devcluster")
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")
