"""Scraping the operator's `/metrics` endpoint, as Prometheus does."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families

from idlcm.metrics import Metrics
from lifecycle import conftest as lifecycle
from lifecycle.conftest import FAST, Cluster, OperatorFactory
from scimapp import ScimApp

# The lifecycle tests' real parts: the embedded API, a namespace of one's own, the operator in its thread.
embedded = lifecycle.embedded
cluster = lifecycle.cluster
operator = lifecycle.operator


class Samples:
    """One scrape: every sample with its labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._samples = [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def value(self, metric: str, /, **labels: str) -> float:
        """The sum of the samples of `metric` whose labels include `labels` (0 when there is none)."""
        return sum(v for n, found, v in self._samples if n == metric and _within(labels, found))

    def series(self, metric: str) -> list[dict[str, str]]:
        """The label sets of the samples of `metric`."""
        return [dict(found) for n, found, _ in self._samples if n == metric]


def _within(wanted: Mapping[str, str], found: Mapping[str, str]) -> bool:
    return all(found.get(k) == v for k, v in wanted.items())


async def scrape(metrics: Metrics) -> Samples:
    """GET /metrics from the operator's endpoint."""
    url = f"http://127.0.0.1:{metrics.port}/metrics"

    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    return Samples(await asyncio.to_thread(get))


async def scrape_until(metrics: Metrics, check: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """Scrape until `check` holds (the story counts an operation right after its last status write)."""
    deadline = time.monotonic() + timeout
    samples = await scrape(metrics)
    while not check(samples):
        if time.monotonic() > deadline:
            pytest.fail(f"the metrics never matched; last scrape:\n{samples.text}")
        await asyncio.sleep(0.05)
        samples = await scrape(metrics)
    return samples


@pytest.fixture
async def metrics(cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp) -> Metrics:
    """A running operator serving its metrics on a free port (`metrics.port`), with the app's token stored."""
    await cluster.create_secret("acme-token", {"token": scim_app.token})
    found = Metrics()
    await operator(FAST, metrics=found, metrics_port=0)
    assert found.port
    return found
