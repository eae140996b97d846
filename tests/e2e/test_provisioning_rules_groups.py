"""Each group and licence setting of the rules changes what reaches Jira, Confluence and Bitbucket:
shown off and on, end to end, with the worker off and the outbox drained by the test (see
``provisioning_support``): groups.create / delete / sync_members / include / exclude / name /
keep_unmanaged, default_groups, Jira's application_keys and Bitbucket's deactivate_with.
"""

from __future__ import annotations

import pytest

from tests.e2e.provisioning_support import (
    EMAIL_LOCAL_PART,
    LICENCE,
    LICENCE_GROUPS,
    PRODUCTS,
    account,
    with_seeded,
)


def spelled(product: str, name: str) -> str:
    """Confluence keeps group names in lower case."""
    return name.lower() if product == "confluence" else name


def groups_of(bridge, product: str, user: str) -> set[str]:
    return set(bridge.fake(product).groups_of(user))


def group_names(bridge, product: str) -> set[str]:
    return set(bridge.state(product)[1]) - set(with_seeded(product, {}))


@pytest.mark.parametrize("create", [True, False])
def test_groups_create(start, create):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"create": create}}, targets=LICENCE_GROUPS, worker=False)
    for product in PRODUCTS:  # a group the administrator made on the product is used either way
        bridge.fake(product).add_group("QA")
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    team = bridge.idp.create_group("Dev Team", alice)
    bridge.idp.create_group("QA", alice)
    bridge.drain()
    for product in PRODUCTS:
        pushed = {spelled(product, "QA")} | ({spelled(product, "Dev Team")} if create else set())
        assert group_names(bridge, product) == pushed, product
        assert groups_of(bridge, product, "alice") == pushed | {LICENCE[product]}, product
    if not create:
        assert {link.reason for link in bridge.links("Group", team).values()} == {
            f"no group {name} on the target and groups.create is off" for name in ("Dev Team", "dev team")}
        assert bridge.links("User", alice)["jira"].reason == (
            "alice is not added to Dev Team: no such group on the target and groups.create is off")


@pytest.mark.parametrize("delete", [True, False])
def test_groups_delete(start, delete):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"delete": delete}}, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    team = bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    bridge.idp.ok(bridge.idp.delete(f"/Groups/{team}"), 204)
    bridge.drain()
    for product in PRODUCTS:
        # Either way the memberships the bridge made go; the group itself only with groups.delete.
        assert groups_of(bridge, product, "alice") == {LICENCE[product]}, product
        assert group_names(bridge, product) == (set() if delete else {spelled(product, "Dev Team")}), product


@pytest.mark.parametrize("sync_members", [True, False])
def test_groups_sync_members(start, sync_members):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"sync_members": sync_members}}, targets=LICENCE_GROUPS,
                   worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    for product in PRODUCTS:
        # The group is pushed either way; the membership only with sync_members. The licence group
        # (default_groups) is not a SCIM membership and follows activation, not this setting.
        assert group_names(bridge, product) == {spelled(product, "Dev Team")}, product
        members = {spelled(product, "Dev Team")} if sync_members else set()
        assert groups_of(bridge, product, "alice") == members | {LICENCE[product]}, product


@pytest.mark.parametrize(("groups", "pushed"), [
    pytest.param({}, {"eng-backend", "Sales", "All Users"}, id="everything"),
    pytest.param({"include": ["^eng-"]}, {"eng-backend"}, id="include"),
    pytest.param({"exclude": ["(?i)^all users$"]}, {"eng-backend", "Sales"}, id="exclude"),
    pytest.param({"include": ["^eng-", "^All"], "exclude": ["Users$"]}, {"eng-backend"}, id="exclude-wins"),
])
def test_groups_include_and_exclude(start, groups, pushed):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": groups}, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    sales = bridge.idp.create_group("Sales", alice)
    for name in ("eng-backend", "All Users"):
        bridge.idp.create_group(name, alice)
    bridge.drain()
    for product in PRODUCTS:
        expected = {spelled(product, name) for name in pushed}
        assert group_names(bridge, product) == expected, product
        assert groups_of(bridge, product, "alice") == expected | {LICENCE[product]}, product
    if "Sales" not in pushed:
        assert {link.status for link in bridge.links("Group", sales).values()} == {"skipped"}


@pytest.mark.parametrize(("rules", "targets", "names"), [
    pytest.param({}, {}, {"jira": "Dev Team", "confluence": "dev team", "bitbucket": "Dev Team"}, id="off"),
    pytest.param({"groups": {"name": {"regex": "^(.*)$", "replacement": "scim-$1"}}}, {},
                 {"jira": "scim-Dev Team", "confluence": "scim-dev team", "bitbucket": "scim-Dev Team"}, id="on"),
    pytest.param({"groups": {"name": {"regex": " ", "replacement": "-", "lowercase": True}}}, {},
                 {"jira": "dev-team", "confluence": "dev-team", "bitbucket": "dev-team"}, id="every-match"),
    # Global mapping, switched off for Confluence (null clears the regex).
    pytest.param({"groups": {"name": {"regex": "^(.*)$", "replacement": "scim-$1"}}},
                 {"confluence": {"groups": {"name": {"regex": None}}}},
                 {"jira": "scim-Dev Team", "confluence": "dev team", "bitbucket": "scim-Dev Team"}, id="per-target"),
])
def test_groups_name_mapping(start, rules, targets, names):
    targets = {p: {**LICENCE_GROUPS[p], **targets.get(p, {})} for p in PRODUCTS}
    bridge = start(rules={**EMAIL_LOCAL_PART, **rules}, targets=targets, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    team = bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    for product, name in names.items():
        assert group_names(bridge, product) == {name}, product
        assert bridge.fake(product).members(name) == ["alice"], product
        assert bridge.links("Group", team)[product].name == name


@pytest.mark.parametrize("keep_unmanaged", [True, False])
def test_groups_keep_unmanaged(start, keep_unmanaged):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"keep_unmanaged": keep_unmanaged}},
                   targets=LICENCE_GROUPS, worker=False)
    for product in PRODUCTS:  # Alice's existing account is in a group no SCIM group maps to
        bridge.fake(product).add_user("alice", "Alice Smith", "alice@example.com", groups=["legacy-team"])
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    for product in PRODUCTS:
        kept = {"legacy-team"} if keep_unmanaged else set()
        assert groups_of(bridge, product, "alice") == {spelled(product, "Dev Team"), LICENCE[product]} | kept
        assert "legacy-team" in group_names(bridge, product)  # the group itself is never touched


@pytest.mark.parametrize("default_groups", [False, True])
def test_default_groups(start, default_groups):
    targets = {"jira": {"default_groups": ["jira-software-users", "everyone"]},
               "confluence": {"default_groups": ["confluence-users"]},
               "bitbucket": {"default_groups": ["stash-users"]}} if default_groups else {}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=targets, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    # Without the setting, the products' own defaults still apply on create: Jira's application access
    # (jira-software-users) and Bitbucket's default group.
    expected = {"jira": {"jira-software-users"}, "confluence": set(), "bitbucket": {"stash-users"}}
    if default_groups:
        expected = {"jira": {"jira-software-users", "everyone"}, "confluence": {"confluence-users"},
                    "bitbucket": {"stash-users"}}
    for product in PRODUCTS:
        assert groups_of(bridge, product, "alice") == expected[product], product
    bridge.idp.change_user(alice, active=False)
    bridge.drain()
    if default_groups:  # a deactivated account leaves every default group
        for product in PRODUCTS:
            assert groups_of(bridge, product, "alice") == set(), product
    else:
        # Groups the bridge was not told about are left alone, licence groups included: Jira's account is
        # deactivated but stays in jira-software-users, and Bitbucket's stays licensed through stash-users
        # (why the start warns about a Bitbucket target without default_groups).
        assert {p: groups_of(bridge, p, "alice") for p in PRODUCTS} == expected
        assert bridge.jira.user("alice").active is False and bridge.bitbucket.is_licensed("alice")


@pytest.mark.parametrize("application_keys", [None, ["jira-servicedesk"]])
def test_jira_application_keys(start, application_keys):
    targets = {"jira": {"application_keys": application_keys}} if application_keys else {}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=targets, worker=False)
    bridge.jira.add_application_role("jira-servicedesk", "Jira Service Management", groups=["jira-servicedesk-users"],
                                     default_groups=["jira-servicedesk-users"])
    bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    # Without the setting Jira grants the applications selected by default (Jira Software).
    role = application_keys[0] if application_keys else "jira-software"
    assert [r.key for r in bridge.jira.roles_of("alice")] == [role]
    assert groups_of(bridge, "jira", "alice") == {f"{role}-users"}


@pytest.mark.parametrize("deactivate_with", ["remove_license", "delete"])
def test_bitbucket_deactivate_with(start, deactivate_with):
    targets = {**LICENCE_GROUPS, "bitbucket": {**LICENCE_GROUPS["bitbucket"], "deactivate_with": deactivate_with}}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=targets, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    bridge.idp.change_user(alice, active=False)
    bridge.drain()
    unlicensed = {"alice": account("Alice Smith", "alice@example.com", "Dev Team", licensed=False)}
    assert bridge.state("bitbucket")[0] == ({} if deactivate_with == "delete" else unlicensed)
    assert bridge.state("jira")[0] == {"alice": account("Alice Smith", "alice@example.com", "Dev Team",
                                                        active=False)}
