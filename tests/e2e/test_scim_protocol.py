"""RFC 7644 behaviour identity providers rely on: create, read, paging, sorting, projection, ETags."""

import pytest
import sqlalchemy as sa

from scim_bridge.store.models import Base
from tests.support.bridge import ScimClient, bridge_app
from tests.support.idp_requests import LIST_RESPONSE, PATCH_OP


def _user(scim, user_name, **extra):
    reply = scim.post("/Users", {"userName": user_name, **extra})
    assert reply.status == 201, reply.body
    return reply.body


def test_create_answers_201_with_location_meta_and_etag(scim):
    body = _user(scim, "Ann@Example.com", name={"givenName": "Ann", "familyName": "Lee"}, password="Secr3t!pass",
                 emails=[{"value": "ann@example.com", "type": "work", "primary": True}])
    reply = scim.get(f"/Users/{body['id']}")
    assert reply.status == 200
    assert reply.body == body
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert meta["created"] == meta["lastModified"] and meta["created"].endswith("Z")
    assert reply.headers["ETag"] == meta["version"] == 'W/"1"'
    assert "password" not in body and "Secr3t" not in str(body)


def test_a_password_is_accepted_and_dropped_never_stored_or_returned(scim, engine):
    """docs/architecture.md: ``password`` is accepted (identity providers send it) and dropped."""
    created = _user(scim, "pat@example.com", password="Create-Secr3t")
    path = f"/Users/{created['id']}"
    replaced = scim.put(path, {"userName": "pat@example.com", "password": "Put-Secr3t"})
    patched = scim.patch(path, [{"op": "replace", "value": {"password": "Patch-Secr3t"}}])  # Okta's password sync
    assert (replaced.status, patched.status) == (200, 200)
    assert not any("Secr3t" in str(body) for body in (created, replaced.body, patched.body, scim.get(path).body))
    with engine.connect() as conn:
        stored = [str(row) for table in Base.metadata.sorted_tables for row in conn.execute(sa.select(table))]
    assert stored and not [row for row in stored if "Secr3t" in row]


def test_location_header_equals_meta_location(scim):
    reply = scim.post("/Groups", {"displayName": "Ops"})
    assert reply.status == 201
    assert reply.headers["Location"] == reply.body["meta"]["location"]


def test_username_lookup_is_case_insensitive_and_no_match_is_an_empty_list(scim):
    created = _user(scim, "Mixed.Case@Example.com")
    found = scim.get('/Users?filter=userName eq "MIXED.CASE@EXAMPLE.COM"')
    assert found.status == 200
    assert [r["id"] for r in found.body["Resources"]] == [created["id"]]
    missing = scim.get('/Users?filter=userName eq "2b1a3e6e-0c1f-4a2f-9d9a-5b6f1c7e8d9f"')
    assert missing.status == 200
    assert missing.body == {"schemas": [LIST_RESPONSE], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0,
                            "Resources": []}


def test_paging_is_stable_with_integer_fields(scim):
    ids = [_user(scim, f"user{i:02d}@example.com")["id"] for i in range(11)]
    seen = []
    for start in (1, 6, 11):
        page = scim.get(f"/Users?startIndex={start}&count=5")
        assert page.body["totalResults"] == 11
        assert page.body["startIndex"] == start
        assert page.body["itemsPerPage"] == len(page.body["Resources"])
        seen += [r["id"] for r in page.body["Resources"]]
    assert seen == ids  # creation order, no duplicates, none skipped


def test_count_zero_negative_and_capped(engine):
    scim = ScimClient(bridge_app(engine, scim={"max_results": 2}))
    for i in range(3):
        _user(scim, f"u{i}@example.com")
    zero = scim.get("/Users?count=0")
    assert zero.body["totalResults"] == 3 and zero.body["Resources"] == [] and zero.body["itemsPerPage"] == 0
    assert scim.get("/Users?count=-4").body["itemsPerPage"] == 0
    assert scim.get("/Users?startIndex=0&count=2").body["startIndex"] == 1
    assert scim.get("/Users?count=500").body["itemsPerPage"] == 2


def test_sort_by_attribute_in_either_order(scim):
    for name, family in (("b@example.com", "Young"), ("c@example.com", "Adams"), ("a@example.com", "Moss")):
        _user(scim, name, name={"familyName": family})
    by_name = scim.get("/Users?sortBy=USERNAME")
    assert [r["userName"] for r in by_name.body["Resources"]] == ["a@example.com", "b@example.com", "c@example.com"]
    by_family = scim.get("/Users?sortBy=name.familyName&sortOrder=descending")
    assert [r["name"]["familyName"] for r in by_family.body["Resources"]] == ["Young", "Moss", "Adams"]


def test_attributes_and_excluded_attributes(scim):
    user = _user(scim, "p@example.com", name={"givenName": "Pat", "familyName": "Doe"}, title="Boss",
                 emails=[{"value": "p@example.com", "type": "work"}])
    only = scim.get(f"/Users/{user['id']}?attributes=userName,name.givenName")
    assert only.body == {"schemas": user["schemas"], "id": user["id"], "userName": "p@example.com",
                         "name": {"givenName": "Pat"}}
    without = scim.get(f"/Users/{user['id']}?excludedAttributes=title,emails,id")
    assert "title" not in without.body and "emails" not in without.body
    assert without.body["id"] == user["id"]  # returned: always
    listed = scim.get('/Users?attributes=emails&filter=userName eq "p@example.com"')
    assert listed.body["Resources"] == [{"schemas": user["schemas"], "id": user["id"], "emails": user["emails"]}]


def test_search_endpoints_take_a_search_request(scim):
    user = _user(scim, "s@example.com", displayName="Sam")
    group = scim.post("/Groups", {"displayName": "Sam's group", "members": [{"value": user["id"]}]}).body
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
              "filter": 'userName sw "s"', "attributes": ["displayName"], "startIndex": 1, "count": 10}
    reply = scim.post("/Users/.search", search)
    assert reply.status == 200
    assert reply.body["Resources"] == [{"schemas": user["schemas"], "id": user["id"], "displayName": "Sam"}]
    both = scim.post("/.search", {"filter": 'displayName sw "Sam"', "excludedAttributes": ["members", "meta"]})
    assert both.body["totalResults"] == 2
    assert [r["id"] for r in both.body["Resources"]] == [user["id"], group["id"]]


def test_etags_guard_writes_and_save_reads(scim):
    user = _user(scim, "e@example.com")
    path = f"/Users/{user['id']}"
    assert scim.get(path, headers={"If-None-Match": 'W/"1"'}).status == 304
    stale = scim.put(path, {"userName": "e@example.com", "title": "x"}, headers={"If-Match": 'W/"7"'})
    assert stale.status == 412
    fresh = scim.put(path, {"userName": "e@example.com", "title": "x"}, headers={"If-Match": 'W/"1"'})
    assert fresh.status == 200 and fresh.headers["ETag"] == 'W/"2"' and fresh.body["title"] == "x"
    assert scim.get(path, headers={"If-None-Match": 'W/"1"'}).status == 200
    assert scim.delete(path, headers={"If-Match": 'W/"1"'}).status == 412
    assert scim.delete(path, headers={"If-Match": 'W/"2"'}).status == 204
    assert scim.get(path).status == 404


def test_put_replaces_and_ignores_read_only_and_unknown_input(scim):
    user = _user(scim, "r@example.com", title="Old", nickName="Rob")
    body = {**user, "title": "New", "adreses": [{"x": 1}], "groups": [{"value": "g"}], "meta": {"version": "x"}}
    del body["nickName"]
    reply = scim.put(f"/Users/{user['id']}", body)
    assert reply.status == 200
    assert reply.body["title"] == "New" and "nickName" not in reply.body and "adreses" not in reply.body
    assert reply.body["id"] == user["id"] and "groups" not in reply.body


def test_group_put_without_members_keeps_them_and_a_listed_set_replaces_them(scim):
    """docs/architecture.md: an identity provider that omits ``members`` in a PUT must not empty a
    large group by accident; a list given, even an empty one, is the new set."""
    ann, bob = _user(scim, "ann@example.com")["id"], _user(scim, "bob@example.com")["id"]
    group = scim.post("/Groups", {"displayName": "Ops", "members": [{"value": ann}, {"value": bob}]}).body
    path = f"/Groups/{group['id']}"

    def members() -> list[str]:
        return [m["value"] for m in scim.get(path).body.get("members", [])]

    assert scim.put(path, {"displayName": "Operations"}).status == 200
    assert scim.get(path).body["displayName"] == "Operations" and members() == [ann, bob]
    assert scim.put(path, {"displayName": "Operations", "members": [{"value": bob}]}).status == 200
    assert members() == [bob]
    assert scim.put(path, {"displayName": "Operations", "members": []}).status == 200
    assert members() == []


def test_patch_user_returns_the_resource_and_group_patch_returns_204(scim):
    user = _user(scim, "q@example.com")
    group = scim.post("/Groups", {"displayName": "Q"}).body
    reply = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}])
    assert reply.status == 200 and reply.body["active"] is False
    added = scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}])
    assert added.status == 204 and added.headers["ETag"] == 'W/"2"'
    read = scim.get(f"/Groups/{group['id']}")
    assert [m["value"] for m in read.body["members"]] == [user["id"]]
    assert scim.get(f"/Users/{user['id']}").body["groups"][0]["value"] == group["id"]
    with_body = scim.call("PATCH", f"/Groups/{group['id']}?excludedAttributes=members",
                          {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName",
                                                                  "value": "Q2"}]})
    assert with_body.status == 200 and with_body.body["displayName"] == "Q2" and "members" not in with_body.body


def test_deleted_user_leaves_its_groups_and_its_name_is_free_again(scim):
    user = _user(scim, "d@example.com")
    group = scim.post("/Groups", {"displayName": "D", "members": [{"value": user["id"]}]}).body
    assert scim.delete(f"/Users/{user['id']}").status == 204
    assert "members" not in scim.get(f"/Groups/{group['id']}").body
    again = scim.post("/Users", {"userName": "D@example.com"})
    assert again.status == 201 and again.body["id"] != user["id"]


def test_inactive_users_stay_visible_to_reads_and_filters(scim):
    user = _user(scim, "i@example.com", active=False)
    assert scim.get(f"/Users/{user['id']}").body["active"] is False
    assert scim.get('/Users?filter=userName eq "i@example.com"').body["totalResults"] == 1
    assert scim.get("/Users?filter=active eq false").body["totalResults"] == 1


@pytest.mark.parametrize("accept", ["application/scim+json", "*/*", None])
def test_responses_are_scim_json_unless_only_plain_json_is_accepted(scim, accept):
    headers = {"Accept": accept} if accept else {}
    assert scim.get("/Users", headers=headers).headers["Content-Type"].startswith("application/scim+json")


def test_plain_json_for_clients_that_accept_only_it(scim):
    reply = scim.get("/Users", headers={"Accept": "application/json"})
    assert reply.headers["Content-Type"].startswith("application/json")


def test_email_lookups_follow_email_changes_and_only_those(scim):
    user = _user(scim, "m@example.com", emails=[{"value": "old@example.com", "type": "work"}])
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "Boss"}])
    assert scim.get('/Users?filter=emails.value eq "old@example.com"').body["totalResults"] == 1
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": 'emails[type eq "work"].value',
                                         "value": "new@example.com"}])
    assert scim.get('/Users?filter=emails.value eq "old@example.com"').body["totalResults"] == 0
    found = scim.get('/Users?filter=emails[type eq "work"].value eq "NEW@example.com"').body
    assert [r["id"] for r in found["Resources"]] == [user["id"]]


def test_a_user_read_without_groups_does_not_query_memberships(scim, engine):
    from sqlalchemy import event

    user = _user(scim, "g@example.com")
    scim.post("/Groups", {"displayName": "G", "members": [{"value": user["id"]}]})
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        without = scim.get(f"/Users/{user['id']}?excludedAttributes=groups")
        without_sql = [s for s in statements if "group_members" in s]
        statements.clear()
        with_groups = scim.get(f"/Users/{user['id']}")
        with_sql = [s for s in statements if "group_members" in s]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "groups" not in without.body and without_sql == []
    assert [g["display"] for g in with_groups.body["groups"]] == ["G"] and len(with_sql) == 1
