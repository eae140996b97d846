"""PATCH runs one way: applied to the state read in the store's transaction, written in it.

Identity providers send PATCHes of one group in parallel (Okta and Entra push members in batches);
each must see the others' changes, so none is lost, and an If-Match must be checked against the
version actually changed (docs/architecture.md, "Layers and the way a request flows").
"""

from __future__ import annotations

import threading

from tests.support.bridge import ScimClient

PARALLEL = 20


def _in_parallel(app, calls) -> list:
    """Run each ``call(client)`` in its own thread with its own client, started together."""
    barrier = threading.Barrier(len(calls))
    replies: list = [None] * len(calls)

    def run(i, call):
        client = ScimClient(app)
        barrier.wait(timeout=60)
        replies[i] = call(client)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a PATCH never answered"
    return replies


def _users(scim, count: int) -> list[str]:
    ids = []
    for i in range(count):
        reply = scim.post("/Users", {"userName": f"member{i}@example.com"})
        assert reply.status == 201, reply.body
        ids.append(reply.body["id"])
    return ids


def test_parallel_member_patches_of_one_group_lose_no_member(app, scim):
    group = scim.post("/Groups", {"displayName": "Engineering"}).body["id"]
    users = _users(scim, PARALLEL)
    replies = _in_parallel(app, [
        lambda client, uid=uid: client.patch(f"/Groups/{group}", [
            {"op": "add", "path": "members", "value": [{"value": uid}]}])
        for uid in users
    ])
    assert [r.status for r in replies] == [204] * PARALLEL, [r.body for r in replies if r.status != 204]
    read = scim.get(f"/Groups/{group}")
    assert sorted(m["value"] for m in read.body["members"]) == sorted(users)
    assert read.body["meta"]["version"] == f'W/"{PARALLEL + 1}"'  # each PATCH its own version


def test_parallel_attribute_patches_each_see_the_others(app, scim):
    """A multi-valued attribute is rewritten whole: a PATCH applied to a stale copy would drop the
    values the others added."""
    user = _users(scim, 1)[0]
    addresses = [f"alias{i}@example.com" for i in range(PARALLEL)]
    replies = _in_parallel(app, [
        lambda client, address=address: client.patch(f"/Users/{user}", [
            {"op": "add", "path": "emails", "value": [{"value": address, "type": "other"}]}])
        for address in addresses
    ])
    assert [r.status for r in replies] == [200] * PARALLEL, [r.body for r in replies if r.status != 200]
    emails = scim.get(f"/Users/{user}").body["emails"]
    assert sorted(e["value"] for e in emails) == sorted(addresses)


def test_parallel_patches_with_one_etag_apply_once(app, scim):
    group = scim.post("/Groups", {"displayName": "Sales"}).body["id"]
    users = _users(scim, PARALLEL)
    replies = _in_parallel(app, [
        lambda client, uid=uid: client.patch(f"/Groups/{group}", [
            {"op": "add", "path": "members", "value": [{"value": uid}]}], headers={"If-Match": 'W/"1"'})
        for uid in users
    ])
    statuses = sorted(r.status for r in replies)
    assert statuses == [204] + [412] * (PARALLEL - 1)
    winner = users[[r.status for r in replies].index(204)]
    read = scim.get(f"/Groups/{group}")
    assert [m["value"] for m in read.body["members"]] == [winner]
    assert read.body["meta"]["version"] == 'W/"2"'


def test_members_removed_by_a_filter_on_their_display(scim):
    """``members[display eq ...]`` needs the member rows: the store reads them in the unit of work and
    scim/ selects among them."""
    alice, bob = (scim.post("/Users", {"userName": n}).body["id"] for n in ("alice@example.com", "bob@example.com"))
    group = scim.post("/Groups", {"displayName": "Ops", "members": [{"value": alice}, {"value": bob}]}).body["id"]
    reply = scim.patch(f"/Groups/{group}", [{"op": "remove", "path": 'members[display eq "ALICE@example.com"]'}])
    assert reply.status == 204
    assert [m["value"] for m in scim.get(f"/Groups/{group}").body["members"]] == [bob]


def test_a_group_as_member_is_refused_and_nothing_changes(scim):
    alice = scim.post("/Users", {"userName": "alice@example.com"}).body["id"]
    inner = scim.post("/Groups", {"displayName": "Inner"}).body["id"]
    group = scim.post("/Groups", {"displayName": "Outer"}).body["id"]
    reply = scim.patch(f"/Groups/{group}", [{"op": "add", "path": "members", "value": [
        {"value": alice}, {"value": inner, "type": "Group"}]}])
    assert reply.status == 400 and reply.body["scimType"] == "invalidValue"
    assert "only Users can be members" in reply.body["detail"]
    created = scim.post("/Groups", {"displayName": "Nested", "members": [{"value": inner, "type": "Group"}]})
    assert created.status == 400 and "only Users can be members" in created.body["detail"]
    read = scim.get(f"/Groups/{group}")
    assert read.body.get("members", []) == [] and read.body["meta"]["version"] == 'W/"1"'
