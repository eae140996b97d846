"""Prometheus metrics (every one is described in docs/metrics.md).

Under gunicorn each worker is a process with counters of its own, so one scrape would see one
worker's share. ``gunicorn.conf.py`` therefore gives the server a private ``PROMETHEUS_MULTIPROC_DIR``
for its lifetime: prometheus-client's multiprocess mode then keeps every worker's values in files
there, and ``/metrics`` sums them all whichever worker answers. Without that directory (``python
app.py``, the demo, tests) the metrics live on a registry of the app's own.

The outbox's depth and age are not per worker at all: they are read from the store once per scrape
(:class:`OutboxCollector`), by the worker that answers it.
"""

from __future__ import annotations

import os
import threading
import time
from socketserver import ThreadingMixIn

import sqlalchemy as sa
from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from scim_bridge.store.models import OutboxRow, utcnow
from scim_bridge.sync.executor import Outcome, Settle
from scim_bridge.sync.failure_policy import Verdict

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Product calls take from milliseconds to the HTTP deadline (20 s by default, targets.<name>.http).
PRODUCT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

# The ``result`` label of scim_bridge_deliveries_total, one value per way a delivery attempt settles.
RESULTS = ("applied", "retry", "refused", "defect", "parked", "waiting", "lost")


def delivery_result(outcome: Outcome) -> str:
    """The ``result`` label of one settled delivery attempt (docs/metrics.md)."""
    if outcome.kind is Settle.DONE:
        return "applied"
    if outcome.kind is Settle.WAIT:
        return "waiting"
    if outcome.kind is Settle.LOST:
        return "lost"
    if outcome.verdict is Verdict.DEFECT:
        return "defect"  # retried up to delivery.max_defect_attempts, then parked
    if outcome.kind is Settle.RETRY:
        return "retry"
    return "refused" if outcome.verdict is Verdict.REFUSAL else "parked"


class Metrics:
    def __init__(self, engine: sa.Engine | None = None, *, multiproc_dir: str | None = None):
        """``multiproc_dir``: where gunicorn's workers keep their values (default: the environment's
        PROMETHEUS_MULTIPROC_DIR, read by prometheus-client when it is first imported)."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scim_bridge_requests", "SCIM requests by route, method and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "scim_bridge_request_seconds", "SCIM request latency by route", ["route", "method"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "scim_bridge_deliveries", "Delivery attempts settled, by target and result",
            ["target", "result"], registry=self.registry,
        )
        self.retries = Counter(
            "scim_bridge_delivery_retries", "Delivery attempts that failed and were queued again with backoff",
            ["target"], registry=self.registry,
        )
        self.product_seconds = Histogram(
            "scim_bridge_product_call_seconds", "Latency of each HTTP call to a product, by target and operation",
            ["target", "operation"], buckets=PRODUCT_BUCKETS, registry=self.registry,
        )
        multiproc_dir = multiproc_dir if multiproc_dir is not None else os.environ.get(MULTIPROC_DIR)
        if multiproc_dir:
            # What /metrics exposes: every worker's files, live or dead (counters never go back).
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed, path=multiproc_dir)
        else:
            self.exposed = self.registry
        if engine is not None:
            self.exposed.register(OutboxCollector(engine))

    def delivered(self, target: str, outcome: Outcome) -> None:
        self.deliveries.labels(target, delivery_result(outcome)).inc()
        if outcome.kind is Settle.RETRY:
            self.retries.labels(target).inc()

    def product_call(self, target: str, operation: str, seconds: float) -> None:
        self.product_seconds.labels(target, operation).observe(seconds)


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

    # The labelled series of each (route, method, status), looked up once rather than per request.
    series: dict[tuple[str, str, int], tuple] = {}

    @app.after_request
    def _record(response):
        # The request and g looked up once: each use of Flask's proxies looks up the context again.
        req, ctx = request._get_current_object(), g._get_current_object()
        # The URL rule, not the path: ids must not explode label cardinality.
        rule = req.url_rule
        key = (rule.rule if rule else "unmatched", req.method, response.status_code)
        found = series.get(key)
        if found is None:
            found = series.setdefault(key, (metrics.requests.labels(key[0], key[1], str(key[2])),
                                            metrics.latency.labels(key[0], key[1])))
        found[0].inc()
        now = time.perf_counter()
        found[1].observe(now - ctx.get("started", now))
        return response


def serve_metrics(metrics: Metrics, host: str, port: int, verifier=None):
    """``/metrics`` of a process that serves no app (``scim-bridge worker --metrics-port``), on a
    thread of its own; ``verifier`` (``auth.py`` ``metrics_verifier``) applies ``metrics.access``.
    Returns the server (``shutdown()`` stops it)."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from scim_bridge.errors import ScimError

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the worker serves /metrics only\n"]
        if verifier is not None:
            try:
                verifier.verify(environ.get("HTTP_AUTHORIZATION"))
            except ScimError as refused:
                start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                    ("WWW-Authenticate", 'Bearer realm="scim-bridge"')])
                return [f"{refused.detail}\n".encode()]
        body = generate_latest(metrics.exposed)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):  # scrapes are not worth a log line each
            pass

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server = make_server(host, port, app, server_class=Threaded, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
