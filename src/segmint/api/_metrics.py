"""Prometheus metrics of one replica: request latency, events, processing lag."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "segmint_request_seconds",
            "Request latency by route and status",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "segmint_events_total", "Events received, by outcome", ["outcome"], registry=r
        )
        self.changes = Counter(
            "segmint_segment_changes_total", "Segment enters and exits applied inline", registry=r
        )
        self.lag = Histogram(
            "segmint_event_lag_seconds",
            "From an event's time to its being applied or queued",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600),
            registry=r,
        )
        self.stream = Gauge(
            "segmint_stream_entries",
            "Stream entries pending (read, not acked) or waiting",
            ["state"],
            registry=r,
        )
        self.store_errors = Counter(
            "segmint_store_errors_total", "Reads or writes that found a store down", registry=r
        )


class MetricsMiddleware:
    """Times every request under its route template (``/v1/customers/{identifier}``)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            self.metrics.latency.labels(scope["method"], path, str(status["code"])).observe(
                time.perf_counter() - start
            )
