"""Prometheus metrics of one process, on a registry of their own so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route name, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route name and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "auth_failures_total",
            "Requests refused by authentication, by reason",
            ["reason"],
            registry=self.registry,
        )
        # labels() resolves a child under a lock; cache children on the hot path.
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[tuple[str, str], Histogram] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        latency = self._latency_children.get((route, method))
        if latency is None:
            latency = self._latency_children[(route, method)] = self.latency.labels(route, method)
        latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
