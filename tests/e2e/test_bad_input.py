"""Bad input gets the right status, scimType and an actionable detail, and leaves the store unchanged."""

import pytest
import sqlalchemy as sa

from scim_bridge.store.models import Base
from tests.support.bridge import ScimClient
from tests.support.idp_requests import ERROR, PATCH_OP


def snapshot(engine) -> dict:
    """Every row of every table, to assert that a refused request changed nothing at all."""
    with engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(str(v) for v in row) for row in conn.execute(sa.select(table))), key=repr
            )
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def seeded(scim):
    ann = scim.post("/Users", {"userName": "ann@example.com", "name": {"givenName": "Ann", "familyName": "Lee"},
                               "emails": [{"value": "ann@example.com", "type": "work", "primary": True}]})
    group = scim.post("/Groups", {"displayName": "Engineering", "members": [{"value": ann.body["id"]}]})
    assert ann.status == 201 and group.status == 201
    return {"user": ann.body["id"], "group": group.body["id"]}


def _patch(ops):
    return {"schemas": [PATCH_OP], "Operations": ops}


CASES = [
    # (method, path template, kwargs, status, scimType or None, words the detail must contain)
    ("POST", "/Users", {"raw": "{\"userName\": "}, 400, "invalidSyntax", "not valid JSON"),
    ("POST", "/Users", {"raw": "[1, 2]"}, 400, "invalidSyntax", "JSON object"),
    ("POST", "/Users", {"raw": ""}, 400, "invalidSyntax", "empty"),
    ("POST", "/Users", {"raw": b"\xff\xfe{}"}, 400, "invalidSyntax", "UTF-8"),
    ("POST", "/Users", {"body": {"userName": 42.5}, "content_type": "text/plain"}, 415, None, "application/scim+json"),
    ("POST", "/Users", {"body": {"userName": "x"}, "content_type": "application/x-www-form-urlencoded"}, 415, None,
     "Content-Type"),
    ("POST", "/Users", {"body": {"userName": ["x"]}}, 400, "invalidValue", '"userName" must be a string'),
    ("POST", "/Users", {"body": {"userName": "bob", "active": "maybe"}}, 400, "invalidValue", '"active"'),
    ("POST", "/Users", {"body": {"name": {"givenName": "Bob"}}}, 400, "invalidValue", '"userName" is required'),
    ("POST", "/Users", {"body": {"userName": "ANN@example.com"}}, 409, "uniqueness", "already taken"),
    ("POST", "/Groups", {"body": {"displayName": "engineering"}}, 409, "uniqueness", "already taken"),
    ("POST", "/Groups", {"body": {"displayName": "Ops", "members": [{"value": "no-such-user"}]}}, 400,
     "invalidValue", "provision the user"),
    ("PUT", "/Users/{user}", {"body": {"userName": "ann@example.com", "name": 42}}, 400,
     "invalidValue", '"name" must be an object'),
    ("PUT", "/Users/{user}", {"body": {"userName": "x"}, "headers": {"If-Match": 'W/"99"'}}, 412, None,
     "current ETag"),
    ("GET", "/Users?filter=userName%20eq", {}, 400, "invalidFilter", "value"),
    ("GET", "/Users?filter=bogusAttr%20eq%20%22x%22", {}, 400, "invalidFilter", "bogusAttr"),
    ("GET", "/Users?filter=userName%20xx%20%22x%22", {}, 400, "invalidFilter", "xx"),
    ("GET", "/Users?filter=(userName%20eq%20%22x%22", {}, 400, "invalidFilter", ")"),
    ("GET", "/Users?count=ten", {}, 400, "invalidValue", "count must be an integer"),
    ("GET", "/Users?startIndex=1.5", {}, 400, "invalidValue", "startIndex must be an integer"),
    ("GET", "/Users?sortOrder=upwards", {}, 400, "invalidValue", "sortOrder"),
    ("POST", "/Users/.search", {"body": {"filter": 7}}, 400, "invalidValue", '"filter" must be a string'),
    ("PATCH", "/Users/{user}", {"body": _patch([{"op": "replace", "path": "nickName[", "value": "x"}])}, 400,
     "invalidPath", "nickName"),
    ("PATCH", "/Users/{user}", {"body": _patch([{"op": "replace", "path": "noSuchAttribute", "value": "x"}])},
     400, "invalidPath", "noSuchAttribute"),
    ("PATCH", "/Users/{user}", {"body": _patch([{"op": "remove"}])}, 400, "noTarget", "path"),
    ("PATCH", "/Users/{user}", {"body": _patch([{"op": "merge", "path": "nickName", "value": "x"}])}, 400,
     "invalidSyntax", "merge"),
    ("PATCH", "/Users/{user}", {"body": _patch([{"op": "replace", "path": "nickName", "value": "ok"},
                                                {"op": "replace", "path": "active", "value": "perhaps"}])}, 400,
     "invalidValue", "active"),
    ("PATCH", "/Users/{user}", {"body": _patch([{"op": "replace", "path": "emails[type eq \"home\"].primary",
                                                 "value": True}])}, 400, "noTarget", "emails"),
    ("PATCH", "/Users/{user}", {"body": {"schemas": [PATCH_OP]}}, 400, "invalidValue", "Operations"),
    ("PATCH", "/Groups/{group}", {"body": _patch([{"op": "add", "path": "members", "value": [{"value": "ghost"}]}])},
     400, "invalidValue", "provision the user"),
    ("GET", "/Users/does-not-exist", {}, 404, None, "does not exist"),
    ("DELETE", "/Groups/does-not-exist", {}, 404, None, "does not exist"),
    ("GET", "/Widgets", {}, 404, None, "/scim/v2"),
    ("DELETE", "/Schemas", {}, 405, None, "GET"),
    ("POST", "/ServiceProviderConfig", {"body": {}}, 405, None, "GET"),
    ("GET", "/ServiceProviderConfig?filter=x", {}, 403, None, "filter"),
    ("POST", "/Bulk", {"body": {"Operations": "all of them"}}, 400, "invalidSyntax", "Operations"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "scim_type", "words"), CASES,
                         ids=[f"{c[0]} {c[1]} -> {c[3]} {c[5]}" for c in CASES])
def test_bad_request_is_refused_clearly_and_changes_nothing(scim, engine, seeded, method, path, kwargs, status,
                                                            scim_type, words):
    before = snapshot(engine)
    reply = scim.call(method, path.format(**seeded), kwargs.get("body"), raw=kwargs.get("raw"),
                      headers=kwargs.get("headers"), content_type=kwargs.get("content_type", "application/scim+json"))
    assert reply.status == status, reply.body
    assert reply.body["schemas"] == [ERROR]
    assert reply.body["status"] == str(status)
    assert reply.body.get("scimType") == scim_type
    assert words in reply.body["detail"]
    assert "Traceback" not in reply.body["detail"]
    assert snapshot(engine) == before


def test_oversize_body_gets_413_and_changes_nothing(engine):
    from tests.support.bridge import bridge_app

    scim = ScimClient(bridge_app(engine, server={"max_body_bytes": 4096}))
    before = snapshot(engine)
    reply = scim.post("/Users", {"userName": "big", "nickName": "x" * 5000})
    assert reply.status == 413
    assert "smaller request" in reply.body["detail"]
    assert snapshot(engine) == before


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-value", "Basic dXNlcjpwYXNz", "non-token",
                                           "Bearer"])
@pytest.mark.parametrize("path", ["/Users", "/Groups/x", "/ServiceProviderConfig", "/Schemas", "/Nowhere"])
def test_every_scim_route_wants_a_valid_bearer_token(app, engine, authorization, path):
    scim = ScimClient(app, token=None)
    before = snapshot(engine)
    reply = scim.call("GET", path, headers={"Authorization": authorization} if authorization else {})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert reply.body["status"] == "401" and reply.body["schemas"] == [ERROR]
    assert "Bearer" in reply.body["detail"] or "token" in reply.body["detail"]
    post = scim.call("POST", "/Users", {"userName": "intruder"},
                     headers={"Authorization": authorization} if authorization else {})
    assert post.status == 401
    assert snapshot(engine) == before


def test_unexpected_failure_answers_500_without_internals(engine):
    """A store that breaks mid-request: the boundary answers with a request id, never the exception text."""
    from tests.support.bridge import bridge_app

    app = bridge_app(engine)
    scim = ScimClient(app)
    engine.dispose()
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE user_emails"))
    reply = scim.post("/Users", {"userName": "zed", "emails": [{"value": "zed@example.com"}]})
    assert reply.status == 500
    assert reply.body["status"] == "500"
    assert "request id" in reply.body["detail"]
    assert "user_emails" not in reply.body["detail"] and "sqlalchemy" not in reply.body["detail"].lower()
    assert reply.headers["X-Request-Id"] in reply.body["detail"]
