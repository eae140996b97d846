"""Failures become errors that name the target and say what to fix; no secret ever shows."""

from __future__ import annotations

import logging

import pytest
import responses

from atlassian_clients import (
    AuthFailed,
    HttpSettings,
    NotFound,
    PermissionDenied,
    Rejected,
    TokenAuth,
    Unavailable,
    WrongEndpoint,
)
from tests.client_harness import SERVICE_PASSWORD, client_for, clock, refused, rsps

__all__ = ["client_for", "clock", "rsps"]

JIRA = "http://atlassian.test/jira/rest/api/2"
BITBUCKET = "http://atlassian.test/bitbucket/rest/api/latest"
SHORT = HttpSettings(deadline=3, backoff_initial=0.5, backoff_max=1, rate=1000, burst=1000)
NOT_PERMITTED = "com.atlassian.bitbucket.AuthorisationException"


def bitbucket_error(message: str, exception: str) -> dict:
    """Bitbucket's error body (docs/products.md §4.13)."""
    return {"errors": [{"message": message, "exceptionName": exception}]}


def test_wrong_credentials_name_the_target_and_what_to_fix(client_for, rsps):
    client, _ = client_for("jira")
    # Seraph answers a bad Basic login with its HTML error page, before any REST resource.
    rsps.add(
        responses.GET,
        f"{JIRA}/user",
        status=401,
        body="<html>Basic Authentication Failure</html>",
        content_type="text/html",
        headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
    )

    with pytest.raises(AuthFailed) as caught:
        client.get_user("jdoe")

    error = caught.value
    assert not isinstance(error, PermissionDenied)
    assert error.target == "jira-test" and error.status == 401
    assert str(error) == (
        "target 'jira-test': Jira refused the credentials (HTTP 401) for GET /rest/api/2/user: check the user "
        "name and password, or the personal access token, configured for this target"
    )


def test_missing_permission_names_the_permission_needed(client_for, rsps):
    client, _ = client_for("jira")
    rsps.add(
        responses.DELETE,
        f"{JIRA}/user",
        status=403,
        json={
            "errorMessages": ["You do not have the permission to delete users."],
            "errors": {},
        },
    )

    with pytest.raises(PermissionDenied) as caught:
        client.delete_user("jdoe")

    text = str(caught.value)
    assert text.startswith("target 'jira-test': Jira denied DELETE /rest/api/2/user (HTTP 403): ")
    assert "needs the Jira Administrators global permission" in text
    assert "(the product said: You do not have the permission to delete users.)" in text


def test_bitbucket_403_explains_that_tokens_cannot_administer(client_for, rsps):
    client, _ = client_for("bitbucket", auth=TokenAuth("bbtoken-123"))
    rsps.add(
        responses.DELETE,
        f"{BITBUCKET}/admin/users",
        status=403,
        json=bitbucket_error("Tokens may not have the following permission: ADMIN", NOT_PERMITTED),
    )

    with pytest.raises(PermissionDenied, match="personal access tokens cannot call admin endpoints") as caught:
        client.delete_user("jdoe")
    assert "bbtoken-123" not in str(caught.value)


def test_bitbucket_401_for_a_missing_permission_is_not_a_credentials_problem(client_for, rsps):
    client, _ = client_for("bitbucket")
    # Bitbucket answers 401, not 403, to an authenticated caller without the permission.
    rsps.add(
        responses.POST,
        f"{BITBUCKET}/admin/groups",
        status=401,
        json=bitbucket_error("You are not permitted to access this resource", NOT_PERMITTED),
    )

    with pytest.raises(PermissionDenied, match="needs the ADMIN global permission"):
        client.create_group("devs")


def test_bitbucket_401_for_bad_credentials_is_a_credentials_problem(client_for, rsps):
    client, _ = client_for("bitbucket")
    rsps.add(
        responses.POST,
        f"{BITBUCKET}/admin/groups",
        status=401,
        json=bitbucket_error(
            "Authentication failed. Please check your credentials and try again.",
            "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
        ),
    )

    with pytest.raises(AuthFailed, match="refused the credentials") as caught:
        client.create_group("devs")
    assert not isinstance(caught.value, PermissionDenied)


def test_a_stripped_xsrf_header_is_named(client_for, rsps):
    client, _ = client_for("bitbucket")
    rsps.add(
        responses.POST,
        f"{BITBUCKET}/admin/groups",
        status=403,
        body="XSRF check failed",
        content_type="text/plain;charset=UTF-8",
    )
    # A refused create looks whether the group exists after all; it does not.
    rsps.add(
        responses.GET,
        f"{BITBUCKET}/admin/groups",
        json={"size": 0, "limit": 100, "isLastPage": True, "start": 0, "values": []},
        content_type="application/json;charset=UTF-8",
    )

    with pytest.raises(Rejected, match="drops the X-Atlassian-Token header") as caught:
        client.create_group("devs")
    assert not isinstance(caught.value, AuthFailed)


def test_basic_auth_disabled_asks_for_a_token(client_for, rsps):
    client, _ = client_for("jira")
    rsps.add(
        responses.GET,
        f"{JIRA}/user",
        status=403,
        json={"message": "Basic Authentication has been disabled on this instance."},
    )

    with pytest.raises(AuthFailed, match="configure a personal access token") as caught:
        client.get_user("jdoe")
    assert not isinstance(caught.value, PermissionDenied)


def test_a_personal_access_token_is_sent_as_bearer(client_for, rsps):
    client, wire = client_for("confluence", auth=TokenAuth("pat-abc"))
    rsps.add(
        responses.GET,
        "http://atlassian.test/confluence/rest/api/user",
        json={
            "type": "known",
            "username": "jdoe",
            "userKey": "k",
            "displayName": "J",
        },
    )

    client.get_user("jdoe")

    assert wire.exchanges[0][0].headers["Authorization"] == "Bearer pat-abc"


def test_nothing_listening_at_base_url_says_to_check_it(client_for, rsps, clock):
    client, wire = client_for("jira", http=SHORT, base_url="http://wrong-host.test/jira")
    rsps.add(responses.GET, "http://wrong-host.test/jira/rest/api/2/user", body=refused("http://wrong-host.test"))

    with pytest.raises(Unavailable) as caught:
        client.get_user("jdoe")

    text = str(caught.value)
    assert text.startswith("target 'jira-test': gave up after ")
    assert (
        "could not connect for GET http://wrong-host.test/jira/rest/api/2/user: check the target's url and that "
        "Jira is up" in text
    )
    assert sum(clock.sleeps) <= 3 and len(wire.sent()) >= 2


def test_a_missing_context_path_is_a_wrong_endpoint_not_an_absent_user(client_for, rsps):
    client, _ = client_for("jira", base_url="http://atlassian.test", checked=False)
    rsps.add(
        responses.DELETE,
        "http://atlassian.test/rest/api/2/user",
        status=404,
        body="<html><body>HTTP Status 404 – Not Found</body></html>",
        content_type="text/html",
    )

    # A delete that finds "nothing" at a wrong URL must not count as done.
    with pytest.raises(WrongEndpoint) as caught:
        client.delete_user("jdoe")

    assert not isinstance(caught.value, NotFound)
    assert str(caught.value) == (
        "target 'jira-test': http://atlassian.test/rest/api/2/user is not a Jira REST resource (HTTP 404 without a "
        "Jira error body): check the target's url, including the context path such as /jira"
    )


def test_an_html_page_where_json_was_expected_is_a_wrong_endpoint(client_for, rsps):
    client, _ = client_for("confluence", base_url="http://atlassian.test/wiki", checked=False)
    rsps.add(
        responses.GET,
        "http://atlassian.test/wiki/rest/api/server-information",
        body="<html>Welcome to our intranet</html>",
        content_type="text/html",
    )

    with pytest.raises(
        WrongEndpoint,
        match="instead of JSON: check that the target's url 'http://atlassian.test/wiki' points at Confluence",
    ):
        client.product_info()


def test_a_redirect_to_a_login_page_is_a_wrong_endpoint(client_for, rsps):
    client, _ = client_for("bitbucket", base_url="http://atlassian.test/bb", checked=False)
    rsps.add(
        responses.GET,
        "http://atlassian.test/bb/rest/api/latest/application-properties",
        status=302,
        headers={"Location": "https://sso.example.com/login"},
    )

    with pytest.raises(WrongEndpoint, match="redirected .* to https://sso.example.com/login: set the target.s url"):
        client.product_info()


def test_no_password_reaches_an_error_or_the_log(client_for, rsps, caplog):
    client, wire = client_for("bitbucket", http=SHORT)
    rsps.add(responses.POST, f"{BITBUCKET}/admin/users", body=refused(f"{BITBUCKET}/admin/users"))

    with caplog.at_level(logging.DEBUG), pytest.raises(Unavailable) as caught:
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com", password="real-secret-1")

    throwaway = wire.sent()[0].query["password"]
    shown = str(caught.value) + caplog.text
    for secret in (throwaway, "real-secret-1", SERVICE_PASSWORD):
        assert secret not in shown
    assert "?" not in str(caught.value)  # no query string at all


def test_no_password_shows_when_replacing_the_url_password_fails(client_for, rsps, caplog):
    client, wire = client_for("bitbucket", http=SHORT)
    rsps.add(responses.POST, f"{BITBUCKET}/admin/users", status=204)
    page = {"size": 1, "limit": 25, "isLastPage": True, "start": 0, "values": [{"name": "jdoe", "id": 7}]}
    rsps.add(responses.GET, f"{BITBUCKET}/admin/users", json=page, content_type="application/json;charset=UTF-8")
    rsps.add(responses.PUT, f"{BITBUCKET}/admin/users/credentials", status=503, body="down")

    with caplog.at_level(logging.DEBUG), pytest.raises(Unavailable) as caught:
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    sent = wire.sent()
    secrets = {sent[0].query["password"], SERVICE_PASSWORD} | {s.body["password"] for s in sent if s.method == "PUT"}
    shown = str(caught.value) + caplog.text
    assert len(secrets) == 3 and not any(secret in shown for secret in secrets)


def test_credentials_do_not_show_in_the_client_repr():
    from atlassian_clients import BasicAuth, build_client

    client = build_client("t", "jira", "http://h/jira", BasicAuth("svc", "pw-very-secret"))

    assert "pw-very-secret" not in repr(client) + repr(BasicAuth("svc", "pw-very-secret"))
    assert "tok-secret" not in repr(TokenAuth("tok-secret"))
