"""Reconciliation: drift made on the products behind the bridge's back is found, shown as a plan by a
dry run (which changes nothing), and repaired by a real run; accounts no identity provider user maps
to are listed, and deactivated only when asked."""

from __future__ import annotations

import pytest

from scim_bridge.sync.reconcile import reconcile
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS

RULES = {**EMAIL_LOCAL_PART, "users": {"protected": ["admin"]}}


@pytest.fixture
def drifted(start):
    bridge = start(rules=RULES, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    # Someone edits Jira by hand: alice leaves the team and her licence group, and an account
    # appears that no identity provider user maps to.
    bridge.jira.remove_member("Dev Team", "alice")
    bridge.jira.remove_member("jira-software-users", "alice")
    bridge.jira.add_user("mallory", "Mallory", "mallory@example.com", groups=["jira-software-users"])
    return bridge


def test_a_dry_run_shows_the_drift_and_changes_nothing(drifted):
    before = drifted.mutating_calls()
    report = {r.target: r for r in reconcile(drifted.sync, dry_run=True)}
    jira = report["jira"]
    assert sorted(op.describe() for _, _, op in jira.planned) == [
        "add alice to Dev Team", "add alice to jira-software-users"]
    assert jira.unmanaged == ["mallory"]  # admin is protected, alice is managed
    assert report["confluence"].planned == [] and report["bitbucket"].planned == []
    assert jira.queued == 0
    assert drifted.mutating_calls() == before
    assert "alice" not in drifted.jira.members("Dev Team")


def test_a_real_run_repairs_the_drift_and_deactivates_unmanaged_accounts_only_when_asked(drifted):
    reports = reconcile(drifted.sync, dry_run=False)
    assert {r.target: r.queued for r in reports} == {"jira": 1, "confluence": 0, "bitbucket": 0}
    drifted.drain()
    assert "alice" in drifted.jira.members("Dev Team")
    assert set(drifted.jira.groups_of("alice")) == {"Dev Team", "jira-software-users"}
    assert drifted.jira.user("mallory").active is True
    again = {r.target: r for r in reconcile(drifted.sync, dry_run=False, deactivate_unmanaged=True)}
    assert again["jira"].planned == [] and again["jira"].deactivated == ["mallory"]
    assert drifted.jira.user("mallory").active is False
    assert drifted.jira.user("admin").active is True
    assert ("jira", "applied", "deactivate mallory (no identity provider user maps to it)") in \
        drifted.target_audit(outcome="applied")


def test_the_command_line_prints_the_plan(drifted, tmp_path):
    printed = drifted.cli(tmp_path, "reconcile", "--dry-run", "--target", "jira", in_process=True)
    assert "jira: 2 operation(s) to bring it in line" in printed
    assert "add alice to Dev Team" in printed
    assert "account not managed by the bridge: mallory" in printed
    assert "alice" not in drifted.jira.members("Dev Team")


@pytest.mark.parametrize(("directory", "unmanaged"), [
    pytest.param("Bitbucket Internal Directory", ["dave"], id="directory-set"),
    pytest.param(None, ["dave", "erin"], id="directory-not-set"),
])
def test_unmanaged_accounts_of_other_directories_read_only_or_the_service_account_are_left_alone(
        start, directory, unmanaged):
    rules = {**EMAIL_LOCAL_PART, "directory": directory} if directory else EMAIL_LOCAL_PART
    bridge = start(rules=rules, targets=LICENCE_GROUPS, worker=False)
    bitbucket = bridge.bitbucket
    # carol is read-only (an LDAP directory Bitbucket cannot write); erin is in a writable Crowd
    # directory, which only the directory rule keeps out of the bridge's hands.
    bitbucket.writable_directories.add("Corporate Crowd")
    bitbucket.add_user("carol", "Carol", "carol@example.com", directory="Corporate LDAP",
                       groups=["stash-users"])
    bitbucket.add_user("erin", "Erin", "erin@example.com", directory="Corporate Crowd", groups=["stash-users"])
    bitbucket.add_user("dave", "Dave", "dave@example.com", groups=["stash-users"])
    report = {r.target: r for r in reconcile(bridge.sync, dry_run=False, deactivate_unmanaged=True)}
    # "admin" is the bridge's own login (not protected here): never listed.
    assert report["bitbucket"].unmanaged == unmanaged and report["bitbucket"].deactivated == unmanaged
    for name in ("carol", "erin", "dave"):
        left_alone = name not in unmanaged
        assert bitbucket.is_licensed(name) is left_alone, name
        assert ("stash-users" in bitbucket.groups_of(name)) is left_alone, name
    assert bitbucket.is_licensed("admin")
