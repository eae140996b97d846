"""Building targets from the configuration: clients, merged rules, and start-up warnings."""

import logging

import pytest

from scim_bridge.config import validate_config
from scim_bridge.sync.setup import build_targets


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings():
    handler = Records()
    logger = logging.getLogger("scim_bridge.config")
    level = logger.level
    logger.setLevel(logging.WARNING)  # other tests' apps may have set the bridge's level to ERROR
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def _config(rules=None, options=None, **extra):
    target = {"type": "bitbucket", "url": "https://git.example.com", "username": "svc", "password": "pw",
              "rules": rules or {}, "options": options or {}}
    return validate_config({"targets": {"git": target}, **extra}, environ={})


def test_targets_get_their_merged_rules_and_disabled_ones_are_left_out():
    config = validate_config({
        "rules": {"username": {"regex": "(.*)@.*", "replacement": "$1"}, "users": {"on_delete": "delete"}},
        "targets": {
            "wiki": {"type": "confluence", "url": "https://wiki.example.com", "token": "t",
                     "rules": {"users": {"on_delete": "ignore"}}},
            "old": {"type": "jira", "url": "https://jira.example.com", "token": "t", "enabled": False},
        },
    }, environ={})
    targets = build_targets(config)
    assert list(targets) == ["wiki"]
    rules = targets["wiki"].rules
    assert rules.users.on_delete == "ignore" and rules.username.regex == "(.*)@.*" and rules.username.lowercase
    assert targets["wiki"].client.target == "wiki"


def test_bitbucket_without_its_licence_group_in_default_groups_is_warned_about(warnings):
    build_targets(_config())
    assert any("default_groups is empty" in m and "targets.git" in m for m in warnings)


@pytest.mark.parametrize("settings", [
    {"rules": {"default_groups": ["stash-users"]}},
    {"rules": {"deactivate_with": "delete"}},
    {"options": {"add_to_default_group": False}},
])
def test_no_warning_when_the_licence_can_be_revoked(warnings, settings):
    build_targets(_config(**settings))
    assert warnings == []


@pytest.mark.parametrize(("product", "warned"), [("jira", True), ("confluence", True), ("bitbucket", False)])
def test_a_directory_rule_where_the_product_cannot_tell_directories_is_warned_about(warnings, product, warned):
    config = validate_config({"targets": {"t": {
        "type": product, "url": "https://x.example.com", "username": "svc", "password": "pw",
        "rules": {"directory": "Internal", "default_groups": ["users"]}}}}, environ={})
    build_targets(config)
    assert any("rules.directory has no effect" in m for m in warnings) is warned
