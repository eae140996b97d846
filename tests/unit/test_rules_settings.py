"""The ``rules:`` settings: validation that names the key, and the per-target merge."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from scim_bridge.errors import ConfigError
from scim_bridge.rules.model import GroupNameRule, GroupRules, TargetRules, UsernameRule, UserRules
from scim_bridge.rules.settings import RulesSchema, effective_rules

EVERY_KEY = {
    "username": {"regex": "(.*)@.*", "replacement": "$1", "lowercase": False},
    "users": {"create": False, "update": False, "activate": False, "deactivate": False, "on_delete": "delete",
              "match_existing": "email", "protected": ["admin", "svc-*"]},
    "directory": "Jira Internal Directory",
    "groups": {"create": False, "delete": True, "sync_members": False, "include": ["^eng"], "exclude": ["-ext$"],
               "name": {"regex": "^scim-(.*)", "replacement": "${1}", "lowercase": True}, "keep_unmanaged": False},
    "default_groups": ["jira-software-users"],
    "application_keys": ["jira-software", "jira-servicedesk"],
    "deactivate_with": "delete",
    "dry_run": True,
}


def test_nothing_set_gives_the_documented_defaults():
    assert effective_rules({}, {}, "jira") == TargetRules("jira")
    assert effective_rules(None, None, "bitbucket") == TargetRules("bitbucket")


def test_every_key_reaches_the_rules():
    assert effective_rules(EVERY_KEY, {}, "jira") == TargetRules(
        product="jira",
        username=UsernameRule("(.*)@.*", "$1", False),
        users=UserRules(False, False, False, False, "delete", "email", ("admin", "svc-*")),
        directory="Jira Internal Directory",
        groups=GroupRules(False, True, False, ("^eng",), ("-ext$",), GroupNameRule("^scim-(.*)", "${1}", True), False),
        default_groups=("jira-software-users",),
        application_keys=("jira-software", "jira-servicedesk"),
        deactivate_with="delete",
        dry_run=True,
    )


def test_the_schema_keeps_only_what_is_set_so_overrides_stay_partial():
    assert RulesSchema().load({"users": {"create": False}}) == {"users": {"create": False}}
    loaded = RulesSchema().load(EVERY_KEY)
    assert effective_rules(loaded, {}, "jira") == effective_rules(EVERY_KEY, {}, "jira")


GLOBAL = {
    "username": {"regex": "(.*)@.*", "replacement": "$1"},
    "users": {"create": False, "protected": ["admin"]},
    "groups": {"exclude": ["^Contractors$"], "name": {"regex": "^scim-(.*)"}},
    "directory": "Jira Internal Directory",
    "default_groups": ["jira-software-users"],
}


@pytest.mark.parametrize(("target", "attribute", "expected"), [
    pytest.param({}, lambda r: r.users, UserRules(create=False, protected=("admin",)), id="global alone"),
    pytest.param({"users": {"create": True}}, lambda r: r.users, UserRules(create=True, protected=("admin",)),
                 id="a key overrides, its neighbours stay"),
    pytest.param({"users": {"protected": ["root"]}}, lambda r: r.users.protected, ("root",),
                 id="a list replaces the global list"),
    pytest.param({"groups": {"exclude": []}}, lambda r: r.groups.exclude, (), id="an empty list clears"),
    pytest.param({"username": {"replacement": "${1}"}}, lambda r: r.username, UsernameRule("(.*)@.*", "${1}", True),
                 id="replacement over the inherited regex"),
    pytest.param({"username": {"regex": None}}, lambda r: r.username.regex, None, id="null clears the regex"),
    pytest.param({"directory": None}, lambda r: r.directory, None, id="null clears the directory"),
    pytest.param({"groups": {"name": {"lowercase": True}}}, lambda r: r.groups.name,
                 GroupNameRule("^scim-(.*)", None, True), id="nested sections merge"),
    pytest.param({"default_groups": ["stash-users"]}, lambda r: r.default_groups, ("stash-users",),
                 id="default groups per target"),
])
def test_target_overrides_global_key_by_key(target, attribute, expected):
    assert attribute(effective_rules(GLOBAL, target, "jira")) == expected


def test_confluence_always_lower_cases_user_and_group_names():
    rules = effective_rules({"username": {"lowercase": False}, "groups": {"name": {"lowercase": False}},
                             "default_groups": ["Confluence-Users"]}, {}, "confluence")
    assert (rules.username.lowercase, rules.groups.name.lowercase) == (True, True)
    assert rules.default_groups == ("confluence-users",)
    jira = effective_rules({"username": {"lowercase": False}, "default_groups": ["Jira-Software-Users"]}, {}, "jira")
    assert (jira.username.lowercase, jira.default_groups) == (False, ("Jira-Software-Users",))


@pytest.mark.parametrize("section", [{"username": {"lowercase": False}}, {"groups": {"name": {"lowercase": False}}}])
def test_turning_lower_case_off_for_confluence_itself_stops_the_start(section):
    with pytest.raises(ConfigError, match=r"targets\.wiki\.rules\.(username|groups\.name)\.lowercase: confluence "
                                          "refuses upper-case names"):
        effective_rules({}, section, "confluence", target="wiki")


@pytest.mark.parametrize(("product", "expected"), [
    ("jira", ("jira-software",)), ("confluence", ()), ("bitbucket", ()), ("acme.directory:Client", ("jira-software",)),
])
def test_application_keys_are_jira_only(product, expected):
    assert effective_rules({"application_keys": ["jira-software"]}, {}, product).application_keys == expected


@pytest.mark.parametrize(("target", "message"), [
    ({"users": {"crate": True}}, "targets.jira.rules.users.crate: unknown key."),
    ({"colour": "blue"}, "targets.jira.rules.colour: unknown key."),
    ({"username": {"regex": "(.*@.*"}},
     "targets.jira.rules.username.regex: not a valid regular expression: missing ), unterminated subpattern at "
     "position 0"),
    ({"groups": {"include": ["^eng", "[a-"]}},
     "targets.jira.rules.groups.include.1: not a valid regular expression: unterminated character set at position 0"),
    ({"groups": {"name": {"regex": "*x"}}},
     "targets.jira.rules.groups.name.regex: not a valid regular expression: nothing to repeat at position 0"),
    ({"username": {"regex": "(.*)@.*", "replacement": "$2"}},
     "targets.jira.rules.username.replacement: the replacement uses group 2 but the regex has only 1 group"),
    ({"username": {"regex": ".*@.*"}},
     "targets.jira.rules (merged with rules): username.replacement: the replacement uses group 1 but the regex has "
     "no group"),
    ({"username": {"replacement": "${user}"}},
     "targets.jira.rules (merged with rules): username.replacement: the replacement names group 'user', which "
     "the regex does not define"),
    ({"users": {"on_delete": "archive"}}, "targets.jira.rules.users.on_delete: Must be one of: deactivate, delete, "
                                          "ignore."),
    ({"users": {"match_existing": "displayName"}}, "targets.jira.rules.users.match_existing: Must be one of"),
    ({"deactivate_with": "disable"}, "targets.jira.rules.deactivate_with: Must be one of: remove_license, delete."),
    ({"users": {"protected": ["admin", ""]}}, "targets.jira.rules.users.protected.1: Shorter than minimum length 1."),
    ({"dry_run": "perhaps"}, "targets.jira.rules.dry_run: Not a valid boolean."),
    ({"users": {"create": None}}, "targets.jira.rules.users.create: Field may not be null."),
    ({"default_groups": "jira-software-users"}, "targets.jira.rules.default_groups: Not a valid list."),
])
def test_bad_settings_name_the_key(target, message):
    with pytest.raises(ConfigError) as raised:
        effective_rules({"username": {"regex": "(.*)@.*"}}, target, "jira", target="jira")
    assert message in str(raised.value)


def test_global_errors_name_the_global_section():
    with pytest.raises(ConfigError, match=r"^rules\.groups\.exclude\.0: not a valid regular expression"):
        effective_rules({"groups": {"exclude": ["(("]}}, {}, "jira", target="jira")


def test_the_schema_alone_raises_marshmallow_errors_for_the_config_loader():
    with pytest.raises(ValidationError) as raised:
        RulesSchema().load({"username": {"regex": "(.*)@.*", "replacement": "$3"}, "users": {"bogus": 1}})
    assert raised.value.messages == {
        "username": {"replacement": ["the replacement uses group 3 but the regex has only 1 group"]},
        "users": {"bogus": ["Unknown field."]},
    }
