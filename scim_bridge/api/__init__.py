"""The SCIM blueprint under /scim/v2: authentication first, then the resource and discovery routes."""

from __future__ import annotations

from flask import Blueprint, Flask, g, request

from scim_bridge.api import bulk, discovery, resources
from scim_bridge.api.boundary import register_error_boundary
from scim_bridge.api.context import PREFIX, ScimContext, context
from scim_bridge.api.paths import CanonicalPaths
from scim_bridge.errors import InvalidFilter, InvalidValue
from scim_bridge.scim.limits import check_text


def setup_api(app: Flask, scim: ScimContext) -> None:
    app.extensions["scim_bridge"] = scim
    bp = Blueprint("scim", __name__, url_prefix=PREFIX)
    resources.register(bp)
    discovery.register(bp)
    bulk.register(bp)
    app.register_blueprint(bp)
    app.before_request(_authenticate)
    app.before_request(_check_url)
    app.wsgi_app = CanonicalPaths(app, PREFIX)
    register_error_boundary(app)


def _authenticate():
    # Every path under the prefix, routed or not, answers 401 before anything else (RFC 7644 §2).
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        g.actor = context().verifier.verify(request.headers.get("Authorization"))


def _check_url():
    # Path segments (ids) and query arguments reach queries: no NUL in them (scim/limits.py).
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        check_text(request.path, "The URL path")
        for name, value in request.args.items(multi=True):
            error = InvalidFilter if name.lower() == "filter" else InvalidValue
            check_text(name + value, f'The query argument "{name[:40]}"', nul=error)
