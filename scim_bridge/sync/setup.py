"""Building the delivery side from the configuration (targets, their clients and rules)."""

from __future__ import annotations

import logging
from typing import Protocol

import sqlalchemy as sa

from atlassian_clients import BasicAuth, JiraClient, TokenAuth, build_client, client_class
from atlassian_clients.http import Observer
from atlassian_clients.product import ProductClient
from scim_bridge.config import Settings, TargetSettings
from scim_bridge.sync.delivery import Target
from scim_bridge.sync.executor import Outcome
from scim_bridge.sync.service import Sync
from scim_bridge.sync.worker import Backoff

log = logging.getLogger("scim_bridge.config")


class DeliveryObserver(Protocol):
    """What the delivery side reports to (``scim_bridge.metrics.Metrics``; docs/metrics.md)."""

    def product_call(self, target: str, operation: str, seconds: float) -> None: ...

    def delivered(self, target: str, outcome: Outcome) -> None: ...


def build_targets(config: Settings, clients: dict | None = None, observe: Observer | None = None) -> dict[str, Target]:
    """Enabled targets; ``clients`` (by target name) replaces the built client, for tests and demos.
    ``observe`` hears of every HTTP call the built clients make (the metrics' product latency)."""
    targets = {}
    for name, settings in config.targets.items():
        if not settings.enabled:
            continue
        client = (clients or {}).get(name) or _client(settings, observe)
        rules = settings.rules
        _warn_unrevocable_licence(settings)
        if rules.directory and settings.type in ("jira", "confluence"):
            log.warning("targets.%s: rules.directory has no effect on %s, whose REST API does not say which "
                        "directory an account is in", name, settings.type, extra={"target": name})
        targets[name] = Target(name, client, rules, service_account=settings.username)
    return targets


def _warn_unrevocable_licence(settings: TargetSettings) -> None:
    """Bitbucket adds new users to its default group, which usually grants the licence; the bridge can
    only take that licence away again if the group is one of the target's default_groups."""
    rules = settings.rules
    if settings.type == "bitbucket" and rules.deactivate_with == "remove_license" \
            and settings.options.add_to_default_group and not rules.default_groups:
        log.warning(
            "targets.%s: new users join Bitbucket's default group, but rules.default_groups is empty, so "
            "deactivating a user (deactivate_with: remove_license) cannot remove the licence that group "
            "grants: list the default group (often stash-users) in default_groups", settings.name,
            extra={"target": settings.name},
        )


def _client(settings: TargetSettings, observe: Observer | None):
    auth = TokenAuth(settings.token) if settings.token is not None else BasicAuth(settings.username, settings.password)
    options = settings.client_options()
    cls = client_class(settings.type)
    if observe is not None and issubclass(cls, ProductClient):  # a plug-in need not take an observer
        options["observe"] = observe
    if issubclass(cls, JiraClient):
        # What a Jira licence is: the applications a create asks for (rules) and the ones
        # grant_licence / revoke_licence grant and revoke are one setting, rules.application_keys.
        options["application_keys"] = settings.rules.application_keys
    return build_client(settings.name, settings.type, settings.url, auth, http=settings.http, **options)


def build_sync(config: Settings, engine: sa.Engine, clients: dict | None = None, *,
               metrics: DeliveryObserver | None = None, observer=None) -> Sync | None:
    """``observer``: see :class:`Sync` (the alerts, built by the caller: sync/ does not send them)."""
    targets = build_targets(config, clients, metrics.product_call if metrics else None)
    if not targets:
        return None
    delivery = config.delivery
    return Sync(
        engine,
        targets,
        wait_seconds=delivery.wait_seconds,
        concurrency=delivery.concurrency,
        lease_seconds=delivery.lease_seconds,
        poll_seconds=delivery.poll_seconds,
        backoff=Backoff(delivery.backoff_initial, delivery.backoff_max),
        max_defect_attempts=delivery.max_defect_attempts,
        on_delivered=metrics.delivered if metrics else None,
        observer=observer,
        seats_refresh_seconds=delivery.seats_refresh_seconds,
    )
