"""What the look-up fast path answers (store/repository.py ``search``), on SQLite and PostgreSQL: an
indexed ``eq`` read in one statement, the total taken from the page only when the page tells it, and
a user's groups read only when it has some. The answers must be those of the general path."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.idp_requests import CORE_GROUP, CORE_USER


def _filtered(scim, expression: str, extra: str = "") -> dict:
    reply = scim.get(f"/Users?filter={quote(expression)}{extra}")
    assert reply.status == 200, reply.body
    return reply.body


@pytest.fixture
def people(scim):
    ids = {}
    for name, external in [("ann", "EXT-1"), ("bob", "ext-1"), ("cho", None), ("dan", None)]:
        body = {"schemas": [CORE_USER], "userName": f"{name}@example.com", "displayName": "Team Member"}
        if external:
            body["externalId"] = external
        reply = scim.post("/Users", body)
        assert reply.status == 201, reply.body
        ids[name] = reply.body["id"]
    reply = scim.post("/Groups", {"schemas": [CORE_GROUP], "displayName": "Tour Guides",
                                  "members": [{"value": ids["ann"]}]})
    assert reply.status == 201, reply.body
    ids["group"] = reply.body["id"]
    return ids


def test_a_user_name_look_up_lists_the_groups_of_a_member_and_none_of_others(scim, people):
    ann = _filtered(scim, 'userName eq "ANN@example.com"')
    assert ann["totalResults"] == 1
    assert [g["value"] for g in ann["Resources"][0]["groups"]] == [people["group"]]
    bob = _filtered(scim, 'userName eq "bob@example.com"')
    assert bob["totalResults"] == 1 and "groups" not in bob["Resources"][0]
    excluded = _filtered(scim, 'userName eq "ann@example.com"', "&excludedAttributes=groups")
    assert "groups" not in excluded["Resources"][0]


def test_external_id_is_compared_case_exactly(scim, people):
    found = _filtered(scim, 'externalId eq "EXT-1"')
    assert [r["id"] for r in found["Resources"]] == [people["ann"]] and found["totalResults"] == 1


def test_an_unknown_name_answers_an_empty_list(scim, people):
    assert _filtered(scim, 'userName eq "nobody@example.com"') == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "startIndex": 1,
        "itemsPerPage": 0, "Resources": []}


@pytest.mark.parametrize(("extra", "total", "shown"), [
    ("", 4, 4),  # the first page, not full: the total is the page
    ("&count=2", 4, 2),  # a full page: counted
    ("&startIndex=4&count=2", 4, 1),  # a later page: counted
    ("&startIndex=9", 4, 0),  # past the end: counted
    ("&count=0", 4, 0),  # no page at all: counted
])
@pytest.mark.parametrize("expression", ['displayName eq "team member"', 'displayName sw "TEAM"'],
                         ids=["indexed eq", "general"])
def test_the_total_is_every_match_whatever_the_page(scim, people, extra, total, shown, expression):
    page = _filtered(scim, expression, extra)
    assert (page["totalResults"], len(page["Resources"])) == (total, shown)


def test_look_ups_answer_when_the_server_session_forgot_its_prepared_statements(scim, people, engine):
    """PostgreSQL runs the look-up as a statement prepared per connection. A pooler in front of it that
    shares server sessions (or a DISCARD ALL) loses them: the look-up still answers, as before."""
    if engine.dialect.name != "postgresql":
        pytest.skip("statements are prepared on PostgreSQL only")
    assert _filtered(scim, 'userName eq "ann@example.com"')["totalResults"] == 1
    pooled = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    for connection in pooled:
        cursor = connection.cursor()
        cursor.execute("DEALLOCATE ALL")
        cursor.close()
    for connection in pooled:
        connection.close()
    for _ in range(2):
        found = _filtered(scim, 'userName eq "bob@example.com"')
        assert found["totalResults"] == 1 and found["Resources"][0]["id"] == people["bob"]


def test_look_ups_answer_on_a_server_session_another_process_prepared_them_on(scim, people, engine):
    """Behind a pooler sharing server sessions, a connection can reach a session where another worker
    or instance already prepared the same look-up: it is named by its text, so it is the same
    statement, and the look-up answers (a PREPARE of a taken name would fail)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("statements are prepared on PostgreSQL only")
    assert _filtered(scim, 'userName eq "ann@example.com"')["totalResults"] == 1
    pooled = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    for connection in pooled:
        connection.info.clear()  # this process no longer knows; the server session still holds them
    for connection in pooled:
        connection.close()
    for _ in range(2):
        found = _filtered(scim, 'userName eq "bob@example.com"')
        assert found["totalResults"] == 1 and found["Resources"][0]["id"] == people["bob"]
