"""Prometheus metrics of one process, on a registry of their own so several apps can live in one process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CREATION_MS_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2, "throttled": 3}


class _LiveCollector(Collector):
    """Gauges read at scrape time: agent cache ages and circuit breaker states."""

    def __init__(
        self,
        ages: Callable[[], Iterable[tuple[str, float]]],
        breakers: Callable[[], Iterable[dict[str, Any]]],
    ) -> None:
        self._ages = ages
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        ages = GaugeMetricFamily(
            "facebook_agent_cache_age_seconds", "Age of each cached Facebook agent", labels=["account_id"]
        )
        for account_id, age in self._ages():
            ages.add_metric([account_id], age)
        yield ages
        states = GaugeMetricFamily(
            "circuit_breaker_state",
            "Circuit breaker state per upstream and account: 0 closed, 1 half-open, 2 open, 3 throttled",
            labels=["breaker"],
        )
        for snapshot in self._breakers():
            states.add_metric([snapshot["name"]], BREAKER_STATE_VALUES.get(str(snapshot["state"]), 2))
        yield states


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
        self.agent_creation_ms = Histogram(
            "facebook_agent_creation_time_ms",
            "Time to create a Facebook agent (token and account validated with a Graph call), milliseconds",
            buckets=CREATION_MS_BUCKETS,
            registry=self.registry,
        )
        self.agent_hits = Counter(
            "facebook_agent_cache_hits", "Agent cache hits", ["account_id"], registry=self.registry
        )
        self.agent_misses = Counter(
            "facebook_agent_cache_misses", "Agent cache misses", ["account_id"], registry=self.registry
        )
        # labels() resolves a child under a lock; cache children on the hot path.
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[tuple[str, str], Histogram] = {}
        self._hit_children: dict[str, Counter] = {}
        self._miss_children: dict[str, Counter] = {}

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

    def on_hit(self, key: str) -> None:
        child = self._hit_children.get(key)
        if child is None:
            child = self._hit_children[key] = self.agent_hits.labels(key)
        child.inc()

    def on_miss(self, key: str) -> None:
        child = self._miss_children.get(key)
        if child is None:
            child = self._miss_children[key] = self.agent_misses.labels(key)
        child.inc()

    def on_creation(self, key: str, milliseconds: float) -> None:
        self.agent_creation_ms.observe(milliseconds)

    def watch(
        self,
        *,
        ages: Callable[[], Iterable[tuple[str, float]]],
        breakers: Callable[[], Iterable[dict[str, Any]]],
    ) -> None:
        self.registry.register(_LiveCollector(ages, breakers))

    def render(self) -> bytes:
        return generate_latest(self.registry)
