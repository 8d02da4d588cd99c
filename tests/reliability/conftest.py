"""Shared by the reliability suites (issue 7): the `soak` marker.

A test marked `@pytest.mark.soak` is a long run with figures to print (thousands of accounts, many kill
points): it is skipped in `make test` and runs with `IDLCM_SOAK=1`, which `make soak` sets. The fast
variants of the same scenarios stay unmarked, in `make test`.
"""

from __future__ import annotations

import os

import pytest

SOAK = os.environ.get("IDLCM_SOAK") == "1"
"""Whether this is a soak run (`make soak`): long scenarios at full size."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: a long run for `make soak` (IDLCM_SOAK=1), skipped otherwise")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="soak run only: `make soak` (IDLCM_SOAK=1)")
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)
