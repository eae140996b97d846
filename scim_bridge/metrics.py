"""Prometheus metrics, on a registry of the app's own (no process-global collectors)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from scim_bridge.store.models import OutboxRow, utcnow


class Metrics:
    def __init__(self, engine: sa.Engine | None = None):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scim_bridge_requests", "SCIM requests by route, method and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "scim_bridge_request_seconds", "SCIM request latency by route", ["route", "method"],
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(OutboxCollector(engine))


class OutboxCollector:
    """Outbox depth and age, read from the store at scrape time so every instance reports the same."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        depth = GaugeMetricFamily("scim_bridge_outbox_rows", "Outbox rows by target and state",
                                  labels=["target", "state"])
        age = GaugeMetricFamily("scim_bridge_outbox_oldest_seconds", "Age of the oldest pending row by target",
                                labels=["target"])
        now = utcnow()
        with self.engine.connect() as conn:
            for target, state, count, oldest in conn.execute(
                sa.select(OutboxRow.target, OutboxRow.state, sa.func.count(), sa.func.min(OutboxRow.created))
                .group_by(OutboxRow.target, OutboxRow.state)
            ):
                depth.add_metric([target, state], count)
                if state == "pending" and oldest is not None:
                    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                    age.add_metric([target], (now - oldest).total_seconds())
        yield depth
        yield age


def setup_metrics(app: Flask, metrics: Metrics) -> None:
    """After setup_request_logging, whose start time (g.started) the latency reuses."""

    @app.after_request
    def _record(response):
        # The URL rule, not the path: ids must not explode label cardinality.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        metrics.latency.labels(route, request.method).observe(
            time.perf_counter() - g.get("started", time.perf_counter()))
        return response
