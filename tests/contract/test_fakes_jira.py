"""The fake Jira over real HTTP: every resource's success and error answers (docs/products.md §2).

Every response given here is checked against Jira's OpenAPI document when the fixture closes.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.fake_products import checked_fakes, unchecked

ADMIN = ("admin", "admin")
NO_CHECK = {"X-Atlassian-Token": "no-check"}


@pytest.fixture
def fakes():
    with checked_fakes(tokens={"jira": "jira-admin-pat"}) as running:
        yield running


def jira(fakes, method: str, path: str, **options) -> requests.Response:
    options.setdefault("auth", ADMIN)
    return requests.request(method, f"{fakes.base_url('jira')}/rest/api/2{path}", timeout=10, **options)


def create(fakes, name: str, **fields) -> requests.Response:
    body = {"name": name, "emailAddress": f"{name}@example.com", "displayName": name.title(), **fields}
    return jira(fakes, "POST", "/user", json=body)


def test_create_user_answers_201_with_a_generated_key_and_default_application_access(fakes):
    response = create(fakes, "alice", password="s3cret")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "alice"
    assert body["key"].startswith("JIRAUSER") and body["key"] != "alice"
    assert body["emailAddress"] == "alice@example.com" and body["active"] is True
    assert response.headers["Location"].endswith("/jira/rest/api/2/user?username=alice")
    assert fakes.jira.groups_of("alice") == ["jira-software-users"]
    assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1


def test_create_user_with_empty_application_keys_grants_no_access(fakes):
    assert create(fakes, "bob", applicationKeys=[]).status_code == 201
    assert fakes.jira.groups_of("bob") == []


def test_create_user_refuses_an_unknown_application_key(fakes):
    response = create(fakes, "bob", applicationKeys=["jira-nonsense"])

    assert response.status_code == 400
    assert "jira-nonsense" in response.json()["errorMessages"][0]
    assert fakes.jira.user("bob") is None


def test_create_existing_username_answers_400_with_the_field_error(fakes):
    create(fakes, "alice")
    response = create(fakes, "ALICE")

    assert response.status_code == 400
    assert response.json() == {"errorMessages": [], "errors": {"username": "A user with that username already exists."}}
    assert fakes.jira.calls.received("POST", "/rest/api/2/user") == 2
    assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1


def test_create_user_without_fields_names_each_missing_field(fakes):
    response = jira(fakes, "POST", "/user", json={"name": "", "emailAddress": "not-an-address"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "email", "fullname"}


def test_get_user_by_name_is_case_insensitive_and_by_key(fakes):
    key = create(fakes, "alice").json()["key"]

    by_name = jira(fakes, "GET", "/user", params={"username": "ALICE"})
    by_key = jira(fakes, "GET", "/user", params={"key": key})

    assert by_name.status_code == by_key.status_code == 200
    assert by_name.json()["name"] == by_key.json()["name"] == "alice"


def test_get_unknown_user_answers_404_error_collection(fakes):
    response = jira(fakes, "GET", "/user", params={"username": "nobody"})

    assert response.status_code == 404
    assert response.json() == {"errorMessages": ["The user named 'nobody' does not exist"], "errors": {}}


def test_expand_groups_lists_the_users_groups(fakes):
    fakes.jira.add_user("carol", groups=["team-a", "jira-software-users"])

    plain = jira(fakes, "GET", "/user", params={"username": "carol"}).json()
    expanded = jira(fakes, "GET", "/user", params={"username": "carol", "expand": "groups,applicationRoles"}).json()

    assert plain["groups"] == {"size": 2, "items": []}
    assert [g["name"] for g in expanded["groups"]["items"]] == ["jira-software-users", "team-a"]
    assert [r["key"] for r in expanded["applicationRoles"]["items"]] == ["jira-software"]


def test_update_changes_only_the_fields_sent(fakes):
    fakes.jira.add_user("dave", "Dave", "dave@example.com")

    response = jira(fakes, "PUT", "/user", params={"username": "dave"}, json={"displayName": "David"})

    assert response.status_code == 200
    assert response.json()["displayName"] == "David"
    assert fakes.jira.user("dave").email == "dave@example.com"


def test_rename_keeps_key_and_memberships(fakes):
    account = fakes.jira.add_user("erin", groups=["team-a"])

    response = jira(fakes, "PUT", "/user", params={"username": "erin"}, json={"name": "erin.new"})

    assert response.status_code == 200
    assert fakes.jira.user("erin") is None
    renamed = fakes.jira.user("erin.new")
    assert renamed.key == account.key
    assert fakes.jira.members("team-a") == ["erin.new"]


def test_rename_onto_an_existing_name_is_refused(fakes):
    fakes.jira.add_user("erin")
    fakes.jira.add_user("frank")

    response = jira(fakes, "PUT", "/user", params={"username": "erin"}, json={"name": "Frank"})

    assert response.status_code == 400
    assert "username" in response.json()["errors"]
    assert fakes.jira.user("erin") is not None


def test_deactivate_and_reactivate_with_the_active_flag(fakes):
    fakes.jira.add_user("gina")

    off = jira(fakes, "PUT", "/user", params={"username": "gina"}, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert fakes.jira.user("gina").active is False

    on = jira(fakes, "PUT", "/user", params={"username": "gina"}, json={"active": True})
    assert on.json()["active"] is True


def test_deactivating_yourself_is_refused(fakes):
    response = jira(fakes, "PUT", "/user", params={"username": "admin"}, json={"active": False})

    assert response.status_code == 400
    assert fakes.jira.user("admin").active is True


def test_jira_before_8_3_cannot_write_the_active_flag():
    with checked_fakes(versions={"jira": "8.2.0"}) as fakes:
        fakes.jira.add_user("gina")
        response = jira(fakes, "PUT", "/user", params={"username": "gina"}, json={"active": False})

    assert response.status_code == 400
    assert response.json()["errorMessages"] == ["error.no.value.found.to.be.changed"]


def test_update_of_a_read_only_directory_user_is_refused(fakes):
    fakes.jira.add_user("ldap.user", directory="Corporate LDAP")

    response = jira(fakes, "PUT", "/user", params={"username": "ldap.user"}, json={"displayName": "X"})

    assert response.status_code == 400
    assert "read-only" in response.json()["errorMessages"][0]


def test_update_unknown_user_answers_404(fakes):
    response = jira(fakes, "PUT", "/user", params={"username": "ghost"}, json={"displayName": "Boo"})
    assert response.status_code == 404


def test_delete_user_answers_204_then_404(fakes):
    fakes.jira.add_user("henry", groups=["team-a"])

    assert jira(fakes, "DELETE", "/user", params={"username": "henry"}).status_code == 204
    assert jira(fakes, "DELETE", "/user", params={"username": "henry"}).status_code == 404
    assert fakes.jira.members("team-a") == []


def test_deleting_yourself_is_refused(fakes):
    response = jira(fakes, "DELETE", "/user", params={"username": "admin"})

    assert response.status_code == 400
    assert fakes.jira.user("admin") is not None


def test_user_search_matches_email_and_name_prefixes_and_skips_inactive_users(fakes):
    fakes.jira.add_user("ivan", "Ivan Petrov", "ivan.p@corp.example")
    fakes.jira.add_user("ivy", "Ivy Lee", "ivy@other.example", active=False)

    by_email = jira(fakes, "GET", "/user/search", params={"username": "ivan.p@corp.example"}).json()
    by_prefix = jira(fakes, "GET", "/user/search", params={"username": "iv"}).json()
    with_inactive = jira(fakes, "GET", "/user/search", params={"username": "iv", "includeInactive": "true"}).json()
    by_last_name = jira(fakes, "GET", "/user/search", params={"username": "petrov"}).json()

    assert [u["name"] for u in by_email] == ["ivan"]
    assert [u["name"] for u in by_prefix] == ["ivan"]
    assert [u["name"] for u in with_inactive] == ["ivan", "ivy"]
    assert [u["name"] for u in by_last_name] == ["ivan"]


def test_user_search_without_query_answers_400(fakes):
    assert jira(fakes, "GET", "/user/search").status_code == 400


@pytest.mark.parametrize(("version", "cap"), [("10.3.4", 100), ("9.12.0", 1000)])
def test_user_search_caps_results_by_version(version, cap):
    with checked_fakes(versions={"jira": version}) as fakes:
        for n in range(cap + 5):
            fakes.jira.add_user(f"user{n:04d}")
        found = jira(fakes, "GET", "/user/search", params={"username": "user", "maxResults": 5000}).json()

    assert len(found) == cap


def test_user_list_walks_every_user_once_by_cursor(fakes):
    for n in range(7):
        fakes.jira.add_user(f"walker{n}")
    fakes.jira.directory.remove_user(fakes.jira.user("walker3"))

    seen, params = [], {"maxResults": 3}
    while True:
        body = jira(fakes, "GET", "/user/list", params=params).json()
        seen += [u["name"] for u in body["values"]]
        if body["isLast"]:
            break
        params = {"maxResults": 3, "cursor": body["nextCursor"]}

    assert sorted(seen) == sorted(["admin"] + [f"walker{n}" for n in range(7) if n != 3])


def test_user_list_does_not_exist_before_10_3():
    # The 10.3 document does not describe a Jira 9, which has no such resource.
    with checked_fakes(versions={"jira": "9.12.0"}) as fakes, unchecked(fakes):
        response = jira(fakes, "GET", "/user/list")

    assert response.status_code == 404


def test_create_group_answers_201_then_400_when_it_exists(fakes):
    first = jira(fakes, "POST", "/group", json={"name": "Developers"})
    again = jira(fakes, "POST", "/group", json={"name": "developers"})

    assert first.status_code == 201 and first.json()["name"] == "Developers"
    assert again.status_code == 400
    assert again.json()["errorMessages"] == ["A group or user with this name already exists."]


def test_create_group_without_name_answers_400(fakes):
    assert jira(fakes, "POST", "/group", json={"name": " "}).status_code == 400


def test_delete_group_answers_200_then_404(fakes):
    fakes.jira.add_user("jack", groups=["doomed"])

    assert jira(fakes, "DELETE", "/group", params={"groupname": "doomed"}).status_code == 200
    assert jira(fakes, "DELETE", "/group", params={"groupname": "doomed"}).status_code == 404
    assert fakes.jira.groups_of("jack") == []


def test_group_picker_matches_substrings_and_reports_the_total(fakes):
    for name in ("team-alpha", "team-beta", "ops"):
        fakes.jira.add_group(name)

    body = jira(fakes, "GET", "/groups/picker", params={"query": "TEAM", "maxResults": 1}).json()
    excluded = jira(fakes, "GET", "/groups/picker", params={"query": "team", "exclude": "team-alpha"}).json()

    assert body["total"] == 2 and body["header"] == "Showing 1 of 2 matching groups"
    assert body["groups"][0]["name"] == "team-alpha"
    assert body["groups"][0]["html"] == "<b>team</b>-alpha"
    assert [g["name"] for g in excluded["groups"]] == ["team-beta"]


def test_group_members_are_paged_50_at_most_and_skip_inactive_users_by_default(fakes):
    for n in range(60):
        fakes.jira.add_user(f"m{n:02d}", groups=["big"], active=n != 0)

    first = jira(fakes, "GET", "/group/member", params={"groupname": "big", "maxResults": 500}).json()
    second = jira(fakes, "GET", "/group/member", params={"groupname": "big", "startAt": 50}).json()
    everyone = jira(fakes, "GET", "/group/member", params={"groupname": "big", "includeInactiveUsers": "true"}).json()

    assert first["maxResults"] == 50 and first["total"] == 59 and first["isLast"] is False
    assert first["values"][0]["name"] == "m01" and "nextPage" in first
    assert len(second["values"]) == 9 and second["isLast"] is True
    assert everyone["total"] == 60


def test_group_members_of_unknown_group_answers_404(fakes):
    assert jira(fakes, "GET", "/group/member", params={"groupname": "nope"}).status_code == 404


def test_add_member_answers_201_and_400_when_already_a_member(fakes):
    fakes.jira.add_user("kate")
    fakes.jira.add_group("team-a")

    first = jira(fakes, "POST", "/group/user", params={"groupname": "team-a"}, json={"name": "kate"})
    again = jira(fakes, "POST", "/group/user", params={"groupname": "team-a"}, json={"name": "KATE"})

    assert first.status_code == 201 and first.json()["name"] == "team-a"
    assert again.status_code == 400
    assert again.json()["errorMessages"] == ["Cannot add user 'kate', user is already a member of 'team-a'"]
    assert fakes.jira.members("team-a") == ["kate"]


def test_add_member_to_unknown_group_or_unknown_user_answers_404(fakes):
    fakes.jira.add_user("kate")
    fakes.jira.add_group("team-a")

    assert jira(fakes, "POST", "/group/user", params={"groupname": "nope"}, json={"name": "kate"}).status_code == 404
    assert jira(fakes, "POST", "/group/user", params={"groupname": "team-a"}, json={"name": "ghost"}).status_code == 404


def test_remove_member_answers_200_and_400_when_not_a_member(fakes):
    fakes.jira.add_user("liam", groups=["team-a"])

    first = jira(fakes, "DELETE", "/group/user", params={"groupname": "team-a", "username": "liam"})
    again = jira(fakes, "DELETE", "/group/user", params={"groupname": "team-a", "username": "liam"})
    ghost = jira(fakes, "DELETE", "/group/user", params={"groupname": "team-a", "username": "ghost"})

    assert first.status_code == 200
    assert again.status_code == 400
    assert "since user is not a member of 'team-a'" in again.json()["errorMessages"][0]
    assert ghost.status_code == 404


def test_application_access_joins_the_default_group_and_leaves_every_role_group(fakes):
    fakes.jira.add_user("mia")
    params = {"username": "mia", "applicationKey": "jira-software"}

    granted = jira(fakes, "POST", "/user/application", params=params, headers=NO_CHECK)
    assert granted.status_code == 200
    assert fakes.jira.groups_of("mia") == ["jira-software-users"]

    revoked = jira(fakes, "DELETE", "/user/application", params=params)
    assert revoked.status_code == 204
    assert fakes.jira.groups_of("mia") == []


def test_application_access_post_without_body_needs_the_xsrf_header(fakes):
    fakes.jira.add_user("mia")
    params = {"username": "mia", "applicationKey": "jira-software"}

    response = jira(fakes, "POST", "/user/application", params=params)

    assert response.status_code == 403 and response.text == "XSRF check failed"
    assert fakes.jira.groups_of("mia") == []


def test_application_access_for_unknown_role_or_user_answers_400(fakes):
    fakes.jira.add_user("mia")

    unknown_role = jira(
        fakes, "POST", "/user/application", params={"username": "mia", "applicationKey": "x"}, headers=NO_CHECK
    )
    unknown_user = jira(
        fakes,
        "POST",
        "/user/application",
        params={"username": "zed", "applicationKey": "jira-software"},
        headers=NO_CHECK,
    )

    assert unknown_role.status_code == unknown_user.status_code == 400


def test_application_roles_list_and_lookup(fakes):
    fakes.jira.add_user("nina", groups=["jira-software-users"])

    roles = jira(fakes, "GET", "/applicationrole").json()
    role = jira(fakes, "GET", "/applicationrole/jira-software").json()

    assert [r["key"] for r in roles] == ["jira-software"]
    assert role["defaultGroups"] == ["jira-software-users"] and role["userCount"] == 2
    assert jira(fakes, "GET", "/applicationrole/jira-nothing").status_code == 404


def test_server_info_answers_without_credentials(fakes):
    body = jira(fakes, "GET", "/serverInfo", auth=None).json()

    assert body["version"] == "10.3.4" and body["versionNumbers"] == [10, 3, 4]
    assert body["baseUrl"] == fakes.base_url("jira")


def test_myself_is_the_caller(fakes):
    assert jira(fakes, "GET", "/myself").json()["name"] == "admin"


def test_wrong_password_answers_seraphs_401_page(fakes):
    response = jira(fakes, "GET", "/user", params={"username": "admin"}, auth=("admin", "wrong"))

    assert response.status_code == 401
    assert response.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert "Basic Authentication Failure" in response.text


def test_no_credentials_answers_401_error_collection(fakes):
    response = jira(fakes, "GET", "/user", params={"username": "admin"}, auth=None)

    assert response.status_code == 401
    assert response.json()["errorMessages"]


def test_user_without_admin_rights_reads_but_cannot_create(fakes):
    fakes.jira.add_user("olga", password="pw")

    assert jira(fakes, "GET", "/user", params={"username": "admin"}, auth=("olga", "pw")).status_code == 200
    body = {"name": "pete", "emailAddress": "p@example.com", "displayName": "P"}
    refused = jira(fakes, "POST", "/user", json=body, auth=("olga", "pw"))
    assert refused.status_code == 403
    assert "olga" in refused.json()["errorMessages"][0]
    assert fakes.jira.user("pete") is None


def test_personal_access_token_of_an_admin_can_create(fakes):
    response = jira(
        fakes,
        "POST",
        "/user",
        auth=None,
        headers={"Authorization": "Bearer jira-admin-pat"},
        json={"name": "quinn", "emailAddress": "q@example.com", "displayName": "Quinn"},
    )

    assert response.status_code == 201


def test_latest_is_an_alias_of_api_2(fakes):
    response = requests.get(
        f"{fakes.base_url('jira')}/rest/api/latest/user", params={"username": "admin"}, auth=ADMIN, timeout=10
    )
    assert response.status_code == 200


# -- project and component leads (docs/products.md §2.13) -----------------------------------------


def test_projects_list_their_lead_when_expanded_and_components_their_lead_user_name(fakes):
    fakes.jira.add_user("alice")
    fakes.jira.add_project("ABC", "alice", {"Backend": "alice", "UI": None})

    plain = jira(fakes, "GET", "/project").json()
    expanded = jira(fakes, "GET", "/project", params={"expand": "lead"}).json()
    components = jira(fakes, "GET", "/project/ABC/components").json()

    assert [p["key"] for p in plain] == ["ABC"] and "lead" not in plain[0]
    assert expanded[0]["lead"]["name"] == "alice"
    assert [(c["name"], c.get("leadUserName")) for c in components] == [("Backend", "alice"), ("UI", None)]


def test_a_lead_is_handed_over_to_an_active_user_only(fakes):
    fakes.jira.add_user("alice")
    fakes.jira.add_user("bob")
    fakes.jira.add_user("gone", active=False)
    fakes.jira.add_project("ABC", "alice", {"Backend": "alice"})
    component = jira(fakes, "GET", "/project/ABC/components").json()[0]["id"]

    assert jira(fakes, "PUT", "/project/ABC", json={"lead": "bob"}).json()["lead"]["name"] == "bob"
    assert jira(fakes, "PUT", f"/component/{component}", json={"leadUserName": "bob"}).json()["leadUserName"] == "bob"
    refused = jira(fakes, "PUT", "/project/ABC", json={"lead": "gone"})
    assert refused.status_code == 400 and "projectLead" in refused.json()["errors"]
    assert jira(fakes, "PUT", "/project/NOPE", json={"lead": "bob"}).status_code == 404
    assert jira(fakes, "GET", "/project/NOPE/components").status_code == 404
    assert fakes.jira.leads() == {"ABC": "bob", "ABC/Backend": "bob"}


def test_an_application_with_seats_counts_them_and_refuses_a_seat_beyond_them(fakes):
    # docs/products.md §2.14: each way of giving an account the application is refused when full.
    fakes.jira.set_seats("jira-software", 3)  # the administrator holds one
    assert create(fakes, "ann").status_code == 201
    fakes.jira.add_user("idle", active=False, groups=["jira-software-users"])  # inactive: no seat
    fakes.jira.add_user("nogroup")
    role = jira(fakes, "GET", "/applicationrole/jira-software").json()
    assert (role["numberOfSeats"], role["remainingSeats"], role["userCount"], role["hasUnlimitedSeats"]) == \
        (3, 1, 2, False)
    assert create(fakes, "bob").status_code == 201

    refused = [
        create(fakes, "cat"),
        jira(fakes, "POST", "/user/application", params={"username": "nogroup", "applicationKey": "jira-software"},
             headers=NO_CHECK),
        jira(fakes, "POST", "/group/user", params={"groupname": "jira-software-users"}, json={"name": "nogroup"}),
        jira(fakes, "PUT", "/user", params={"username": "idle"}, json={"active": True}),
    ]

    assert [r.status_code for r in refused] == [400] * 4
    assert all("user limit of 3" in r.json()["errorMessages"][0] for r in refused)
    assert fakes.jira.licence_refusals == 4 and fakes.jira.user("cat") is None
    assert jira(fakes, "GET", "/applicationrole/jira-software").json()["remainingSeats"] == 0
    # Without a seat to take, the same calls go through.
    assert create(fakes, "dan", applicationKeys=[]).status_code == 201
    assert jira(fakes, "PUT", "/user", params={"username": "bob"}, json={"active": False}).status_code == 200
    assert jira(fakes, "PUT", "/user", params={"username": "idle"}, json={"active": True}).status_code == 200
