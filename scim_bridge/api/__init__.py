"""The SCIM blueprint under /scim/v2: authentication first, then the resource and discovery routes."""

from __future__ import annotations

from flask import Blueprint, Flask, g, request

from scim_bridge.api import bulk, discovery, resources
from scim_bridge.api.boundary import register_error_boundary
from scim_bridge.api.context import PREFIX, ScimContext, context


def setup_api(app: Flask, scim: ScimContext) -> None:
    app.extensions["scim_bridge"] = scim
    bp = Blueprint("scim", __name__, url_prefix=PREFIX)
    resources.register(bp)
    discovery.register(bp)
    bulk.register(bp)
    app.register_blueprint(bp)
    app.before_request(_authenticate)
    register_error_boundary(app)


def _authenticate():
    # Every path under the prefix, routed or not, answers 401 before anything else (RFC 7644 §2).
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        g.actor = context().verifier.verify(request.headers.get("Authorization"))
