"""Confluence client: every operation's requests, exactly as Confluence Data Center wants them (docs/products.md §3)."""

from __future__ import annotations

import pytest
import responses

from atlassian_clients import Creation, LicenceLimit, NotFound, RemoteGroup, RemoteUser, Unsupported
from tests.client_harness import BODYLESS_WRITE, READ, WRITE, Sent

API = "http://atlassian.test/confluence/rest/api"
P = "/confluence/rest/api"


def person(name: str, key: str | None = None, status: str | None = "current", **extra) -> dict:
    answer = {
        "type": "known",
        "username": name,
        "userKey": key or f"4028d676{len(name):08x}",
        "displayName": name.title(),
        "profilePicture": {
            "path": "/images/icons/profilepics/default.svg",
            "width": 48,
            "height": 48,
            "isDefault": True,
        },
        **extra,
    }
    if status is not None:
        answer["status"] = status
    return answer


def rest_error(status: int, message: str) -> dict:
    return {
        "statusCode": status,
        "data": {"authorized": False, "valid": True, "errors": [], "successful": False},
        "message": message,
        "reason": {404: "Not Found", 409: "Conflict", 402: "Payment Required"}.get(status, ""),
    }


def page(results: list, start: int, limit: int, more: bool) -> dict:
    links = {"base": "http://atlassian.test/confluence", "context": "/confluence"}
    if more:
        links["next"] = f"/rest/api/x?start={start + limit}&limit={limit}"
    return {"results": results, "start": start, "limit": limit, "size": len(results), "_links": links}


def server_information(rsps, version: str = "9.2.3") -> None:
    rsps.add(responses.GET, f"{API}/server-information", json={"baseUrl": API, "version": version, "buildNumber": 9012})


@pytest.fixture
def confluence(client_for):
    return client_for("confluence", page_size=2)


def test_get_user_lower_cases_the_name_and_expands_status(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.GET, f"{API}/user", json=person("jdoe", key="4028d6768851c890"))

    user = client.get_user("JDoe")

    assert user == RemoteUser("jdoe", "4028d6768851c890", "Jdoe", None, True)
    assert wire.sent(headers=True) == [Sent("GET", f"{P}/user", {"username": "jdoe", "expand": "status"}, None, READ)]


@pytest.mark.parametrize(("status", "active"), [("current", True), ("deactivated", False), (None, None)])
def test_get_user_reads_the_account_state(confluence, rsps, status, active):
    client, _ = confluence
    rsps.add(responses.GET, f"{API}/user", json=person("jdoe", status=status))

    assert client.get_user("jdoe").active is active


def test_get_user_answers_none_on_404(confluence, rsps):
    client, _ = confluence
    rsps.add(responses.GET, f"{API}/user", status=404, json=rest_error(404, "No user found with username: ghost"))

    assert client.get_user("ghost") is None


def test_find_users_by_email_is_unsupported(confluence):
    client, _ = confluence
    with pytest.raises(Unsupported, match="e-mail"):
        client.find_users_by_email("jdoe@example.com")


def test_create_user_posts_lower_case_details_with_a_password(confluence, rsps):
    client, wire = confluence
    server_information(rsps, "8.5.4")
    rsps.add(responses.POST, f"{API}/admin/user", status=201, json={"userKey": "4028d6768851c8900188556ba6000014"})

    creation = client.create_user("JDoe", "Jane Doe", "jdoe@example.com", password="pw-1")

    # The 201 carries the key; the rest is what was sent: the account is not read back.
    assert creation.created and creation.resource == RemoteUser("jdoe", "4028d6768851c8900188556ba6000014",
                                                                "Jane Doe", None, True)
    assert wire.sent(headers=True)[1:] == [
        Sent(
            "POST",
            f"{P}/admin/user",
            {},
            {
                "userName": "jdoe",
                "fullName": "Jane Doe",
                "email": "jdoe@example.com",
                "password": "pw-1",
                "notifyViaEmail": False,
            },
            WRITE,
        ),
    ]


def test_create_user_without_password_sets_a_random_one(confluence, rsps):
    client, wire = confluence
    server_information(rsps)
    rsps.add(responses.POST, f"{API}/admin/user", status=201, json={"userKey": "k"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    body = wire.sent()[1].body
    assert body["notifyViaEmail"] is False and len(body["password"]) >= 24


def test_create_user_can_let_confluence_mail_a_password_link(client_for, rsps):
    client, wire = client_for("confluence", notify_new_users=True)
    server_information(rsps)
    rsps.add(responses.POST, f"{API}/admin/user", status=201, json={"userKey": "k"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert wire.sent()[1].body == {
        "userName": "jdoe",
        "fullName": "Jane Doe",
        "email": "jdoe@example.com",
        "notifyViaEmail": True,
    }


def test_create_user_that_exists_returns_the_account(confluence, rsps):
    client, _ = confluence
    server_information(rsps)
    rsps.add(responses.POST, f"{API}/admin/user", status=409, json=rest_error(409, "User with username jdoe exists"))
    rsps.add(responses.GET, f"{API}/user", json=person("jdoe"))

    assert client.create_user("jdoe", "Jane Doe", "jdoe@example.com").created is False


def test_create_user_without_licences_says_so(confluence, rsps):
    client, _ = confluence
    server_information(rsps)
    rsps.add(responses.POST, f"{API}/admin/user", status=402, json=rest_error(402, "No more licenses"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=rest_error(404, "No user found"))

    with pytest.raises(LicenceLimit) as caught:
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    assert caught.value.product_message == "No more licenses"


def test_create_user_before_8_4_is_unsupported(confluence, rsps):
    client, _ = confluence
    server_information(rsps, "8.3.2")

    with pytest.raises(Unsupported, match="8.4"):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")


def test_update_user(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.PUT, f"{API}/admin/user/jdoe", status=204)

    client.update_user("JDoe", display_name="Jane Q. Doe", email="jq@example.com")
    client.update_user("jdoe")

    assert wire.sent(headers=True) == [
        Sent("PUT", f"{P}/admin/user/jdoe", {}, {"fullName": "Jane Q. Doe", "email": "jq@example.com"}, WRITE)
    ]


@pytest.mark.parametrize(("active", "action"), [(False, "disable"), (True, "enable")])
def test_set_active_uses_disable_and_enable(confluence, rsps, active, action):
    client, wire = confluence
    server_information(rsps, "8.2.0")
    rsps.add(responses.PUT, f"{API}/admin/user/jdoe/{action}", status=204)

    client.set_active("jdoe", active)

    assert wire.sent(headers=True)[1:] == [Sent("PUT", f"{P}/admin/user/jdoe/{action}", {}, None, BODYLESS_WRITE)]


def test_set_active_before_8_2_is_unsupported(confluence, rsps):
    client, _ = confluence
    server_information(rsps, "7.19.20")

    with pytest.raises(Unsupported):
        client.set_active("jdoe", False)


def test_rename_is_unsupported(confluence):
    client, _ = confluence
    with pytest.raises(Unsupported, match="rename"):
        client.rename_user("jdoe", "jane")


def test_delete_user_is_accepted_as_a_long_task(confluence, rsps):
    client, wire = confluence
    rsps.add(
        responses.DELETE,
        f"{API}/admin/user/jdoe",
        status=202,
        json={
            "id": "123",
            "links": {"status": f"{API}/longtask/123/status"},
        },
    )

    client.delete_user("jdoe")

    assert wire.sent(headers=True) == [Sent("DELETE", f"{P}/admin/user/jdoe", {}, None, BODYLESS_WRITE)]


def test_delete_of_an_absent_user_succeeds(confluence, rsps):
    client, _ = confluence
    rsps.add(responses.DELETE, f"{API}/admin/user/jdoe", status=404, json=rest_error(404, "User not found"))

    client.delete_user("jdoe")


def test_iter_users_pages_the_user_list(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.GET, f"{API}/user/list", json=page([person("a"), person("b", status="deactivated")], 0, 2, True))
    rsps.add(responses.GET, f"{API}/user/list", json=page([person("c")], 2, 2, False))

    assert [(u.name, u.active) for u in client.iter_users()] == [("a", True), ("b", False), ("c", True)]
    assert [s.query for s in wire.sent()] == [
        {"expand": "status", "start": "0", "limit": "2"},
        {"expand": "status", "start": "2", "limit": "2"},
    ]


def test_get_group(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.GET, f"{API}/group/site%20admins", json={"type": "group", "name": "site admins"})

    assert client.get_group("Site Admins") == RemoteGroup("site admins")
    assert wire.sent(headers=True) == [Sent("GET", f"{P}/group/site%20admins", {}, None, READ)]


def test_get_group_answers_none_on_404(confluence, rsps):
    client, _ = confluence
    rsps.add(responses.GET, f"{API}/group/devs", status=404, json=rest_error(404, "No group found"))

    assert client.get_group("devs") is None


def test_create_group_lower_cases_the_name(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.POST, f"{API}/admin/group", json={"type": "group", "name": "devs"})

    assert client.create_group("Devs") == Creation(RemoteGroup("devs"), created=True)
    assert wire.sent(headers=True) == [Sent("POST", f"{P}/admin/group", {}, {"name": "devs"}, WRITE)]


def test_create_group_that_exists_returns_it(confluence, rsps):
    client, _ = confluence
    rsps.add(responses.POST, f"{API}/admin/group", status=409, json=rest_error(409, "Group devs already exists"))
    rsps.add(responses.GET, f"{API}/group/devs", json={"type": "group", "name": "devs"})

    assert client.create_group("devs") == Creation(RemoteGroup("devs"), created=False)


def test_delete_group_and_absent_group(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.DELETE, f"{API}/admin/group/devs", status=204)
    rsps.add(responses.DELETE, f"{API}/admin/group/gone", status=404, json=rest_error(404, "Group not found"))

    client.delete_group("devs")
    client.delete_group("gone")

    assert wire.sent(headers=True)[0] == Sent("DELETE", f"{P}/admin/group/devs", {}, None, BODYLESS_WRITE)


def test_iter_groups_follows_full_pages(confluence, rsps):
    client, wire = confluence
    rsps.add(
        responses.GET,
        f"{API}/group",
        json=page([{"type": "group", "name": "a"}, {"type": "group", "name": "b"}], 0, 2, more=False),
    )
    rsps.add(responses.GET, f"{API}/group", json=page([], 2, 2, more=False))

    assert [g.name for g in client.iter_groups()] == ["a", "b"]
    assert [s.query for s in wire.sent()] == [{"start": "0", "limit": "2"}, {"start": "2", "limit": "2"}]


def test_iter_group_members(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.GET, f"{API}/group/devs/member", json=page([person("a")], 0, 2, False))

    assert [u.name for u in client.iter_group_members("Devs")] == ["a"]
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/group/devs/member", {"expand": "status", "start": "0", "limit": "2"}, None, READ)
    ]


def test_user_groups(confluence, rsps):
    client, wire = confluence
    rsps.add(
        responses.GET, f"{API}/user/memberof", json=page([{"type": "group", "name": "confluence-users"}], 0, 2, False)
    )

    assert client.user_groups("JDoe") == ["confluence-users"]
    assert wire.sent()[0].query == {"username": "jdoe", "start": "0", "limit": "2"}


def test_add_and_remove_member_are_path_calls(confluence, rsps):
    client, wire = confluence
    rsps.add(responses.PUT, f"{API}/user/jdoe/group/devs", status=204)
    rsps.add(responses.DELETE, f"{API}/user/jdoe/group/devs", status=204)

    client.add_member("Devs", "JDoe")
    client.remove_member("devs", "jdoe")

    assert wire.sent(headers=True) == [
        Sent("PUT", f"{P}/user/jdoe/group/devs", {}, None, BODYLESS_WRITE),
        Sent("DELETE", f"{P}/user/jdoe/group/devs", {}, None, BODYLESS_WRITE),
    ]


def test_add_member_of_a_missing_user_raises_not_found(confluence, rsps):
    client, _ = confluence
    rsps.add(responses.PUT, f"{API}/user/ghost/group/devs", status=404, json=rest_error(404, "User not found"))

    with pytest.raises(NotFound):
        client.add_member("devs", "ghost")


def test_remove_member_of_a_missing_user_succeeds(confluence, rsps):
    client, _ = confluence
    rsps.add(responses.DELETE, f"{API}/user/ghost/group/devs", status=404, json=rest_error(404, "User not found"))

    client.remove_member("devs", "ghost")


def test_licence_is_the_confluence_users_group(client_for, rsps):
    client, wire = client_for("confluence", licence_group="Confluence-Users")
    rsps.add(responses.PUT, f"{API}/user/jdoe/group/confluence-users", status=204)
    rsps.add(responses.DELETE, f"{API}/user/jdoe/group/confluence-users", status=204)

    client.grant_licence("jdoe")
    client.revoke_licence("jdoe")

    assert [(s.method, s.path) for s in wire.sent()] == [
        ("PUT", f"{P}/user/jdoe/group/confluence-users"),
        ("DELETE", f"{P}/user/jdoe/group/confluence-users"),
    ]


@pytest.mark.parametrize(
    ("version", "create", "deactivate"),
    [("10.0.3", True, True), ("8.4.0", True, True), ("8.2.1", False, True), ("7.19.2", False, False)],
)
def test_product_info(confluence, rsps, version, create, deactivate):
    client, wire = confluence
    server_information(rsps, version)

    info = client.product_info()

    assert (info.product, info.version, info.build) == ("confluence", version, "9012")
    caps = info.capabilities
    assert (caps.can_create_user, caps.can_deactivate) == (create, deactivate)
    assert not caps.can_rename_user and not caps.can_rename_group and not caps.can_find_by_email
    assert wire.sent(headers=True) == [Sent("GET", f"{P}/server-information", {}, None, READ)]


def space_permission(key: str, operation: str, subject: dict) -> dict:
    return {"operation": {"targetType": "space", "operationKey": operation}, "subject": subject,
            "spaceKey": key, "spaceId": 131083}


def test_administered_alone_reads_each_site_space_and_names_those_only_the_account_administers(confluence, rsps):
    # docs/products.md §3.14: users in space permissions are named by their key, groups by name.
    client, wire = confluence
    server_information(rsps, "9.1.0")
    alice, bob = {"type": "user", "userKey": "k-alice"}, {"type": "user", "userKey": "k-bob"}
    rsps.add(responses.GET, f"{API}/user", json=person("alice", key="k-alice"))
    rsps.add(responses.GET, f"{API}/space", json=page([{"key": "DOCS", "name": "Docs", "type": "global"},
                                                        {"key": "TEAM", "name": "Team", "type": "global"}], 0, 2, True))
    rsps.add(responses.GET, f"{API}/space", json=page([{"key": "OPS", "name": "Ops", "type": "global"}], 2, 2, False))
    rsps.add(responses.GET, f"{API}/space/DOCS/permissions", json=[
        space_permission("DOCS", "read", alice), space_permission("DOCS", "administer", alice),
        space_permission("DOCS", "read", bob)])
    rsps.add(responses.GET, f"{API}/space/TEAM/permissions", json=[
        space_permission("TEAM", "administer", alice), space_permission("TEAM", "administer", bob)])
    rsps.add(responses.GET, f"{API}/space/OPS/permissions", json=[
        space_permission("OPS", "administer", alice),
        space_permission("OPS", "administer", {"type": "group", "name": "confluence-administrators"})])

    assert client.administered_alone("Alice") == ("space DOCS",)
    assert [(s.method, s.path, s.query) for s in wire.sent()][1:] == [
        ("GET", f"{P}/user", {"username": "alice", "expand": "status"}),
        ("GET", f"{P}/space", {"type": "global", "start": "0", "limit": "2"}),
        ("GET", f"{P}/space/DOCS/permissions", {}),
        ("GET", f"{P}/space/TEAM/permissions", {}),
        ("GET", f"{P}/space", {"type": "global", "start": "2", "limit": "2"}),
        ("GET", f"{P}/space/OPS/permissions", {}),
    ]


def test_administered_alone_before_9_1_reads_nothing(confluence, rsps):
    client, wire = confluence
    server_information(rsps, "9.0.2")

    assert not client.capabilities().can_report_sole_admins
    assert client.administered_alone("alice") == ()
    assert [s.path for s in wire.sent()] == [f"{P}/server-information"]
