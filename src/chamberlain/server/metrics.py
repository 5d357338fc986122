"""Prometheus metrics: decisions by effect and resource kind, request latency, policy reloads, decision log."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chamberlain.cel.budget import EVALUATION_TIMEOUT

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """One registry per server (tests run several in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "chamberlain_decisions",
            "Decisions per action, by effect and resource kind.",
            ["effect", "kind"],
            registry=self.registry,
        )
        self.requests = Counter(
            "chamberlain_http_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "chamberlain_request_duration_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reloads = Counter(
            "chamberlain_policy_reloads",
            "Policy reloads by result (success or failure).",
            ["result"],
            registry=self.registry,
        )
        self.stale = Gauge(
            "chamberlain_policy_stale",
            "1 when the last policy reload failed and an older set is serving.",
            registry=self.registry,
        )
        self.log_denials = Counter(
            "chamberlain_audit_denied_checks",
            "Checks whose every action was denied because the decision log could not record them.",
            registry=self.registry,
        )
        self.moved = Counter(
            "chamberlain_checks_moved_to_worker",
            "Checks moved off the event loop to a worker thread (reason: large body, slow: past eventLoopSlice, "
            "session: it may charge a session in a database transaction).",
            ["reason"],
            registry=self.registry,
        )
        self.timeouts = Counter(
            "chamberlain_evaluation_timeouts",
            "Actions denied because their check ran past chamberlain.limits.evaluationTimeout.",
            registry=self.registry,
        )
        self.tls_reloads = Counter(
            "chamberlain_tls_reloads",
            "TLS certificate reloads by result (success or failure).",
            ["result"],
            registry=self.registry,
        )
        self.admin_auth = Counter(
            "chamberlain_admin_authentications",
            "Admin API sign-ins by scheme (basic, jwt) and result (cached, verified, failed, limited).",
            ["via", "result"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_admin_auth(self, via: str, result: str) -> None:
        """An admin sign-in: ``via`` basic or jwt; ``result`` cached, verified, failed or limited."""
        self._child(self.admin_auth, via, result).inc()

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self._child(self.requests, endpoint, str(status)).inc()
        self._child(self.latency, endpoint).observe(seconds)

    def observe_decisions(self, response: dict[str, Any]) -> None:
        """Count every action's effect in a CheckResources response."""
        for result in response.get("results", ()):
            kind = result["resource"].get("kind", "")
            for effect in result["actions"].values():
                self._child(self.decisions, effect, kind).inc()

    def observe_moved_to_worker(self, reason: str) -> None:
        self._child(self.moved, reason).inc()

    def observe_timeouts(self, outputs: Any) -> None:
        """Count the actions of ``outputs`` (CheckOutputs) the evaluation budget denied."""
        for out in outputs:
            for effect in out.actions.values():
                if effect.policy == EVALUATION_TIMEOUT:
                    self.timeouts.inc()

    def observe_tls_reload(self, ok: bool) -> None:
        self._child(self.tls_reloads, "success" if ok else "failure").inc()

    def observe_log_denial(self) -> None:
        self.log_denials.inc()

    def observe_reload(self, ok: bool) -> None:
        self._child(self.reloads, "success" if ok else "failure").inc()
        self.stale.set(0 if ok else 1)

    def watch_log(self, log: Any) -> None:
        """Export the decision log's counters (read at scrape time)."""
        self.registry.register(_DecisionLogCollector(log))

    def render(self) -> bytes:
        return generate_latest(self.registry)


_LOG_COUNTERS = (
    ("entries_written", "chamberlain_audit_entries_written", "Decision log entries written."),
    (
        "entries_failed",
        "chamberlain_audit_entries_failed",
        "Decision log entries that could not be written (sync: their decisions were denied).",
    ),
    (
        "batches",
        "chamberlain_audit_batches",
        "Decision log batches written (or sent to the writer process): entries written per batch is the "
        "group commit's batch size.",
    ),
    ("write_errors", "chamberlain_audit_write_errors", "Failed decision log transactions."),
    (
        "overflow_blocked",
        "chamberlain_audit_queue_overflow_blocked",
        "Async submissions that found the queue full and waited for room.",
    ),
    (
        "overflow_denied",
        "chamberlain_audit_queue_overflow_denied",
        "Async submissions denied because the queue stayed full.",
    ),
    ("heads_signed", "chamberlain_audit_heads_signed", "Tree heads signed by this process."),
    ("outages", "chamberlain_audit_outages", "Times the decision log's store became unavailable."),
    (
        "refused",
        "chamberlain_audit_refused_submissions",
        "Submissions refused at once while the decision log's store was unavailable (their checks were denied).",
    ),
)


class _DecisionLogCollector:
    def __init__(self, log: Any):
        self.log = log

    def collect(self) -> Any:
        stats = self.log.stats()
        for key, name, doc in _LOG_COUNTERS:
            yield CounterMetricFamily(name, doc, value=stats[key])
        yield GaugeMetricFamily(
            "chamberlain_audit_queue_depth",
            "Decision log entries waiting to be written.",
            value=stats["queue_depth"],
        )
        yield GaugeMetricFamily(
            "chamberlain_audit_sequencer",
            "1 while this process sequences the decision log.",
            value=1 if stats["is_sequencer"] else 0,
        )
        exported = CounterMetricFamily(
            "chamberlain_audit_export_records",
            "Decision log records delivered by an exporter.",
            labels=["exporter"],
        )
        failures = CounterMetricFamily(
            "chamberlain_audit_export_failures",
            "Export batches not delivered (retried).",
            labels=["exporter"],
        )
        rejected = CounterMetricFamily(
            "chamberlain_audit_export_rejected",
            "Records a collector rejected in a partial success.",
            labels=["exporter"],
        )
        lag = GaugeMetricFamily(
            "chamberlain_audit_export_lag_entries",
            "Entries in the log an exporter has not delivered.",
            labels=["exporter"],
        )
        for name, e in stats.get("exporters", {}).items():
            exported.add_metric([name], e.exported)
            failures.add_metric([name], e.failures)
            rejected.add_metric([name], e.rejected)
            lag.add_metric([name], e.lag)
        yield from (exported, failures, rejected, lag)
        yield GaugeMetricFamily(
            "chamberlain_audit_log_up",
            "1 while the decision log's store takes writes, 0 during an outage.",
            value=1 if stats["available"] else 0,
        )
