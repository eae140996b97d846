"""A /Bulk initial load reaches the products like single requests do: each committed operation queues
its deliveries (store first, docs/architecture.md decision 1), a group whose members are users of the
same request holds them, and the products end up with the users and the group."""

from __future__ import annotations

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE, LICENCE_GROUPS, PRODUCTS, account, assert_fakes
from tests.support.idp_requests import CORE_GROUP, CORE_USER

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PEOPLE = {"ann": "Ann Lee", "bob": "Bob Stone"}


def initial_load(*, with_refused: bool = False) -> dict:
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": name,
         "data": {"schemas": [CORE_USER], "userName": f"{name}@example.com", "displayName": display,
                  "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}]}}
        for name, display in PEOPLE.items()
    ]
    if with_refused:  # the same user again: refused, and nothing of it may reach a product
        operations.append({**operations[0], "bulkId": "again"})
    operations.append({"method": "POST", "path": "/Groups", "bulkId": "team",
                       "data": {"schemas": [CORE_GROUP], "displayName": "Dev Team",
                                "members": [{"value": f"bulkId:{name}"} for name in PEOPLE]}})
    return {"schemas": [BULK_REQUEST], "Operations": operations}


def expected_products() -> dict:
    def users(product: str) -> dict:
        team = "dev team" if product == "confluence" else "Dev Team"
        licensed = True if product == "bitbucket" else None
        return {name: account(display, f"{name}@example.com", LICENCE[product], team, licensed=licensed)
                for name, display in PEOPLE.items()}

    return {product: (users(product), {LICENCE[product]: set(PEOPLE),
                                       "dev team" if product == "confluence" else "Dev Team": set(PEOPLE)})
            for product in PRODUCTS}


def test_a_bulk_load_queues_every_committed_change_and_delivers_the_group_with_its_members(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    results = bridge.idp.ok(bridge.idp.post("/Bulk", initial_load(with_refused=True)), 200)["Operations"]
    assert [(r["bulkId"], r["status"]) for r in results] == [("ann", "201"), ("bob", "201"), ("again", "409"),
                                                             ("team", "201")]
    ids = {r["bulkId"]: r["location"].rsplit("/", 1)[1] for r in results if r["status"] == "201"}
    team = bridge.idp.ok(bridge.idp.get(f"/Groups/{ids['team']}"), 200)
    assert sorted(m["value"] for m in team["members"]) == sorted((ids["ann"], ids["bob"]))
    # One outbox row per committed resource and target, as the single requests would have queued;
    # none for the refused operation.
    queued = {(row.resource_type, row.resource_id, row.target) for row in bridge.outbox()}
    assert queued == {(kind, ids[key], product) for kind, key in (("User", "ann"), ("User", "bob"), ("Group", "team"))
                      for product in PRODUCTS}
    bridge.drain()
    assert bridge.outbox() == []
    assert_fakes(bridge, expected_products())


def test_with_the_worker_running_the_bulk_answer_waits_for_delivery_like_a_single_request(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS)
    results = bridge.idp.ok(bridge.idp.post("/Bulk", initial_load()), 200)["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "201"]
    assert bridge.outbox() == []
    assert_fakes(bridge, expected_products())
