"""Dry run: the bridge accepts and records SCIM changes, plans every target operation and applies none;
the plan is in the audit log (outcome ``planned``), on the links (status ``planned``) and in the CLI.

The same changes are also made without a dry run: the operations applied then are exactly the ones
the dry run planned. The worker is off and the tests drain the outbox, so both runs settle at a
known point.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE, LICENCE_GROUPS, PRODUCTS


def provision(bridge) -> dict[str, str]:
    """A new user, a pre-existing account deactivated by the IdP, and a group with both."""
    for product in PRODUCTS:
        bridge.fake(product).add_user("bob", "Bob Jones", "bob@example.com")
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bob = bridge.idp.create_user("bob@example.com", "Bob Jones")
    team = bridge.idp.create_group("Dev Team", alice, bob)
    bridge.idp.change_user(bob, active=False)
    bridge.drain()
    return {"alice": alice, "bob": bob, "team": team}


def the_plan(product: str) -> set[str]:
    group = "dev team" if product == "confluence" else "Dev Team"
    deactivate = "revoke licence bob" if product == "bitbucket" else "deactivate bob"
    plan = {"create user alice", f"add alice to {LICENCE[product]}", f"create group {group}",
            f"add alice to {group}", "link user bob", deactivate, f"add bob to {group}"}
    if product == "confluence":
        plan.add("update user bob")  # Confluence does not report e-mail addresses: it is set on linking
    return plan


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_dry_run_plans_what_a_real_run_applies_and_applies_none_of_it(start, dry_run):
    bridge = start(rules={**EMAIL_LOCAL_PART, "dry_run": dry_run}, targets=LICENCE_GROUPS, worker=False)
    ids = provision(bridge)
    outcome = "planned" if dry_run else "applied"
    for product in PRODUCTS:
        done = {detail for scope, _, detail in bridge.target_audit(outcome=outcome) if scope == product}
        assert done == the_plan(product), product
    # The SCIM side holds every change either way.
    assert bridge.idp.ok(bridge.idp.get(f"/Users/{ids['bob']}"), 200)["active"] is False
    assert len(bridge.idp.ok(bridge.idp.get(f"/Groups/{ids['team']}"), 200)["members"]) == 2
    if not dry_run:
        assert bridge.confluence.members("dev team") == ["alice", "bob"]
        return
    # Nothing reached any product: not one mutating call, the accounts as they were.
    assert bridge.mutating_calls() == {product: {} for product in PRODUCTS}
    for product in PRODUCTS:
        assert sorted(bridge.state(product)[0]) == ["bob"] and bridge.fake(product).user("bob").active
    assert bridge.target_audit(outcome="applied") == set()
    # Per link, the number of operations planned: Alice's create and two memberships; Bob's link,
    # deactivation and membership (and e-mail on Confluence); the group's create (only the group's own
    # delivery creates it).
    counts = {("User", "alice"): 3, ("User", "bob"): 3, ("Group", "team"): 1}
    for (kind, key), count in counts.items():
        for product, link in bridge.links(kind, ids[key]).items():
            planned = count + (product == "confluence" and key == "bob")
            assert (link.status, link.name) == ("planned", None), (kind, key, product)
            assert link.reason == f"dry run: {planned} operation(s) planned, none applied", (kind, key, product)


def test_the_cli_prints_the_plan(start, tmp_path):
    bridge = start(rules={**EMAIL_LOCAL_PART, "dry_run": True}, targets=LICENCE_GROUPS, worker=False)
    ids = provision(bridge)
    printed = bridge.cli(tmp_path, "audit", "--outcome", "planned", "--limit", "100").splitlines()
    lines = [line.split("\t") for line in printed]
    # when, who asked, target, action, subject, account on the target, outcome, what (docs/cli.md "`audit`")
    assert {(fields[2], fields[7]) for fields in lines} == {(p, step) for p in PRODUCTS for step in the_plan(p)}
    assert {fields[6] for fields in lines} == {"planned"}
    assert {fields[4] for fields in lines} == {"User alice@example.com", "User bob@example.com", "Group Dev Team"}
    # --json carries the SCIM ids beside the names.
    entries = json.loads(bridge.cli(tmp_path, "audit", "--outcome", "planned", "--limit", "100", "--json"))
    assert {(e["type"], e["id"], e["name"]) for e in entries} == {
        ("User", ids["alice"], "alice@example.com"), ("User", ids["bob"], "bob@example.com"),
        ("Group", ids["team"], "Dev Team")}


def test_a_dry_run_on_one_target_leaves_the_others_live(start):
    targets = {**LICENCE_GROUPS, "bitbucket": {**LICENCE_GROUPS["bitbucket"], "dry_run": True}}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=targets, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    assert bridge.jira.user("alice") is not None and bridge.confluence.user("alice") is not None
    assert bridge.bitbucket.user("alice") is None and bridge.mutating_calls()["bitbucket"] == {}
    assert {target: link.status for target, link in bridge.links("User", alice).items()} == {
        "jira": "ok", "confluence": "ok", "bitbucket": "planned"}
