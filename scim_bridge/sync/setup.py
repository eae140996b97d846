"""Building the delivery side from the configuration (targets, their clients and rules)."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from atlassian_clients import BasicAuth, JiraClient, TokenAuth, build_client, client_class
from scim_bridge.config import Settings, TargetSettings
from scim_bridge.sync.delivery import Target
from scim_bridge.sync.service import Sync
from scim_bridge.sync.worker import Backoff

log = logging.getLogger("scim_bridge.config")


def build_targets(config: Settings, clients: dict | None = None) -> dict[str, Target]:
    """Enabled targets; ``clients`` (by target name) replaces the built client, for tests and demos."""
    targets = {}
    for name, settings in config.targets.items():
        if not settings.enabled:
            continue
        client = (clients or {}).get(name) or _client(settings)
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


def _client(settings: TargetSettings):
    auth = TokenAuth(settings.token) if settings.token is not None else BasicAuth(settings.username, settings.password)
    options = settings.client_options()
    if issubclass(client_class(settings.type), JiraClient):
        # What a Jira licence is: the applications a create asks for (rules) and the ones
        # grant_licence / revoke_licence grant and revoke are one setting, rules.application_keys.
        options["application_keys"] = settings.rules.application_keys
    return build_client(settings.name, settings.type, settings.url, auth, http=settings.http, **options)


def build_sync(config: Settings, engine: sa.Engine, clients: dict | None = None, observer=None) -> Sync | None:
    """``observer``: see :class:`Sync` (the alerts, built by the caller: sync/ does not send them)."""
    targets = build_targets(config, clients)
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
        observer=observer,
    )
