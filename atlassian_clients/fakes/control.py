"""The fakes' own endpoints under /_fake: a read-only state dump and the fault knobs.

GET  /_fake/state               every product's state (users, groups, calls, knobs)
GET  /_fake/state/<product>     one product's state
GET  /_fake/calls               mutating calls per product: {"POST /rest/api/2/user": {...}}
POST /_fake/knobs/<product>     turn knobs; JSON fields, all optional:
     {"clear": true, "latency": 0.2, "failureRate": 0.1, "seed": 7, "failureStatus": 503,
      "throttle": {"times": 2, "retryAfter": 3},
      "force": {"method": "POST", "path": "/rest/api/2/user", "status": 503, "count": 1,
                "afterApply": false, "delay": 0, "retryAfter": null}}
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, request

from atlassian_clients.fakes.product import FakeProduct
from atlassian_clients.fakes.rest import json_response


def create_control_app(products: Mapping[str, FakeProduct]) -> Flask:
    app = Flask("fake_control")

    def product_named(name: str) -> FakeProduct:
        if name not in products:
            raise LookupError(name)
        return products[name]

    @app.errorhandler(LookupError)
    def unknown_product(error: LookupError) -> Response:
        return json_response({"error": f"no fake product {error.args[0]!r}", "products": sorted(products)}, 404)

    @app.errorhandler(ValueError)
    def bad_knob(error: ValueError) -> Response:
        return json_response({"error": str(error)}, 400)

    @app.get("/_fake/")
    def index() -> Response:
        root = request.url_root.rstrip("/")
        return json_response(
            {name: {"baseUrl": f"{root}/{name}", "version": p.version} for name, p in products.items()}
        )

    @app.get("/_fake/state")
    def all_state() -> Response:
        return json_response({name: product.dump() for name, product in products.items()})

    @app.get("/_fake/state/<name>")
    def product_state(name: str) -> Response:
        return json_response(product_named(name).dump())

    @app.get("/_fake/calls")
    def calls() -> Response:
        return json_response({name: product.calls.snapshot() for name, product in products.items()})

    @app.post("/_fake/knobs/<name>")
    def knobs(name: str) -> Response:
        knobs = product_named(name).knobs
        settings = request.get_json(silent=True)
        if not isinstance(settings, dict):
            raise ValueError("send the knobs as a JSON object")
        if settings.get("clear"):
            knobs.clear()
        if "latency" in settings:
            knobs.set_latency(float(settings["latency"]))
        if "failureRate" in settings:
            knobs.set_failure_rate(
                float(settings["failureRate"]),
                seed=settings.get("seed"),
                status=int(settings.get("failureStatus", 503)),
            )
        if "throttle" in settings:
            throttle = settings["throttle"]
            knobs.throttle(int(throttle.get("times", 1)), throttle.get("retryAfter", 1))
        if "force" in settings:
            force = settings["force"]
            knobs.force_error(
                force["method"],
                force["path"],
                force.get("status"),
                count=int(force.get("count", 1)),
                after_apply=bool(force.get("afterApply", False)),
                delay=float(force.get("delay", 0.0)),
                retry_after=force.get("retryAfter"),
            )
        return json_response(knobs.describe())

    @app.errorhandler(KeyError)
    def missing_field(error: KeyError) -> Response:
        return json_response({"error": f"missing knob field {error.args[0]!r}"}, 400)

    return app
