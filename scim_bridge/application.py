"""The app: SCIM API, console, metrics and delivery on one configuration (``create_app``)."""

from __future__ import annotations

import functools
import types

from flask import Flask

from scim_bridge.alerts import Alerts, build_alerts
from scim_bridge.api import setup_api
from scim_bridge.api.context import ScimContext
from scim_bridge.api.ops import blueprint as ops_blueprint
from scim_bridge.auth import TokenVerifier, metrics_verifier
from scim_bridge.config import Settings, load_config, validate_config
from scim_bridge.console import setup_console
from scim_bridge.logging import configure_logging, setup_request_logging
from scim_bridge.metrics import Metrics, setup_metrics
from scim_bridge.schedule import build_schedule
from scim_bridge.scim.documents import Limits
from scim_bridge.store import migrate
from scim_bridge.store.database import engine_from_settings
from scim_bridge.store.repository import Repository
from scim_bridge.sync.setup import build_sync


class BridgeFlask(Flask):
    """Flask, with its check of each hook and view for a coroutine made once per function: Flask
    repeats it (``inspect.iscoroutinefunction``) for every hook on every request, seven times a SCIM
    request here (profiled: 2-4 % of a look-up's CPU in the app). Only plain functions and partials
    are kept (they compare by identity, and the bridge's hooks and views are such, fixed at start); a
    bound method (a class-based view's, made per request) is checked as Flask checks it, and so is any
    function once the cache holds ``_SYNCED_MAX``, so the cache stays bounded."""

    _SYNCED_MAX = 256
    _KEPT = (types.FunctionType, functools.partial)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synced: dict = {}

    def ensure_sync(self, func):
        made = self._synced.get(func) if type(func) in self._KEPT else None
        if made is None:
            made = super().ensure_sync(func)
            if type(func) in self._KEPT and len(self._synced) < self._SYNCED_MAX:
                self._synced[func] = made
        return made


def create_app(
    config: Settings | dict | None = None, *, store: Repository | None = None, clients: dict | None = None,
    alerts: Alerts | None = None,
) -> Flask:
    """Build the app. ``config`` is the :class:`Settings` or a configuration as written in YAML
    (default: the YAML file); ``store`` (a Repository) and ``clients`` (DirectoryClients by target
    name) let tests and the demo pass their own; so does ``alerts`` (with a clock of the test's)."""
    if not isinstance(config, Settings):
        config = load_config() if config is None else validate_config(config)
    app = BridgeFlask("scim_bridge")  # the package's name, as its logger has always had
    configure_logging(config.logging.level, config.logging.json, config.logging.access_batch_seconds)
    engine = store.engine if store is not None else setup_engine(config)
    metrics = Metrics(engine)
    alerts = alerts or build_alerts(config)
    sync = build_sync(config, engine, clients, metrics=metrics, observer=alerts)
    store = store or Repository(engine)
    if sync is not None:
        store.attach_targets(sync.naming, claim=sync.claim_written)
        if config.delivery.worker:
            sync.start()
            if alerts is not None:
                alerts.start()
    # The scheduled reconciliation runs where deliveries are made (scim_bridge/schedule.py).
    schedule = build_schedule(config, engine, sync, alerts=alerts) if config.delivery.worker else None
    if schedule is not None:
        schedule.start()
    app.extensions["scim_bridge_alerts"] = alerts
    app.extensions["scim_bridge_schedule"] = schedule
    limits = Limits(
        max_results=config.scim.max_results,
        max_payload_bytes=config.server.max_body_bytes,
        default_count=config.scim.default_count,
        bulk_max_operations=config.scim.bulk_max_operations,
        bulk_max_payload_bytes=config.scim.bulk_max_payload_bytes,
    )
    app.config["MAX_CONTENT_LENGTH"] = limits.max_payload_bytes
    setup_request_logging(app)
    app.extensions["scim_bridge_metrics"] = metrics
    setup_metrics(app, metrics)
    verifier = TokenVerifier.from_config(config.auth.tokens, engine)
    setup_api(app, ScimContext(store, verifier, limits, config.server.base_url, sync))
    app.register_blueprint(ops_blueprint(metrics_verifier(config.metrics, verifier)))
    setup_console(app, config, engine, sync)
    return app


def setup_engine(config: Settings):
    engine = engine_from_settings(config.database)
    migrate.upgrade(engine)
    return engine
