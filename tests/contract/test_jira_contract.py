"""Jira client: every operation's requests, exactly as Jira Data Center wants them (docs/products.md §2)."""

from __future__ import annotations

import pytest
import responses

from atlassian_clients import ApplicationRole, Creation, NotFound, Rejected, RemoteGroup, RemoteUser, Unsupported
from atlassian_clients.base import Led, LedComponent, Seats
from tests.client_harness import BODYLESS_WRITE, READ, WRITE, Sent

API = "http://atlassian.test/jira/rest/api/2"
P = "/jira/rest/api/2"
# Jira 10.3 marks user create/update/delete and application access x-experimental (docs/products.md §2.2).
EXPERIMENTAL = {**WRITE, "X-ExperimentalApi": "true"}
EXPERIMENTAL_BODYLESS = {**BODYLESS_WRITE, "X-ExperimentalApi": "true"}


def bean(name: str, key: str | None = None, email: str | None = None, active: bool = True, **extra) -> dict:
    return {
        "self": f"{API}/user?username={name}",
        "name": name,
        "key": key or f"JIRAUSER{10000 + sum(map(ord, name))}",
        "emailAddress": email or f"{name}@example.com",
        "displayName": name.title(),
        "active": active,
        "deleted": False,
        "timeZone": "UTC",
        "locale": "en_US",
        **extra,
    }


def jira_errors(*messages: str, **fields: str) -> dict:
    return {"errorMessages": list(messages), "errors": fields}


@pytest.fixture
def jira(client_for):
    return client_for("jira", application_keys=("jira-software",), page_size=2, group_picker_limit=2)


def test_get_user_reports_key_and_name_apart(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/user", json=bean("jdoe", key="JIRAUSER10100", email="Jane@Example.com"))

    user = client.get_user("jdoe")

    assert user == RemoteUser("jdoe", "JIRAUSER10100", "Jdoe", "Jane@Example.com", True, None, None)
    assert wire.sent(headers=True) == [Sent("GET", f"{P}/user", {"username": "jdoe"}, None, READ)]


def test_get_user_answers_none_when_jira_says_404(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/user", status=404, json=jira_errors("The user named 'ghost' does not exist"))

    assert client.get_user("ghost") is None


def test_find_users_by_email_keeps_exact_matches_only(jira, rsps):
    client, wire = jira
    rsps.add(
        responses.GET,
        f"{API}/user/search",
        json=[
            bean("jane", email="JANE@example.com"),
            bean("janet", email="jane@example.com.au"),
        ],
    )

    found = client.find_users_by_email("jane@example.com")

    assert [u.name for u in found] == ["jane"]
    assert wire.sent(headers=True) == [
        Sent(
            "GET",
            f"{P}/user/search",
            {
                "username": "jane@example.com",
                "includeActive": "true",
                "includeInactive": "true",
                "maxResults": "100",
            },
            None,
            READ,
        )
    ]


def test_create_user_posts_the_user_bean_and_takes_the_account_from_the_answer(jira, rsps):
    client, wire = jira
    rsps.add(
        responses.POST,
        f"{API}/user",
        status=201,
        json={
            "name": "jdoe",
            "displayName": "Jane Doe",
            "emailAddress": "jdoe@example.com",
            "applicationKeys": ["jira-software"],
            "key": "JIRAUSER10200",
            "active": True,
        },
    )

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com", password="pw-1")

    assert creation == Creation(RemoteUser("jdoe", "JIRAUSER10200", "Jane Doe", "jdoe@example.com", True), created=True)
    assert wire.sent(headers=True) == [
        Sent(
            "POST",
            f"{P}/user",
            {},
            {
                "name": "jdoe",
                "displayName": "Jane Doe",
                "emailAddress": "jdoe@example.com",
                "password": "pw-1",
                "applicationKeys": ["jira-software"],
            },
            EXPERIMENTAL,
        ),
    ]  # no read-back: the 201 carries the account (docs/products.md §2.5)


def test_a_create_answered_without_the_account_reads_it_back(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{API}/user", status=201, json={"self": f"{API}/user?username=jdoe"})
    rsps.add(responses.GET, f"{API}/user", json=bean("jdoe", key="JIRAUSER10200"))

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert creation == Creation(bean_user("jdoe", "JIRAUSER10200"), created=True)
    assert [(sent.method, sent.query) for sent in wire.sent()] == [("POST", {}), ("GET", {"username": "jdoe"})]


def bean_user(name: str, key: str) -> RemoteUser:
    return RemoteUser(name, key, name.title(), f"{name}@example.com", True)


@pytest.mark.parametrize("asked", [None, ()])
def test_create_without_application_keys_leaves_the_choice_to_jira(client_for, rsps, asked):
    # Nothing configured, nothing asked: no applicationKeys, so Jira grants its default applications
    # (an empty list would mean "no application", docs/products.md §2.5); no password, so Jira generates one.
    client, wire = client_for("jira")
    rsps.add(responses.POST, f"{API}/user", status=201, json={"name": "jdoe", "key": "JIRAUSER1"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com", application_keys=asked)

    assert wire.sent()[0].body == {"name": "jdoe", "displayName": "Jane Doe", "emailAddress": "jdoe@example.com"}


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        (None, ["jira-software"]),
        ((), ["jira-software"]),
        (("jira-core", "jira-servicedesk"), ["jira-core", "jira-servicedesk"]),
    ],
)
def test_create_sends_the_keys_asked_for_else_the_configured_ones(jira, rsps, asked, sent):
    client, wire = jira  # configured with jira-software
    rsps.add(responses.POST, f"{API}/user", status=201, json={"name": "jdoe", "key": "JIRAUSER1"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com", application_keys=asked)

    assert wire.sent()[0].body["applicationKeys"] == sent


def test_create_user_that_exists_links_the_existing_account(jira, rsps):
    client, wire = jira
    rsps.add(
        responses.POST,
        f"{API}/user",
        status=400,
        json=jira_errors(username="A user with that username already exists."),
    )
    rsps.add(responses.GET, f"{API}/user", json=bean("jdoe", key="jdoe"))

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert creation.created is False
    assert creation.resource.key == "jdoe"
    assert [s.method for s in wire.sent()] == ["POST", "GET"]


def test_create_user_refused_for_another_reason_raises_with_jiras_words(jira, rsps):
    client, _ = jira
    rsps.add(
        responses.POST,
        f"{API}/user",
        status=400,
        json=jira_errors(emailAddress="You must specify a valid email address."),
    )
    rsps.add(responses.GET, f"{API}/user", status=404, json=jira_errors("The user named 'jdoe' does not exist"))

    with pytest.raises(Rejected) as caught:
        client.create_user("jdoe", "Jane Doe", "not-an-email")

    assert caught.value.target == "jira-test"
    assert caught.value.status == 400
    assert caught.value.product_message == "emailAddress: You must specify a valid email address."


def test_update_user_sends_only_the_changed_fields(jira, rsps):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/user", json={"name": "jdoe", "displayName": "Jane Q. Doe"})

    client.update_user("jdoe", display_name="Jane Q. Doe")
    client.update_user("jdoe")  # nothing to change: nothing sent

    assert wire.sent(headers=True) == [
        Sent("PUT", f"{P}/user", {"username": "jdoe"}, {"displayName": "Jane Q. Doe"}, EXPERIMENTAL)
    ]


def test_update_user_email(jira, rsps):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/user", json={"name": "jdoe"})

    client.update_user("jdoe", display_name="J", email="j@example.org")

    assert wire.sent()[0].body == {"displayName": "J", "emailAddress": "j@example.org"}


@pytest.mark.parametrize("active", [False, True])
def test_set_active_puts_the_active_flag(jira, rsps, active):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/user", json={"name": "jdoe", "active": active})

    client.set_active("jdoe", active)

    assert wire.sent(headers=True) == [Sent("PUT", f"{P}/user", {"username": "jdoe"}, {"active": active}, EXPERIMENTAL)]


def test_rename_user_puts_the_new_name(jira, rsps):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/user", json={"name": "jane.doe"})

    client.rename_user("jdoe", "jane.doe")

    assert wire.sent(headers=True) == [
        Sent("PUT", f"{P}/user", {"username": "jdoe"}, {"name": "jane.doe"}, EXPERIMENTAL)
    ]


def test_rename_already_done_succeeds(jira, rsps):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/user", status=404, json=jira_errors("The user named 'jdoe' does not exist"))
    rsps.add(responses.GET, f"{API}/user", json=bean("jane.doe"))

    client.rename_user("jdoe", "jane.doe")

    assert wire.sent()[1] == Sent("GET", f"{P}/user", {"username": "jane.doe"})


def test_rename_of_a_missing_user_raises_not_found(jira, rsps):
    client, _ = jira
    rsps.add(responses.PUT, f"{API}/user", status=404, json=jira_errors("The user named 'jdoe' does not exist"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=jira_errors("The user named 'x' does not exist"))

    with pytest.raises(NotFound):
        client.rename_user("jdoe", "jane.doe")


def test_delete_user(jira, rsps):
    client, wire = jira
    rsps.add(responses.DELETE, f"{API}/user", status=204)

    client.delete_user("jdoe")

    assert wire.sent(headers=True) == [Sent("DELETE", f"{P}/user", {"username": "jdoe"}, None, EXPERIMENTAL_BODYLESS)]


def test_delete_of_an_absent_user_succeeds(jira, rsps):
    client, _ = jira
    rsps.add(responses.DELETE, f"{API}/user", status=404, json=jira_errors("The user named 'jdoe' does not exist"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=jira_errors("The user named 'jdoe' does not exist"))

    client.delete_user("jdoe")


def test_iter_users_on_10_3_follows_the_cursor(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/serverInfo", json={"version": "10.3.24", "buildNumber": 10030024})
    rsps.add(
        responses.GET,
        f"{API}/user/list",
        json={
            "values": [bean("a"), bean("b")],
            "isLast": False,
            "nextCursor": "10101",
            "maxResults": 2,
        },
    )
    rsps.add(responses.GET, f"{API}/user/list", json={"values": [bean("c")], "isLast": True, "maxResults": 2})

    assert [u.name for u in client.iter_users()] == ["a", "b", "c"]
    assert [s.query for s in wire.sent()] == [{}, {"maxResults": "2"}, {"maxResults": "2", "cursor": "10101"}]


def test_iter_users_before_10_3_pages_the_user_search(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/serverInfo", json={"version": "9.12.15", "buildNumber": 9120015})
    rsps.add(responses.GET, f"{API}/user/search", json=[bean("a"), bean("b")])
    rsps.add(responses.GET, f"{API}/user/search", json=[bean("c")])

    assert [u.name for u in client.iter_users()] == ["a", "b", "c"]
    base = {"username": ".", "includeActive": "true", "includeInactive": "true", "maxResults": "2"}
    assert [s.query for s in wire.sent()[1:]] == [{**base, "startAt": "0"}, {**base, "startAt": "2"}]


def picker(*names: str, total: int | None = None) -> dict:
    total = len(names) if total is None else total
    return {
        "header": f"Showing {len(names)} of {total} matching groups",
        "total": total,
        "groups": [{"name": n, "html": n, "labels": []} for n in names],
    }


def test_get_group_finds_the_exact_name_in_the_picker(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/groups/picker", json=picker("devs-old", "Devs"))

    assert client.get_group("devs") == RemoteGroup("Devs")
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/groups/picker", {"maxResults": "2", "query": "devs"}, None, READ)
    ]


def test_get_group_answers_none_when_only_similar_names_exist(jira, rsps):
    client, _ = jira
    rsps.add(responses.GET, f"{API}/groups/picker", json=picker("devs-old"))

    assert client.get_group("devs") is None


def test_iter_groups_asks_again_for_the_total(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/groups/picker", json=picker("a", "b", total=3))
    rsps.add(responses.GET, f"{API}/groups/picker", json=picker("a", "b", "c"))

    assert [g.name for g in client.iter_groups()] == ["a", "b", "c"]
    assert [s.query for s in wire.sent()] == [{"maxResults": "2"}, {"maxResults": "3"}]


def test_create_group(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{API}/group", status=201, json={"name": "devs", "self": f"{API}/group?groupname=devs"})

    assert client.create_group("devs") == Creation(RemoteGroup("devs"), created=True)
    assert wire.sent(headers=True) == [Sent("POST", f"{P}/group", {}, {"name": "devs"}, WRITE)]


def test_create_group_that_exists_returns_it(jira, rsps):
    client, _ = jira
    rsps.add(
        responses.POST, f"{API}/group", status=400, json=jira_errors("A group or user with this name already exists.")
    )
    rsps.add(responses.GET, f"{API}/groups/picker", json=picker("devs"))

    assert client.create_group("devs") == Creation(RemoteGroup("devs"), created=False)


def test_delete_group(jira, rsps):
    client, wire = jira
    rsps.add(responses.DELETE, f"{API}/group", status=200)

    client.delete_group("devs")

    assert wire.sent(headers=True) == [Sent("DELETE", f"{P}/group", {"groupname": "devs"}, None, BODYLESS_WRITE)]


def test_delete_of_an_absent_group_succeeds(jira, rsps):
    client, _ = jira
    rsps.add(responses.DELETE, f"{API}/group", status=404, json=jira_errors("Specified group does not exist."))
    rsps.add(responses.GET, f"{API}/groups/picker", json=picker())

    client.delete_group("devs")


def test_iter_group_members_pages_by_start_at(jira, rsps):
    client, wire = jira
    rsps.add(
        responses.GET,
        f"{API}/group/member",
        json={
            "startAt": 0,
            "maxResults": 2,
            "total": 3,
            "isLast": False,
            "values": [bean("a"), bean("b", active=False)],
        },
    )
    rsps.add(
        responses.GET,
        f"{API}/group/member",
        json={
            "startAt": 2,
            "maxResults": 2,
            "total": 3,
            "isLast": True,
            "values": [bean("c")],
        },
    )

    members = list(client.iter_group_members("devs"))

    assert [(m.name, m.active) for m in members] == [("a", True), ("b", False), ("c", True)]
    base = {"groupname": "devs", "includeInactiveUsers": "true", "maxResults": "2"}
    assert [s.query for s in wire.sent()] == [{**base, "startAt": "0"}, {**base, "startAt": "2"}]


def with_groups(name: str, *groups: str) -> dict:
    return bean(name, groups={"size": len(groups), "items": [{"name": g} for g in groups], "max-results": 1000})


def test_user_groups_expands_groups(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/user", json=with_groups("jdoe", "devs", "jira-software-users"))

    assert client.user_groups("jdoe") == ["devs", "jira-software-users"]
    assert wire.sent()[0].query == {"username": "jdoe", "expand": "groups"}


def test_get_user_and_groups_reads_both_in_one_call(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/user", json=with_groups("jdoe", "devs"))
    rsps.add(responses.GET, f"{API}/user", status=404, json=jira_errors("The user named 'ghost' does not exist"))

    user, groups = client.get_user_and_groups("jdoe")

    assert (user.name, user.display_name, groups) == ("jdoe", "Jdoe", ["devs"])
    assert client.get_user_and_groups("ghost") == (None, None)
    assert [s.query for s in wire.sent()] == [{"username": "jdoe", "expand": "groups"},
                                              {"username": "ghost", "expand": "groups"}]


def test_add_member(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{API}/group/user", status=201, json={"name": "devs"})

    client.add_member("devs", "jdoe")

    assert wire.sent(headers=True) == [Sent("POST", f"{P}/group/user", {"groupname": "devs"}, {"name": "jdoe"}, WRITE)]


def test_add_member_that_is_already_there_succeeds(jira, rsps):
    client, _ = jira
    rsps.add(
        responses.POST,
        f"{API}/group/user",
        status=400,
        json=jira_errors("Cannot add user. 'jdoe' is already a member of 'devs'"),
    )
    rsps.add(responses.GET, f"{API}/user", json=with_groups("jdoe", "Devs"))

    client.add_member("devs", "jdoe")


def test_add_member_refused_while_not_a_member_raises(jira, rsps):
    client, _ = jira
    rsps.add(responses.POST, f"{API}/group/user", status=400, json=jira_errors("Group is read-only"))
    rsps.add(responses.GET, f"{API}/user", json=with_groups("jdoe"))

    with pytest.raises(Rejected, match="Group is read-only"):
        client.add_member("devs", "jdoe")


def test_remove_member(jira, rsps):
    client, wire = jira
    rsps.add(responses.DELETE, f"{API}/group/user", status=200)

    client.remove_member("devs", "jdoe")

    assert wire.sent(headers=True) == [
        Sent("DELETE", f"{P}/group/user", {"groupname": "devs", "username": "jdoe"}, None, BODYLESS_WRITE)
    ]


def test_remove_member_of_an_absent_user_succeeds(jira, rsps):
    client, _ = jira
    rsps.add(
        responses.DELETE, f"{API}/group/user", status=404, json=jira_errors("The user named 'jdoe' does not exist")
    )
    rsps.add(responses.GET, f"{API}/user", status=404, json=jira_errors("The user named 'jdoe' does not exist"))

    client.remove_member("devs", "jdoe")


def test_grant_and_revoke_licence_use_application_access(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{API}/user/application", status=200)
    rsps.add(responses.DELETE, f"{API}/user/application", status=204)

    client.grant_licence("jdoe")
    client.revoke_licence("jdoe")

    query = {"username": "jdoe", "applicationKey": "jira-software"}
    assert wire.sent(headers=True) == [
        Sent("POST", f"{P}/user/application", query, None, EXPERIMENTAL_BODYLESS),
        Sent("DELETE", f"{P}/user/application", query, None, EXPERIMENTAL_BODYLESS),
    ]


def role(key: str, selected: bool) -> dict:
    return {
        "key": key,
        "name": key.title(),
        "groups": [f"{key}-users"],
        "defaultGroups": [f"{key}-users"],
        "selectedByDefault": selected,
        "defined": True,
    }


def test_licence_without_configured_keys_is_the_applications_selected_by_default(client_for, rsps):
    client, wire = client_for("jira")
    roles = [role("jira-software", True), role("jira-servicedesk", False), role("jira-core", True)]
    rsps.add(responses.GET, f"{API}/applicationrole", json=roles)
    rsps.add(responses.POST, f"{API}/user/application", status=200)

    client.grant_licence("jdoe")

    sent = wire.sent()
    assert sent[0] == Sent("GET", f"{P}/applicationrole")
    assert [(s.method, s.query["applicationKey"]) for s in sent[1:]] == [
        ("POST", "jira-software"),
        ("POST", "jira-core"),
    ]


def test_application_roles_are_read_with_their_seats(client_for, rsps):
    client, wire = client_for("jira")
    limited = {**role("jira-software", True), "numberOfSeats": 50, "remainingSeats": 8, "userCount": 42,
               "hasUnlimitedSeats": False}
    unlimited = {**role("jira-core", False), "numberOfSeats": -1, "remainingSeats": -1, "userCount": 3,
                 "hasUnlimitedSeats": True}
    rsps.add(responses.GET, f"{API}/applicationrole", json=[limited, unlimited])

    roles = client.application_roles()

    assert wire.sent() == [Sent("GET", f"{P}/applicationrole")]
    assert roles == [
        ApplicationRole("jira-software", "Jira-Software", True, ("jira-software-users",), 42, 50, 8),
        ApplicationRole("jira-core", "Jira-Core", False, ("jira-core-users",), 3, None, None),
    ]


def test_licence_without_keys_or_a_default_application_is_unsupported(client_for, rsps):
    client, wire = client_for("jira")
    rsps.add(responses.GET, f"{API}/applicationrole", json=[role("jira-software", False)])

    with pytest.raises(Unsupported, match="set application_keys"):
        client.revoke_licence("jdoe")
    assert len(wire.sent()) == 1


def test_application_access_lists_role_keys(jira, rsps):
    client, wire = jira
    rsps.add(
        responses.GET,
        f"{API}/user",
        json=bean(
            "jdoe",
            applicationRoles={
                "size": 1,
                "items": [{"key": "jira-software", "name": "Jira Software"}],
                "max-results": 1000,
            },
        ),
    )

    assert client.application_access("jdoe") == ["jira-software"]
    assert wire.sent()[0].query == {"username": "jdoe", "expand": "applicationRoles"}


@pytest.mark.parametrize(("version", "can_deactivate"), [("10.3.24", True), ("8.3.0", True), ("8.2.6", False)])
def test_product_info_reads_server_info(jira, rsps, version, can_deactivate):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/serverInfo", json={"version": version, "buildNumber": 100, "baseUrl": API})

    info = client.product_info()
    client.capabilities()  # cached: no second request

    assert (info.product, info.version, info.build) == ("jira", version, "100")
    assert info.capabilities.can_deactivate is can_deactivate
    assert info.capabilities.can_rename_user and not info.capabilities.can_rename_group
    assert info.directories is None
    assert wire.sent(headers=True) == [Sent("GET", f"{P}/serverInfo", {}, None, READ)]


# -- project and component leads (docs/products.md §2.13) -----------------------------------------


def project_bean(key: str, lead: str) -> dict:
    return {"self": f"{API}/project/{key}", "id": "10000", "key": key, "name": key.title(),
            "lead": {"self": f"{API}/user?username={lead}", "name": lead, "active": True}}


def component_bean(component_id: str, project: str, name: str, lead: str | None) -> dict:
    bean = {"self": f"{API}/component/{component_id}", "id": component_id, "name": name, "project": project}
    return {**bean, "leadUserName": lead} if lead else bean


def test_led_by_lists_projects_with_their_lead_and_each_projects_components(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{API}/project", json=[project_bean("ABC", "Alice"), project_bean("XYZ", "bob")])
    rsps.add(responses.GET, f"{API}/project/ABC/components",
             json=[component_bean("10000", "ABC", "Backend", "alice"), component_bean("10001", "ABC", "UI", None)])
    rsps.add(responses.GET, f"{API}/project/XYZ/components", json=[component_bean("10002", "XYZ", "API", "ALICE")])

    led = client.led_by("alice")

    assert led == Led(("ABC",), (LedComponent("10000", "ABC", "Backend"), LedComponent("10002", "XYZ", "API")))
    assert wire.sent(headers=True) == [
        Sent("GET", f"{P}/project", {"expand": "lead"}, None, READ),
        Sent("GET", f"{P}/project/ABC/components", {}, None, READ),
        Sent("GET", f"{P}/project/XYZ/components", {}, None, READ),
    ]


def test_set_project_lead_puts_the_username_as_lead(jira, rsps):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/project/ABC", json=project_bean("ABC", "bob"))

    client.set_project_lead("ABC", "bob")

    assert wire.sent(headers=True) == [Sent("PUT", f"{P}/project/ABC", {}, {"lead": "bob"}, WRITE)]


def test_set_component_lead_puts_the_lead_user_name(jira, rsps):
    client, wire = jira
    rsps.add(responses.PUT, f"{API}/component/10000", json=component_bean("10000", "ABC", "Backend", "bob"))

    client.set_component_lead("10000", "bob")

    assert wire.sent(headers=True) == [Sent("PUT", f"{P}/component/10000", {}, {"leadUserName": "bob"}, WRITE)]


def test_a_lead_jira_refuses_is_a_rejection_naming_the_field(jira, rsps):
    client, _ = jira
    rsps.add(responses.PUT, f"{API}/project/ABC", status=400,
             json=jira_errors(projectLead="The user 'ghost' does not exist."))

    with pytest.raises(Rejected, match="ghost"):
        client.set_project_lead("ABC", "ghost")


def test_jira_says_it_can_hand_over_leads_and_the_others_cannot(jira, rsps, client_for):
    client, _ = jira
    rsps.add(responses.GET, f"{API}/serverInfo", json={"version": "9.12.0", "versionNumbers": [9, 12, 0]})
    assert client.capabilities().can_hand_over_leads
    for product in ("confluence", "bitbucket"):
        other, _ = client_for(product)
        assert other.led_by("alice") == Led()
        with pytest.raises(Unsupported):
            other.set_project_lead("ABC", "bob")


def seats_role(key: str, seats: int, remaining: int, selected: bool = False) -> dict:
    unlimited = seats < 0
    return {**role(key, selected), "numberOfSeats": seats, "remainingSeats": remaining,
            "userCount": 0 if unlimited else seats - remaining, "hasUnlimitedSeats": unlimited}


def test_seats_are_those_of_the_configured_application_with_the_fewest_left(client_for, rsps):
    # docs/products.md §2.14
    client, wire = client_for("jira", application_keys=("jira-software", "jira-servicedesk"))
    rsps.add(responses.GET, f"{API}/applicationrole", json=[
        seats_role("jira-software", 10, 3), seats_role("jira-servicedesk", 5, 1), seats_role("jira-core", 2, 0, True)])

    assert client.seats() == Seats(4, 5, "jira-servicedesk")
    assert wire.sent()[-1] == Sent("GET", f"{P}/applicationrole")


def test_seats_without_configured_keys_are_the_default_applications_and_unlimited_is_none(client_for, rsps):
    client, _ = client_for("jira")
    rsps.add(responses.GET, f"{API}/applicationrole", json=[
        seats_role("jira-software", 10, 1, True), seats_role("jira-servicedesk", 3, 0)])
    rsps.add(responses.GET, f"{API}/applicationrole", json=[seats_role("jira-software", -1, -1, True)])

    assert client.seats() == Seats(9, 10, "jira-software")
    assert client.seats() is None


def test_jira_and_crowd_report_no_sole_administrators_and_call_nothing(jira, rsps, client_for):
    # Only Confluence spaces and Bitbucket projects and repositories are reported (docs/products.md §3.14, §4.15).
    client, wire = jira
    rsps.add(responses.GET, f"{API}/serverInfo", json={"version": "9.12.0", "versionNumbers": [9, 12, 0]})
    assert not client.capabilities().can_report_sole_admins
    assert client.administered_alone("alice") == ()
    crowd, crowd_wire = client_for("crowd")
    assert crowd.administered_alone("alice") == ()
    assert [s.path for s in wire.sent()] == [f"{P}/serverInfo"]
    assert crowd_wire.sent() == []


def test_an_account_just_created_is_not_added_again_to_its_applications_default_groups(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{API}/user", status=201,
             json={"name": "jdoe", "displayName": "Jane Doe", "emailAddress": "jdoe@example.com", "key": "JIRAUSER1"})
    rsps.add(responses.GET, f"{API}/applicationrole", json=[role("jira-software", True), role("jira-core", False)])
    rsps.add(responses.POST, f"{API}/group/user", status=201, json={"name": "devs"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    # Jira put the new account in the default groups of the applications it granted (docs/products.md §2.5):
    # an add there would answer 400 and cost a read; other groups, and a second add, are sent.
    client.add_member("jira-software-users", "jdoe")
    client.add_member("devs", "jdoe")
    client.add_member("jira-core-users", "jdoe")

    assert [(s.method, s.path, s.query.get("groupname")) for s in wire.sent()] == [
        ("POST", f"{P}/user", None),
        ("GET", f"{P}/applicationrole", None),
        ("POST", f"{P}/group/user", "devs"),
        ("POST", f"{P}/group/user", "jira-core-users"),
    ]


def test_an_add_after_the_new_account_was_read_is_sent(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{API}/user", status=201,
             json={"name": "jdoe", "displayName": "Jane Doe", "emailAddress": "jdoe@example.com", "key": "JIRAUSER1"})
    rsps.add(responses.GET, f"{API}/user", json=with_groups("jdoe"))
    rsps.add(responses.POST, f"{API}/group/user", status=201, json={"name": "jira-software-users"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")
    client.user_groups("jdoe")  # e.g. a later delivery: someone took the account out of the group by hand
    client.add_member("jira-software-users", "jdoe")

    assert [(s.method, s.path) for s in wire.sent()] == [
        ("POST", f"{P}/user"), ("GET", f"{P}/user"), ("POST", f"{P}/group/user")]
