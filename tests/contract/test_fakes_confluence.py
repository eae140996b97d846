"""The fake Confluence over real HTTP: every resource's success and error answers (docs/products.md §3).

Every response given here is checked against Confluence's OpenAPI document when the fixture closes.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.fake_products import checked_fakes, unchecked

ADMIN = ("admin", "admin")


@pytest.fixture
def fakes():
    with checked_fakes(tokens={"confluence": "conf-admin-pat"}) as running:
        yield running


def confluence(fakes, method: str, path: str, **options) -> requests.Response:
    options.setdefault("auth", ADMIN)
    return requests.request(method, f"{fakes.base_url('confluence')}/rest/api{path}", timeout=10, **options)


def new_user(name: str, **fields) -> dict:
    return {"userName": name, "fullName": name.title(), "email": f"{name}@example.com", "password": "pw", **fields}


def test_create_user_answers_201_with_the_user_key(fakes):
    response = confluence(fakes, "POST", "/admin/user", json=new_user("alice"))

    assert response.status_code == 201
    key = response.json()["userKey"]
    assert len(key) == 32 and key == fakes.confluence.user("alice").key
    assert fakes.confluence.calls.applied("POST", "/rest/api/admin/user") == 1


@pytest.mark.parametrize(
    "name",
    ["Alice", "al ice", "al,ice", "al<ice", 'al"ice', "anonymous", ""],
    ids=["upper-case", "space", "comma", "angle", "quote", "anonymous", "blank"],
)
def test_create_user_refuses_names_confluence_does_not_allow(fakes, name):
    response = confluence(fakes, "POST", "/admin/user", json=new_user(name))

    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400 and body["reason"] == "Bad Request" and "userName" in body["message"]
    assert len(fakes.confluence.directory) == 1


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": "nope"}, "email"),
        ({"fullName": " "}, "fullName"),
        ({"password": None}, "password"),
        ({"notifyViaEmail": True}, "password"),
    ],
    ids=["bad-email", "blank-name", "no-password", "password-and-notify"],
)
def test_create_user_refuses_bad_profile_or_password_rules(fakes, fields, problem):
    response = confluence(fakes, "POST", "/admin/user", json=new_user("bob", **fields))

    assert response.status_code == 400
    assert [e["message"]["key"] for e in response.json()["data"]["errors"]] == [problem]


def test_create_user_with_notify_and_no_password_is_accepted(fakes):
    body = new_user("bob", notifyViaEmail=True)
    del body["password"]

    assert confluence(fakes, "POST", "/admin/user", json=body).status_code == 201


def test_create_existing_user_answers_409(fakes):
    confluence(fakes, "POST", "/admin/user", json=new_user("carol"))
    response = confluence(fakes, "POST", "/admin/user", json=new_user("carol"))

    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"


def test_create_user_beyond_the_licence_answers_402(fakes):
    fakes.confluence.licence_seats = 1

    response = confluence(fakes, "POST", "/admin/user", json=new_user("dave"))

    assert response.status_code == 402
    assert fakes.confluence.user("dave") is None


def test_create_user_does_not_exist_before_8_4():
    with checked_fakes(versions={"confluence": "8.3.0"}) as fakes, unchecked(fakes):
        response = confluence(fakes, "POST", "/admin/user", json=new_user("dave"))

    assert response.status_code == 404


def test_get_user_by_name_or_key_has_no_email(fakes):
    account = fakes.confluence.add_user("erin", "Erin", "erin@example.com")

    by_name = confluence(fakes, "GET", "/user", params={"username": "ERIN"}).json()
    by_key = confluence(fakes, "GET", "/user", params={"key": account.key}).json()

    assert by_name == by_key
    assert by_name["username"] == "erin" and by_name["userKey"] == account.key and by_name["type"] == "known"
    assert "email" not in by_name and "status" not in by_name


def test_get_user_with_expand_status_reports_deactivation(fakes):
    fakes.confluence.add_user("erin", active=False)

    body = confluence(fakes, "GET", "/user", params={"username": "erin", "expand": "status"}).json()

    assert body["status"] == "deactivated"


def test_get_unknown_user_answers_404_rest_error(fakes):
    response = confluence(fakes, "GET", "/user", params={"username": "ghost"})

    assert response.status_code == 404
    assert response.json()["statusCode"] == 404 and response.json()["data"]["errors"] == []


def test_update_user_answers_204_and_changes_the_profile(fakes):
    fakes.confluence.add_user("frank", "Frank", "frank@example.com")

    response = confluence(fakes, "PUT", "/admin/user/frank", json={"fullName": "Franklin", "email": "f@example.com"})

    assert response.status_code == 204 and response.content == b""
    assert (fakes.confluence.user("frank").display_name, fakes.confluence.user("frank").email) == (
        "Franklin",
        "f@example.com",
    )


def test_update_unknown_user_or_bad_email_is_refused(fakes):
    fakes.confluence.add_user("frank")

    assert confluence(fakes, "PUT", "/admin/user/ghost", json={"fullName": "G"}).status_code == 404
    assert confluence(fakes, "PUT", "/admin/user/frank", json={"email": "nope"}).status_code == 400


def test_disable_and_enable_are_idempotent(fakes):
    fakes.confluence.add_user("gina")

    assert confluence(fakes, "PUT", "/admin/user/gina/disable").status_code == 204
    assert confluence(fakes, "PUT", "/admin/user/gina/disable").status_code == 204
    assert fakes.confluence.user("gina").active is False
    assert confluence(fakes, "PUT", "/admin/user/gina/enable").status_code == 204
    assert fakes.confluence.user("gina").active is True
    assert confluence(fakes, "PUT", "/admin/user/ghost/enable").status_code == 404


def test_disabling_yourself_is_refused(fakes):
    assert confluence(fakes, "PUT", "/admin/user/admin/disable").status_code == 403
    assert fakes.confluence.user("admin").active is True


def test_delete_answers_202_with_a_long_task_to_poll(fakes):
    fakes.confluence.add_user("henry", groups=["team-a"])
    fakes.confluence.long_task_polls = 1

    response = confluence(fakes, "DELETE", "/admin/user/henry")

    assert response.status_code == 202
    status_url = response.json()["links"]["status"]
    assert response.headers["Location"] == status_url
    running = requests.get(status_url, auth=ADMIN, timeout=10).json()
    done = requests.get(status_url, auth=ADMIN, timeout=10).json()
    assert (running["finished"], running["successful"], running["percentageComplete"]) == (False, False, 50)
    assert (done["finished"], done["successful"], done["percentageComplete"]) == (True, True, 100)
    assert fakes.confluence.user("henry") is None and fakes.confluence.members("team-a") == []
    assert confluence(fakes, "DELETE", "/admin/user/henry").status_code == 404


def test_unknown_long_task_answers_404(fakes):
    assert confluence(fakes, "GET", "/longtask/9").status_code == 404


def test_long_task_list_pages_the_tasks(fakes):
    fakes.confluence.add_user("ivan")
    confluence(fakes, "DELETE", "/admin/user/ivan")

    body = confluence(fakes, "GET", "/longtask").json()

    assert body["size"] == 1 and body["results"][0]["name"]["key"] == "com.atlassian.confluence.user.delete"


def test_create_group_is_lower_cased_and_409_when_it_exists(fakes):
    first = confluence(fakes, "POST", "/admin/group", json={"name": "Developers"})
    again = confluence(fakes, "POST", "/admin/group", json={"name": "DEVELOPERS"})

    assert first.status_code == 200 and first.json()["name"] == "developers"
    assert again.status_code == 409
    assert confluence(fakes, "POST", "/admin/group", json={}).status_code == 400


def test_delete_group_answers_204_and_404_and_keeps_the_admin_group(fakes):
    fakes.confluence.add_group("doomed")

    assert confluence(fakes, "DELETE", "/admin/group/doomed").status_code == 204
    assert confluence(fakes, "DELETE", "/admin/group/doomed").status_code == 404
    assert confluence(fakes, "DELETE", "/admin/group/confluence-administrators").status_code == 400


def test_groups_are_paged_with_a_next_link(fakes):
    for n in range(3):
        fakes.confluence.add_group(f"g{n}")

    body = confluence(fakes, "GET", "/group", params={"limit": 2}).json()
    rest = confluence(fakes, "GET", "/group", params={"limit": 2, "start": 2}).json()

    assert [g["name"] for g in body["results"]] == ["confluence-administrators", "confluence-users"]
    assert body["_links"]["next"] == "/rest/api/group?limit=2&start=2"
    assert [g["name"] for g in rest["results"]] == ["g0", "g1"]
    assert "next" in rest["_links"]


def test_get_group_and_unknown_group(fakes):
    fakes.confluence.add_group("team-a")

    assert confluence(fakes, "GET", "/group/TEAM-A").json()["name"] == "team-a"
    assert confluence(fakes, "GET", "/group/nope").status_code == 404


def test_membership_put_and_delete_are_idempotent(fakes):
    fakes.confluence.add_user("jack")
    fakes.confluence.add_group("team-a")

    assert confluence(fakes, "PUT", "/user/jack/group/team-a").status_code == 204
    assert confluence(fakes, "PUT", "/user/jack/group/team-a").status_code == 204
    assert fakes.confluence.members("team-a") == ["jack"]
    assert confluence(fakes, "DELETE", "/user/jack/group/team-a").status_code == 204
    assert confluence(fakes, "DELETE", "/user/jack/group/team-a").status_code == 204
    assert fakes.confluence.members("team-a") == []


def test_membership_of_unknown_user_or_group_answers_404(fakes):
    fakes.confluence.add_user("jack")
    fakes.confluence.add_group("team-a")

    assert confluence(fakes, "PUT", "/user/ghost/group/team-a").status_code == 404
    assert confluence(fakes, "PUT", "/user/jack/group/nope").status_code == 404
    assert confluence(fakes, "DELETE", "/user/jack/group/nope").status_code == 404


def test_group_members_and_user_groups_are_paged(fakes):
    for n in range(5):
        fakes.confluence.add_user(f"m{n}", groups=["team-a"])
    fakes.confluence.add_member("team-b", "m0")

    members = confluence(fakes, "GET", "/group/team-a/member", params={"limit": 3}).json()
    groups = confluence(fakes, "GET", "/user/memberof", params={"username": "m0"}).json()

    assert [p["username"] for p in members["results"]] == ["m0", "m1", "m2"] and members["totalCount"] == 5
    assert [g["name"] for g in groups["results"]] == ["team-a", "team-b"]
    assert confluence(fakes, "GET", "/group/nope/member").status_code == 404
    assert confluence(fakes, "GET", "/user/memberof", params={"username": "ghost"}).status_code == 404


def test_user_list_includes_deactivated_users_and_active_list_does_not(fakes):
    fakes.confluence.add_user("kate")
    fakes.confluence.add_user("liam", active=False)

    everyone = confluence(fakes, "GET", "/user/list", params={"expand": "status"}).json()
    active = confluence(fakes, "GET", "/admin/users/list/active").json()

    assert [(p["username"], p["status"]) for p in everyone["results"]] == [
        ("admin", "active"),
        ("kate", "active"),
        ("liam", "deactivated"),
    ]
    assert [p["username"] for p in active["results"]] == ["admin", "kate"]


def test_current_user_and_server_information(fakes):
    assert confluence(fakes, "GET", "/user/current").json()["username"] == "admin"
    info = confluence(fakes, "GET", "/server-information").json()
    assert info["version"] == "9.2.3" and info["baseUrl"] == fakes.base_url("confluence")


def test_non_admin_cannot_administer_but_can_read(fakes):
    fakes.confluence.add_user("olga", password="pw")
    fakes.confluence.add_group("team-a")

    assert confluence(fakes, "GET", "/user", params={"username": "admin"}, auth=("olga", "pw")).status_code == 200
    refused = confluence(fakes, "PUT", "/user/olga/group/team-a", auth=("olga", "pw"))
    assert refused.status_code == 403
    assert refused.json()["data"]["authorized"] is False
    assert confluence(fakes, "GET", "/group/team-a/member", auth=("olga", "pw")).status_code == 403


def test_wrong_password_and_no_credentials(fakes):
    wrong = confluence(fakes, "GET", "/user/current", auth=("admin", "nope"))
    anonymous = confluence(fakes, "GET", "/user/current", auth=None)

    assert wrong.status_code == 401 and wrong.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert anonymous.status_code == 401 and anonymous.json()["statusCode"] == 401


def test_personal_access_token_as_bearer(fakes):
    response = confluence(
        fakes, "POST", "/admin/group", auth=None, headers={"Authorization": "Bearer conf-admin-pat"}, json={"name": "x"}
    )
    assert response.status_code == 200


def test_spaces_list_and_their_permissions_name_users_by_key(fakes):
    # docs/products.md §3.14
    fake = fakes.confluence
    alice = fake.add_user("alice", "Alice", "alice@example.com")
    fake.add_space("DOCS", admins=("alice",), admin_groups=("confluence-administrators",))
    fake.add_space("~alice", admins=("alice",), kind="personal")

    listed = confluence(fakes, "GET", "/space", params={"type": "global"}).json()
    assert [s["key"] for s in listed["results"]] == ["DOCS"]
    granted = confluence(fakes, "GET", "/space/DOCS/permissions").json()
    assert {(e["operation"]["operationKey"], tuple(sorted(e["subject"].items()))) for e in granted} == {
        ("read", (("type", "user"), ("userKey", alice.key))),
        ("administer", (("type", "user"), ("userKey", alice.key))),
        ("read", (("name", "confluence-administrators"), ("type", "group"))),
        ("administer", (("name", "confluence-administrators"), ("type", "group"))),
    }
    assert confluence(fakes, "GET", "/space/NOPE/permissions").status_code == 404
    assert fake.space_admins()["DOCS"] == ["group:confluence-administrators", "user:alice"]
