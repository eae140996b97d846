"""The fake Bitbucket over real HTTP: every resource's success and error answers (docs/products.md §4).

Every response given here is checked against Bitbucket's OpenAPI document when the fixture closes.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.fake_products import checked_fakes

ADMIN = ("admin", "admin")
NO_CHECK = {"X-Atlassian-Token": "no-check"}
TOKEN = "bb-admin-pat"


@pytest.fixture
def fakes():
    with checked_fakes(tokens={"bitbucket": TOKEN}) as running:
        yield running


def bitbucket(fakes, method: str, path: str, *, api: str = "latest", **options) -> requests.Response:
    options.setdefault("auth", ADMIN)
    if method == "POST" and "json" not in options:
        options.setdefault("headers", NO_CHECK)
    return requests.request(method, f"{fakes.base_url('bitbucket')}/rest/api/{api}{path}", timeout=10, **options)


def create(fakes, name: str, **params) -> requests.Response:
    query = {
        "name": name,
        "displayName": name.title(),
        "emailAddress": f"{name}@example.com",
        "password": "pw",
        **params,
    }
    return bitbucket(fakes, "POST", "/admin/users", params=query)


def errors(response: requests.Response) -> list[dict]:
    return response.json()["errors"]


def test_create_user_takes_query_parameters_and_answers_204(fakes):
    response = create(fakes, "alice")

    assert response.status_code == 204 and response.content == b""
    assert fakes.bitbucket.user("alice").email == "alice@example.com"
    assert fakes.bitbucket.groups_of("alice") == ["stash-users"]
    assert fakes.bitbucket.is_licensed("alice")


def test_create_user_without_the_xsrf_header_is_refused(fakes):
    query = {"name": "bob", "displayName": "Bob", "emailAddress": "b@example.com", "password": "pw"}

    bare = bitbucket(fakes, "POST", "/admin/users", params=query, headers={})
    with_json_type = bitbucket(
        fakes, "POST", "/admin/users", params=query, headers={"Content-Type": "application/json"}
    )

    assert bare.status_code == 403 and bare.text == "XSRF check failed"
    assert with_json_type.status_code == 204


def test_create_user_without_default_group_is_not_licensed(fakes):
    assert create(fakes, "carol", addToDefaultGroup="false").status_code == 204
    assert fakes.bitbucket.groups_of("carol") == [] and not fakes.bitbucket.is_licensed("carol")


def test_create_existing_user_answers_409(fakes):
    create(fakes, "dave")
    response = create(fakes, "DAVE")

    assert response.status_code == 409
    assert errors(response)[0]["message"] == "Another user with the same name already exists."


def test_create_user_names_each_missing_parameter(fakes):
    response = bitbucket(fakes, "POST", "/admin/users", params={"name": "erin"})

    assert response.status_code == 400
    assert {e["context"] for e in errors(response)} == {"displayName", "emailAddress"}


def test_create_user_needs_a_password_unless_notify(fakes):
    query = {"name": "erin", "displayName": "Erin", "emailAddress": "e@example.com"}

    assert bitbucket(fakes, "POST", "/admin/users", params=query).status_code == 400
    assert bitbucket(fakes, "POST", "/admin/users", params={**query, "notify": "true"}).status_code == 204


def test_create_user_beyond_the_licence_answers_403(fakes):
    fakes.bitbucket.licence_limit = 1  # the admin is licensed through SYS_ADMIN already

    response = create(fakes, "frank")

    assert response.status_code == 403
    assert "license limit" in errors(response)[0]["message"]
    assert fakes.bitbucket.user("frank") is None
    assert create(fakes, "frank", addToDefaultGroup="false").status_code == 204


def test_user_by_slug_differs_from_the_name(fakes):
    fakes.bitbucket.add_user("John.Doe@Example.com", "John Doe", "john@example.com")

    response = bitbucket(fakes, "GET", "/users/john.doe_example.com")

    assert response.status_code == 200
    assert response.json()["name"] == "John.Doe@Example.com" and response.json()["slug"] == "john.doe_example.com"
    assert bitbucket(fakes, "GET", "/users/nobody").status_code == 404


def test_admin_user_list_filters_on_email_and_pages(fakes):
    for n in range(4):
        fakes.bitbucket.add_user(f"u{n}", f"User {n}", f"u{n}@corp.example")

    first = bitbucket(fakes, "GET", "/admin/users", params={"filter": "corp.example", "limit": 3}).json()
    rest = bitbucket(fakes, "GET", "/admin/users", params={"filter": "corp.example", "start": 3}).json()

    assert [u["name"] for u in first["values"]] == ["u0", "u1", "u2"]
    assert first["isLastPage"] is False and first["nextPageStart"] == 3
    assert [u["name"] for u in rest["values"]] == ["u3"] and rest["isLastPage"] is True
    assert first["values"][0]["directoryName"] == "Bitbucket Internal Directory"


def test_update_user_answers_the_detailed_user(fakes):
    fakes.bitbucket.add_user("gina")

    response = bitbucket(
        fakes, "PUT", "/admin/users", json={"name": "gina", "displayName": "Gina G", "email": "g@e.com"}
    )

    assert response.status_code == 200
    assert response.json()["displayName"] == "Gina G" and response.json()["emailAddress"] == "g@e.com"
    assert bitbucket(fakes, "PUT", "/admin/users", json={"name": "ghost", "displayName": "G"}).status_code == 404


def test_rename_moves_permissions_and_memberships(fakes):
    fakes.bitbucket.add_user("henry", groups=["team-a"])
    bitbucket(fakes, "PUT", "/admin/permissions/users", params={"name": "henry", "permission": "PROJECT_CREATE"})

    response = bitbucket(fakes, "POST", "/admin/users/rename", json={"name": "henry", "newName": "hank"})

    assert response.status_code == 200 and response.json()["name"] == "hank"
    assert fakes.bitbucket.permission_of("hank") == "PROJECT_CREATE"
    assert fakes.bitbucket.members("team-a") == ["hank"]


def test_rename_onto_a_taken_name_or_unknown_user_is_refused(fakes):
    fakes.bitbucket.add_user("ivan")
    fakes.bitbucket.add_user("ivy")

    assert bitbucket(fakes, "POST", "/admin/users/rename", json={"name": "ivan", "newName": "IVY"}).status_code == 400
    assert bitbucket(fakes, "POST", "/admin/users/rename", json={"name": "ghost", "newName": "x"}).status_code == 404


def test_delete_user_answers_the_deleted_user(fakes):
    fakes.bitbucket.add_user("jack", groups=["team-a"])

    response = bitbucket(fakes, "DELETE", "/admin/users", params={"name": "jack"})

    assert response.status_code == 200 and response.json()["name"] == "jack"
    assert fakes.bitbucket.user("jack") is None and fakes.bitbucket.members("team-a") == []
    assert bitbucket(fakes, "DELETE", "/admin/users", params={"name": "jack"}).status_code == 404


def test_delete_yourself_or_a_higher_user_is_refused(fakes):
    fakes.bitbucket.add_user("kate", password="pw")
    bitbucket(fakes, "PUT", "/admin/permissions/users", params={"name": "kate", "permission": "ADMIN"})

    assert bitbucket(fakes, "DELETE", "/admin/users", params={"name": "admin"}).status_code == 409
    higher = bitbucket(fakes, "DELETE", "/admin/users", params={"name": "admin"}, auth=("kate", "pw"))
    assert higher.status_code == 403


def test_set_password(fakes):
    fakes.bitbucket.add_user("liam", password="old")
    body = {"name": "liam", "password": "new", "passwordConfirm": "new"}

    assert bitbucket(fakes, "PUT", "/admin/users/credentials", json=body).status_code == 204
    assert bitbucket(fakes, "GET", "/users/liam", auth=("liam", "new")).status_code == 200
    mismatch = {**body, "passwordConfirm": "other"}
    assert bitbucket(fakes, "PUT", "/admin/users/credentials", json=mismatch).status_code == 400


def test_groups_create_409_list_and_delete_404(fakes):
    assert bitbucket(fakes, "POST", "/admin/groups", params={"name": "devs"}).json() == {
        "name": "devs",
        "deletable": True,
    }
    assert bitbucket(fakes, "POST", "/admin/groups", params={"name": "DEVS"}).status_code == 409

    listed = bitbucket(fakes, "GET", "/admin/groups", params={"filter": "dev"}).json()
    assert [g["name"] for g in listed["values"]] == ["devs"]

    assert bitbucket(fakes, "DELETE", "/admin/groups", params={"name": "devs"}).json()["name"] == "devs"
    assert bitbucket(fakes, "DELETE", "/admin/groups", params={"name": "devs"}).status_code == 404


def test_deleting_the_group_that_makes_you_admin_is_refused(fakes):
    fakes.bitbucket.add_user("mia", password="pw", groups=["admins"])
    bitbucket(fakes, "PUT", "/admin/permissions/groups", params={"name": "admins", "permission": "ADMIN"})

    response = bitbucket(fakes, "DELETE", "/admin/groups", params={"name": "admins"}, auth=("mia", "pw"))

    assert response.status_code == 409
    assert fakes.bitbucket.members("admins") == ["mia"]


def test_deleting_a_group_above_your_permission_is_refused(fakes):
    fakes.bitbucket.add_user("max", password="pw")
    fakes.bitbucket.add_group("sysadmins")
    bitbucket(fakes, "PUT", "/admin/permissions/users", params={"name": "max", "permission": "ADMIN"})
    bitbucket(fakes, "PUT", "/admin/permissions/groups", params={"name": "sysadmins", "permission": "SYS_ADMIN"})

    response = bitbucket(fakes, "DELETE", "/admin/groups", params={"name": "sysadmins"}, auth=("max", "pw"))

    assert response.status_code == 403
    assert fakes.bitbucket.directory.group("sysadmins") == "sysadmins"


def test_add_user_to_groups_adds_to_all_or_none(fakes):
    fakes.bitbucket.add_user("nina")
    fakes.bitbucket.add_group("g1")
    fakes.bitbucket.add_group("g2")

    missing = bitbucket(fakes, "POST", "/admin/users/add-groups", json={"user": "nina", "groups": ["g1", "nope"]})
    assert missing.status_code == 404 and fakes.bitbucket.groups_of("nina") == []

    added = bitbucket(fakes, "POST", "/admin/users/add-groups", json={"user": "nina", "groups": ["g1", "g2"]})
    again = bitbucket(fakes, "POST", "/admin/users/add-groups", json={"user": "nina", "groups": ["g1"]})
    assert added.status_code == again.status_code == 200 and added.content == b""
    assert fakes.bitbucket.groups_of("nina") == ["g1", "g2"]


def test_add_users_to_group(fakes):
    fakes.bitbucket.add_user("olga")
    fakes.bitbucket.add_user("pete")
    fakes.bitbucket.add_group("g1")

    response = bitbucket(fakes, "POST", "/admin/groups/add-users", json={"group": "g1", "users": ["olga", "pete"]})

    assert response.status_code == 200
    assert fakes.bitbucket.members("g1") == ["olga", "pete"]
    unknown = bitbucket(fakes, "POST", "/admin/groups/add-users", json={"group": "g1", "users": ["ghost"]})
    assert unknown.status_code == 404


def test_adding_a_licensing_group_beyond_the_licence_answers_403(fakes):
    fakes.bitbucket.add_user("quinn")
    fakes.bitbucket.licence_limit = 1

    response = bitbucket(fakes, "POST", "/admin/users/add-groups", json={"user": "quinn", "groups": ["stash-users"]})

    assert response.status_code == 403 and fakes.bitbucket.groups_of("quinn") == []


def test_remove_group_and_remove_user_use_reversed_context(fakes):
    fakes.bitbucket.add_user("rosa", groups=["g1", "g2"])

    by_user = bitbucket(fakes, "POST", "/admin/users/remove-group", json={"context": "rosa", "itemName": "g1"})
    by_group = bitbucket(fakes, "POST", "/admin/groups/remove-user", json={"context": "g2", "itemName": "rosa"})

    assert by_user.status_code == by_group.status_code == 200
    assert fakes.bitbucket.groups_of("rosa") == []
    ghost = bitbucket(fakes, "POST", "/admin/users/remove-group", json={"context": "ghost", "itemName": "g1"})
    assert ghost.status_code == 404


def test_more_members_list_a_groups_users_and_a_users_groups(fakes):
    for name in ("sam", "sara", "tom"):
        fakes.bitbucket.add_user(name, groups=["team"])
    fakes.bitbucket.add_member("other", "sam")

    users = bitbucket(fakes, "GET", "/admin/groups/more-members", params={"context": "team", "filter": "sa"}).json()
    groups = bitbucket(fakes, "GET", "/admin/users/more-members", params={"context": "sam"}).json()
    nothing = bitbucket(fakes, "GET", "/admin/users/more-members", params={"context": "ghost"}).json()

    assert [u["name"] for u in users["values"]] == ["sam", "sara"]
    assert [g["name"] for g in groups["values"]] == ["other", "team"]
    assert nothing["values"] == [] and nothing["isLastPage"] is True


def test_global_permissions_license_and_revoke(fakes):
    fakes.bitbucket.add_user("uma")

    granted = bitbucket(fakes, "PUT", "/admin/permissions/users", params={"name": "uma", "permission": "LICENSED_USER"})
    assert granted.status_code == 204 and fakes.bitbucket.is_licensed("uma")
    listed = bitbucket(fakes, "GET", "/admin/permissions/users", params={"filter": "uma"}).json()
    assert [(v["user"]["name"], v["permission"]) for v in listed["values"]] == [("uma", "LICENSED_USER")]

    assert bitbucket(fakes, "DELETE", "/admin/permissions/users", params={"name": "uma"}).status_code == 204
    assert not fakes.bitbucket.is_licensed("uma")
    bad = bitbucket(fakes, "PUT", "/admin/permissions/users", params={"name": "uma", "permission": "KING"})
    assert bad.status_code == 400


def test_group_permissions(fakes):
    fakes.bitbucket.add_user("vic", groups=["readers"])

    bitbucket(fakes, "PUT", "/admin/permissions/groups", params={"name": "readers", "permission": "LICENSED_USER"})
    listed = bitbucket(fakes, "GET", "/admin/permissions/groups").json()

    assert ("readers", "LICENSED_USER") in [(v["group"]["name"], v["permission"]) for v in listed["values"]]
    assert fakes.bitbucket.is_licensed("vic")
    assert bitbucket(fakes, "DELETE", "/admin/permissions/groups", params={"name": "readers"}).status_code == 204
    assert not fakes.bitbucket.is_licensed("vic")


def test_user_directories_and_application_properties(fakes):
    fakes.bitbucket.add_user("ldap.user", directory="Corporate LDAP")

    directories = bitbucket(fakes, "GET", "/admin/user-directories").json()
    properties = bitbucket(fakes, "GET", "/application-properties", auth=None).json()

    assert [d["name"] for d in directories] == ["Bitbucket Internal Directory", "Corporate LDAP"]
    assert properties["version"] == "9.4.3" and properties["displayName"] == "Bitbucket"


def test_personal_access_tokens_cannot_call_admin_resources(fakes):
    bearer = bitbucket(
        fakes,
        "POST",
        "/admin/groups",
        params={"name": "x"},
        auth=None,
        headers={**NO_CHECK, "Authorization": f"Bearer {TOKEN}"},
    )
    as_password = bitbucket(fakes, "POST", "/admin/groups", params={"name": "x"}, auth=("admin", TOKEN))
    reading = bitbucket(fakes, "GET", "/users/admin", auth=None, headers={"Authorization": f"Bearer {TOKEN}"})

    assert bearer.status_code == as_password.status_code == 401
    assert "tokens may not have the following permission: ADMIN" in errors(bearer)[0]["message"]
    assert errors(bearer)[0]["exceptionName"] == "com.atlassian.bitbucket.AuthorisationException"
    assert reading.status_code == 200
    assert fakes.bitbucket.directory.group("x") is None


def test_non_admin_gets_401_and_wrong_password_gets_401(fakes):
    fakes.bitbucket.add_user("walt", password="pw")

    not_admin = bitbucket(fakes, "POST", "/admin/groups", params={"name": "x"}, auth=("walt", "pw"))
    wrong = bitbucket(fakes, "GET", "/admin/users", auth=("admin", "nope"))

    assert not_admin.status_code == 401
    assert errors(not_admin)[0]["message"] == "You are not permitted to access this resource"
    assert wrong.status_code == 401
    assert errors(wrong)[0]["exceptionName"] == "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"


def test_api_1_0_and_latest_are_the_same_resources_and_count_as_one(fakes):
    assert create(fakes, "xena").status_code == 204
    assert (
        bitbucket(
            fakes,
            "POST",
            "/admin/users",
            api="1.0",
            params={"name": "yuri", "displayName": "Y", "emailAddress": "y@e.com", "password": "p"},
        ).status_code
        == 204
    )

    assert fakes.bitbucket.calls.applied("POST", "/rest/api/latest/admin/users") == 2
    assert bitbucket(fakes, "GET", "/users/yuri", api="1.0").status_code == 200


def test_the_licence_tells_its_user_limit_and_the_licensed_users_counted(fakes):
    # docs/products.md §4.14
    assert bitbucket(fakes, "GET", "/admin/license").json()["unlimitedNumberOfUsers"] is True
    fakes.bitbucket.licence_limit = 3
    create(fakes, "ann")
    create(fakes, "bob", addToDefaultGroup="false")  # unlicensed: not counted

    body = bitbucket(fakes, "GET", "/admin/license").json()

    assert (body["maximumNumberOfUsers"], body["unlimitedNumberOfUsers"]) == (3, False)
    assert body["status"]["currentNumberOfUsers"] == 2  # the administrator and ann
    assert bitbucket(fakes, "GET", "/admin/license", api="1.0").json() == body


def test_projects_repositories_and_their_permitted_users_and_groups(fakes):
    # docs/products.md §4.15
    fake = fakes.bitbucket
    fake.add_user("alice", "Alice", "alice@example.com")
    fake.add_user("carol", "Carol", "carol@example.com")
    fake.add_group("leads")
    fake.add_project("PRJ", admins=("carol",), admin_groups=("leads",))
    fake.add_repository("PRJ", "app", admins=("alice",), writers=("carol",))

    assert [p["key"] for p in bitbucket(fakes, "GET", "/projects").json()["values"]] == ["PRJ"]
    assert [(r["project"]["key"], r["slug"]) for r in bitbucket(fakes, "GET", "/repos").json()["values"]] == \
        [("PRJ", "app")]
    users = bitbucket(fakes, "GET", "/projects/PRJ/repos/app/permissions/users").json()["values"]
    assert [(u["user"]["name"], u["permission"]) for u in users] == [("alice", "REPO_ADMIN"), ("carol", "REPO_WRITE")]
    groups = bitbucket(fakes, "GET", "/projects/PRJ/permissions/groups").json()["values"]
    assert [(g["group"]["name"], g["permission"]) for g in groups] == [("leads", "PROJECT_ADMIN")]
    assert bitbucket(fakes, "GET", "/projects/NOPE/permissions/users").status_code == 404

    # Revoking the licence leaves them; deleting the user drops the user's (docs/products.md §4.7).
    assert bitbucket(fakes, "DELETE", "/admin/permissions/users", params={"name": "alice"}).status_code == 204
    assert fake.resource_permissions()["PRJ/app"] == {"user:alice": "REPO_ADMIN", "user:carol": "REPO_WRITE"}
    assert bitbucket(fakes, "DELETE", "/admin/users", params={"name": "alice"}).status_code == 200
    assert fake.resource_permissions()["PRJ/app"] == {"user:carol": "REPO_WRITE"}
