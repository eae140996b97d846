"""scim-bridge: a SCIM 2.0 service provider that provisions Jira, Confluence and Bitbucket."""

from __future__ import annotations

from flask import Flask

from scim_bridge.api import setup_api
from scim_bridge.api.context import ScimContext
from scim_bridge.api.ops import blueprint as ops_blueprint
from scim_bridge.auth import TokenVerifier
from scim_bridge.config import load_config, validate_config
from scim_bridge.logging import configure_logging, setup_request_logging
from scim_bridge.metrics import Metrics, setup_metrics
from scim_bridge.scim.documents import Limits
from scim_bridge.store import migrate
from scim_bridge.store.database import make_engine
from scim_bridge.store.repository import Repository


def create_app(config: dict | None = None, *, store: Repository | None = None, clients=None) -> Flask:
    """Build the app. ``config`` is a raw or validated settings dict (default: the YAML file);
    ``store`` and ``clients`` let tests and the demo pass their own."""
    config = load_config() if config is None else validate_config(config)
    app = Flask(__name__)
    configure_logging(config["logging"]["level"], config["logging"]["json"])
    store = store or setup_store(config)
    limits = Limits(
        max_results=config["scim"]["max_results"],
        max_payload_bytes=config["server"]["max_body_bytes"],
        default_count=config["scim"]["default_count"],
    )
    app.config["MAX_CONTENT_LENGTH"] = limits.max_payload_bytes
    setup_request_logging(app)
    metrics = Metrics(store.engine)
    app.extensions["scim_bridge_metrics"] = metrics
    setup_metrics(app, metrics)
    verifier = TokenVerifier.from_config(config["auth"]["tokens"], store.engine)
    setup_api(app, ScimContext(store, verifier, limits, config["server"]["base_url"]))
    app.register_blueprint(ops_blueprint())
    return app


def setup_store(config: dict) -> Repository:
    engine = make_engine(config["database"]["url"])
    migrate.upgrade(engine)
    return Repository(engine)
