"""/Bulk (RFC 7644 §3.7) against the app, on SQLite and PostgreSQL: the RFC's own examples replayed,
bulkId references, circular references refused, failOnErrors, the advertised limits enforced, and a
refused operation leaving the store as it was."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from scim_bridge.scim.schemas import USER
from scim_bridge.store.bulk import BATCH_SIZE
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import AuditEntry, Base
from scim_bridge.store.repository import Repository
from tests.e2e.test_bad_input import snapshot
from tests.support.bridge import ScimClient, bridge_app
from tests.support.idp_requests import CORE_GROUP, CORE_USER, ENTERPRISE_USER, ERROR, PATCH_OP

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

# -- The request bodies of RFC 7644 §3.7.1–3.7.3, transcribed -----------------------------------------
# The resource ids and ETags are the RFC's; tests put their own in where the RFC's resources must exist.

RFC_BULK_ID_EXAMPLE = {  # RFC 7644 §3.7.2: a group whose member is a user created in the same request
    "schemas": [BULK_REQUEST],
    "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "qwerty",
         "data": {"schemas": [CORE_USER], "userName": "Alice"}},
        {"method": "POST", "path": "/Groups", "bulkId": "ytrewq",
         "data": {"schemas": [CORE_GROUP], "displayName": "Tour Guides",
                  "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
    ],
}

RFC_EXTENSION_EXAMPLE = {  # RFC 7644 §3.7.2: references inside an extension are resolved the same way
    "schemas": [BULK_REQUEST],
    "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "qwerty",
         "data": {"schemas": [CORE_USER], "userName": "Alice"}},
        {"method": "POST", "path": "/Users", "bulkId": "ytrewq",
         "data": {"schemas": [CORE_USER, ENTERPRISE_USER], "userName": "Bob",
                  ENTERPRISE_USER: {"employeeNumber": "11250", "manager": {"value": "bulkId:qwerty"}}}},
    ],
}

RFC_CIRCULAR_EXAMPLE = {  # RFC 7644 §3.7.1: two groups, each a member of the other
    "schemas": [BULK_REQUEST],
    "Operations": [
        {"method": "POST", "path": "/Groups", "bulkId": "qwerty",
         "data": {"schemas": [CORE_GROUP], "displayName": "Group A",
                  "members": [{"type": "Group", "value": "bulkId:ytrewq"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "ytrewq",
         "data": {"schemas": [CORE_GROUP], "displayName": "Group B",
                  "members": [{"type": "Group", "value": "bulkId:qwerty"}]}},
    ],
}

RFC_MIXED_EXAMPLE = {  # RFC 7644 §3.7: add, replace, modify and remove users in one request, failOnErrors 1
    "schemas": [BULK_REQUEST],
    "failOnErrors": 1,
    "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "qwerty",
         "data": {"schemas": [CORE_USER], "userName": "Alice"}},
        {"method": "PUT", "path": "/Users/b7c14771-226c-4d05-8860-134711653041",
         "version": 'W/"3694e05e9dff591"',
         "data": {"schemas": [CORE_USER], "id": "b7c14771-226c-4d05-8860-134711653041", "userName": "Bob"}},
        # The RFC prints this operation's data as `{[ ... ]}`, which is not JSON; its two operations
        # are sent here as the PatchOp message they stand for.
        {"method": "PATCH", "path": "/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
         "version": 'W/"edac3253e2c0ef2"',
         "data": {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "nickName"},
                                                        {"op": "add", "path": "userName", "value": "Dave"}]}},
        {"method": "DELETE", "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b",
         "version": 'W/"0ee8add0a938e1a"'},
    ],
}
RFC_IDS = ("b7c14771-226c-4d05-8860-134711653041", "5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
           "e9025315-6bea-44e1-899c-1e07454e468b")


def _bulk(scim: ScimClient, body: dict, status: int = 200) -> list[dict]:
    reply = scim.post("/Bulk", body)
    assert reply.status == status, reply.body
    assert reply.body["schemas"] == [BULK_RESPONSE]
    return reply.body["Operations"]


def _with_existing_users(scim: ScimClient, *, current_versions: bool) -> dict:
    """RFC_MIXED_EXAMPLE aimed at three users that exist here (the RFC's ids replaced by theirs), with
    their current ETags or with the RFC's, which are stale here."""
    body = copy.deepcopy(RFC_MIXED_EXAMPLE)
    for op, name in zip(body["Operations"][1:], ("bob", "carol", "erin"), strict=True):
        created = scim.post("/Users", {"userName": name, "nickName": name.title()})
        assert created.status == 201
        rfc_id = op["path"].rsplit("/", 1)[1]
        op["path"] = op["path"].replace(rfc_id, created.body["id"])
        if "data" in op and "id" in op["data"]:
            op["data"]["id"] = created.body["id"]
        if current_versions:
            op["version"] = created.headers["ETag"]
    return body


def _user_names(scim: ScimClient) -> set[str]:
    return {u["userName"] for u in scim.get("/Users").body["Resources"]}


# -- the RFC's examples ----------------------------------------------------------------------------


def test_rfc_bulk_id_example_makes_the_new_user_a_member_of_the_new_group(scim):
    alice, guides = _bulk(scim, RFC_BULK_ID_EXAMPLE)
    assert (alice["method"], alice["bulkId"], alice["status"]) == ("POST", "qwerty", "201")
    assert (guides["method"], guides["bulkId"], guides["status"]) == ("POST", "ytrewq", "201")
    assert "response" not in alice and "response" not in guides
    user = scim.get(alice["location"].split("/scim/v2", 1)[1])
    group = scim.get(guides["location"].split("/scim/v2", 1)[1])
    assert user.body["userName"] == "Alice" and alice["version"] == user.headers["ETag"]
    assert group.body["displayName"] == "Tour Guides" and guides["version"] == group.headers["ETag"]
    assert [m["value"] for m in group.body["members"]] == [user.body["id"]]
    assert [g["value"] for g in user.body["groups"]] == [group.body["id"]]


def test_a_reference_to_a_later_post_runs_that_post_first(scim):
    body = copy.deepcopy(RFC_BULK_ID_EXAMPLE)
    body["Operations"].reverse()  # the group first: its member is created further down the request
    guides, alice = _bulk(scim, body)
    assert (guides["bulkId"], guides["status"], alice["bulkId"], alice["status"]) == ("ytrewq", "201", "qwerty", "201")
    group = scim.get(guides["location"].split("/scim/v2", 1)[1]).body
    assert [m["value"] for m in group["members"]] == [alice["location"].rsplit("/", 1)[1]]


def test_rfc_extension_example_resolves_the_manager_reference(scim):
    alice, bob = _bulk(scim, RFC_EXTENSION_EXAMPLE)
    assert (alice["status"], bob["status"]) == ("201", "201")
    stored = scim.get(bob["location"].split("/scim/v2", 1)[1]).body
    assert stored[ENTERPRISE_USER] == {"employeeNumber": "11250",
                                       "manager": {"value": alice["location"].rsplit("/", 1)[1]}}


def test_rfc_circular_example_is_refused_with_409_and_creates_nothing(scim, engine):
    before = snapshot(engine)
    results = _bulk(scim, RFC_CIRCULAR_EXAMPLE)
    assert [(r["method"], r["bulkId"], r["status"]) for r in results] == [("POST", "qwerty", "409"),
                                                                          ("POST", "ytrewq", "409")]
    for result in results:
        assert "location" not in result  # a failed POST has none (RFC 7644 §3.7.3)
        error = result["response"]
        assert error["schemas"] == [ERROR] and error["status"] == "409" and "scimType" not in error
        assert "circle" in error["detail"] and "PATCH" in error["detail"]
    assert snapshot(engine) == before


def test_rfc_mixed_example_with_current_versions_does_all_four(scim):
    body = _with_existing_users(scim, current_versions=True)
    results = _bulk(scim, body)
    assert [(r["method"], r["status"]) for r in results] == [("POST", "201"), ("PUT", "200"), ("PATCH", "200"),
                                                            ("DELETE", "204")]
    assert results[0]["bulkId"] == "qwerty"
    assert [r["location"].split("/scim/v2", 1)[1] for r in results[1:]] == [op["path"] for op in body["Operations"][1:]]
    assert all("version" in r for r in results[:3]) and "version" not in results[3]
    # Bob replaced (no nickName any more), carol became Dave without her nickName, erin deleted.
    assert _user_names(scim) == {"Alice", "Bob", "Dave"}
    dave = scim.get(body["Operations"][2]["path"]).body
    assert "nickName" not in dave and results[2]["version"] == dave["meta"]["version"]


def test_rfc_mixed_example_with_stale_versions_stops_at_the_first_error(scim, engine):
    """failOnErrors 1 (RFC 7644 §3.7.3): the stale PUT fails with 412 and nothing after it is performed."""
    body = _with_existing_users(scim, current_versions=False)
    results = _bulk(scim, body)
    assert [(r["method"], r["status"]) for r in results] == [("POST", "201"), ("PUT", "412")]
    assert results[1]["response"]["status"] == "412"
    assert results[1]["location"].endswith(body["Operations"][1]["path"])
    assert _user_names(scim) == {"Alice", "bob", "carol", "erin"}


def test_without_fail_on_errors_every_operation_is_tried(scim):
    """RFC 7644 §3.7.3: the service provider goes on after a failure and reports each operation's own status."""
    body = _with_existing_users(scim, current_versions=False)
    del body["failOnErrors"]
    results = _bulk(scim, body)
    assert [(r["method"], r["status"]) for r in results] == [("POST", "201"), ("PUT", "412"), ("PATCH", "412"),
                                                            ("DELETE", "412")]
    assert _user_names(scim) == {"Alice", "bob", "carol", "erin"}


@pytest.mark.parametrize("fail_on_errors", [1, 2, 3])
def test_fail_on_errors_stops_after_that_many_errors(scim, fail_on_errors):
    operations = [
        {"method": "DELETE", "path": "/Users/missing-1"},
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "a"}},
        {"method": "DELETE", "path": "/Users/missing-2"},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "b"}},
        {"method": "DELETE", "path": "/Users/missing-3"},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "c"}},
    ]
    results = _bulk(scim, {"schemas": [BULK_REQUEST], "failOnErrors": fail_on_errors, "Operations": operations})
    # Errors and successes alternate: the N-th error is operation 2N-1, and nothing after it runs.
    assert [r["status"] for r in results] == ["404", "201", "404", "201", "404", "201"][:2 * fail_on_errors - 1]
    assert _user_names(scim) == set("abc"[:fail_on_errors - 1])


def test_fail_on_errors_counts_the_refusals_among_consecutive_creates(scim):
    """Creates written together still stop at the N-th refusal: what follows it is not performed."""
    names = ["ann", "ANN", "bob", "Bob", "cho", "dan"]
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": {"userName": name}}
                  for i, name in enumerate(names)]
    results = _bulk(scim, {"schemas": [BULK_REQUEST], "failOnErrors": 2, "Operations": operations})
    assert [(r["bulkId"], r["status"]) for r in results] == [("u0", "201"), ("u1", "409"), ("u2", "201"),
                                                            ("u3", "409")]
    assert _user_names(scim) == {"ann", "bob"}


# -- references, limits and refusals -----------------------------------------------------------------


def test_a_reference_to_a_failed_post_fails_with_409_and_the_rest_goes_on(scim):
    scim.post("/Users", {"userName": "Alice"})
    alice, guides = _bulk(scim, RFC_BULK_ID_EXAMPLE)
    assert (alice["status"], alice["response"]["scimType"]) == ("409", "uniqueness")
    assert guides["status"] == "409" and "bulkId:qwerty" in guides["response"]["detail"]
    assert scim.get("/Groups").body["totalResults"] == 0


def test_a_bulk_id_in_a_path_names_the_resource_created(scim):
    operations = [
        {"method": "PATCH", "path": "/Users/bulkId:qwerty",
         "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Al"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"userName": "Alice"}},
    ]
    patched, created = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": operations})
    assert (patched["status"], created["status"]) == ("200", "201")
    assert patched["location"] == created["location"]
    assert scim.get(created["location"].split("/scim/v2", 1)[1]).body["displayName"] == "Al"


@pytest.mark.parametrize(("operation", "status", "scim_type", "words"), [
    ({"method": "POST", "path": "/Users", "data": {"userName": "x"}, "bulkId": ""}, "400", "invalidValue", "bulkId"),
    ({"method": "GET", "path": "/Users/x"}, "400", "invalidValue", "method"),
    ({"method": "POST", "path": "/Widgets", "bulkId": "w", "data": {}}, "400", "invalidValue", "/Users or /Groups"),
    ({"method": "DELETE", "path": "/Users"}, "400", "invalidValue", "/Users/{id}"),
    ({"method": "POST", "path": "/Users/x", "bulkId": "p", "data": {"userName": "x"}}, "400", "invalidValue",
     "POST creates"),
    ({"method": "PUT", "path": "/Users/x"}, "400", "invalidSyntax", '"data"'),
    ({"method": "POST", "path": "/Groups", "bulkId": "g",
      "data": {"displayName": "G", "members": [{"value": "bulkId:nobody"}]}}, "400", "invalidValue", "no POST"),
    ({"method": "POST", "path": "/Users", "bulkId": "u", "data": {"displayName": "no userName"}}, "400",
     "invalidValue", "userName"),
])
def test_a_bad_operation_fails_alone_and_changes_nothing(scim, engine, operation, status, scim_type, words):
    fine = {"method": "POST", "path": "/Users", "bulkId": "fine", "data": {"userName": "fine"}}
    before = snapshot(engine)
    bad, good = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": [operation, fine]})
    assert bad["status"] == status and bad["response"]["status"] == status, bad
    assert bad["response"].get("scimType") == scim_type and words in bad["response"]["detail"]
    assert good["status"] == "201"
    # The good operation's rows are the only change.
    created = good["location"].rsplit("/", 1)[1]
    scim.delete(f"/Users/{created}")
    with engine.begin() as conn:
        conn.execute(sa.delete(AuditEntry).where(AuditEntry.resource_id == created))
    assert snapshot(engine) == before


def test_a_refused_write_rolls_back_alone_inside_its_batch(scim, engine):
    """The uniqueness refusal runs in the same transaction as the writes around it (one batch)."""
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": {"userName": name}}
                  for i, name in enumerate(["ann", "bob", "ANN", "cho"])]
    results = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": operations})
    assert [r["status"] for r in results] == ["201", "201", "409", "201"]
    assert _user_names(scim) == {"ann", "bob", "cho"}
    with engine.connect() as conn:
        audited = conn.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar()
    assert audited == 3


def test_a_name_taken_earlier_in_the_same_batch_is_refused_naming_its_holder(scim):
    """The unique index refuses the name; the holder, not committed yet, is found in the batch."""
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": {"userName": name}}
                  for i, name in enumerate(["ann", "ANN"])]
    first, second = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": operations})
    holder = first["location"].rsplit("/", 1)[1]
    assert second["status"] == "409"
    assert f'userName "ANN" is already taken by User {holder}' in second["response"]["detail"]


@pytest.mark.parametrize(("body", "scim_type", "words"), [
    ({"schemas": [BULK_REQUEST]}, "invalidSyntax", "Operations"),
    ({"schemas": [BULK_REQUEST], "Operations": {}}, "invalidSyntax", "Operations"),
    ({"schemas": [PATCH_OP], "Operations": []}, "invalidValue", BULK_REQUEST),
    ({"schemas": [BULK_REQUEST], "failOnErrors": "1", "Operations": []}, "invalidValue", "failOnErrors"),
    ({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "a"}},
        {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "b"}}]}, "invalidValue", "unique"),
])
def test_a_bad_envelope_is_refused_whole(scim, engine, body, scim_type, words):
    before = snapshot(engine)
    reply = scim.post("/Bulk", body)
    assert reply.status == 400 and reply.body["scimType"] == scim_type and words in reply.body["detail"]
    assert snapshot(engine) == before


def test_the_limits_are_advertised_and_enforced_with_413(engine):
    scim = ScimClient(bridge_app(engine, scim={"bulk_max_operations": 2, "bulk_max_payload_bytes": 2048}))
    assert scim.get("/ServiceProviderConfig").body["bulk"] == {"supported": True, "maxOperations": 2,
                                                              "maxPayloadSize": 2048}
    before = snapshot(engine)
    three = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": {"userName": f"u{i}"}} for i in range(3)]
    reply = scim.post("/Bulk", {"schemas": [BULK_REQUEST], "Operations": three})
    assert reply.status == 413 and reply.body["status"] == "413" and "maxOperations (2)" in reply.body["detail"]
    big = [{"method": "POST", "path": "/Users", "bulkId": "big", "data": {"userName": "u", "title": "x" * 3000}}]
    reply = scim.post("/Bulk", {"schemas": [BULK_REQUEST], "Operations": big})
    assert reply.status == 413 and "maxPayloadSize (2048 bytes)" in reply.body["detail"]
    assert snapshot(engine) == before
    assert _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": three[:2]})[1]["status"] == "201"


def test_the_bulk_body_limit_replaces_the_general_one_on_bulk_only(engine):
    scim = ScimClient(bridge_app(engine, server={"max_body_bytes": 1024}, scim={"bulk_max_payload_bytes": 65536}))
    # Over 1 KiB, each value within the 512 characters an attribute may have.
    long = {name: "x" * 400 for name in ("title", "nickName", "displayName", "profileUrl")}
    assert scim.post("/Users", {"userName": "single", **long}).status == 413
    (result,) = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "bulk", **long}}]})
    assert result["status"] == "201"


def test_a_large_bulk_commits_in_batches(scim, engine):
    users = 2 * BATCH_SIZE + 10
    commits = []

    def counted(connection):
        commits.append(connection)

    event.listen(engine, "commit", counted)
    try:
        results = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": {"userName": f"user{i:04d}"}}
            for i in range(users)]})
    finally:
        event.remove(engine, "commit", counted)
    assert [r["status"] for r in results] == ["201"] * users
    assert len(commits) == 3  # not one transaction per user
    assert scim.get("/Users?count=1").body["totalResults"] == users


def test_a_name_taken_by_another_request_after_the_batch_was_checked_is_refused_alone(postgres_schema_url):
    """PostgreSQL, where writers run side by side: another request commits a name between the batch's
    check and its INSERT; that create alone is refused (409 naming the holder), the others commit."""
    engine = make_engine(postgres_schema_url)
    Base.metadata.create_all(engine)
    scim = ScimClient(bridge_app(engine))
    holder: list[str] = []

    def meanwhile(conn, cursor, statement, parameters, context, executemany):
        if not holder and statement.startswith("INSERT INTO users"):
            holder.append("")  # once: the other request's own INSERT passes by here too
            holder[0] = Repository(engine).create(USER, {"userName": "Bob"}, "other").id

    event.listen(engine, "before_cursor_execute", meanwhile)
    try:
        results = _bulk(scim, {"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": name, "data": {"userName": name}}
            for name in ("ann", "bob", "cho")]})
    finally:
        event.remove(engine, "before_cursor_execute", meanwhile)
    assert [r["status"] for r in results] == ["201", "409", "201"]
    assert f"taken by User {holder[0]}" in results[1]["response"]["detail"]
    assert _user_names(scim) == {"ann", "Bob", "cho"}
    with engine.connect() as conn:
        audited = conn.execute(sa.select(AuditEntry.actor, sa.func.count()).group_by(AuditEntry.actor)).all()
    assert sorted(audited) == [("idp", 2), ("other", 1)]
    engine.dispose()
