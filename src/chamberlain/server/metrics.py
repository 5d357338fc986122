"""Prometheus metrics: decisions by effect and resource kind, request latency, policy reloads."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """One registry per server (tests run several in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter("chamberlain_decisions", "Decisions per action, by effect and resource kind.",
                                 ["effect", "kind"], registry=self.registry)  # fmt: skip
        self.requests = Counter("chamberlain_http_requests", "HTTP requests by endpoint and status code.",
                                ["endpoint", "code"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("chamberlain_request_duration_seconds", "Time to answer a request, by endpoint.",
                                 ["endpoint"], buckets=_LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.reloads = Counter("chamberlain_policy_reloads", "Policy reloads by result (success or failure).",
                               ["result"], registry=self.registry)  # fmt: skip
        self.stale = Gauge("chamberlain_policy_stale", "1 when the last policy reload failed and an older set is serving.",
                           registry=self.registry)  # fmt: skip
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self._child(self.requests, endpoint, str(status)).inc()
        self._child(self.latency, endpoint).observe(seconds)

    def observe_decisions(self, response: dict[str, Any]) -> None:
        """Count every action's effect in a CheckResources response."""
        for result in response.get("results", ()):
            kind = result["resource"].get("kind", "")
            for effect in result["actions"].values():
                self._child(self.decisions, effect, kind).inc()

    def observe_reload(self, ok: bool) -> None:
        self._child(self.reloads, "success" if ok else "failure").inc()
        self.stale.set(0 if ok else 1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
