"""A /Bulk initial load reaches the products like single requests do: each committed operation queues
its deliveries (store first, docs/architecture.md decision 1), a group whose members are users of the
same request holds them, and the products end up with the users and the group. The creates of a
/Bulk write what single creates write, and a name two of them would share on a target is refused to
the second alone."""

from __future__ import annotations

import sqlalchemy as sa

from scim_bridge.store.models import AuditEntry, Group, Link, OutboxRow, User, UserEmail
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE, LICENCE_GROUPS, PRODUCTS, account, assert_fakes
from tests.support.bridge import wait_until_delivered
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
    # The answer came after the first attempt of every operation on every target (each left its audit
    # entry there); what may be left is a user whose add met the group before the group's own delivery
    # created it, to be delivered again.
    for result in results:
        resource_id = result["location"].rsplit("/", 1)[1]
        assert {target for target, _, _ in bridge.target_audit(resource_id)} == set(PRODUCTS), result
    wait_until_delivered(bridge.engine, PRODUCTS)
    assert_fakes(bridge, expected_products())


def _written(engine: sa.Engine, resource_id: str, kind: str) -> dict[str, list[str]]:
    """Every row the store holds of a resource, ids and times left out and ``kind`` written KIND."""
    ids_and_times = {"id", "resource_id", "user_id", "created", "updated", "last_modified", "at", "due_at"}
    written = {}
    with engine.connect() as conn:
        for model, column in ((User, User.id), (Group, Group.id), (UserEmail, UserEmail.user_id),
                              (Link, Link.resource_id), (OutboxRow, OutboxRow.resource_id),
                              (AuditEntry, AuditEntry.resource_id)):
            rows = conn.execute(sa.select(model.__table__).where(column == resource_id)).mappings()
            written[model.__tablename__] = sorted(
                repr({k: v for k, v in row.items() if k not in ids_and_times}).replace(kind, "KIND") for row in rows)
    return written


def test_creates_in_a_bulk_write_the_rows_single_creates_write(start, engine):
    """Resource, e-mails, name reservations, outbox rows and audit entry alike, whichever way they came."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)

    def bodies(kind: str) -> list[tuple[str, dict]]:
        return [("/Users", {"schemas": [CORE_USER], "userName": f"ann.{kind}@example.com", "displayName": "Ann Lee",
                            "emails": [{"value": f"ann.{kind}@example.com", "type": "work", "primary": True},
                                       {"value": f"lee.{kind}@example.org", "type": "home"}]}),
                ("/Users", {"userName": f"Bob.{kind}@Example.com", "active": False, "externalId": f"b-{kind}"}),
                ("/Groups", {"schemas": [CORE_GROUP], "displayName": f"Ops {kind}"})]

    solo = [bridge.idp.ok(bridge.idp.post(path, body), 201)["id"] for path, body in bodies("solo")]
    results = bridge.idp.ok(bridge.idp.post("/Bulk", {"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": path, "bulkId": str(i), "data": body}
        for i, (path, body) in enumerate(bodies("bulk"))]}), 200)["Operations"]
    assert [r["status"] for r in results] == ["201"] * 3
    for single, result in zip(solo, results, strict=True):
        written = _written(engine, single, "solo")
        assert all(written[table] for table in ("links", "outbox", "audit"))
        assert _written(engine, result["location"].rsplit("/", 1)[1], "bulk") == written


def test_two_creates_of_a_bulk_mapped_to_one_account_the_second_is_refused_alone(start):
    """The target-name reservation of a batch counts the names its earlier creates took."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    cho = bridge.idp.create_user("cho@example.com", "Cho Kim")
    operations = [{"method": "POST", "path": "/Users", "bulkId": name, "data": {"userName": name}}
                  for name in ("ann@example.com", "ann@example.org", "cho@example.org", "dan@example.com")]
    results = bridge.idp.ok(bridge.idp.post("/Bulk", {"schemas": [BULK_REQUEST], "Operations": operations}),
                            200)["Operations"]
    assert [r["status"] for r in results] == ["201", "409", "409", "201"]
    ann = results[0]["location"].rsplit("/", 1)[1]
    for refused, holder in ((results[1], ann), (results[2], None)):
        assert refused["response"]["scimType"] == "uniqueness" and "location" not in refused
        assert 'the username "' in refused["response"]["detail"]
        if holder is not None:
            assert holder in refused["response"]["detail"]
    assert bridge.idp.found('/Users?filter=userName co "example.org"') == []
    created = {r["location"].rsplit("/", 1)[1] for r in results if r["status"] == "201"}
    assert {row.resource_id for row in bridge.outbox()} == created | {cho}
