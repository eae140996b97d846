"""Groups are created by their own delivery, once, and noticed when gone (docs/architecture.md,
"Delivery and the worker").

* A group deleted on a product by hand is created again when a member is added through SCIM, holding
  every member the store has for it, and nothing is parked.
* Deliveries running at once (``delivery.concurrency`` 4) for users that share groups send exactly one
  create per group: the users wait for their SCIM groups' own deliveries, and the default group no
  SCIM group stands behind is created under a lock.
"""

from __future__ import annotations

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, PRODUCTS

# Where each fake counts a group create (the query string is not part of the path).
GROUP_CREATE = {"jira": "POST /rest/api/2/group", "confluence": "POST /rest/api/admin/group",
                "bitbucket": "POST /rest/api/latest/admin/groups"}


def delete_on_the_product(fake, group: str) -> None:
    """Someone deletes the group in the product's administration: the bridge is not told."""
    with fake.lock:
        fake.directory.remove_group(group)


def test_a_group_deleted_by_hand_is_created_again_with_every_member_the_store_has(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    idp = bridge.idp
    alice = idp.create_user("alice@example.com", "Alice Smith")
    bob = idp.create_user("bob@example.com", "Bob Jones")
    team = idp.create_group("Dev Team", alice, bob)
    bridge.drain()
    assert set(bridge.jira.members("Dev Team")) == {"alice", "bob"}
    delete_on_the_product(bridge.jira, "Dev Team")

    carol = idp.create_user("carol@example.com", "Carol King")
    idp.ok(idp.patch(f"/Groups/{team}", [{"op": "add", "path": "members", "value": [{"value": carol}]}]), 204)
    bridge.drain()

    assert set(bridge.jira.members("Dev Team")) == {"alice", "bob", "carol"}
    assert bridge.outbox() == []  # nothing parked, nothing left waiting
    for user in (alice, bob, carol):
        assert bridge.links("User", user)["jira"].status == "ok"
    assert bridge.links("Group", team)["jira"].status == "ok"
    assert ("jira", "applied", "create group Dev Team") in bridge.target_audit(team)
    # The other products were never touched by the deletion and still hold the three.
    assert set(bridge.confluence.members("dev team")) == {"alice", "bob", "carol"}


def test_concurrent_deliveries_of_users_sharing_groups_send_one_create_per_group(start):
    targets = {product: {"default_groups": [group, "all-staff"]}
               for product, group in ((p, LICENCE_GROUPS[p]["default_groups"][0]) for p in PRODUCTS)}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=targets, worker=False)
    for product in PRODUCTS:
        bridge.fake(product).knobs.set_latency(0.005)  # calls overlap in the pool of four
    idp = bridge.idp
    users = [idp.create_user(f"user{i}@example.com", f"User {i}") for i in range(24)]
    groups = {name: idp.create_group(name, *users[start_at::3])
              for start_at, name in enumerate(("Red Team", "Green Team", "Blue Team"))}
    assert bridge.sync.worker.concurrency >= 4
    bridge.drain()

    assert bridge.outbox() == []
    for product in PRODUCTS:
        fake = bridge.fake(product)
        # Three SCIM groups and the default group all-staff: one create each, not one more.
        assert fake.calls.received(*GROUP_CREATE[product].split(" ")) == 4, product
        assert len(fake.members("all-staff")) == len(users), product
        for start_at, name in enumerate(groups):
            group_name = name.lower() if product == "confluence" else name
            assert set(fake.members(group_name)) == {f"user{i}" for i in range(start_at, 24, 3)}, (product, name)
