"""Prometheus metrics of the operator, on a registry of its own (built once at startup and handed around).

Label values are bounded vocabularies only: item names, phases, action types, reasons, HTTP status codes and
connection names — never request names, user input or secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import __version__

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BREAKER_STATES = ("closed", "open", "half_open")


class _RequestsByPhase(Collector):
    def __init__(self, source: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "orchestrator_service_requests",
            "ServiceRequests by catalog item and phase",
            labels=["item", "phase"],
        )
        for (item, phase), count in sorted(self._source().items()):
            family.add_metric([item, phase], count)
        yield family


class _CatalogItemsByState(Collector):
    def __init__(self, source: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "orchestrator_catalog_objects",
            "CatalogItems and CatalogBundles in the cluster by kind and state (Ready, NotReady)",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(self._source().items()):
            family.add_metric([kind, state], count)
        yield family


class Metrics:
    """The operator's metrics. One instance per process; tests build their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.reconcile_duration = Histogram(
            "orchestrator_reconcile_duration_seconds",
            "Time spent in one reconcile of a kind",
            ["kind"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.action_duration = Histogram(
            "orchestrator_action_duration_seconds",
            "Time from an action's start to its end state",
            ["type", "state"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.action_failures = Counter(
            "orchestrator_action_failures",
            "Action failures by action type and reason (temporary ones included)",
            ["type", "reason"],
            registry=self.registry,
        )
        self.jira_calls = Counter(
            "orchestrator_jira_calls",
            "Calls to JIRA by connection, operation and HTTP status code ('error' when no response came back)",
            ["connection", "operation", "code"],
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "orchestrator_circuit_breaker_state",
            "Circuit breaker state per external connection (1 for the current state)",
            ["system", "connection", "state"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "orchestrator_service_request_transitions",
            "ServiceRequest phase transitions",
            ["item", "phase"],
            registry=self.registry,
        )
        self.event_loop_lag = Histogram(
            "orchestrator_event_loop_lag_seconds",
            "How late the operator's event loop ran a timer scheduled for now",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.event_loop_lag_max = Gauge(
            "orchestrator_event_loop_lag_max_seconds",
            "Largest event-loop lag seen since the process started",
            registry=self.registry,
        )
        self.catalog_sync_duration = Histogram(
            "orchestrator_catalog_sync_duration_seconds",
            "Time of one CatalogSource sync (read, validate, apply) by result",
            ["source", "result"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.catalog_sync_errors = Counter(
            "orchestrator_catalog_sync_errors",
            "Failed CatalogSource syncs by reason (InvalidRevision, NameConflict, SourceUnavailable, ...)",
            ["source", "reason"],
            registry=self.registry,
        )
        self.catalog_sync_writes = Counter(
            "orchestrator_catalog_sync_writes",
            "API writes made by catalog sync, by operation (create, update, prune)",
            ["source", "operation"],
            registry=self.registry,
        )
        self.catalog_revision = Gauge(
            "orchestrator_catalog_revision_info",
            "The revision a CatalogSource last applied (value 1) and last attempted",
            ["source", "revision", "state"],
            registry=self.registry,
        )
        self.terraform_runs = Counter(
            "orchestrator_terraform_runs",
            "Terraform runs by operation (plan, apply, plan-apply, destroy, drift), runner and result",
            ["operation", "runner", "result"],
            registry=self.registry,
        )
        self.terraform_run_duration = Histogram(
            "orchestrator_terraform_run_duration_seconds",
            "Duration of one Terraform run (init included) by operation and runner",
            ["operation", "runner"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.terraform_drift = Counter(
            "orchestrator_terraform_drift_detected",
            "Drift plans that found changes made outside the operator, by catalog item",
            ["item"],
            registry=self.registry,
        )
        self.build_info = Gauge(
            "orchestrator_build_info",
            "The running operator's version (value 1); devctl version reads it",
            ["version"],
            registry=self.registry,
        )
        self.build_info.labels(__version__).set(1)
        self._revisions: dict[tuple[str, str], str] = {}
        self.max_lag = 0.0
        self._catalog_states: Callable[[], Mapping[tuple[str, str], int]] = dict
        self.registry.register(_CatalogItemsByState(lambda: self._catalog_states()))
        self._by_phase: Callable[[], Mapping[tuple[str, str], int]] = dict
        self.registry.register(_RequestsByPhase(lambda: self._by_phase()))

    def count_requests_with(self, source: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        """Where the requests-by-phase gauge reads its figures from at scrape time."""
        self._by_phase = source

    def count_catalog_objects_with(self, source: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        """Where the catalog-objects-by-state gauge reads its figures from at scrape time."""
        self._catalog_states = source

    def set_revision(self, source: str, state: str, revision: str) -> None:
        """One series per (source, state): the previous revision's series is removed."""
        previous = self._revisions.get((source, state))
        if previous == revision:
            return
        if previous is not None:
            self.catalog_revision.remove(source, previous, state)
        self.catalog_revision.labels(source, revision, state).set(1)
        self._revisions[(source, state)] = revision

    def set_breaker(self, system: str, connection: str, state: str) -> None:
        for candidate in BREAKER_STATES:
            self.breaker_state.labels(system, connection, candidate).set(1 if candidate == state else 0)

    def observe_lag(self, seconds: float) -> None:
        self.event_loop_lag.observe(seconds)
        if seconds > self.max_lag:
            self.max_lag = seconds
            self.event_loop_lag_max.set(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
