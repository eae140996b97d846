"""Operator endpoints outside SCIM: liveness, readiness, Prometheus metrics.

``/healthz`` and ``/readyz`` answer anyone (load balancers probe them). ``/metrics`` names the targets
and counts the queue, so ``metrics.access`` lets an operator require a bearer token for it: a metrics
token of its own (what Prometheus's ``authorization`` setting sends) or any SCIM token. Under gunicorn
the answer sums every worker's values (``Metrics.exposed``: a ``MultiProcessCollector`` over
``PROMETHEUS_MULTIPROC_DIR``, docs/metrics.md); without that directory, the app's own registry.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scim_bridge.auth import TokenVerifier


def blueprint(metrics_access: TokenVerifier | None = None) -> Blueprint:
    bp = Blueprint("ops", __name__)

    @bp.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz():
        problem = current_app.extensions["scim_bridge"].repository.ping()
        if problem:
            return jsonify(status="unavailable", database=problem), 503
        return jsonify(status="ready", database="ok")

    @bp.get("/metrics")
    def metrics():
        if metrics_access is not None:
            metrics_access.verify(request.headers.get("Authorization"))  # 401 in SCIM form otherwise
        registry = current_app.extensions["scim_bridge_metrics"].exposed
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return bp
