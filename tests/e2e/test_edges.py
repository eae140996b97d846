"""The edges identity providers and bad days reach: limits, conditional reads, tolerant paths, a
rename onto a taken name, and a database that cannot be reached (503 with Retry-After)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from scim_bridge.scim.limits import MAX_FILTER_TERMS, MAX_STRING_LENGTH
from scim_bridge.store.database import Timeouts, make_engine
from scim_bridge.store.models import Base
from tests.support.bridge import ScimClient, bridge_app
from tests.support.idp_requests import ERROR
from tests.support.servers import free_port
from tests.support.store_digest import store_digest


@pytest.fixture
def ann(scim):
    reply = scim.post("/Users", {"userName": "ann@example.com", "emails": [{"value": "ann@example.com"}]})
    assert reply.status == 201
    return reply.body


def refused(reply, status: int, scim_type: str | None, words: str) -> None:
    assert reply.status == status, reply.body
    assert reply.body["schemas"] == [ERROR] and reply.body["status"] == str(status)
    assert reply.body.get("scimType") == scim_type
    assert words in reply.body["detail"], reply.body["detail"]


# -- limits -----------------------------------------------------------------------------------------


def test_string_limit_is_the_column_width_on_both_databases(scim, engine):
    assert scim.post("/Users", {"userName": "u" * MAX_STRING_LENGTH}).status == 201
    before = store_digest(engine)
    refused(scim.post("/Users", {"userName": "v" * (MAX_STRING_LENGTH + 1)}), 400, "invalidValue",
            f'"userName" is {MAX_STRING_LENGTH + 1} characters long; this server keeps at most {MAX_STRING_LENGTH}')
    refused(scim.post("/Groups", {"displayName": "G", "externalId": "e" * 600}), 400, "invalidValue", '"externalId"')
    assert store_digest(engine) == before


def test_filter_term_limit_answers_too_many(scim):
    def terms(n):
        return " or ".join(f'userName eq "u{i}"' for i in range(n))

    assert scim.post("/Users/.search", {"filter": terms(MAX_FILTER_TERMS)}).status == 200
    refused(scim.post("/Users/.search", {"filter": terms(MAX_FILTER_TERMS + 1)}), 400, "tooMany",
            f"more than {MAX_FILTER_TERMS} comparisons")


@pytest.mark.parametrize(("raw", "scim_type", "words"), [
    ('{"userName": "a\\u0000b"}', "invalidValue", "NUL character"),
    ('{"userName": "\\ud800x"}', "invalidSyntax", "unpaired UTF-16 surrogate"),
    ('{"userName": "n", "x": ' + "[" * 1000 + "]" * 1000 + "}", "invalidSyntax", "more than 32 deep"),
    ('{"userName": "n", "nickName": Infinity}', "invalidSyntax", "Infinity is not a JSON number"),
])
def test_body_text_no_database_can_hold_is_refused(scim, engine, raw, scim_type, words):
    before = store_digest(engine)
    refused(scim.post("/Users", raw=raw), 400, scim_type, words)
    assert store_digest(engine) == before


def test_start_index_beyond_the_bound_and_nul_in_an_id(scim):
    refused(scim.get("/Users?startIndex=" + "9" * 30), 400, "invalidValue", "startIndex")
    refused(scim.get("/Users/%00"), 400, "invalidValue", "NUL character")


def test_limits_are_advertised(app, scim):
    config = scim.get("/ServiceProviderConfig").body
    assert config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["bulk"]["maxPayloadSize"] == app.config["MAX_CONTENT_LENGTH"] == 1_048_576


# -- conditional reads, names, paths -----------------------------------------------------------------


@pytest.mark.parametrize(("tag", "status"), [('W/"1"', 304), ('"1"', 304), ("*", 304), ('"2", W/"1"', 304),
                                              ('W/"2"', 200), ('"12"', 200)])
def test_if_none_match_compares_weakly(scim, ann, tag, status):
    reply = scim.get(f"/Users/{ann['id']}", headers={"If-None-Match": tag})
    assert reply.status == status
    assert reply.headers["ETag"] == 'W/"1"'


@pytest.mark.parametrize("how", ["put", "patch"])
def test_rename_onto_a_taken_name_with_a_new_email_names_the_holder(scim, engine, ann, how):
    bob = scim.post("/Users", {"userName": "bob@example.com", "emails": [{"value": "bob@example.com"}]}).body
    change = {"userName": "ANN@example.com", "emails": [{"value": "new@example.com"}]}
    before = store_digest(engine)
    if how == "put":
        reply = scim.put(f"/Users/{bob['id']}", change)
    else:
        reply = scim.patch(f"/Users/{bob['id']}", [{"op": "replace", "value": change}])
    refused(reply, 409, "uniqueness", f'userName "ANN@example.com" is already taken by User {ann["id"]}')
    assert store_digest(engine) == before


@pytest.mark.parametrize("path", ["/users", "/USERS/", "/Users/?filter=userName%20eq%20%22ann@example.com%22",
                                  "/users/{id}", "/Users/{id}/", "/serviceproviderconfig", "/ServiceProviderConfigs",
                                  "/schemas/", "/resourcetypes/User"])
def test_paths_are_case_insensitive_and_a_trailing_slash_is_tolerated(scim, ann, path):
    reply = scim.get(path.format(id=ann["id"]))
    assert reply.status == 200, reply.body
    if "Users" in path or "users" in path.lower():
        found = reply.body.get("Resources", [reply.body])
        assert [r["id"] for r in found] == [ann["id"]]


def test_search_with_a_trailing_slash_and_lower_case(scim, ann):
    reply = scim.post("/users/.search/", {"filter": 'userName eq "ann@example.com"'})
    assert reply.status == 200 and reply.body["totalResults"] == 1


# -- the database out of reach: 503 with Retry-After ---------------------------------------------------


def unavailable(reply) -> None:
    assert reply.status == 503, reply.body
    assert reply.body["schemas"] == [ERROR] and reply.body["status"] == "503"
    assert int(reply.headers["Retry-After"]) > 0
    assert "retry" in reply.body["detail"] and reply.headers["X-Request-Id"] in reply.body["detail"]


def test_postgresql_refusing_connections_answers_503(postgres_schema_url):
    url = sa.make_url(postgres_schema_url).set(port=free_port())  # nothing listens there
    app = bridge_app(make_engine(url.render_as_string(hide_password=False), Timeouts(connect_timeout=1)))
    scim = ScimClient(app)
    unavailable(scim.get("/Users"))
    unavailable(scim.post("/Users", {"userName": "zed"}))
    assert app.test_client().get("/readyz").status_code == 503


def test_sqlite_locked_past_the_busy_timeout_answers_503(tmp_path):
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    engine = make_engine(url, Timeouts(busy_timeout=0.2))
    Base.metadata.create_all(engine)
    scim = ScimClient(bridge_app(engine))
    with make_engine(url).execution_options(write=True).begin():  # another writer holds the lock
        unavailable(scim.post("/Users", {"userName": "zed"}))
    assert scim.post("/Users", {"userName": "zed"}).status == 201


def test_an_exhausted_pool_answers_503(engine, database_url):
    small = make_engine(database_url, Timeouts(pool_timeout=0.2))
    scim = ScimClient(bridge_app(small))
    held = [small.connect() for _ in range(small.pool.size() + small.pool._max_overflow)]
    try:
        unavailable(scim.get("/Users"))
    finally:
        for conn in held:
            conn.close()
    assert scim.get("/Users").status == 200
