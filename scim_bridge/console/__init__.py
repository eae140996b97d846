"""The admin console under /admin: what each target holds and owes, parked deliveries and their retry,
a person's history, reconciliation, the effective configuration, check-config's results and the
bearer tokens (docs/console.md).

It reads the store and acts only through the services the command line uses (the outbox's requeue,
``sync.reconcile.reconcile``, ``checks.check_all``, the token functions of ``scim_bridge.auth``); it
calls a product only through those (reconciliation, and check-config's read calls).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from scim_bridge.config import Settings
from scim_bridge.console.accounts import Accounts, LoginThrottle
from scim_bridge.console.present import Clock
from scim_bridge.console.reads import ConsoleReads
from scim_bridge.console.runs import ConfigChecks, ReconcileRuns
from scim_bridge.console.session import PREFIX, configure_session
from scim_bridge.sync.service import Sync

__all__ = ["PREFIX", "ConsoleContext", "setup_console"]


@dataclass
class ConsoleContext:
    settings: Settings
    engine: sa.Engine
    sync: Sync | None
    accounts: Accounts
    throttle: LoginThrottle
    reads: ConsoleReads
    runs: ReconcileRuns
    checks: ConfigChecks
    clock: Clock
    csrf: CSRFProtect


def setup_console(app: Flask, settings: Settings, engine: sa.Engine, sync: Sync | None) -> None:
    """Register the console unless ``console.enabled`` is false."""
    console = settings.console
    if not console.enabled:
        return
    from scim_bridge.console.views import blueprint

    configure_session(app, console, engine)
    csrf = CSRFProtect(app)
    accounts = Accounts(engine)
    accounts.ready_for_sign_ins()
    context = ConsoleContext(
        settings, engine, sync, accounts,
        LoginThrottle(engine, attempts=console.login_attempts, window=console.login_window_seconds),
        ConsoleReads(engine, settings), ReconcileRuns(engine, sync),
        ConfigChecks(engine, settings, sync), Clock(console.timezone), csrf,
    )
    app.extensions["scim_bridge_console"] = context
    app.register_blueprint(blueprint(context))
