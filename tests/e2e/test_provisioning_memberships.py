"""Memberships are per user (docs/architecture.md, decision 3): a change of a group's members queues a
delivery of the users whose membership changed, one row per target, and none for the members that
stay. The group itself is queued as well, as after any change of it: its delivery checks its name and
existence only, whatever its size. The worker is off, so the queue is read before anything is delivered.
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
    group = {("Group", team, product) for product in PRODUCTS}
    assert queued(bridge) == group | {("User", cho, product) for product in PRODUCTS}
    bridge.drain()

    # A full push (Okta's "push now"): bob out, dan in; ann and cho, unchanged, are not queued.
    members = [{"value": ann}, {"value": cho}, {"value": dan}]
    bridge.idp.ok(bridge.idp.patch(f"/Groups/{team}", [{"op": "replace", "path": "members", "value": members}]), 204)
    assert queued(bridge) == group | {("User", user, product) for user in (bob, dan) for product in PRODUCTS}
    bridge.drain()
    for product in PRODUCTS:
        name = "dev team" if product == "confluence" else "Dev Team"
        assert bridge.fake(product).members(name) == ["ann", "cho", "dan"], product
