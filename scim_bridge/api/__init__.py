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


def _under_prefix(path: str) -> bool:
    return path == PREFIX or path.startswith(_UNDER)


_UNDER = PREFIX + "/"


def _authenticate():
    # Every path under the prefix, routed or not, answers 401 before anything else (RFC 7644 §2).
    req = request._get_current_object()  # looked up once: each use of the proxy looks it up again
    if _under_prefix(req.path):
        g.actor = context().verifier.verify(req.headers.get("Authorization"))


def _check_url():
    # Path segments (ids) and query arguments reach queries: no NUL in them (scim/limits.py).
    req = request._get_current_object()
    if _under_prefix(req.path):
        check_text(req.path, "The URL path")
        for name, value in req.args.items(multi=True):
            error = InvalidFilter if name.lower() == "filter" else InvalidValue
            check_text(name + value, f'The query argument "{name[:40]}"', nul=error)
