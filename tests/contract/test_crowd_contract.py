"""Crowd client: every operation's requests, exactly as Crowd's usermanagement/1 wants them (docs/products.md §5).

Calls the community description covers are also held against it (``client_for`` checks every
exchange at teardown); the direct-membership reads it lacks are pinned here from the facts of
docs/products.md §5.10.
"""

from __future__ import annotations

import pytest
import responses

from atlassian_clients import AuthFailed, Creation, NotFound, Rejected, RemoteUser, Unsupported
from tests.client_harness import READ, WRITE, Sent

API = "http://atlassian.test/crowd/rest/usermanagement/1"
P = "/crowd/rest/usermanagement/1"
BODYLESS_WRITE = {**READ, "X-Atlassian-Token": "no-check"}


def entity(name: str, *, display: str | None = None, email: str | None = None, active: bool = True) -> dict:
    display = display or name.title()
    return {
        "expand": "attributes",
        "link": {"href": f"{API}/user?username={name}", "rel": "self"},
        "name": name,
        "key": f"32769:{name}-key",
        "active": active,
        "first-name": display.split()[0],
        "last-name": display.split()[-1],
        "display-name": display,
        "email": email or f"{name}@example.com",
    }


def error(reason: str, message: str) -> dict:
    return {"reason": reason, "message": message}


@pytest.fixture
def crowd(client_for):
    return client_for("crowd", page_size=2)


def test_get_user_reads_the_entity_and_its_key(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/user", json=entity("jdoe", display="Jane Doe", email="Jane@Example.com"))

    user = client.get_user("jdoe")

    assert user == RemoteUser("jdoe", "32769:jdoe-key", "Jane Doe", "Jane@Example.com", True)
    assert wire.sent(headers=True) == [Sent("GET", f"{P}/user", {"username": "jdoe"}, None, READ)]


def test_get_user_answers_none_on_user_not_found(crowd, rsps):
    client, _ = crowd
    rsps.add(responses.GET, f"{API}/user", status=404, json=error("USER_NOT_FOUND", "User <ghost> does not exist"))

    assert client.get_user("ghost") is None


def test_find_by_email_searches_with_a_quoted_restriction_and_keeps_exact_matches(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/search", json={"expand": "user", "users": [
        entity("jane", email='O"Neil@example.com'), entity("janet", email='o"neil@example.com.au')]})
    rsps.add(responses.GET, f"{API}/search", json={"expand": "user", "users": []})

    found = client.find_users_by_email('o"neil@example.com')

    assert [user.name for user in found] == ["jane"]
    query = {"entity-type": "user", "expand": "user", "restriction": 'email = "o\\"neil@example.com"',
             "max-results": "2"}
    assert wire.sent() == [Sent("GET", f"{P}/search", {**query, "start-index": "0"}),
                           Sent("GET", f"{P}/search", {**query, "start-index": "2"})]


def test_create_sends_a_random_password_in_the_body_then_reads_the_account_back(crowd, rsps):
    client, wire = crowd
    for name in ("jdoe", "cho"):
        rsps.add(responses.POST, f"{API}/user", status=201, json=entity(name))
        rsps.add(responses.GET, f"{API}/user", json=entity(name, display="Jane Doe" if name == "jdoe" else "Cho"))

    creation = client.create_user("jdoe", "Jane Q. Doe", "jdoe@example.com")
    client.create_user("cho", "Cho", "cho@example.com")

    assert creation == Creation(RemoteUser("jdoe", "32769:jdoe-key", "Jane Doe", "jdoe@example.com", True), True)
    sent = wire.sent(headers=True)
    assert [(s.method, s.path, s.query, s.headers) for s in sent] == [
        ("POST", f"{P}/user", {}, WRITE), ("GET", f"{P}/user", {"username": "jdoe"}, READ),
        ("POST", f"{P}/user", {}, WRITE), ("GET", f"{P}/user", {"username": "cho"}, READ)]
    first, second = sent[0].body, sent[2].body
    password = first.pop("password")["value"]
    assert first == {"name": "jdoe", "active": True, "first-name": "Jane Q.", "last-name": "Doe",
                     "display-name": "Jane Q. Doe", "email": "jdoe@example.com"}
    # Nobody learns it (docs/products.md §5.5): long, random, different per account, never in a URL.
    assert len(password) >= 24 and password != second["password"]["value"]
    assert (second["first-name"], second["last-name"]) == ("Cho", "Cho")
    assert all(password not in request.url for request, _ in wire.exchanges)


def test_create_of_a_taken_name_links_the_account_after_one_post(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.POST, f"{API}/user", status=400, json=error("INVALID_USER", "User <jdoe> already exists"))
    rsps.add(responses.GET, f"{API}/user", json=entity("jdoe"))

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert creation.created is False and creation.resource.key == "32769:jdoe-key"
    assert [s.method for s in wire.sent()] == ["POST", "GET"]


def test_a_create_refused_for_another_reason_stays_refused(crowd, rsps):
    client, _ = crowd
    rsps.add(responses.POST, f"{API}/user", status=400, json=error("INVALID_USER", "Invalid e-mail address"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=error("USER_NOT_FOUND", "User <jdoe> does not exist"))

    with pytest.raises(Rejected, match="Invalid e-mail address"):
        client.create_user("jdoe", "Jane Doe", "not-an-address")


def test_update_reads_the_entity_and_puts_it_back_whole(crowd, rsps):
    # PUT /user blanks what it leaves out (docs/products.md §5.6): the e-mail address must travel too.
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/user", json=entity("JDoe", display="Jane Doe", email="keep@example.com"))
    rsps.add(responses.PUT, f"{API}/user", status=204)

    client.update_user("jdoe", display_name="Jane Q. Doe")

    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/user", {"username": "jdoe"}, None, READ),
        Sent("PUT", f"{P}/user", {"username": "JDoe"}, {
            "name": "JDoe", "first-name": "Jane Q.", "last-name": "Doe", "display-name": "Jane Q. Doe",
            "email": "keep@example.com", "active": True}, WRITE),
    ]


def test_set_active_is_the_same_whole_entity_put(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/user", json=entity("jdoe", display="Jane Doe"))
    rsps.add(responses.PUT, f"{API}/user", status=204)

    client.set_active("jdoe", False)

    assert wire.sent()[1].body == {"name": "jdoe", "first-name": "Jane", "last-name": "Doe",
                                   "display-name": "Jane Doe", "email": "jdoe@example.com", "active": False}


def test_rename_posts_the_new_name_and_counts_an_earlier_rename_as_done(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.POST, f"{API}/user/rename", json=entity("jane.doe"))
    rsps.add(responses.POST, f"{API}/user/rename", status=404,
             json=error("USER_NOT_FOUND", "User <jdoe> does not exist"))
    rsps.add(responses.GET, f"{API}/user", json=entity("jane.doe"))

    client.rename_user("jdoe", "jane.doe")
    client.rename_user("jdoe", "jane.doe")

    assert wire.sent(headers=True)[:2] == [
        Sent("POST", f"{P}/user/rename", {"username": "jdoe"}, {"new-name": "jane.doe"}, WRITE),
        Sent("POST", f"{P}/user/rename", {"username": "jdoe"}, {"new-name": "jane.doe"}, WRITE),
    ]


def test_delete_of_an_absent_user_is_done(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.DELETE, f"{API}/user", status=404, json=error("USER_NOT_FOUND", "User <jdoe> does not exist"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=error("USER_NOT_FOUND", "User <jdoe> does not exist"))

    client.delete_user("jdoe")

    assert wire.sent(headers=True)[0] == Sent("DELETE", f"{P}/user", {"username": "jdoe"}, None, BODYLESS_WRITE)


def test_create_group_sends_type_and_description_and_links_an_existing_one(client_for, rsps):
    client, wire = client_for("crowd", group_description="from Okta")
    rsps.add(responses.POST, f"{API}/group", status=201)
    rsps.add(responses.POST, f"{API}/group", status=400, json=error("INVALID_GROUP", "Group <devs> already exists"))
    rsps.add(responses.GET, f"{API}/group", json={"name": "devs", "type": "GROUP", "active": True})

    assert client.create_group("devs").created is True
    assert client.create_group("devs").created is False
    assert wire.sent(headers=True)[0] == Sent(
        "POST", f"{P}/group", {}, {"name": "devs", "type": "GROUP", "description": "from Okta", "active": True}, WRITE)
    assert wire.sent()[2] == Sent("GET", f"{P}/group", {"groupname": "devs"})


def test_add_member_counts_409_as_done_once_the_membership_is_seen(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.POST, f"{API}/group/user/direct", status=409,
             json=error("MEMBERSHIP_ALREADY_EXISTS", "User <jdoe> is already a direct member of <devs>"))
    rsps.add(responses.GET, f"{API}/user/group/direct", json={"groups": [{"name": "Devs"}]})

    client.add_member("devs", "jdoe")

    assert wire.sent(headers=True) == [
        Sent("POST", f"{P}/group/user/direct", {"groupname": "devs"}, {"name": "jdoe"}, WRITE),
        Sent("GET", f"{P}/user/group/direct", {"username": "jdoe", "start-index": "0", "max-results": "2"}, None,
             READ),
    ]


def test_add_member_reports_crowds_400_for_an_absent_user_as_not_found(crowd, rsps):
    client, _ = crowd
    rsps.add(responses.POST, f"{API}/group/user/direct", status=400,
             json=error("USER_NOT_FOUND", "User <ghost> does not exist"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=error("USER_NOT_FOUND", "User <ghost> does not exist"))

    with pytest.raises(NotFound, match="Crowd has no user 'ghost'") as caught:
        client.add_member("devs", "ghost")
    assert caught.value.status == 400 and caught.value.product_message == "User <ghost> does not exist"


def test_remove_member_of_a_missing_membership_is_done(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.DELETE, f"{API}/group/user/direct", status=404,
             json=error("MEMBERSHIP_NOT_FOUND", "User <jdoe> is not a direct member of <devs>"))
    rsps.add(responses.GET, f"{API}/user/group/direct", json={"groups": []})
    rsps.add(responses.GET, f"{API}/user", json=entity("jdoe"))

    client.remove_member("devs", "jdoe")

    assert wire.sent(headers=True)[0] == Sent(
        "DELETE", f"{P}/group/user/direct", {"groupname": "devs", "username": "jdoe"}, None, BODYLESS_WRITE)


def test_direct_memberships_are_paged_until_a_short_page(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/user/group/direct", json={"groups": [{"name": "a"}, {"name": "b"}]})
    rsps.add(responses.GET, f"{API}/user/group/direct", json={"groups": [{"name": "c"}]})

    assert client.user_groups("jdoe") == ["a", "b", "c"]
    assert [s.query["start-index"] for s in wire.sent()] == ["0", "2"]


def test_empty_direct_lists_of_unknown_users_and_groups_are_not_found(crowd, rsps):
    # Crowd answers 200 with nothing for an unknown user or group (CWD-4470, docs/products.md §5.10).
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/user/group/direct", json={"groups": []})
    rsps.add(responses.GET, f"{API}/user", status=404, json=error("USER_NOT_FOUND", "User <ghost> does not exist"))
    rsps.add(responses.GET, f"{API}/group/user/direct", json={"expand": "user", "users": []})
    rsps.add(responses.GET, f"{API}/group", status=404, json=error("GROUP_NOT_FOUND", "Group <nope> does not exist"))

    with pytest.raises(NotFound):
        client.user_groups("ghost")
    with pytest.raises(NotFound):
        list(client.iter_group_members("nope"))
    assert wire.sent()[2].query == {"groupname": "nope", "expand": "user", "start-index": "0", "max-results": "2"}


def test_listing_users_and_groups_uses_the_search_resource(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/search", json={"expand": "user", "users": [entity("a"), entity("b")]})
    rsps.add(responses.GET, f"{API}/search", json={"expand": "user", "users": []})
    rsps.add(responses.GET, f"{API}/search", json={"expand": "group", "groups": [{"name": "devs"}]})

    assert [user.name for user in client.iter_users()] == ["a", "b"]
    assert [group.name for group in client.iter_groups()] == ["devs"]
    assert [s.query for s in wire.sent()] == [
        {"entity-type": "user", "expand": "user", "start-index": "0", "max-results": "2"},
        {"entity-type": "user", "expand": "user", "start-index": "2", "max-results": "2"},
        {"entity-type": "group", "expand": "group", "start-index": "0", "max-results": "2"},
    ]


def test_product_info_proves_the_credentials_and_reports_no_version(crowd, rsps):
    client, wire = crowd
    rsps.add(responses.GET, f"{API}/search", json={"expand": "group", "groups": []})

    info = client.product_info()

    assert (info.product, info.version, info.build) == ("crowd", "", None)
    caps = info.capabilities
    assert (caps.can_create_user, caps.can_deactivate, caps.can_rename_user, caps.can_find_by_email) == (True,) * 4
    assert wire.sent() == [Sent("GET", f"{P}/search", {"entity-type": "group", "max-results": "1"})]


def test_wrong_application_credentials_name_the_target(crowd, rsps):
    client, _ = crowd
    rsps.add(responses.GET, f"{API}/user", status=401, body="Application failed to authenticate",
             headers={"WWW-Authenticate": 'Basic realm="Crowd REST Service"'})

    with pytest.raises(AuthFailed, match="target 'crowd-test'.*HTTP 401"):
        client.get_user("jdoe")


def test_crowd_has_no_licence_to_grant(crowd):
    client, wire = crowd

    for change in (client.grant_licence, client.revoke_licence):
        with pytest.raises(Unsupported, match="list those groups .* in the target's default_groups"):
            change("jdoe")
    assert wire.sent() == []

