"""Bitbucket client: every operation's requests, exactly as Bitbucket Data Center wants them (docs/products.md §4)."""

from __future__ import annotations

import pytest
import requests
import responses

from atlassian_clients import (
    Creation,
    LicenceLimit,
    NotFound,
    PermissionDenied,
    RemoteGroup,
    RemoteUser,
    Seats,
    Unavailable,
    Unsupported,
    UserDirectory,
)
from tests.client_harness import BODYLESS_WRITE, READ, WRITE, Sent

API = "http://atlassian.test/bitbucket/rest/api/latest"
P = "/bitbucket/rest/api/latest"


def detailed(name: str, uid: int = 101, email: str | None = None, **extra) -> dict:
    return {
        "name": name,
        "emailAddress": email or f"{name}@example.com",
        "active": True,
        "displayName": name.title(),
        "id": uid,
        "slug": name,
        "type": "NORMAL",
        "directoryName": "Bitbucket Internal Directory",
        "deletable": True,
        "mutableDetails": True,
        "mutableGroups": True,
        **extra,
    }


def bb_page(values: list, start: int = 0, last: bool = True, limit: int = 2) -> dict:
    answer = {"size": len(values), "limit": limit, "isLastPage": last, "start": start, "values": values}
    if not last:
        answer["nextPageStart"] = start + len(values)
    return answer


def bb_error(message: str, exception: str = "com.atlassian.bitbucket.NoSuchUserException") -> dict:
    return {"errors": [{"message": message, "exceptionName": exception}]}


def add(rsps, method: str, url: str, status: int = 200, json=None) -> None:
    """Register an answer; Bitbucket labels its JSON successes ``application/json;charset=UTF-8``."""
    content_type = "application/json;charset=UTF-8" if status < 300 else "application/json"
    rsps.add(method, url, status=status, json=json, content_type=content_type)


@pytest.fixture
def bitbucket(client_for):
    return client_for("bitbucket", page_size=2)


def test_get_user_filters_admin_users_and_keeps_the_exact_name(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe2", 7)], last=False))
    add(
        rsps,
        responses.GET,
        f"{API}/admin/users",
        json=bb_page([detailed("JDoe", 9, directoryName="LDAP", mutableDetails=False)], start=1),
    )

    user = client.get_user("jdoe")

    assert user == RemoteUser("JDoe", "9", "Jdoe", "JDoe@example.com", True, "LDAP", False)
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/admin/users", {"filter": "jdoe", "start": "0", "limit": "2"}, None, READ),
        Sent("GET", f"{P}/admin/users", {"filter": "jdoe", "start": "1", "limit": "2"}, None, READ),
    ]


def test_get_user_answers_none_when_no_exact_name(bitbucket, rsps):
    client, _ = bitbucket
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe2")]))

    assert client.get_user("jdoe") is None


def test_find_users_by_email(bitbucket, rsps):
    client, wire = bitbucket
    add(
        rsps,
        responses.GET,
        f"{API}/admin/users",
        json=bb_page(
            [
                detailed("jane", email="Jane@Example.com"),
                detailed("janet", email="jane@example.com.au"),
            ]
        ),
    )

    assert [u.name for u in client.find_users_by_email("jane@example.com")] == ["jane"]
    assert wire.sent()[0].query == {"filter": "jane@example.com", "start": "0", "limit": "2"}


def body_password(sent: Sent) -> str:
    """The password of a ``PUT /admin/users/credentials``, checked to be confirmed."""
    assert (sent.method, sent.path) == ("PUT", f"{P}/admin/users/credentials")
    assert sent.body["password"] == sent.body["passwordConfirm"]
    return sent.body["password"]


def assert_url_password_replaced(sent: list[Sent], name: str = "jdoe") -> str:
    """The create's URL password was replaced, in a body, by one that never went into a URL."""
    url_password = next(s.query["password"] for s in sent if s.method == "POST")
    replacement = sent[-1]
    new_password = body_password(replacement)
    assert replacement.body["name"] == name and replacement.query == {}
    assert new_password != url_password and len(new_password) >= 24
    assert all(new_password not in str(s.query) for s in sent)
    return new_password


def test_create_user_sends_query_parameters_only_and_reads_back(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users", status=204)
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe", 201)]))
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=204)

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert creation == Creation(
        RemoteUser("jdoe", "201", "Jdoe", "jdoe@example.com", True, "Bitbucket Internal Directory", True), created=True
    )
    create, read_back, secure = wire.sent(headers=True)
    assert_url_password_replaced([create, read_back, secure])
    assert secure.headers == WRITE
    throwaway = create.query.pop("password")
    assert len(throwaway) >= 24
    assert create == Sent(
        "POST",
        f"{P}/admin/users",
        {
            "name": "jdoe",
            "displayName": "Jane Doe",
            "emailAddress": "jdoe@example.com",
            "addToDefaultGroup": "true",
            "notify": "false",
        },
        None,
        BODYLESS_WRITE,
    )
    assert read_back.query == {"filter": "jdoe", "start": "0", "limit": "2"}


def test_a_given_password_goes_in_a_body_never_in_the_url(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users", status=204)
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=204)

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com", password="real-secret-1")

    sent = wire.sent(headers=True)
    assert len(sent) == 3 and all("real-secret-1" not in str(s.query) for s in sent)
    assert sent[2] == Sent(
        "PUT",
        f"{P}/admin/users/credentials",
        {},
        {
            "name": "jdoe",
            "password": "real-secret-1",
            "passwordConfirm": "real-secret-1",
        },
        WRITE,
    )


def test_create_user_can_leave_the_default_group_out(client_for, rsps):
    client, wire = client_for("bitbucket", add_to_default_group=False)
    add(rsps, responses.POST, f"{API}/admin/users", status=204)
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=204)

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert wire.sent()[0].query["addToDefaultGroup"] == "false"


NAME_TAKEN = bb_error(
    "Another user with the same name already exists.", "com.atlassian.bitbucket.user.DuplicateUserException"
)


def test_create_user_that_exists_returns_the_account_and_leaves_its_password(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users", status=409, json=NAME_TAKEN)
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))

    assert client.create_user("jdoe", "Jane Doe", "jdoe@example.com").created is False
    # Someone else's account: its password is not the throwaway, and not the bridge's to change.
    assert [s.method for s in wire.sent()] == ["POST", "GET"]


def test_create_found_after_an_ambiguous_timeout_replaces_the_url_password(bitbucket, rsps):
    client, wire = bitbucket
    rsps.add(responses.POST, f"{API}/admin/users", body=requests.ReadTimeout("read timed out"))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=204)

    assert client.create_user("jdoe", "Jane Doe", "jdoe@example.com").created is True

    sent = wire.sent()
    assert [s.method for s in sent] == ["POST", "GET", "GET", "PUT"]
    assert_url_password_replaced(sent)


def test_name_taken_after_an_ambiguous_attempt_is_this_create_landing_late(bitbucket, rsps):
    client, wire = bitbucket
    rsps.add(responses.POST, f"{API}/admin/users", body=requests.ConnectionError("Connection reset by peer"))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([]))  # not there yet
    add(rsps, responses.POST, f"{API}/admin/users", status=409, json=NAME_TAKEN)
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=204)

    assert client.create_user("jdoe", "Jane Doe", "jdoe@example.com").created is True

    sent = wire.sent()
    assert [s.method for s in sent] == ["POST", "GET", "POST", "GET", "PUT"]
    assert sent[0].query["password"] == sent[2].query["password"]  # one throwaway per create
    assert_url_password_replaced(sent)


def test_a_create_that_failed_ambiguously_is_secured_when_the_account_is_next_found(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users", status=503, json=bb_error("down", "x"))
    add(rsps, responses.GET, f"{API}/admin/users", status=503, json=bb_error("down", "x"))

    with pytest.raises(Unavailable):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    rsps.replace(
        responses.GET,
        f"{API}/admin/users",
        json=bb_page([detailed("jdoe")]),
        content_type="application/json;charset=UTF-8",
    )
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=204)
    before = len(wire.sent())

    # The next delivery finds the account and would only link it: the look-up replaces the password.
    assert client.get_user("jdoe").name == "jdoe"
    assert client.get_user("jdoe").name == "jdoe"

    later = wire.sent()[before:]
    assert [s.method for s in later] == ["GET", "PUT", "GET"]
    assert_url_password_replaced(wire.sent()[: before + 2])


def test_a_create_that_did_not_land_is_forgotten_by_the_next_lookup(bitbucket, rsps):
    client, wire = bitbucket
    rsps.add(responses.POST, f"{API}/admin/users", body=requests.ReadTimeout("read timed out"))
    add(rsps, responses.GET, f"{API}/admin/users", status=503, json=bb_error("down", "x"))

    with pytest.raises(Unavailable):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    rsps.replace(responses.GET, f"{API}/admin/users", json=bb_page([]), content_type="application/json;charset=UTF-8")
    assert client.get_user("jdoe") is None
    # Made by someone else afterwards: that account's password is left alone.
    rsps.replace(
        responses.GET,
        f"{API}/admin/users",
        json=bb_page([detailed("jdoe")]),
        content_type="application/json;charset=UTF-8",
    )
    assert client.get_user("jdoe") is not None

    assert "PUT" not in [s.method for s in wire.sent()]


def test_a_failed_password_replacement_is_retried_by_the_next_lookup(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users", status=204)
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))
    add(rsps, responses.PUT, f"{API}/admin/users/credentials", status=503, json=bb_error("down", "x"))

    with pytest.raises(Unavailable):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    rsps.replace(responses.PUT, f"{API}/admin/users/credentials", status=204)

    assert client.get_user("jdoe") is not None

    sent = wire.sent()
    assert sent[-1].method == "PUT" and sent[-2].method == "GET"
    assert_url_password_replaced(sent)


def test_a_create_refused_for_the_licence_is_not_remembered(bitbucket, rsps):
    client, wire = bitbucket
    add(
        rsps,
        responses.POST,
        f"{API}/admin/users",
        status=403,
        json=bb_error("Adding the user to the default group would exceed the server's license limit.", "x"),
    )
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))

    with pytest.raises(LicenceLimit):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    client.get_user("jdoe")  # made by an administrator afterwards

    assert [s.method for s in wire.sent()] == ["POST", "GET"]


def test_create_user_over_the_licence_limit_says_so(bitbucket, rsps):
    client, _ = bitbucket
    add(
        rsps,
        responses.POST,
        f"{API}/admin/users",
        status=403,
        json=bb_error(
            "Adding the user to the default group would exceed the server's license limit.",
            "com.atlassian.bitbucket.license.LicenseLimitException",
        ),
    )

    with pytest.raises(LicenceLimit) as caught:
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    assert caught.value.status == 403


def test_update_user(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.PUT, f"{API}/admin/users", json=detailed("jdoe"))

    client.update_user("jdoe", display_name="Jane Q. Doe", email="jq@example.com")
    client.update_user("jdoe")

    assert wire.sent(headers=True) == [
        Sent(
            "PUT",
            f"{P}/admin/users",
            {},
            {
                "name": "jdoe",
                "displayName": "Jane Q. Doe",
                "email": "jq@example.com",
            },
            WRITE,
        )
    ]


def test_set_active_is_unsupported(bitbucket):
    client, wire = bitbucket
    with pytest.raises(Unsupported, match="revoke"):
        client.set_active("jdoe", False)
    assert wire.sent() == []


def test_rename_user(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users/rename", json=detailed("jane.doe"))

    client.rename_user("jdoe", "jane.doe")

    assert wire.sent(headers=True) == [
        Sent("POST", f"{P}/admin/users/rename", {}, {"name": "jdoe", "newName": "jane.doe"}, WRITE)
    ]


def test_rename_already_done_succeeds(bitbucket, rsps):
    client, _ = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users/rename", status=404, json=bb_error("User jdoe does not exist"))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jane.doe")]))

    client.rename_user("jdoe", "jane.doe")


def test_delete_user_and_absent_user(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.DELETE, f"{API}/admin/users", json=detailed("jdoe"))

    client.delete_user("jdoe")

    assert wire.sent(headers=True) == [Sent("DELETE", f"{P}/admin/users", {"name": "jdoe"}, None, BODYLESS_WRITE)]


def test_delete_of_an_absent_user_succeeds(bitbucket, rsps):
    client, _ = bitbucket
    add(rsps, responses.DELETE, f"{API}/admin/users", status=404, json=bb_error("User jdoe does not exist"))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([]))

    client.delete_user("jdoe")


def test_iter_users_follows_next_page_start(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("a"), detailed("b")], last=False))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("c")], start=2))

    assert [u.name for u in client.iter_users()] == ["a", "b", "c"]
    assert [s.query for s in wire.sent()] == [{"start": "0", "limit": "2"}, {"start": "2", "limit": "2"}]


def test_get_group(bitbucket, rsps):
    client, wire = bitbucket
    add(
        rsps,
        responses.GET,
        f"{API}/admin/groups",
        json=bb_page([{"name": "devs-old", "deletable": True}, {"name": "devs", "deletable": True}]),
    )

    assert client.get_group("Devs") == RemoteGroup("devs")
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/admin/groups", {"filter": "Devs", "start": "0", "limit": "2"}, None, READ)
    ]


def test_create_group_is_a_query_parameter_post(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/groups", json={"name": "devs", "deletable": True})

    assert client.create_group("devs") == Creation(RemoteGroup("devs"), created=True)
    assert wire.sent(headers=True) == [Sent("POST", f"{P}/admin/groups", {"name": "devs"}, None, BODYLESS_WRITE)]


def test_create_group_that_exists_returns_it(bitbucket, rsps):
    client, _ = bitbucket
    add(rsps, responses.POST, f"{API}/admin/groups", status=409, json=bb_error("The group devs already exists."))
    add(rsps, responses.GET, f"{API}/admin/groups", json=bb_page([{"name": "devs", "deletable": True}]))

    assert client.create_group("devs").created is False


def test_delete_group_and_absent_group(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.DELETE, f"{API}/admin/groups", json={"name": "devs", "deletable": True})
    add(rsps, responses.DELETE, f"{API}/admin/groups", status=404, json=bb_error("The group gone does not exist"))
    add(rsps, responses.GET, f"{API}/admin/groups", json=bb_page([]))

    client.delete_group("devs")
    client.delete_group("gone")

    assert wire.sent(headers=True)[0] == Sent("DELETE", f"{P}/admin/groups", {"name": "devs"}, None, BODYLESS_WRITE)


def test_iter_groups(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.GET, f"{API}/admin/groups", json=bb_page([{"name": "a", "deletable": True}]))

    assert [g.name for g in client.iter_groups()] == ["a"]
    assert wire.sent()[0].query == {"start": "0", "limit": "2"}


def test_iter_group_members(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.GET, f"{API}/admin/groups/more-members", json=bb_page([detailed("a")]))

    assert [u.name for u in client.iter_group_members("devs")] == ["a"]
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/admin/groups/more-members", {"context": "devs", "start": "0", "limit": "2"}, None, READ)
    ]


def test_user_groups_reads_more_members_with_the_user_as_context(bitbucket, rsps):
    client, wire = bitbucket
    add(
        rsps,
        responses.GET,
        f"{API}/admin/users/more-members",
        json=bb_page([{"name": "stash-users", "deletable": True}]),
    )

    assert client.user_groups("jdoe") == ["stash-users"]
    # Groups prove the user exists: no second look-up through the admin/users filter.
    assert wire.sent() == [
        Sent("GET", f"{P}/admin/users/more-members", {"context": "jdoe", "start": "0", "limit": "2"})
    ]


def test_user_groups_of_a_user_without_groups_is_empty(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.GET, f"{API}/admin/users/more-members", json=bb_page([]))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([detailed("jdoe")]))

    assert client.user_groups("jdoe") == []
    assert [s.path for s in wire.sent()] == [f"{P}/admin/users/more-members", f"{P}/admin/users"]


def test_user_groups_of_a_missing_user_raises_not_found(bitbucket, rsps):
    client, _ = bitbucket
    # more-members answers an empty page for an unknown user, as for one without groups.
    add(rsps, responses.GET, f"{API}/admin/users/more-members", json=bb_page([]))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([]))

    with pytest.raises(NotFound):
        client.user_groups("ghost")


def test_add_member_uses_add_groups(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users/add-groups", status=200)

    client.add_member("devs", "jdoe")

    assert wire.sent(headers=True) == [
        Sent("POST", f"{P}/admin/users/add-groups", {}, {"user": "jdoe", "groups": ["devs"]}, WRITE)
    ]


def test_a_users_groups_are_added_in_one_add_groups_call(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users/add-groups", status=200)

    client.add_memberships("jdoe", ["stash-users", "devs", "ops"])

    assert wire.sent(headers=True) == [
        Sent("POST", f"{P}/admin/users/add-groups", {}, {"user": "jdoe", "groups": ["stash-users", "devs", "ops"]},
             WRITE)
    ]


def test_add_member_over_the_licence_limit_says_so(bitbucket, rsps):
    client, _ = bitbucket
    add(
        rsps,
        responses.POST,
        f"{API}/admin/users/add-groups",
        status=403,
        json=bb_error(
            "Adding jdoe to stash-users would exceed the server's license limit.",
            "com.atlassian.bitbucket.license.LicenseLimitException",
        ),
    )

    with pytest.raises(LicenceLimit):
        client.add_member("stash-users", "jdoe")


def test_add_member_without_permission_names_what_to_fix(bitbucket, rsps):
    client, _ = bitbucket
    add(
        rsps,
        responses.POST,
        f"{API}/admin/users/add-groups",
        status=403,
        json=bb_error(
            "You are not permitted to access this resource", "com.atlassian.bitbucket.AuthorisationException"
        ),
    )

    with pytest.raises(PermissionDenied, match="ADMIN global permission"):
        client.add_member("devs", "jdoe")


def test_remove_member_uses_remove_group(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users/remove-group", status=200)

    client.remove_member("devs", "jdoe")

    assert wire.sent(headers=True) == [
        Sent("POST", f"{P}/admin/users/remove-group", {}, {"context": "jdoe", "itemName": "devs"}, WRITE)
    ]


def test_remove_member_of_a_missing_user_succeeds(bitbucket, rsps):
    client, _ = bitbucket
    add(rsps, responses.POST, f"{API}/admin/users/remove-group", status=404, json=bb_error("User ghost does not exist"))
    add(rsps, responses.GET, f"{API}/admin/users/more-members", json=bb_page([]))
    add(rsps, responses.GET, f"{API}/admin/users", json=bb_page([]))

    client.remove_member("devs", "ghost")


def test_licence_is_the_licensed_user_permission(bitbucket, rsps):
    client, wire = bitbucket
    add(rsps, responses.PUT, f"{API}/admin/permissions/users", status=204)
    add(rsps, responses.DELETE, f"{API}/admin/permissions/users", status=204)

    client.grant_licence("jdoe")
    client.revoke_licence("jdoe")

    assert wire.sent(headers=True) == [
        Sent(
            "PUT", f"{P}/admin/permissions/users", {"name": "jdoe", "permission": "LICENSED_USER"}, None, BODYLESS_WRITE
        ),
        Sent("DELETE", f"{P}/admin/permissions/users", {"name": "jdoe"}, None, BODYLESS_WRITE),
    ]


def test_product_info_lists_directories(bitbucket, rsps):
    client, wire = bitbucket
    add(
        rsps,
        responses.GET,
        f"{API}/application-properties",
        json={
            "version": "9.4.3",
            "buildNumber": "9004003",
            "buildDate": "1700000000000",
            "displayName": "Bitbucket",
        },
    )
    add(
        rsps,
        responses.GET,
        f"{API}/admin/user-directories",
        json=[
            {"name": "Bitbucket Internal Directory", "type": "INTERNAL", "description": "", "active": True},
            {"name": "Corporate LDAP", "type": "CONNECTOR", "description": "AD", "active": False},
        ],
    )

    info = client.product_info()

    assert (info.product, info.version, info.build) == ("bitbucket", "9.4.3", "9004003")
    assert info.directories == (
        UserDirectory("Bitbucket Internal Directory", "INTERNAL", True),
        UserDirectory("Corporate LDAP", "CONNECTOR", False),
    )
    caps = info.capabilities
    assert not caps.can_deactivate and caps.can_rename_user and caps.can_find_by_email
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/application-properties", {}, None, READ),
        Sent("GET", f"{P}/admin/user-directories", {"includeInactive": "true"}, None, READ),
    ]


def test_seats_are_the_licences_user_limit_and_the_users_it_counts(bitbucket, rsps):
    # docs/products.md §4.14
    client, wire = bitbucket
    rsps.add(responses.GET, f"{API}/admin/license", json={
        "maximumNumberOfUsers": 25, "unlimitedNumberOfUsers": False, "status": {"currentNumberOfUsers": 24},
        "expiryDate": 4102444800000})
    rsps.add(responses.GET, f"{API}/admin/license", json={"maximumNumberOfUsers": -1, "unlimitedNumberOfUsers": True,
                                                          "status": {"currentNumberOfUsers": 300}})

    assert client.seats() == Seats(24, 25, "server licence")
    assert client.seats() is None
    assert wire.sent() == [Sent("GET", f"{P}/admin/license")] * 2


def test_no_licence_installed_means_no_seats_to_guard(bitbucket, rsps):
    client, _ = bitbucket
    rsps.add(responses.GET, f"{API}/admin/license", status=404,
             json={"errors": [{"message": "No license has been installed."}]})

    assert client.seats() is None


def permitted(kind: str, name: str, permission: str) -> dict:
    who = {"name": name} if kind == "group" else {"name": name, "slug": name, "id": 101, "type": "NORMAL",
                                                   "active": True, "displayName": name.title()}
    return {kind: who, "permission": permission}


def repository(project: str, slug: str) -> dict:
    return {"slug": slug, "name": slug, "project": {"key": project, "name": project}}


def test_administered_alone_reads_each_project_and_repository_and_groups_only_where_needed(bitbucket, rsps):
    # docs/products.md §4.15: nothing lists what one user administers.
    client, wire = bitbucket
    add(rsps, "GET", f"{API}/projects", json=bb_page([{"key": "SOLO"}, {"key": "PRJ"}]))
    add(rsps, "GET", f"{API}/projects/SOLO/permissions/users", json=bb_page([
        permitted("user", "carol", "PROJECT_WRITE")]))
    add(rsps, "GET", f"{API}/projects/PRJ/permissions/users", json=bb_page([
        permitted("user", "Alice", "PROJECT_ADMIN")]))
    add(rsps, "GET", f"{API}/projects/PRJ/permissions/groups", json=bb_page([
        permitted("group", "leads", "PROJECT_ADMIN")]))
    add(rsps, "GET", f"{API}/repos", json=bb_page([repository("SOLO", "app"), repository("SOLO", "shared"),
                                                   repository("PRJ", "lib")]))
    add(rsps, "GET", f"{API}/projects/SOLO/repos/app/permissions/users", json=bb_page([
        permitted("user", "alice", "REPO_ADMIN"), permitted("user", "carol", "REPO_WRITE")]))
    add(rsps, "GET", f"{API}/projects/SOLO/repos/app/permissions/groups", json=bb_page([]))
    add(rsps, "GET", f"{API}/projects/SOLO/permissions/groups", json=bb_page([]))
    add(rsps, "GET", f"{API}/projects/SOLO/repos/shared/permissions/users", json=bb_page([
        permitted("user", "alice", "REPO_ADMIN"), permitted("user", "carol", "REPO_ADMIN")]))
    add(rsps, "GET", f"{API}/projects/PRJ/repos/lib/permissions/users", json=bb_page([
        permitted("user", "alice", "REPO_ADMIN")]))
    add(rsps, "GET", f"{API}/projects/PRJ/repos/lib/permissions/groups", json=bb_page([]))

    # PRJ is shared with a group, so is PRJ/lib through its project; SOLO/shared with carol.
    assert client.administered_alone("alice") == ("repository SOLO/app",)
    assert [s.path for s in wire.sent()] == [
        f"{P}/projects",
        f"{P}/projects/SOLO/permissions/users",
        f"{P}/projects/PRJ/permissions/users",
        f"{P}/projects/PRJ/permissions/groups",
        f"{P}/repos",
        f"{P}/projects/SOLO/repos/app/permissions/users",
        f"{P}/projects/SOLO/repos/app/permissions/groups",
        f"{P}/projects/SOLO/permissions/groups",
        f"{P}/projects/SOLO/repos/shared/permissions/users",
        f"{P}/projects/PRJ/repos/lib/permissions/users",
        f"{P}/projects/PRJ/repos/lib/permissions/groups",
    ]
