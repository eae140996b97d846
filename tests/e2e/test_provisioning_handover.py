"""A leaver who leads Jira projects and a component: before the account is deactivated, the leads go to
the user's manager (linked and active on Jira), else to ``rules.handover.default_lead``; with neither
the deactivation is parked naming what is led, and the account stays active. A dry run plans the
hand-overs and changes nothing (docs/products.md §2.13).

End to end: SCIM over HTTP to the live bridge, delivery over HTTP to the fakes; the worker is off and
each test drains the outbox.
"""

from __future__ import annotations

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS
from tests.support.idp_requests import CORE_USER, ENTERPRISE_USER

# alice leads ABC and XYZ and the component ABC/Backend; carol's project and the lead-less
# component show that nobody else's leads move.
SEEDED_LEADS = {"ABC": "alice", "XYZ": "alice", "OPS": "carol", "ABC/Backend": "alice", "ABC/UI": None}


def seed_projects(bridge) -> None:
    bridge.jira.add_user("carol", "Carol King", "carol@example.com")
    bridge.jira.add_project("ABC", "alice", {"Backend": "alice", "UI": None})
    bridge.jira.add_project("XYZ", "alice")
    bridge.jira.add_project("OPS", "carol")


def create_alice(bridge, manager: str | None = None) -> str:
    body = {"schemas": [CORE_USER], "userName": "alice@example.com", "displayName": "Alice Smith",
            "emails": [{"value": "alice@example.com", "type": "work", "primary": True}]}
    if manager:
        body["schemas"].append(ENTERPRISE_USER)
        body[ENTERPRISE_USER] = {"manager": {"value": manager}}
    return bridge.idp.ok(bridge.idp.post("/Users", body), 201)["id"]


def leaves(bridge, user_id: str) -> None:
    bridge.idp.change_user(user_id, active=False)
    bridge.drain()


def handed_over_to(successor: str) -> dict:
    return {**SEEDED_LEADS, "ABC": successor, "XYZ": successor, "ABC/Backend": successor}


def hand_overs(successor: str) -> set[str]:
    return {f"hand the lead of project ABC from alice to {successor}",
            f"hand the lead of project XYZ from alice to {successor}",
            f"hand the lead of component ABC/Backend from alice to {successor}"}


def jira_entries(bridge, user_id: str, outcome: str) -> set[str]:
    return {detail for scope, got, detail in bridge.target_audit(user_id) if scope == "jira" and got == outcome}


def test_the_leads_of_a_leaver_go_to_the_manager_when_linked_and_active(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    seed_projects(bridge)
    mona = bridge.idp.create_user("mona@example.com", "Mona Lee")
    alice = create_alice(bridge, manager=mona)
    bridge.drain()

    leaves(bridge, alice)

    assert bridge.jira.leads() == handed_over_to("mona")
    assert bridge.state("jira")[0]["alice"].active is False
    assert hand_overs("mona") | {"deactivate alice"} <= jira_entries(bridge, alice, "applied")
    assert bridge.links("User", alice)["jira"].status == "ok"


def test_without_an_active_manager_the_leads_go_to_the_default_lead(start):
    bridge = start(rules={**EMAIL_LOCAL_PART, "handover": {"default_lead": "nobody"}},
                   targets={**LICENCE_GROUPS, "jira": {**LICENCE_GROUPS["jira"], "handover": {"default_lead": "pmo"}}},
                   worker=False)
    seed_projects(bridge)
    bridge.jira.add_user("pmo", "Project Office", "pmo@example.com")
    mona = bridge.idp.create_user("mona@example.com", "Mona Lee")
    alice = create_alice(bridge, manager=mona)
    bridge.drain()
    bridge.idp.change_user(mona, active=False)  # the manager has left too: inactive on Jira
    bridge.drain()

    leaves(bridge, alice)

    assert bridge.jira.leads() == handed_over_to("pmo")  # the target's setting over the global one
    assert bridge.state("jira")[0]["alice"].active is False
    assert hand_overs("pmo") <= jira_entries(bridge, alice, "applied")


def test_with_neither_the_deactivation_is_parked_naming_what_is_led_and_the_account_stays_active(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    seed_projects(bridge)
    alice = create_alice(bridge)
    bridge.drain()

    leaves(bridge, alice)

    message = ("alice leads projects ABC, XYZ and component ABC/Backend; no successor: set the user's manager "
               "or rules.handover.default_lead")
    assert bridge.jira.leads() == SEEDED_LEADS
    assert bridge.state("jira")[0]["alice"].active is True
    assert bridge.links("User", alice)["jira"].error == message
    parked = [row for row in bridge.outbox() if row.resource_id == alice and row.target == "jira"]
    assert [(row.state, row.last_error) for row in parked] == [("parked", message)]
    assert jira_entries(bridge, alice, "refused") == {message}
    # The products without leads deactivate as usual.
    assert bridge.state("confluence")[0]["alice"].active is False


def test_a_dry_run_plans_the_hand_overs_and_changes_nothing(start):
    bridge = start(rules={**EMAIL_LOCAL_PART, "handover": {"default_lead": "pmo"}, "dry_run": True},
                   targets=LICENCE_GROUPS, worker=False)
    seed_projects(bridge)
    bridge.jira.add_user("pmo", "Project Office", "pmo@example.com")
    bridge.jira.add_user("alice", "Alice Smith", "alice@example.com")  # the leaver's existing account
    alice = create_alice(bridge)

    leaves(bridge, alice)

    assert bridge.jira.leads() == SEEDED_LEADS
    assert bridge.state("jira")[0]["alice"].active is True
    assert hand_overs("pmo") | {"deactivate alice"} <= jira_entries(bridge, alice, "planned")
    assert jira_entries(bridge, alice, "applied") == set()
    assert bridge.links("User", alice)["jira"].status == "planned"
