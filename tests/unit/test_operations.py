"""Each typed operation as a row: its description, the client call it makes, how it advances the
applied state of a user and of a group, and whether it mutates the product. A new kind of operation
is one class in ``scim_bridge/rules/operations.py`` and one row here; the last test fails until the
row is written."""

from __future__ import annotations

import pytest

from atlassian_clients.base import Creation, RemoteUser
from scim_bridge.rules.model import AppliedGroup, AppliedUser
from scim_bridge.rules.operations import (
    AddMember,
    CreateGroup,
    CreateUser,
    DeleteGroup,
    DeleteUser,
    GrantLicence,
    HandOverComponentLead,
    HandOverProjectLead,
    LinkUser,
    Operation,
    RemoveMember,
    RenameUser,
    RevokeLicence,
    SetActive,
    UpdateUser,
)
from tests.support.memory_client import MemoryDirectory


def all_operation_classes(base=Operation) -> set[type]:
    found = set()
    for cls in base.__subclasses__():
        found |= {cls} | all_operation_classes(cls)
    return found


ALICE = AppliedUser("alice", "K1", "Alice", "alice@example.com", True, frozenset({"dev"}))
DEV = AppliedGroup("dev")
NEW_GROUP = AppliedGroup(None)

# (operation, description, calls made on the client, user state after, group state after (None: the
# operation is never part of a group's plan), mutates)
ROWS = [
    (CreateUser("bob", display_name="Bob", email="bob@example.com", application_keys=("jira-software",)),
     "create user bob", [("create_user", ("bob",))], "created", None, True),
    (LinkUser("alice"), "link user alice", [], ALICE, None, False),
    (UpdateUser("alice", display_name="Alice Jones"), "update user alice", [("update_user", ("alice",))],
     AppliedUser("alice", "K1", "Alice Jones", "alice@example.com", True, frozenset({"dev"})), None, True),
    (SetActive("alice", active=False), "deactivate alice", [("set_active", ("alice", False))],
     AppliedUser("alice", "K1", "Alice", "alice@example.com", False, frozenset({"dev"})), None, True),
    (SetActive("alice", active=True), "activate alice", [("set_active", ("alice", True))], ALICE, None, True),
    (RenameUser("alice", new_name="alice2"), "rename alice to alice2", [("rename_user", ("alice", "alice2"))],
     AppliedUser("alice2", "K1", "Alice", "alice@example.com", True, frozenset({"dev"})), None, True),
    (DeleteUser("alice"), "delete user alice", [("delete_user", ("alice",))], None, None, True),
    (GrantLicence("alice"), "grant licence alice", [("grant_licence", ("alice",))], ALICE, None, True),
    (RevokeLicence("alice"), "revoke licence alice", [("revoke_licence", ("alice",))],
     AppliedUser("alice", "K1", "Alice", "alice@example.com", False, frozenset({"dev"})), None, True),
    (CreateGroup("ops"), "create group ops", [("get_group", ("ops",)), ("create_group", ("ops",))], ALICE, DEV,
     True),
    (DeleteGroup("dev"), "delete group dev", [("delete_group", ("dev",))], ALICE, NEW_GROUP, True),
    (AddMember("alice", group="qa"), "add alice to qa", [("add_member", ("qa", "alice"))],
     AppliedUser("alice", "K1", "Alice", "alice@example.com", True, frozenset({"dev", "qa"})), DEV, True),
    (RemoveMember("alice", group="dev"), "remove alice from dev", [("remove_member", ("dev", "alice"))],
     AppliedUser("alice", "K1", "Alice", "alice@example.com", True, frozenset()), DEV, True),
    # A hand-over changes a project or component, not the leaver's account.
    (HandOverProjectLead("alice", project="ABC", successor="bob"), "hand the lead of project ABC from alice to bob",
     [("set_project_lead", ("ABC", "bob"))], ALICE, None, True),
    (HandOverComponentLead("alice", component="10000", label="ABC/Backend", successor="bob"),
     "hand the lead of component ABC/Backend from alice to bob", [("set_component_lead", ("10000", "bob"))],
     ALICE, None, True),
]


def _client() -> MemoryDirectory:
    client = MemoryDirectory()
    client.seed_user("alice", "Alice", "alice@example.com", groups=("dev",))
    client.seed_group("qa")
    return client


@pytest.mark.parametrize(("operation", "description", "calls", "user_after", "group_after", "mutates"), ROWS,
                         ids=lambda value: value.describe() if isinstance(value, Operation) else None)
def test_each_operation(operation, description, calls, user_after, group_after, mutates):
    client = _client()
    result = operation.call(client)
    assert operation.describe() == description
    assert client.calls == calls
    assert operation.mutates is mutates
    after = operation.advance(ALICE, result)
    if user_after == "created":  # the account the product reports, key included
        user_after = AppliedUser("bob", client.get_user("bob").key, "Bob", "bob@example.com", True,
                                 frozenset({"dev"}))
    assert after == user_after
    if group_after is not None:
        assert operation.advance(DEV, result) == group_after


def test_the_audit_action_is_a_stable_name_per_class():
    assert {row[0].action for row in ROWS} == {
        "create_user", "link_user", "update_user", "set_active", "rename_user", "delete_user", "grant_licence",
        "revoke_licence", "create_group", "delete_group", "add_member", "remove_member",
        "hand_over_project_lead", "hand_over_component_lead"}


def test_a_group_created_is_named_in_a_new_group_state_but_a_rename_keeps_the_old_name_until_done():
    assert CreateGroup("dev").advance(NEW_GROUP, None) == AppliedGroup("dev")
    assert CreateGroup("platform").advance(DEV, None) == DEV  # rename: the old name stays linked
    assert DeleteGroup("other").advance(DEV, None) == DEV


def test_a_create_finding_the_group_sends_no_create():
    client = MemoryDirectory()
    client.seed_group("ops")
    result = CreateGroup("ops").call(client)
    assert result == Creation(result.resource, created=False) and client.count("create_group") == 0


def test_create_user_advances_to_what_the_product_reports_or_in_a_dry_run_to_what_was_asked():
    op = CreateUser("bob", display_name="Bob", email="bob@example.com")
    reported = Creation(RemoteUser("Bob", "JIRAUSER1", "Bob B.", "BOB@example.com"))
    assert op.advance(AppliedUser("bob"), reported) == AppliedUser("Bob", "JIRAUSER1", "Bob B.", "BOB@example.com",
                                                                   True)
    assert op.advance(AppliedUser("bob"), None) == AppliedUser("bob", None, "Bob", "bob@example.com", True)


def test_membership_and_group_operations_name_what_they_need_and_what_they_do_alone():
    assert AddMember("alice", group="ops").needs_group == "ops"
    assert RemoveMember("alice", group="ops").needs_group is None
    assert CreateGroup("Ops").exclusive == DeleteGroup("OPS").exclusive == "group:ops"
    assert SetActive("alice").exclusive is None


def test_every_operation_class_has_a_row():
    assert {type(row[0]) for row in ROWS} == all_operation_classes()
