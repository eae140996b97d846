"""Group plans: create, delete, rename (no product renames groups), include / exclude, each case exact."""

from __future__ import annotations

import pytest

from scim_bridge.rules.groups import desired_group, plan_group
from scim_bridge.rules.model import DesiredGroup, GroupSnapshot
from scim_bridge.rules.settings import effective_rules
from tests.unit.rules_plans import add, create_group, delete_group, remove, shape

MEMBERS = ("alice", "bob")


def rules_for(product="jira", **target):
    return effective_rules({"default_groups": ["jira-software-users"]}, target, product)


@pytest.mark.parametrize(("product", "snapshot", "target", "expected"), [
    ("jira", GroupSnapshot("g1", "Engineering", False), {}, DesiredGroup("Engineering", False)),
    ("jira", GroupSnapshot("g1", "Engineering", True), {}, DesiredGroup("Engineering", True)),
    ("confluence", GroupSnapshot("g1", "Engineering", False), {}, DesiredGroup("engineering", False)),
    ("jira", GroupSnapshot("g1", "scim-Engineering", False),
     {"groups": {"name": {"regex": "^scim-(.*)", "replacement": "$1"}}}, DesiredGroup("Engineering", False)),
    ("jira", GroupSnapshot("g1", "Contractors", False), {"groups": {"exclude": ["^Contractors$"]}}, None),
    ("jira", GroupSnapshot("g1", "Contractors", True), {"groups": {"include": ["^Eng"]}}, None),
])
def test_desired_group(product, snapshot, target, expected):
    assert desired_group(snapshot, rules_for(product, **target)) == expected


LIVE = DesiredGroup("Engineering", False)
GONE = DesiredGroup("Engineering", True)
RENAMED = DesiredGroup("Platform", False)


def cases(*rows):
    return pytest.mark.parametrize(("desired", "applied", "exists", "target", "operations", "skipped", "notes"),
                                   [pytest.param(*row[1:], id=row[0]) for row in rows])


@cases(
    ("created", LIVE, None, False, {}, [create_group("Engineering")], None, ()),
    ("created again when gone from the target", LIVE, "Engineering", False, {}, [create_group("Engineering")],
     None, ("the group Engineering linked before is gone from the target: created again, and its members queued",)),
    ("groups.create off", LIVE, None, False, {"groups": {"create": False}},
     [], "no group Engineering on the target and groups.create is off", ()),
    ("exists: linked, nothing to do", LIVE, None, True, {}, [], None, ()),
    ("in line", LIVE, "Engineering", True, {}, [], None, ()),
    ("a change of case is no rename", DesiredGroup("ENGINEERING", False), "Engineering", True, {}, [], None, ()),
    ("not pushed", None, None, False, {}, [], "not pushed to this target (groups.include / groups.exclude)", ()),
    ("no longer pushed: left as it is, even with groups.delete", None, "Engineering", True,
     {"groups": {"delete": True}}, [],
     "no longer pushed to this target (groups.include / groups.exclude): Engineering is left on the target as it is",
     ()),
    ("deleted, groups.delete on", GONE, "Engineering", True, {"groups": {"delete": True}},
     [delete_group("Engineering")], None, ()),
    ("deleted, under the name last applied", GONE, "Eng", True, {"groups": {"delete": True}},
     [delete_group("Eng")], None, ()),
    ("deleted, groups.delete off", GONE, "Engineering", True, {},
     [], "deleted in the identity provider; groups.delete is off: Engineering is left on the target", ()),
    ("deleted: delete is idempotent, existence not needed", GONE, "Engineering", False,
     {"groups": {"delete": True}}, [delete_group("Engineering")], None, ()),
    ("deleted before it was ever linked", GONE, None, True, {"groups": {"delete": True}}, [], None, ()),
    ("a licence group is never deleted", DesiredGroup("jira-software-users", True), "jira-software-users", True,
     {"groups": {"delete": True}}, [],
     "jira-software-users is one of default_groups (a licence group): never deleted", ()),
)
def test_create_delete_and_filters(desired, applied, exists, target, operations, skipped, notes):
    plan = plan_group(desired, applied, remote_exists=exists, members=MEMBERS, rules=rules_for(**target))
    assert shape(plan) == (tuple(operations), skipped, tuple(notes))


@cases(
    ("groups.delete on: create, move, delete", RENAMED, "Engineering", False, {"groups": {"delete": True}},
     [create_group("Platform"), add("alice", "Platform"), add("bob", "Platform"), delete_group("Engineering")],
     None, ()),
    ("groups.delete off: the old group stays, without the members", RENAMED, "Engineering", False, {},
     [create_group("Platform"), add("alice", "Platform"), add("bob", "Platform"), remove("alice", "Engineering"),
      remove("bob", "Engineering")], None, ("Engineering is left on the target (groups.delete is off)",)),
    ("new name exists already", RENAMED, "Engineering", True, {"groups": {"delete": True}},
     [add("alice", "Platform"), add("bob", "Platform"), delete_group("Engineering")], None, ()),
    ("groups.create off", RENAMED, "Engineering", False, {"groups": {"create": False, "delete": True}}, [],
     "renamed to Platform, but there is no such group on the target and groups.create is off: Engineering is "
     "left as it is", ()),
    ("groups.sync_members off: nothing moved, old group kept", RENAMED, "Engineering", False,
     {"groups": {"sync_members": False, "delete": True}}, [create_group("Platform")], None,
     ("members of Engineering are not moved to Platform (groups.sync_members is off): Engineering is left on the "
      "target",)),
    ("protected members stay: old group kept", RENAMED, "Engineering", False,
     {"groups": {"delete": True}, "users": {"protected": ["bo?"]}},
     [create_group("Platform"), add("alice", "Platform"), remove("alice", "Engineering")], None,
     ("protected accounts keep their membership of Engineering: bob",
      "Engineering is left on the target (it has protected members)")),
    ("renamed away from a licence group", RENAMED, "jira-software-users", False, {"groups": {"delete": True}},
     [create_group("Platform"), add("alice", "Platform"), add("bob", "Platform")], None,
     ("jira-software-users is one of default_groups (a licence group): left with its members",)),
)
def test_renames(desired, applied, exists, target, operations, skipped, notes):
    plan = plan_group(desired, applied, remote_exists=exists, members=MEMBERS, rules=rules_for(**target))
    assert shape(plan) == (tuple(operations), skipped, tuple(notes))
    assert plan.final_name == ("Platform" if plan.skipped is None else None)


@pytest.mark.parametrize(("desired", "applied", "exists", "expected"), [
    (LIVE, None, False, "Engineering"),
    (LIVE, "engineering", True, "engineering"),  # the target's spelling, which user plans compare case-blind
    (GONE, "Engineering", True, None),
    (None, "Engineering", True, None),
])
def test_final_name(desired, applied, exists, expected):
    rules = rules_for(groups={"delete": True})
    assert plan_group(desired, applied, remote_exists=exists, members=(), rules=rules).final_name == expected


def test_dry_run_plans_the_same():
    plans = [plan_group(RENAMED, "Engineering", remote_exists=False, members=MEMBERS,
                        rules=rules_for(groups={"delete": True}, dry_run=dry_run)) for dry_run in (True, False)]
    assert plans[0] == plans[1]
    assert plans[0].operations[-1] == delete_group("Engineering")
