"""Memberships are per user (docs/architecture.md, decision 3): a change of a group's members queues a
delivery of the users whose membership changed, one row per target, none for the members that stay,
and none for the group, whose name and existence did not change. The worker is off, so the queue is
read before anything is delivered.
"""

from __future__ import annotations

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, PRODUCTS


def queued(bridge) -> set[tuple[str, str, str]]:
    return {(row.resource_type, row.resource_id, row.target) for row in bridge.outbox()}


def test_a_member_change_queues_the_users_it_changes_and_nothing_else(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    ann, bob, cho, dan = (bridge.idp.create_user(f"{name}@example.com", name.title())
                          for name in ("ann", "bob", "cho", "dan"))
    team = bridge.idp.create_group("Dev Team", ann, bob)
    bridge.drain()
    assert bridge.outbox() == []

    bridge.idp.ok(bridge.idp.patch(f"/Groups/{team}", [{"op": "add", "path": "members", "value": [{"value": cho}]}]),
                  204)
    assert queued(bridge) == {("User", cho, product) for product in PRODUCTS}
    bridge.drain()

    # A full push (Okta's "push now"): bob out, dan in; ann and cho, unchanged, are not queued.
    members = [{"value": ann}, {"value": cho}, {"value": dan}]
    bridge.idp.ok(bridge.idp.patch(f"/Groups/{team}", [{"op": "replace", "path": "members", "value": members}]), 204)
    assert queued(bridge) == {("User", user, product) for user in (bob, dan) for product in PRODUCTS}
    bridge.drain()
    for product in PRODUCTS:
        name = "dev team" if product == "confluence" else "Dev Team"
        assert bridge.fake(product).members(name) == ["ann", "cho", "dan"], product


def test_a_rename_with_member_changes_queues_the_group_too(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    ann = bridge.idp.create_user("ann@example.com", "Ann")
    team = bridge.idp.create_group("Dev Team")
    bridge.drain()
    bridge.idp.ok(bridge.idp.patch(f"/Groups/{team}", [
        {"op": "replace", "path": "displayName", "value": "Developers"},
        {"op": "add", "path": "members", "value": [{"value": ann}]}]), 204)
    assert queued(bridge) == {(kind, rid, product) for kind, rid in (("Group", team), ("User", ann))
                              for product in PRODUCTS}
    bridge.drain()
    assert bridge.jira.members("Developers") == ["ann"]
