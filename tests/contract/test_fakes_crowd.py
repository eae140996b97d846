"""The fake Crowd over real HTTP: what sets it apart from the products' fakes (docs/products.md §5).

Every response given here is checked against the (converted, repaired) Crowd description when the
fixture closes.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.fake_products import checked_fakes

APPLICATION = ("admin", "admin")
NO_CHECK = {"X-Atlassian-Token": "no-check"}


@pytest.fixture
def fakes():
    with checked_fakes() as running:
        yield running


def crowd(fakes, method: str, path: str, **options) -> requests.Response:
    options.setdefault("auth", APPLICATION)
    if method != "GET":
        options.setdefault("headers", NO_CHECK)
    return requests.request(method, f"{fakes.base_url('crowd')}/rest/usermanagement/1{path}", timeout=10, **options)


def create(fakes, name: str, **fields) -> requests.Response:
    body = {"name": name, "password": {"value": "pw"}, "first-name": "Jane", "last-name": "Doe",
            "display-name": "Jane Doe", "email": f"{name}@example.com", **fields}
    return crowd(fakes, "POST", "/user", json=body)


def test_applications_authenticate_and_people_do_not(fakes):
    fakes.crowd.add_user("carol", password="carol-pw")

    assert crowd(fakes, "GET", "/user", params={"username": "admin"}).status_code == 200
    refused = crowd(fakes, "GET", "/user", params={"username": "admin"}, auth=("carol", "carol-pw"))
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="Crowd REST Service"'
    bearer = requests.get(f"{fakes.base_url('crowd')}/rest/usermanagement/1/user", params={"username": "admin"},
                          headers={"Authorization": "Bearer anything"}, timeout=10)
    assert bearer.status_code == 401


def test_a_read_only_application_may_read_but_not_change(fakes):
    fakes.crowd.add_application("reporting", "r-pw", may_change=False)

    assert crowd(fakes, "GET", "/search", params={"entity-type": "user"}, auth=("reporting", "r-pw")).ok
    refused = crowd(fakes, "POST", "/group", json={"name": "devs", "type": "GROUP"}, auth=("reporting", "r-pw"))
    assert refused.status_code == 403 and refused.json()["reason"] == "APPLICATION_PERMISSION_DENIED"
    assert fakes.crowd.directory.group("devs") is None


def test_create_needs_a_password_and_a_taken_name_is_400(fakes):
    assert create(fakes, "jdoe", password=None).json() == {"reason": "INVALID_USER",
                                                           "message": "The user must have a password"}
    created = create(fakes, "jdoe")
    assert created.status_code == 201 and created.headers["Location"].endswith("/user?username=jdoe")
    taken = create(fakes, "JDOE")
    assert (taken.status_code, taken.json()["reason"]) == (400, "INVALID_USER")


def test_put_replaces_the_whole_entity(fakes):
    create(fakes, "jdoe")

    assert crowd(fakes, "PUT", "/user", params={"username": "jdoe"},
                 json={"name": "jdoe", "display-name": "Jane Q. Doe"}).status_code == 204

    user = crowd(fakes, "GET", "/user", params={"username": "jdoe"}).json()
    assert (user["display-name"], user["email"], user["first-name"], user["active"]) == ("Jane Q. Doe", "", "", True)
    mismatch = crowd(fakes, "PUT", "/user", params={"username": "jdoe"}, json={"name": "other"})
    assert mismatch.status_code == 400


def test_memberships_answer_409_400_and_empty_lists_as_crowd_does(fakes):
    create(fakes, "jdoe")
    crowd(fakes, "POST", "/group", json={"name": "devs", "type": "GROUP", "description": "from Okta"})

    add = {"params": {"groupname": "devs"}, "json": {"name": "jdoe"}}
    assert crowd(fakes, "POST", "/group/user/direct", **add).status_code == 201
    assert crowd(fakes, "POST", "/group/user/direct", **add).json()["reason"] == "MEMBERSHIP_ALREADY_EXISTS"
    ghost = crowd(fakes, "POST", "/group/user/direct", params={"groupname": "devs"}, json={"name": "ghost"})
    assert (ghost.status_code, ghost.json()["reason"]) == (400, "USER_NOT_FOUND")
    groups = crowd(fakes, "GET", "/user/group/direct", params={"username": "jdoe"}).json()["groups"]
    assert [g["name"] for g in groups] == ["devs"]
    # CWD-4470: unknown users and groups list nothing rather than 404.
    assert crowd(fakes, "GET", "/user/group/direct", params={"username": "ghost"}).json()["groups"] == []
    assert crowd(fakes, "GET", "/group/user/direct", params={"groupname": "nope"}).json()["users"] == []
    assert crowd(fakes, "GET", "/group", params={"groupname": "devs"}).json()["description"] == "from Okta"


def test_search_reads_email_and_name_restrictions(fakes):
    create(fakes, "jane", email="Jane@Example.com")
    create(fakes, "janet", email="jane@example.com.au")

    def names(restriction: str) -> list[str]:
        answer = crowd(fakes, "GET", "/search", params={"entity-type": "user", "restriction": restriction})
        return [user["name"] for user in answer.json()["users"]]

    assert names('email = "jane@example.com"') == ["jane"]
    assert names('email = "jane@*"') == ["jane", "janet"]
    assert names("name = janet") == ["janet"]
    bad = crowd(fakes, "GET", "/search", params={"entity-type": "user", "restriction": "email ~ x"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "ILLEGAL_ARGUMENT")


def test_knobs_and_counters_work_as_for_the_products(fakes):
    knobs = requests.post(f"{fakes.url}/_fake/knobs/crowd",
                          json={"force": {"method": "POST", "path": "/rest/usermanagement/1/user", "status": 503}},
                          timeout=10)
    assert knobs.status_code == 200

    assert create(fakes, "jdoe").status_code == 503
    assert create(fakes, "jdoe").status_code == 201
    calls = requests.get(f"{fakes.url}/_fake/calls", timeout=10).json()["crowd"]
    assert calls == {"POST /rest/usermanagement/1/user": {"received": 2, "applied": 1}}
