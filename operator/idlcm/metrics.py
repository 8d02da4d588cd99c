"""Prometheus metrics of one operator, on a registry of its own, and the `/metrics` endpoint serving them.

A registry of its own, not prometheus-client's global one, so that several operators in one process (tests)
never share or collide. Labels stay bounded: per Integration only for its status, per app for outbound
requests, never per account.
"""

from __future__ import annotations

import threading
import wsgiref.simple_server
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from idlcm.connectors.transport import RequestObserver
from idlcm.states import Status

_OPERATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_VALIDATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class MetricsPortError(Exception):
    """`/metrics` cannot be served on the port asked for (in use, or not allowed)."""


class Metrics:
    """idlcm's metrics: what the reconcile story, the Reporter and the connectors' transport tell it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._statuses = _Statuses()
        self.registry.register(self._statuses)
        self.operations = Counter(
            "idlcm_operations",
            "Security operations run, by type (Provision, Update, Sync) and result (Succeeded, "
            "PartiallyFailed, Failed, Retrying).",
            ["type", "result"],
            registry=self.registry,
        )
        self.operation_duration = Histogram(
            "idlcm_operation_duration_seconds",
            "How long a security operation took, from listing the app's accounts to the last write.",
            ["type"],
            buckets=_OPERATION_BUCKETS,
            registry=self.registry,
        )
        self.validations = Counter(
            "idlcm_validations",
            "Validation runs, by scope (app: the app's first validation; integration: its own check) and "
            "result (Passed, Failed, NeedsReview).",
            ["scope", "result"],
            registry=self.registry,
        )
        self.validation_duration = Histogram(
            "idlcm_validation_duration_seconds",
            "How long a validation run took, by scope (app, integration).",
            ["scope"],
            buckets=_VALIDATION_BUCKETS,
            registry=self.registry,
        )
        self.accounts = Counter(
            "idlcm_accounts",
            "Accounts handled by security operations, by operation type and outcome (created, updated, "
            "adopted, deactivated, deleted, unchanged, failed).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "idlcm_retries",
            "Retries scheduled, by operation (Validate, Provision, Update, Sync).",
            ["operation"],
            registry=self.registry,
        )
        self.requests = Counter(
            "idlcm_outbound_requests",
            "HTTP requests sent to apps, by namespace, app, method and code (the HTTP status, or 'error' "
            "when no answer came).",
            ["namespace", "app", "method", "code"],
            registry=self.registry,
        )
        self.rate_limit_wait = Histogram(
            "idlcm_rate_limit_wait_seconds",
            "How long each outbound request waited for the app's rate limit (rateLimit) before it was sent.",
            ["namespace", "app"],
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self._server: tuple[wsgiref.simple_server.WSGIServer, threading.Thread] | None = None

    # -- what the operator tells

    def integration_status(self, namespace: str, name: str, status: str) -> None:
        """The Integration is in this state now."""
        self._statuses.set(namespace, name, status)

    def integration_gone(self, namespace: str, name: str) -> None:
        """The Integration was deleted: drop its series."""
        self._statuses.drop(namespace, name)

    def operation_done(
        self, type: str, result: str, seconds: float, accounts: Mapping[str, int] | None = None
    ) -> None:
        """A security operation ended with this result, after `seconds`, with these account counts."""
        self.operations.labels(type, result).inc()
        self.operation_duration.labels(type).observe(seconds)
        for outcome, count in (accounts or {}).items():
            if count:
                self.accounts.labels(type, outcome).inc(count)

    def validation_done(self, scope: str, result: str, seconds: float) -> None:
        """A validation run (scope `app` or `integration`) ended with this result, after `seconds`."""
        self.validations.labels(scope, result).inc()
        self.validation_duration.labels(scope).observe(seconds)

    def retry_scheduled(self, operation: str) -> None:
        """A retry of this operation (Validate, Provision, ...) was scheduled."""
        self.retries.labels(operation).inc()

    def outbound(self, namespace: str, app: str) -> RequestObserver:
        """What the transport of this app's connector tells of each request it sends."""
        wait = self.rate_limit_wait.labels(namespace, app)

        def observe(method: str, code: str, waited: float) -> None:
            self.requests.labels(namespace, app, method, code).inc()
            wait.observe(waited)

        return observe

    # -- the endpoint

    @property
    def port(self) -> int | None:
        """The port `/metrics` is served on, while it is."""
        return self._server[0].server_port if self._server is not None else None

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve `/metrics` from a thread of its own (port 0: any free port); returns the port.

        Every interface by default: Prometheus scrapes the pod from outside."""
        if self._server is None:
            try:
                self._server = start_http_server(port, addr=host, registry=self.registry)
            except OSError as e:
                raise MetricsPortError(f"cannot serve metrics on {host}:{port}: {e.strerror or e}") from None
        return self._server[0].server_port

    def stop(self) -> None:
        """Stop serving and release the port (at operator shutdown)."""
        if self._server is None:
            return
        server, thread = self._server
        self._server = None
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Statuses:
    """The state of each Integration, collected at scrape time: one series per Integration, and counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes come from the server's thread
        self._by_integration: dict[tuple[str, str], str] = {}

    def set(self, namespace: str, name: str, status: str) -> None:
        with self._lock:
            self._by_integration[namespace, name] = status

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            self._by_integration.pop((namespace, name), None)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            current = dict(self._by_integration)
        each = GaugeMetricFamily(
            "idlcm_integration_status",
            "1 for the state (status.status) each Integration is in.",
            labels=["namespace", "name", "status"],
        )
        for (namespace, name), status in sorted(current.items()):
            each.add_metric([namespace, name, status], 1)
        counts = GaugeMetricFamily(
            "idlcm_integrations", "Integrations per state (status.status).", labels=["status"]
        )
        for state in Status:
            counts.add_metric([state.value], sum(s == state.value for s in current.values()))
        yield each
        yield counts
