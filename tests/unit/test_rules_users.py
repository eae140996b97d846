"""User plans: every user setting off and on, each case asserting the exact plan.

The user is Alice: SCIM userName ``alice@example.com`` (``(.*)@.*`` → ``$1`` makes her ``alice``),
in the SCIM group Engineering; each product has its licence group as ``default_groups``. Unless a
case says otherwise she is linked, and the target reports her account as the bridge left it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from scim_bridge.rules.model import AppliedUser, DesiredUser, RemoteAccount, UserSnapshot
from scim_bridge.rules.names import managed_groups
from scim_bridge.rules.settings import effective_rules
from scim_bridge.rules.users import desired_user, plan_user
from tests.support.memory_client import MemoryDirectory
from tests.unit.rules_plans import (
    BITBUCKET,
    CONFLUENCE,
    CONFLUENCE_8_1,
    JIRA,
    activate,
    add,
    create_group,
    create_user,
    delete_user,
    grant,
    link,
    remove,
    rename,
    revoke,
    shape,
    update,
)

LICENCE = {"jira": "jira-software-users", "confluence": "confluence-users", "bitbucket": "stash-users"}
CAPABILITIES = {"jira": JIRA, "confluence": CONFLUENCE, "bitbucket": BITBUCKET}
ALICE = UserSnapshot("2819c223", "alice@example.com", "Alice Smith", "alice@example.com", True, False, ("Engineering",))
GLOBAL_RULES = {"username": {"regex": "(.*)@.*", "replacement": "$1"}, "application_keys": ["jira-software"]}
JIRA_KEYS = ("jira-software",)


def rules_for(product: str, **target):
    return effective_rules(GLOBAL_RULES, {"default_groups": [LICENCE[product]], **target}, product)


def _group(product: str, name: str) -> str:
    return name.lower() if product == "confluence" else name


def _account_fields(product: str) -> dict:
    return dict(name="alice", key="JIRAUSER10100", display_name="Alice Smith", email="alice@example.com",
                active=True, groups=frozenset({_group(product, "Engineering"), LICENCE[product]}))


def plan_for(product="jira", *, user=None, applied=None, remote=None, rules=None, caps=None, existing=None):
    """Plan Alice. ``applied`` / ``remote``: changes to the defaults, or ``False`` for none."""
    target_rules = rules_for(product, **(rules or {}))
    desired = desired_user(replace(ALICE, **(user or {})), target_rules)
    fields = _account_fields(product)
    link_row = None if applied is False else AppliedUser(**{**fields, **(applied or {})})
    account = None if remote is False else RemoteAccount(**{**fields, **(remote or {})})
    if existing is None:
        existing = {"Engineering", "Finance", "jira-administrators"}
    return plan_user(
        desired, link_row, account,
        capabilities=caps or CAPABILITIES[product],
        managed=managed_groups(("Engineering", "Finance"), target_rules),
        existing_groups=frozenset({_group(product, g) for g in existing} | {LICENCE[product]}),
        rules=target_rules,
    )


def check(case: dict, operations, skipped=None, notes=()):
    assert shape(plan_for(**case)) == (tuple(operations), skipped, tuple(notes))


def cases(*rows):
    return pytest.mark.parametrize(("case", "operations", "skipped", "notes"),
                                   [pytest.param(*row[1:], id=row[0]) for row in rows])


NEW = dict(applied=False, remote=False)
ALICE_CREATED = create_user("alice", "Alice Smith", "alice@example.com", JIRA_KEYS)


@cases(
    ("created", NEW, [ALICE_CREATED, add("alice", "jira-software-users"), add("alice", "Engineering")], None, ()),
    ("users.create off", {**NEW, "rules": {"users": {"create": False}}},
     [], "no account alice on the target and users.create is off", ()),
    ("inactive users are not created", {**NEW, "user": {"active": False}},
     [], "alice is inactive and has no account on the target: not created", ()),
    ("no e-mail address", {**NEW, "user": {"email": None}},
     [], "alice has no e-mail address, which jira needs to create an account", ()),
    ("Confluence before 8.4 cannot create", {**NEW, "product": "confluence", "caps": CONFLUENCE_8_1},
     [], "confluence cannot create accounts over REST at this version", ()),
    ("Confluence: lower case, no application keys",
     {**NEW, "product": "confluence", "user": {"user_name": "Alice@Example.com"}},
     [create_user("alice", "Alice Smith", "alice@example.com"), add("alice", "confluence-users"),
      add("alice", "engineering")], None, ()),
    ("Bitbucket: no application keys", {**NEW, "product": "bitbucket"},
     [create_user("alice", "Alice Smith", "alice@example.com"), add("alice", "stash-users"),
      add("alice", "Engineering")], None, ()),
    ("an account deleted on the target is created again", {"remote": False},
     [ALICE_CREATED, add("alice", "jira-software-users"), add("alice", "Engineering")], None,
     ("the account alice linked before is gone from the target: created again",)),
    ("deleted on the target, users.create off", {"remote": False, "rules": {"users": {"create": False}}},
     [], "no account alice on the target and users.create is off", ()),
    ("existing account linked by username", {"applied": False}, [link("alice")], None, ()),
    ("linked account gets its groups", {"applied": False, "remote": {"groups": frozenset({"Finance"})}},
     [link("alice"), add("alice", "jira-software-users"), add("alice", "Engineering"), remove("alice", "Finance")],
     None, ()),
    ("match_existing none", {"applied": False, "rules": {"users": {"match_existing": "none"}}},
     [], "an account alice already exists and users.match_existing is none: not linked", ()),
    ("match_existing email links and renames",
     {"applied": False, "remote": {"name": "asmith", "email": "ALICE@example.com"},
      "rules": {"users": {"match_existing": "email"}}},
     [rename("asmith", "alice"), link("alice")], None, ()),
    ("match_existing email, other address",
     {"applied": False, "remote": {"email": "alice@elsewhere.org"}, "rules": {"users": {"match_existing": "email"}}},
     [], "the account alice has another e-mail address; users.match_existing is email: not linked", ()),
    ("match_existing email, no address in the IdP",
     {"applied": False, "user": {"email": None}, "rules": {"users": {"match_existing": "email"}}},
     [], "alice has no e-mail address to match the existing account alice by", ()),
    ("match_existing email on Confluence, which reports no e-mail",
     {"product": "confluence", "applied": False, "remote": {"email": None},
      "rules": {"users": {"match_existing": "email"}}},
     [], "confluence does not report the e-mail address of alice, so users.match_existing email cannot link it", ()),
    ("match_existing username, an account of another name",
     {"applied": False, "remote": {"name": "asmith"}},
     [], "the account found, asmith, is not named alice: not linked", ()),
    ("in line already", {}, [], None, ()),
)
def test_create_and_link(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


RENAMED = {"display_name": "Alice Jones"}


@cases(
    ("protected by name, any case", {"user": RENAMED, "rules": {"users": {"protected": ["ALICE"]}}},
     [], "alice is protected (users.protected 'ALICE'): never changed by the bridge", ()),
    ("protected by glob, under its old name",
     {"applied": {"name": "svc-alice"}, "remote": {"name": "svc-alice"}, "rules": {"users": {"protected": ["svc-*"]}}},
     [], "svc-alice is protected (users.protected 'svc-*'): never changed by the bridge", ()),
    ("protected accounts are not deactivated on delete",
     {"user": {"deleted": True, "groups": ()}, "rules": {"users": {"protected": ["al?ce"]}}},
     [], "alice is protected (users.protected 'al?ce'): never changed by the bridge", ()),
    ("protected accounts are not created", {**NEW, "rules": {"users": {"protected": ["alice"]}}},
     [], "alice is protected (users.protected 'alice'): never changed by the bridge", ()),
    ("other patterns do not protect", {"user": RENAMED, "rules": {"users": {"protected": ["admin", "svc-*"]}}},
     [update("alice", display_name="Alice Jones")], None, ()),
    ("account in another directory",
     {"user": RENAMED, "remote": {"directory": "Corporate LDAP"}, "rules": {"directory": "Jira Internal Directory"}},
     [], "alice is in the directory 'Corporate LDAP', not 'Jira Internal Directory' (directory): left alone", ()),
    ("account in the managed directory, any case",
     {"user": RENAMED, "remote": {"directory": "jira internal directory"},
      "rules": {"directory": "Jira Internal Directory"}},
     [update("alice", display_name="Alice Jones")], None, ()),
    ("directory not set", {"user": RENAMED, "remote": {"directory": "Corporate LDAP"}},
     [update("alice", display_name="Alice Jones")], None, ()),
    ("directory not reported", {"user": RENAMED, "rules": {"directory": "Jira Internal Directory"}},
     [update("alice", display_name="Alice Jones")], None, ()),
    ("read-only directory", {"user": RENAMED, "remote": {"mutable": False, "directory": "Corporate LDAP"}},
     [], "alice is in the read-only directory 'Corporate LDAP': left alone", ()),
)
def test_left_alone(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


@cases(
    ("display name", {"user": RENAMED}, [update("alice", display_name="Alice Jones")], None, ()),
    ("display names compare case-sensitively", {"user": {"display_name": "alice smith"}},
     [update("alice", display_name="alice smith")], None, ()),
    ("e-mail address", {"user": {"email": "alice.smith@example.com"}},
     [update("alice", email="alice.smith@example.com")], None, ()),
    ("e-mail addresses compare case-insensitively", {"user": {"email": "Alice@Example.COM"}}, [], None, ()),
    ("both", {"user": {"display_name": "Alice Jones", "email": "aj@example.com"}},
     [update("alice", display_name="Alice Jones", email="aj@example.com")], None, ()),
    ("users.update off",
     {"user": {"display_name": "Alice Jones", "email": "aj@example.com"}, "rules": {"users": {"update": False}}},
     [], None, ("alice: display name and email not updated: users.update is off",)),
    ("not reported: what was applied counts", {"remote": {"display_name": None}}, [], None, ()),
    ("neither reported nor applied", {"remote": {"display_name": None}, "applied": {"display_name": None}},
     [update("alice", display_name="Alice Smith")], None, ()),
    ("Confluence reports no e-mail", {"product": "confluence", "remote": {"email": None}}, [], None, ()),
    ("no e-mail in the IdP leaves the account's", {"user": {"email": None}}, [], None, ()),
)
def test_profile_update(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


INACTIVE = {"active": False}
OUT = {"active": False, "groups": frozenset({"Engineering"})}  # deactivated, out of the licence group


@cases(
    ("deactivated, licence group left", {"user": INACTIVE},
     [remove("alice", "jira-software-users"), activate("alice", False)], None, ()),
    ("users.deactivate off", {"user": INACTIVE, "rules": {"users": {"deactivate": False}}},
     [], None, ("alice stays active on the target: users.deactivate is off",)),
    ("inactive already, still in the licence group", {"user": INACTIVE, "remote": {"active": False}},
     [remove("alice", "jira-software-users")], None, ()),
    ("inactive already and unlicensed", {"user": INACTIVE, "remote": OUT, "applied": OUT}, [], None, ()),
    ("reactivated, licence group back", {"remote": OUT, "applied": OUT},
     [activate("alice"), add("alice", "jira-software-users")], None, ()),
    ("users.activate off", {"remote": OUT, "applied": OUT, "rules": {"users": {"activate": False}}},
     [], None, ("alice stays inactive on the target: users.activate is off",)),
    ("state not reported: what was applied counts", {"remote": {"active": None}, "applied": {"active": False}},
     [activate("alice")], None, ()),
    ("Confluence disables", {"product": "confluence", "user": INACTIVE},
     [remove("alice", "confluence-users"), activate("alice", False)], None, ()),
    ("groups unknown: every licence group is taken away",
     {"user": INACTIVE, "applied": False, "remote": {"groups": None}},
     [link("alice"), add("alice", "Engineering"), remove("alice", "jira-software-users"), activate("alice", False)],
     None, ()),
)
def test_activation(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


BB_OUT = {"active": False, "groups": frozenset({"Engineering"})}


@cases(
    ("remove_license", {"product": "bitbucket", "user": INACTIVE},
     [remove("alice", "stash-users"), revoke("alice")], None, ()),
    ("delete", {"product": "bitbucket", "user": INACTIVE, "rules": {"deactivate_with": "delete"}},
     [delete_user("alice")], None, ()),
    ("delete never removes an account it has not linked",
     {"product": "bitbucket", "user": INACTIVE, "applied": False, "rules": {"deactivate_with": "delete"}},
     [], "alice is inactive; the existing account alice was never linked, so it is not deleted", ()),
    ("remove_license on first link", {"product": "bitbucket", "user": INACTIVE, "applied": False},
     [link("alice"), remove("alice", "stash-users"), revoke("alice")], None, ()),
    ("users.deactivate off, remove_license",
     {"product": "bitbucket", "user": INACTIVE, "rules": {"users": {"deactivate": False}}},
     [], None, ("alice stays active on the target: users.deactivate is off",)),
    ("users.deactivate off, delete",
     {"product": "bitbucket", "user": INACTIVE, "rules": {"users": {"deactivate": False}, "deactivate_with": "delete"}},
     [], None, ("alice stays active on the target: users.deactivate is off",)),
    # Bitbucket reports internal accounts active whether licensed or not: the link row tells.
    ("reactivated: licence and default group back",
     {"product": "bitbucket", "applied": BB_OUT, "remote": {"groups": frozenset({"Engineering"})}},
     [grant("alice"), add("alice", "stash-users")], None, ()),
    ("reactivation with users.activate off",
     {"product": "bitbucket", "applied": BB_OUT, "remote": {"groups": frozenset({"Engineering"})},
      "rules": {"users": {"activate": False}}},
     [], None, ("alice stays inactive on the target: users.activate is off",)),
    ("unlicensed already", {"product": "bitbucket", "user": INACTIVE, "applied": BB_OUT,
                            "remote": {"groups": frozenset({"Engineering"})}}, [], None, ()),
    ("reactivated after deactivate_with delete: created again",
     {"product": "bitbucket", "applied": BB_OUT, "remote": False, "rules": {"deactivate_with": "delete"}},
     [create_user("alice", "Alice Smith", "alice@example.com"), add("alice", "stash-users"),
      add("alice", "Engineering")], None, ("the account alice linked before is gone from the target: created again",)),
    ("Confluence before 8.2 has no disable either",
     {"product": "confluence", "caps": CONFLUENCE_8_1, "user": INACTIVE},
     [remove("alice", "confluence-users"), revoke("alice")], None, ()),
)
def test_products_without_deactivation(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


GONE = {"deleted": True, "groups": ()}


@cases(
    ("on_delete deactivate", {"user": GONE},
     [remove("alice", "Engineering"), remove("alice", "jira-software-users"), activate("alice", False)], None, ()),
    ("on_delete deactivate does not depend on users.deactivate",
     {"user": GONE, "rules": {"users": {"deactivate": False}}},
     [remove("alice", "Engineering"), remove("alice", "jira-software-users"), activate("alice", False)], None, ()),
    ("on_delete delete", {"user": GONE, "rules": {"users": {"on_delete": "delete"}}}, [delete_user("alice")], None, ()),
    ("on_delete ignore", {"user": GONE, "rules": {"users": {"on_delete": "ignore"}}},
     [], "alice was deleted in the identity provider; users.on_delete is ignore", ()),
    ("no account left", {"user": GONE, "remote": False}, [], None, ()),
    ("deleted before it was linked", {"user": GONE, "applied": False},
     [], "alice was deleted before it was linked: the existing account alice is left alone", ()),
    ("Bitbucket, deactivate_with delete", {"product": "bitbucket", "user": GONE,
                                           "rules": {"deactivate_with": "delete"}}, [delete_user("alice")], None, ()),
    ("Bitbucket, remove_license", {"product": "bitbucket", "user": GONE},
     [remove("alice", "Engineering"), remove("alice", "stash-users"), revoke("alice")], None, ()),
    ("no rename on the way out", {"user": GONE, "applied": {"name": "alice.old"}, "remote": {"name": "alice.old"}},
     [remove("alice.old", "Engineering"), remove("alice.old", "jira-software-users"),
      activate("alice.old", False)], None, ()),
    ("keep_unmanaged keeps other groups",
     {"user": GONE, "remote": {"groups": frozenset({"Engineering", "jira-software-users", "jira-administrators"})}},
     [remove("alice", "Engineering"), remove("alice", "jira-software-users"), activate("alice", False)], None, ()),
    ("keep_unmanaged off takes every group",
     {"user": GONE, "remote": {"groups": frozenset({"Engineering", "jira-software-users", "jira-administrators"})},
      "rules": {"groups": {"keep_unmanaged": False}}},
     [remove("alice", "Engineering"), remove("alice", "jira-administrators"), remove("alice", "jira-software-users"),
      activate("alice", False)], None, ()),
)
def test_deletion(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


OLD_NAME = {"applied": {"name": "alice.old"}, "remote": {"name": "alice.old"}}


@cases(
    ("Jira renames, then works under the new name", {**OLD_NAME, "user": RENAMED},
     [rename("alice.old", "alice"), update("alice", display_name="Alice Jones")], None, ()),
    ("Bitbucket renames", {**OLD_NAME, "product": "bitbucket"}, [rename("alice.old", "alice")], None, ()),
    ("Confluence cannot: the old name stays managed", {**OLD_NAME, "product": "confluence", "user": RENAMED},
     [update("alice.old", display_name="Alice Jones")], None,
     ("confluence cannot rename users: the account keeps the name alice.old (the identity provider's userName "
      "now maps to alice)",)),
    ("users.update off", {**OLD_NAME, "rules": {"users": {"update": False}}},
     [], None, ("alice.old is not renamed to alice: users.update is off",)),
    ("a change of case is no rename", {"user": {"user_name": "Alice@example.com"},
                                       "rules": {"username": {"lowercase": False}}}, [], None, ()),
)
def test_renames(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


STRAY = frozenset({"Finance", "jira-software-users", "jira-administrators"})


@cases(
    ("adds desired, removes managed", {"remote": {"groups": STRAY}},
     [add("alice", "Engineering"), remove("alice", "Finance")], None, ()),
    ("keep_unmanaged off removes any", {"remote": {"groups": STRAY}, "rules": {"groups": {"keep_unmanaged": False}}},
     [add("alice", "Engineering"), remove("alice", "Finance"), remove("alice", "jira-administrators")], None, ()),
    ("sync_members off: licence group only", {"remote": {"groups": frozenset({"Finance"})},
                                              "rules": {"groups": {"sync_members": False}}},
     [add("alice", "jira-software-users")], None, ()),
    ("sync_members off: deactivation still takes the licence group",
     {"user": INACTIVE, "remote": {"groups": frozenset({"Finance", "jira-software-users"})},
      "rules": {"groups": {"sync_members": False}}},
     [remove("alice", "jira-software-users"), activate("alice", False)], None, ()),
    ("a missing SCIM group is awaited, not created", {"remote": {"groups": frozenset({"jira-software-users"})},
                                                      "existing": {"Finance"}},
     [], None, ()),
    ("missing group, groups.create off", {"remote": {"groups": frozenset({"jira-software-users"})},
                                          "existing": {"Finance"}, "rules": {"groups": {"create": False}}},
     [], None, ("alice is not added to Engineering: no such group on the target and groups.create is off",)),
    ("group names compare case-insensitively",
     {"remote": {"groups": frozenset({"ENGINEERING", "Jira-Software-Users"})}}, [], None, ()),
    ("groups not read: what was applied counts",
     {"user": {"groups": ("Finance",)}, "remote": {"groups": None}},
     [add("alice", "Finance"), remove("alice", "Engineering")], None, ()),
    ("inactive, users.deactivate off: licence group kept even with keep_unmanaged off",
     {"user": INACTIVE, "remote": {"groups": STRAY | {"Engineering"}},
      "rules": {"users": {"deactivate": False}, "groups": {"keep_unmanaged": False}}},
     [remove("alice", "Finance"), remove("alice", "jira-administrators")], None,
     ("alice stays active on the target: users.deactivate is off",)),
    ("excluded SCIM groups are not pushed", {"user": {"groups": ("Engineering", "Contractors")},
                                             "rules": {"groups": {"exclude": ["^Contractors$"]}}}, [], None, ()),
    ("mapped group names", {"rules": {"groups": {"name": {"regex": "(.+)", "replacement": "scim-$1"}}},
                            "existing": {"scim-Engineering"}},
     [add("alice", "scim-Engineering")], None, ()),
)
def test_memberships(case, operations, skipped, notes):
    check(case, operations, skipped, notes)


@pytest.mark.parametrize(("case", "awaiting"), [
    ({"remote": {"groups": frozenset({"jira-software-users"})}, "existing": {"Finance"}},
     (add("alice", "Engineering"),)),
    ({"rules": {"groups": {"name": {"regex": "(.+)", "replacement": "scim-$1"}}}},
     (add("alice", "scim-Engineering"),)),
    ({"remote": False, "existing": set()}, (add("alice", "Engineering"),)),
    ({"remote": {"groups": frozenset({"jira-software-users"})}, "existing": {"Finance"},
      "rules": {"groups": {"create": False}}}, ()),
])
def test_a_missing_scim_group_is_awaited_for_its_own_delivery_to_create(case, awaiting):
    """Only a SCIM group's own delivery creates it on a target (docs/architecture.md): the user's plan
    holds the membership apart, to run once the group exists, unless groups.create is off."""
    plan = plan_for(**case)
    assert plan.awaiting == awaiting
    assert "Engineering" not in plan.applied.groups and "scim-Engineering" not in plan.applied.groups


def test_a_missing_default_group_no_scim_group_stands_behind_is_created_by_the_user_delivery():
    target_rules = rules_for("jira", default_groups=["all-staff"])
    desired = desired_user(ALICE, target_rules)
    plan = plan_user(desired, None, None, capabilities=JIRA, managed=frozenset(),
                     existing_groups=frozenset({"Engineering"}), rules=target_rules)
    assert plan.operations == (create_user("alice", "Alice Smith", "alice@example.com", JIRA_KEYS),
                               create_group("all-staff"), add("alice", "all-staff"), add("alice", "Engineering"))
    assert plan.awaiting == ()


SCENARIOS = [
    NEW, {"applied": False}, {"user": INACTIVE}, {"product": "bitbucket", "user": INACTIVE}, {"user": GONE},
    {**OLD_NAME, "user": RENAMED}, {"remote": {"groups": STRAY}}, {"rules": {"users": {"protected": ["alice"]}}},
]


@pytest.mark.parametrize("case", SCENARIOS)
def test_dry_run_plans_the_same(case):
    rules = case.get("rules", {})
    assert plan_for(**{**case, "rules": {**rules, "dry_run": True}}) == plan_for(**{**case, "rules": rules})


def test_applied_state_after_a_create():
    plan = plan_for(**NEW)
    assert plan.final_name == "alice"
    assert plan.applied == AppliedUser("alice", None, "Alice Smith", "alice@example.com", True,
                                       frozenset({"Engineering", "jira-software-users"}))


def test_applied_state_after_a_deactivation_keeps_the_key_and_drops_the_licence_group():
    plan = plan_for(user=INACTIVE)
    assert plan.applied == AppliedUser("alice", "JIRAUSER10100", "Alice Smith", "alice@example.com", False,
                                       frozenset({"Engineering"}))


def test_applied_state_keeps_what_the_target_has_when_updates_are_off():
    plan = plan_for(user=RENAMED, rules={"users": {"update": False}})
    assert (plan.applied.display_name, plan.final_name) == ("Alice Smith", "alice")


def test_confluence_keeps_managing_the_old_name():
    plan = plan_for("confluence", **OLD_NAME)
    assert (plan.final_name, plan.applied.name) == ("alice.old", "alice.old")


@pytest.mark.parametrize("case", [
    {"rules": {"users": {"protected": ["alice"]}}}, {"user": GONE, "rules": {"users": {"on_delete": "delete"}}},
    {"user": GONE, "remote": False},
])
def test_no_account_state_when_skipped_or_deleted(case):
    plan = plan_for(**case)
    assert (plan.final_name, plan.applied) == (None, None)


def _run(account: RemoteAccount | None, existing: set, operations) -> RemoteAccount | None:
    """What a target holds after the operations: each makes its own call on an in-memory directory."""
    client = MemoryDirectory()
    for group in existing:
        client.seed_group(group)
    if account is not None:
        client.seed_user(account.name, account.display_name, account.email, active=account.active,
                         groups=tuple(account.groups or ()))
    for op in operations:
        op.call(client)
    existing.update(client.groups.values())
    found = next(iter(client.users.values()), None)  # the one account, whatever it is called now
    if found is None:
        return None
    return RemoteAccount(found.name, found.key, found.display_name, found.email, found.active,
                         groups=frozenset(client.user_groups(found.name)))


@pytest.mark.parametrize("case", [
    NEW, {"applied": False, "remote": {"groups": STRAY}}, {"user": INACTIVE}, {"remote": OUT, "applied": OUT},
    {"product": "bitbucket", "user": INACTIVE}, {"product": "bitbucket", "applied": BB_OUT},
    {**OLD_NAME, "user": RENAMED}, {**OLD_NAME, "product": "confluence", "user": RENAMED}, {"user": GONE},
    {"remote": {"groups": frozenset({"jira-software-users"})}, "existing": {"Finance"}},
], ids=str)
def test_a_plan_once_run_leaves_nothing_to_do(case):
    """Level-triggered delivery: planning again against the result of a plan finds nothing to do."""
    product = case.get("product", "jira")
    target_rules = rules_for(product, **case.get("rules", {}))
    desired = desired_user(replace(ALICE, **case.get("user", {})), target_rules)
    first = plan_for(**case)
    fields = _account_fields(product)
    before = None if case.get("remote") is False else RemoteAccount(**{**fields, **case.get("remote", {})})
    existing = {_group(product, g) for g in case.get("existing", {"Engineering", "Finance", "jira-administrators"})}
    existing.add(LICENCE[product])
    after = _run(before, existing, first.operations)
    if after is not None and before is not None and before.key:
        after = replace(after, key=before.key)
    applied = first.applied if first.applied is None or first.applied.key else replace(first.applied, key=after.key)
    again = plan_user(desired, applied, after, capabilities=CAPABILITIES[product],
                      managed=managed_groups(("Engineering", "Finance"), target_rules),
                      existing_groups=frozenset(existing), rules=target_rules)
    assert (again.operations, again.skipped) == ((), None)
    assert again.final_name == first.final_name


@pytest.mark.parametrize(("product", "snapshot", "expected"), [
    ("jira", ALICE, frozenset({"Engineering", "jira-software-users"})),
    ("jira", replace(ALICE, active=False), frozenset({"Engineering"})),
    ("jira", replace(ALICE, deleted=True), frozenset({"Engineering"})),
    ("confluence", replace(ALICE, groups=("Engineering", "Finance")),
     frozenset({"engineering", "finance", "confluence-users"})),
])
def test_desired_groups_are_mapped_groups_plus_licence_groups_while_active(product, snapshot, expected):
    assert desired_user(snapshot, rules_for(product)).groups == expected


def test_desired_user_leaves_out_excluded_and_unmappable_groups():
    groups = {"exclude": ["^Contractors$"], "name": {"regex": "^ext-(.*)", "replacement": "$1"}}
    rules = rules_for("jira", groups=groups)
    snapshot = replace(ALICE, user_name="Alice@Example.com", groups=("Engineering", "Contractors", "ext-"))
    assert desired_user(snapshot, rules) == DesiredUser(
        "alice", "Alice Smith", "alice@example.com", True, False, frozenset({"Engineering", "jira-software-users"}),
        pushed_groups=frozenset({"Engineering"}),
    )


def test_operation_descriptions_read_as_the_audit_log_shows_them():
    plan = plan_for(**{**OLD_NAME, "user": INACTIVE})
    assert [op.describe() for op in plan.operations] == [
        "rename alice.old to alice", "remove alice from jira-software-users", "deactivate alice",
    ]
