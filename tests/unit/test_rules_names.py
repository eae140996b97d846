"""Name rules: SCIM userName and group displayName → Atlassian names, group filters, protected accounts."""

from __future__ import annotations

import re

import pytest

from scim_bridge.rules.errors import RuleError, UnmappableName
from scim_bridge.rules.model import GroupNameRule, GroupRules, TargetRules, UsernameRule, UserRules
from scim_bridge.rules.names import (
    is_protected,
    managed_groups,
    map_group_name,
    map_username,
    parse_replacement,
)


def username_rules(regex=None, replacement="$1", lowercase=True, product="jira") -> TargetRules:
    return TargetRules(product, username=UsernameRule(regex, replacement, lowercase))


@pytest.mark.parametrize(("regex", "replacement", "user_name", "expected"), [
    pytest.param(r"(.*)@.*", "$1", "demouser@gmail.com", "demouser", id="miniOrange example, $1"),
    pytest.param(r"(.*)@.*", r"\1", "demouser@gmail.com", "demouser", id="backslash group"),
    pytest.param(r"(?P<user>.*)@.*", "${user}", "demouser@gmail.com", "demouser", id="${name}"),
    pytest.param(r"(?P<user>.*)@.*", r"\g<user>", "demouser@gmail.com", "demouser", id="Python's \\g<name>"),
    pytest.param(r"(.*)@.*", "${1}", "demouser@gmail.com", "demouser", id="${1}"),
    pytest.param(r"(.*)0(.*)", "$1$2", "demo0user", "demouser", id="miniOrange example, $1$2"),
    pytest.param(r"\.", "_", "john.q.smith", "john_q_smith", id="every match replaced, as Java replaceAll"),
    pytest.param(r"@example\.com$", "", "bob@example.com", "bob", id="the text around a match is kept"),
    pytest.param(r"@example\.com$", "", "bob@other.org", "bob@other.org", id="no match: kept as it is"),
    pytest.param(r"(.*)@.*", "$1", "jenkins", "jenkins", id="no domain: kept as it is"),
    pytest.param(r"(.*)@(.*)\..*", "$2$$$1", "bob@corp.com", "corp$bob", id="$$ is a dollar"),
    pytest.param(r"(.*)@.*", r"x\$1", "bob@corp.com", "x$1", id="backslash escapes a dollar"),
    pytest.param(r"(a)", "$10", "a", "a0", id="$10 with one group is group 1 then 0"),
    pytest.param(r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "$10", "abcdefghij", "j", id="$10 with ten groups"),
    pytest.param(r"(x)?(bob)", "$1$2", "bob", "bob", id="a group that did not take part is empty"),
    pytest.param(None, "$1", "Bob.Smith@Example.com", "bob.smith@example.com", id="no regex: lower case only"),
])
def test_username_mapping(regex, replacement, user_name, expected):
    assert map_username(user_name, username_rules(regex, replacement)) == expected


@pytest.mark.parametrize(("lowercase", "product", "expected"), [
    (True, "jira", "bob"),
    (False, "jira", "Bob"),
    (False, "bitbucket", "Bob"),
    (False, "confluence", "bob"),  # Confluence refuses upper case: lower-casing cannot be turned off
])
def test_username_lower_casing(lowercase, product, expected):
    assert map_username("Bob@Example.com", username_rules(r"(.*)@.*", "$1", lowercase, product)) == expected


def test_a_username_the_rules_make_empty_is_a_rule_error():
    with pytest.raises(UnmappableName) as raised:
        map_username("@example.com", username_rules(r"(.*)@.*"))
    assert isinstance(raised.value, RuleError)
    assert raised.value.detail == ("userName '@example.com' becomes an empty jira username under username.regex "
                                   "'(.*)@.*'")


@pytest.mark.parametrize(("regex", "replacement", "message"), [
    (r"(.*)@.*", "$2", "the replacement uses group 2 but the regex has only 1 group"),
    (r".*@.*", "$1", "the replacement uses group 1 but the regex has no group"),
    (r"(.*)@(.*)", "${3}", "the replacement uses group 3 but the regex has only 2 groups"),
    (r"(?P<user>.*)@.*", "${name}", "the replacement names group 'name', which the regex does not define"),
    (r"(.*)@.*", r"\g<nope>", "the replacement names group 'nope', which the regex does not define"),
    (r"(.*)@.*", "$x", "'$' at position 0 must be followed by a group number, {name} or another '$'"),
    (r"(.*)@.*", "a\\", "a trailing '\\' escapes nothing"),
])
def test_bad_replacements_are_explained(regex, replacement, message):
    with pytest.raises(ValueError) as raised:
        parse_replacement(re.compile(regex), replacement)
    assert str(raised.value) == message


def group_rules(product="jira", *, include=(), exclude=(), regex=None, replacement=None, lowercase=False,
                default_groups=()) -> TargetRules:
    name = GroupNameRule(regex, replacement, lowercase)
    return TargetRules(product, groups=GroupRules(include=include, exclude=exclude, name=name),
                       default_groups=default_groups)


@pytest.mark.parametrize(("rules", "display_name", "expected"), [
    pytest.param(group_rules(), "Engineering", "Engineering", id="every group by default, name kept"),
    pytest.param(group_rules(include=("^eng",)), "Engineering", None, id="include is case-sensitive"),
    pytest.param(group_rules(include=("(?i)^eng",)), "Engineering", "Engineering", id="(?i) ignores case"),
    pytest.param(group_rules(include=("^Eng", "^Fin")), "Finance", "Finance", id="any include admits"),
    pytest.param(group_rules(include=("^Eng",)), "Finance", None, id="not included"),
    pytest.param(group_rules(include=("Ops",)), "DevOps team", "DevOps team", id="include searches"),
    pytest.param(group_rules(exclude=("^Contractors$",)), "Contractors", None, id="excluded"),
    pytest.param(group_rules(exclude=("^Contractors$",)), "Contractors EU", "Contractors EU", id="anchored exclude"),
    pytest.param(group_rules(include=("^Eng",), exclude=("Interns",)), "Eng Interns", None, id="exclude wins"),
    pytest.param(group_rules(regex="^scim-(.*)", replacement="$1"), "scim-Engineering", "Engineering",
                 id="name regex"),
    pytest.param(group_rules(regex="^scim-(.*)"), "scim-Engineering", "Engineering", id="replacement defaults to $1"),
    pytest.param(group_rules(regex="^scim-(.*)", replacement="$1"), "Finance", "Finance", id="no match: kept"),
    pytest.param(group_rules(regex=" ", replacement="-"), "Tour Guides EU", "Tour-Guides-EU", id="every match"),
    pytest.param(group_rules(lowercase=True), "Engineering", "engineering", id="lower case when set"),
    pytest.param(group_rules("confluence"), "Engineering", "engineering", id="Confluence: always lower case"),
    pytest.param(group_rules("confluence", exclude=("^Eng",)), "Engineering", None,
                 id="filters see the SCIM name, before lower-casing"),
])
def test_group_name_mapping(rules, display_name, expected):
    assert map_group_name(display_name, rules) == expected


def test_a_group_name_the_rules_make_empty_is_an_invalid_value():
    with pytest.raises(UnmappableName, match="group 'ext-' becomes an empty jira group name"):
        map_group_name("ext-", group_rules(regex="^ext-(.*)"))


@pytest.mark.parametrize(("protected", "username", "expected"), [
    (("admin",), "admin", True),
    (("admin",), "ADMIN", True),
    (("Admin",), "admin", True),
    (("admin",), "admin2", False),
    (("svc-*",), "svc-build", True),
    (("svc-*",), "build-svc", False),
    (("svc-?",), "svc-1", True),
    (("svc-?",), "svc-12", False),
    (("[ab]ot",), "bot", True),
    ((), "admin", False),
])
def test_protected_accounts(protected, username, expected):
    assert is_protected(username, TargetRules("jira", users=UserRules(protected=protected))) is expected


def test_managed_groups_are_pushed_groups_mapped_plus_default_groups():
    rules = group_rules("confluence", exclude=("^Contractors$",), regex="^scim-(.*)",
                        default_groups=("confluence-users",))
    names = ("scim-Engineering", "Finance", "Contractors", "scim-")
    assert managed_groups(names, rules) == frozenset({"engineering", "finance", "confluence-users"})
