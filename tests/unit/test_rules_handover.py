"""Planning the hand-over of what a leaver leads (Jira projects and components, docs/products.md §2.13):
handed to the successor before the account is deactivated or deleted, or the plan is refused naming
what is led when there is no successor."""

from __future__ import annotations

import pytest

from atlassian_clients.base import LedComponent
from scim_bridge.rules.model import AppliedUser, Leadership, RemoteAccount, UserSnapshot
from scim_bridge.rules.operations import (
    DeleteUser,
    HandOverComponentLead,
    HandOverProjectLead,
    RemoveMember,
    SetActive,
)
from scim_bridge.rules.settings import effective_rules
from scim_bridge.rules.users import deprovisions, desired_user, plan_user
from tests.unit.rules_plans import JIRA

ALICE = UserSnapshot("u1", "alice", "Alice", "alice@example.com", active=False, deleted=False)
BACKEND = LedComponent("10000", "ABC", "Backend")
LEADS = Leadership(("ABC", "XYZ"), (BACKEND,), successor="bob")
ACCOUNT = dict(name="alice", key="K1", display_name="Alice", email="alice@example.com", active=True,
               groups=frozenset({"jira-software-users"}))


def plan(leadership, *, user=ALICE, rules=None):
    target_rules = effective_rules({"default_groups": ["jira-software-users"], **(rules or {})}, {}, "jira")
    return plan_user(desired_user(user, target_rules), AppliedUser(**ACCOUNT), RemoteAccount(**ACCOUNT),
                     capabilities=JIRA, managed=frozenset(), existing_groups=frozenset(), rules=target_rules,
                     leadership=leadership)


def test_leads_go_to_the_successor_after_the_memberships_and_before_the_deactivation():
    assert plan(LEADS).operations == (
        RemoveMember("alice", group="jira-software-users"),
        HandOverProjectLead("alice", project="ABC", successor="bob"),
        HandOverProjectLead("alice", project="XYZ", successor="bob"),
        HandOverComponentLead("alice", component="10000", label="ABC/Backend", successor="bob"),
        SetActive("alice", active=False),
    )


def test_a_deletion_hands_over_first():
    deleted = UserSnapshot("u1", "alice", "Alice", "alice@example.com", active=True, deleted=True)
    assert plan(Leadership(("ABC",), (), "bob"), user=deleted, rules={"users": {"on_delete": "delete"}}).operations \
        == (HandOverProjectLead("alice", project="ABC", successor="bob"), DeleteUser("alice"))


@pytest.mark.parametrize(("leadership", "message"), [
    (Leadership(("ABC", "XYZ"), (BACKEND,), None),
     "alice leads projects ABC, XYZ and component ABC/Backend; no successor: set the user's manager or "
     "rules.handover.default_lead"),
    (Leadership(("ABC",), (), None),
     "alice leads project ABC; no successor: set the user's manager or rules.handover.default_lead"),
    # Handing a project to the leaver is no hand-over (a default lead who is leaving too).
    (Leadership((), (BACKEND,), "Alice"),
     "alice leads component ABC/Backend; no successor: set the user's manager or rules.handover.default_lead"),
])
def test_without_a_successor_the_plan_is_refused_naming_what_is_led(leadership, message):
    refused = plan(leadership)
    assert refused.refused == message and refused.operations == ()
    assert not deprovisions(refused)


def test_nothing_led_or_not_read_plans_the_deactivation_alone():
    for leadership in (None, Leadership(successor=None)):
        assert plan(leadership).operations == (RemoveMember("alice", group="jira-software-users"),
                                               SetActive("alice", active=False))
        assert deprovisions(plan(leadership))


def test_an_active_user_hands_nothing_over_and_does_not_deprovision():
    active = UserSnapshot("u1", "alice", "Alice", "alice@example.com", active=True, deleted=False)
    assert plan(LEADS, user=active).operations == ()
    assert not deprovisions(plan(LEADS, user=active))


def test_default_lead_is_a_rules_setting_a_target_overrides():
    rules = effective_rules({"handover": {"default_lead": "pmo"}}, {"handover": {"default_lead": "jira-pmo"}},
                            "jira")
    assert rules.handover.default_lead == "jira-pmo"
    assert effective_rules({"handover": {"default_lead": "pmo"}}, {}, "jira").handover.default_lead == "pmo"
    assert effective_rules({}, {}, "jira").handover.default_lead is None
