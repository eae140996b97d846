"""What the console renders of the configuration and of times: no secret, and every time with its zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from scim_bridge.config import validate_config
from scim_bridge.console.present import MASK, Clock, general_rows, rows, side_by_side
from scim_bridge.console.runs import report_data
from scim_bridge.rules.operations import (
    AddMember,
    CreateGroup,
    CreateUser,
    RemoveMember,
    RevokeLicence,
    SetActive,
)
from scim_bridge.sync.reconcile import TargetReport


@dataclass(frozen=True)
class PluginOptions:
    page_size: int = 100
    api_token: str = "tok-secret"
    client_secret: str | None = None


def test_settings_named_like_secrets_are_masked_wherever_they_sit():
    shown = dict(rows("options", PluginOptions()))
    assert shown == {"options.page_size": 100, "options.api_token": MASK, "options.client_secret": "(not set)"}


def test_targets_show_how_they_authenticate_but_never_the_password_or_token():
    settings = validate_config({
        "database": {"url": "postgresql://bridge:hunter22@db.example.com/bridge"},
        "console": {"secret_key": "k" * 40},
        "targets": {
            "jira": {"type": "jira", "url": "https://jira.example.com", "username": "svc", "password": "pw-secret"},
            "wiki": {"type": "confluence", "url": "https://wiki.example.com", "token": "real-secret-1"},
        }}, environ={})
    names, table = side_by_side(dict(settings.targets))
    shown = {key: values for key, values in table}
    assert names == ["jira", "wiki"]
    assert shown["authentication"] == [f"basic auth as svc, password {MASK}", f"personal access token {MASK}"]
    assert shown["options.licence_group"] == ["–", "confluence-users"]  # an option only Confluence has
    general = dict(general_rows(settings))
    assert general["console.secret_key"] == MASK and "hunter22" not in general["database.url"]
    text = repr(table) + repr(general)
    for secret in ("pw-secret", "real-secret-1", "hunter22", "k" * 40):
        assert secret not in text


def test_times_are_shown_in_the_configured_zone_and_name_it():
    moment = datetime(2026, 7, 1, 12, 0, 5, tzinfo=UTC)
    assert Clock("Europe/Berlin").when(moment) == \
        '<time datetime="2026-07-01T12:00:05+00:00">2026-07-01 14:00:05 CEST</time>'
    assert Clock("UTC").when(None) == "never"
    assert Clock.age(datetime(2026, 7, 1, 11, 0, tzinfo=UTC), moment) == "1 h"


def test_a_reconciliation_report_is_tabled_as_create_update_deactivate_and_unmanaged_accounts():
    report = TargetReport("bitbucket", planned=[
        ("User", "u1", CreateUser("alice", display_name="Alice", email="alice@example.com")),
        ("User", "u2", SetActive("bob", active=False)),
        ("User", "u3", SetActive("carol", active=True)),
        ("User", "u3", AddMember("carol", group="dev")),
        ("User", "u4", RevokeLicence("dave")),
        ("Group", "g1", CreateGroup("dev")),
    ], unmanaged=["mallory"], deprovisioning=[("mallory", RemoveMember("mallory", group="stash-users")),
                                               ("mallory", RevokeLicence("mallory"))])
    data = report_data(report, {("User", "u1"): "alice@example.com"})
    columns = {}
    for row in data["planned"]:
        columns.setdefault(row["column"], []).append(row["operation"])
    assert columns == {"create": ["create user alice", "create group dev"],
                       "deactivate": ["deactivate bob", "revoke licence dave"],
                       "update": ["activate carol", "add carol to dev"]}
    assert data["planned"][0]["name"] == "alice@example.com"
    assert data["unmanaged"] == ["mallory"]
    assert data["deprovisioning"] == {"mallory": "remove mallory from stash-users; revoke licence mallory"}
