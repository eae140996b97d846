"""Building targets from the configuration: clients, merged rules, and start-up warnings."""

import logging

import pytest

from atlassian_clients import HttpSettings
from scim_bridge.config import load_config, validate_config
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


HTTP_YAML = """
targets:
  jira:
    type: jira
    url: https://jira.example.com
    token: ${JIRA_PAT}
    http:
      connect_timeout: 2.5
      read_timeout: 12
      deadline: 45
      backoff_initial: 0.25
      backoff_max: 4
      rate: 3
      burst: 7
      pool_size: 4
"""


def test_each_http_setting_of_the_configuration_file_reaches_the_clients_transport(tmp_path):
    file = tmp_path / "config.yaml"
    file.write_text(HTTP_YAML, encoding="utf-8")
    transport = build_targets(load_config(file, environ={"JIRA_PAT": "t"}))["jira"].client.http
    assert transport.settings == HttpSettings(connect_timeout=2.5, read_timeout=12, deadline=45, backoff_initial=0.25,
                                              backoff_max=4, rate=3, burst=7, pool_size=4)
    assert transport.bucket.rate == 3 and transport.bucket.burst == 7


def test_each_products_options_reach_its_client_and_jira_licences_come_from_the_rules():
    def target(product, **settings):
        return {"type": product, "url": f"https://{product}.example.com", "token": "t", **settings}

    config = validate_config({"targets": {
        "jira": target("jira", options={"page_size": 20, "group_picker_limit": 30},
                       rules={"application_keys": ["jira-software"]}),
        "wiki": target("confluence", options={"licence_group": "Wiki-Users", "notify_new_users": True}),
        "git": {**target("bitbucket", options={"add_to_default_group": False}), "token": None,
                "username": "svc", "password": "pw"},
    }}, environ={})
    clients = {name: t.client for name, t in build_targets(config).items()}
    jira, wiki, git = clients["jira"], clients["wiki"], clients["git"]
    assert (jira.page_size, jira.group_picker_limit, jira.application_keys) == (20, 30, ("jira-software",))
    assert (wiki.page_size, wiki.licence_group, wiki.notify_new_users) == (100, "wiki-users", True)
    assert git.add_to_default_group is False
