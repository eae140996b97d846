"""``scim-bridge check-config`` catches provisioning that would go wrong (docs/cli.md): a licence group
or a mapped group that does not exist on the target, a Jira application key Jira does not have, a
user directory the product does not list, no bearer token, no target. Each check is asserted in the
words an administrator reads, with the exit code; the products are the in-process fakes, asked
through the bridge's own clients."""

from __future__ import annotations

import pytest

from atlassian_clients.fakes import start_fakes
from scim_bridge.cli import PROBLEMS
from tests.e2e.provisioning_support import command_line

TOKENS = {"auth": {"tokens": [{"name": "okta", "value": "a-configured-token-0123456789"}]}}


@pytest.fixture(scope="module")
def fakes():
    with start_fakes() as running:
        yield running


@pytest.fixture
def database(tmp_path):
    return {"database": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"}}


def target(fakes, product: str, **rules) -> dict:
    return {"type": product, "url": fakes.base_url(product), "username": "admin", "password": "admin",
            "rules": rules}


def check(tmp_path, config: dict, status: int = 0) -> str:
    return command_line(tmp_path, config, "check-config", in_process=True, status=status)


def test_a_mistyped_default_group_is_a_problem_naming_it_and_a_right_one_is_found(tmp_path, fakes, database):
    config = {**database, **TOKENS, "targets": {
        "jira": target(fakes, "jira", default_groups=["jira-software-users", "jira-softwre-users"])}}
    printed = check(tmp_path, config, status=PROBLEMS)
    assert "targets.jira.rules.default_groups: jira-software-users found on jira\n" in printed
    assert ("problem: targets.jira.rules.default_groups: no group named 'jira-softwre-users' on jira: users "
            "would be put in a new, empty group of that name and get no licence (check the spelling against "
            "the product's groups)\n") in printed
    assert printed.endswith("Error: check-config found 1 problem(s): see the 'problem:' lines above\n")


def test_default_groups_on_crowd_are_checked_in_its_directory(tmp_path, fakes, database):
    config = {**database, **TOKENS, "targets": {"crowd": target(fakes, "crowd", default_groups=["confluence-users"])}}
    printed = check(tmp_path, config, status=PROBLEMS)
    assert "problem: targets.crowd.rules.default_groups: no group named 'confluence-users' on crowd: " in printed


def test_an_unknown_jira_application_key_is_a_problem_listing_the_ones_jira_has(tmp_path, fakes, database):
    config = {**database, **TOKENS, "targets": {
        "jira": target(fakes, "jira", application_keys=["jira-software", "jira-servicedesk"])}}
    printed = check(tmp_path, config, status=PROBLEMS)
    assert "targets.jira.rules.application_keys: jira-software found on jira\n" in printed
    assert ("problem: targets.jira.rules.application_keys: jira has no application 'jira-servicedesk' (it has: "
            "jira-software): creating a user there would be refused\n") in printed


def test_the_confluence_licence_group_option_is_checked(tmp_path, fakes, database):
    wrong = {**target(fakes, "confluence"), "options": {"licence_group": "confluence-user"}}
    printed = check(tmp_path, {**database, **TOKENS, "targets": {"confluence": wrong}}, status=PROBLEMS)
    assert ("problem: targets.confluence.options.licence_group: no group named 'confluence-user' on confluence: "
            "the accounts the bridge licenses would be put in it, and no Confluence permission licenses its "
            "members (check the spelling against the product's groups)\n") in printed
    right = check(tmp_path, {**database, **TOKENS, "targets": {"confluence": target(fakes, "confluence")}})
    assert "targets.confluence.options.licence_group: confluence-users found on confluence\n" in right
    assert "problem:" not in right


def test_the_directory_is_checked_where_the_product_lists_them(tmp_path, fakes, database):
    found = check(tmp_path, {**database, **TOKENS, "targets": {
        "bitbucket": target(fakes, "bitbucket", directory="Bitbucket Internal Directory")}})
    assert ("targets.bitbucket.rules.directory: user directory 'Bitbucket Internal Directory' found on "
            "bitbucket\n") in found
    missing = check(tmp_path, {**database, **TOKENS, "targets": {
        "bitbucket": target(fakes, "bitbucket", directory="Corp AD")}}, status=PROBLEMS)
    assert ("problem: targets.bitbucket.rules.directory: no user directory named 'Corp AD' on bitbucket (it has: "
            "Bitbucket Internal Directory): every account would be reported as in another directory and left "
            "alone\n") in missing
    # Jira does not list its directories over REST: said, as a warning, and the exit code stays 0.
    jira = check(tmp_path, {**database, **TOKENS, "targets": {"jira": target(fakes, "jira", directory="Corp AD")}})
    assert ("warning: targets.jira.rules.directory: not checked: jira does not list its user directories over "
            "REST, and the setting has no effect there\n") in jira


def test_with_groups_create_off_the_groups_scim_groups_map_to_must_exist(tmp_path, start):
    bridge = start(targets={"jira": {"groups": {"create": False}}}, products=("jira",), worker=False)
    bridge.idp.create_group("Dev Team")
    printed = command_line(tmp_path, bridge.config, "check-config", in_process=True, status=PROBLEMS)
    assert ("problem: targets.jira.rules.groups: groups.create is false and no group named 'Dev Team' (the SCIM "
            "group 'Dev Team' maps to it) exists on jira: its memberships will be refused (create the group, "
            "or correct groups.name)\n") in printed
    bridge.jira.add_group("Dev Team")
    printed = bridge.cli(tmp_path, "check-config", in_process=True)
    assert "targets.jira.rules.groups: the 1 group(s) SCIM groups map to exist on jira\n" in printed


def test_no_token_configured_or_stored_is_a_problem_and_a_stored_one_is_enough(tmp_path, fakes, database):
    config = {**database, "targets": {"jira": target(fakes, "jira")}}
    printed = check(tmp_path, config, status=PROBLEMS)
    assert ("problem: auth.tokens: no bearer token is configured or stored, so every identity provider request "
            "is refused (401): run `scim-bridge token create NAME` or add one to auth.tokens\n") in printed
    command_line(tmp_path, config, "token", "create", "okta")
    printed = check(tmp_path, config)
    assert "auth.tokens: 0 token(s) in the configuration file, 1 active token(s) stored\n" in printed


def test_no_target_is_a_warning_not_a_failure(tmp_path, database):
    printed = check(tmp_path, {**database, **TOKENS})
    assert ("warning: targets: no enabled target: the bridge keeps what identity providers send and provisions "
            "no product (add one under targets:)\n") in printed
