"""Configuration: defaults, environment substitution, and start-stopping errors that name the key."""

import pytest

from atlassian_clients import BitbucketOptions, HttpSettings
from scim_bridge.config import load_config, validate_config
from scim_bridge.errors import ConfigError


def test_defaults_need_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.database.url == "sqlite:///scim-bridge.db"
    assert config.scim.max_results == 1000


def test_shipped_config_file_is_valid_and_matches_the_defaults():
    from pathlib import Path

    shipped = load_config(Path(__file__).resolve().parents[2] / "config.yaml", environ={})
    assert shipped == validate_config({}, environ={})


def test_environment_variables_are_substituted_and_database_url_overridden(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("auth:\n  tokens:\n    - name: okta\n      value: ${OKTA_TOKEN}\n")
    env = {"OKTA_TOKEN": "x" * 20, "SCIM_BRIDGE_DATABASE_URL": "postgresql://h/db"}
    config = load_config(file, environ=env)
    assert config.auth.tokens[0].value == "x" * 20
    assert config.database.url == "postgresql://h/db"


def test_config_file_named_by_environment(tmp_path):
    file = tmp_path / "other.yaml"
    file.write_text("scim:\n  max_results: 50\n")
    assert load_config(environ={"SCIM_BRIDGE_CONFIG": str(file)}).scim.max_results == 50


@pytest.mark.parametrize(
    ("raw", "env", "message"),
    [
        ({"scim": {"max_results": 0}}, {}, "scim.max_results"),
        ({"scim": {"maxresults": 5}}, {}, "scim.maxresults: unknown key"),
        ({"colour": "blue"}, {}, "colour: unknown key"),
        ({"auth": {"tokens": [{"name": "okta", "value": "${MISSING}"}]}}, {}, "auth.tokens.0.value: environment "
                                                                             "variable MISSING is not set"),
        ({"auth": {"tokens": [{"name": "okta"}]}}, {}, "auth.tokens.0: give exactly one of value or sha256"),
        ({"auth": {"tokens": [{"name": "okta", "value": "short"}]}}, {}, "auth.tokens.0.value"),
        ({"database": {"url": "mysql://x"}}, {}, "database.url"),
        ({"delivery": {"wait_seconds": "soon"}}, {}, "delivery.wait_seconds"),
        (["not", "a", "mapping"], {}, "top level must be a mapping"),
    ],
)
def test_bad_settings_stop_the_start_naming_the_key(raw, env, message):
    with pytest.raises(ConfigError) as raised:
        validate_config(raw, environ=env)
    assert message in str(raised.value)


def test_broken_yaml_and_missing_explicit_file(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("scim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(file, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml", environ={})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"targets": {"jira": {"type": "jiraa", "url": "http://j", "token": "t"}}},
         "targets.jira.type: unknown target"),
        ({"targets": {"jira": {"type": "jira", "url": "ftp://j", "token": "t"}}}, "targets.jira.url: must start"),
        ({"targets": {"jira": {"type": "jira", "url": "http://j"}}}, "targets.jira: give either username"),
        ({"targets": {"jira": {"type": "jira", "url": "http://j", "token": "t", "rules": {"bogus": 1}}}},
         "targets.jira.rules.bogus: unknown key"),
        ({"targets": {"wiki": {"type": "confluence", "url": "http://c", "token": "t",
                               "rules": {"username": {"lowercase": False}}}}}, "targets.wiki.rules.username.lowercase"),
        ({"rules": {"username": {"regex": "(.*@"}}}, "rules.username.regex: not a valid regular expression"),
        ({"rules": {"users": {"on_delete": "purge"}}}, "rules.users.on_delete"),
        ({"delivery": {"concurrency": 0}}, "delivery.concurrency"),
    ],
)
def test_bad_targets_and_rules_stop_the_start_naming_the_key(raw, message):
    with pytest.raises(ConfigError) as raised:
        validate_config(raw, environ={})
    assert message in str(raised.value)


def test_a_target_with_basic_auth_and_rule_overrides_is_accepted():
    config = validate_config({
        "rules": {"username": {"regex": "(.*)@.*", "replacement": "$1"}},
        "targets": {"bitbucket": {"type": "bitbucket", "url": "https://git.example.com", "username": "svc",
                                  "password": "${BB_PASSWORD}", "rules": {"deactivate_with": "delete"}}},
    }, environ={"BB_PASSWORD": "hunter22"})
    target = config.targets["bitbucket"]
    assert target.password == "hunter22" and target.enabled is True
    assert target.rules.deactivate_with == "delete" and target.rules.username.regex == "(.*)@.*"
    assert target.http == HttpSettings() and target.options == BitbucketOptions()
    assert "hunter22" not in repr(config)


def test_every_missing_environment_variable_is_named_at_once():
    raw = {"auth": {"tokens": [{"name": "okta", "value": "${OKTA_TOKEN}"}]},
           "targets": {"jira": {"type": "jira", "url": "${JIRA_URL}", "username": "a", "password": "${JIRA_PASSWORD}"}}}
    with pytest.raises(ConfigError) as caught:
        validate_config(raw, environ={})
    text = str(caught.value)
    for named in ("auth.tokens.0.value: environment variable OKTA_TOKEN is not set",
                  "targets.jira.url: environment variable JIRA_URL is not set",
                  "targets.jira.password: environment variable JIRA_PASSWORD is not set"):
        assert named in text
