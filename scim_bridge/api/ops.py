"""Operator endpoints outside SCIM: liveness, readiness, Prometheus metrics. No authentication."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def blueprint() -> Blueprint:
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
        registry = current_app.extensions["scim_bridge_metrics"].registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return bp
