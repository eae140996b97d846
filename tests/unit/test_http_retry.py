"""The retry policy: what is retried, how long it waits, when it gives up, and creates never doubled."""

from __future__ import annotations

import pytest
import requests
import responses

from atlassian_clients import HttpSettings, RateLimited, Unavailable
from tests.client_harness import client_for, clock, refused, rsps

__all__ = ["client_for", "clock", "rsps"]

JIRA = "http://atlassian.test/jira/rest/api/2"
BITBUCKET = "http://atlassian.test/bitbucket/rest/api/latest"
USER = {
    "name": "jdoe",
    "key": "JIRAUSER10100",
    "displayName": "Jane Doe",
    "emailAddress": "jdoe@example.com",
    "active": True,
}


@pytest.fixture
def jira(client_for):
    client, wire = client_for(
        "jira", http=HttpSettings(deadline=30, backoff_initial=0.5, backoff_max=8, rate=1000, burst=1000)
    )
    return client, wire


def test_every_attempt_carries_the_connect_and_read_timeouts(client_for, rsps):
    client, wire = client_for("jira", http=HttpSettings(connect_timeout=3, read_timeout=12))
    rsps.add(responses.GET, f"{JIRA}/user", body=requests.ReadTimeout("read timed out"))
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    client.get_user("jdoe")

    # Redirects are not followed: a redirect means base_url is wrong (e.g. to an SSO login page).
    assert wire.send_options == [{"timeout": (3, 12), "allow_redirects": False}] * 2


def test_429_waits_exactly_the_retry_after_seconds(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.GET, f"{JIRA}/user", status=429, headers={"Retry-After": "7"})
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    assert client.get_user("jdoe").key == "JIRAUSER10100"
    assert clock.sleeps == [7.0]
    assert len(wire.sent()) == 2


def test_429_retry_after_as_a_date_is_measured_against_the_answers_date(jira, rsps, clock):
    client, _ = jira
    rsps.add(
        responses.GET,
        f"{JIRA}/user",
        status=429,
        headers={
            "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            "Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT",
        },
    )
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    client.get_user("jdoe")

    assert clock.sleeps == [30.0]


def test_429_retry_after_date_without_a_date_header_uses_the_wall_clock(jira, rsps, clock):
    client, _ = jira
    clock.wall_offset = 1_792_567_660.0 - clock.now  # the wall clock reads 2026-10-21 07:27:40 UTC
    rsps.add(responses.GET, f"{JIRA}/user", status=429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    client.get_user("jdoe")

    assert clock.sleeps == [20.0]


def test_the_products_rate_limit_headers_pace_the_next_request(jira, rsps, clock):
    client, _ = jira
    # Jira sends retry-after 0 with tokens left; here none are left and the bucket refills 2 per 10 s.
    rsps.add(
        responses.GET,
        f"{JIRA}/user",
        status=429,
        headers={
            "Retry-After": "0",
            "X-RateLimit-Limit": "20",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-FillRate": "2",
            "X-RateLimit-Interval-Seconds": "10",
        },
    )
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    client.get_user("jdoe")

    # No wait asked, but the client-side bucket now paces at the product's 0.2 tokens/s: 5 s.
    assert clock.sleeps == [0.0, 5.0]


def test_503_then_success_backs_off_with_jitter_below_the_first_window(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.GET, f"{JIRA}/user", status=503, body="Service Unavailable")
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    assert client.get_user("jdoe") is not None
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= 0.5
    assert len(wire.sent()) == 2


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried(jira, rsps, status):
    client, _ = jira
    rsps.add(responses.GET, f"{JIRA}/user", status=status, body="Bad Gateway")
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    assert client.get_user("jdoe") is not None


def test_500_is_not_retried(jira, rsps, clock):
    client, wire = jira
    # Jira's createUser: 500 "the user was not created because of other error".
    rsps.add(
        responses.POST, f"{JIRA}/user", status=500, json={"errorMessages": ["Directory is read-only"], "errors": {}}
    )

    with pytest.raises(Unavailable) as caught:
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert caught.value.status == 500 and caught.value.product_message == "Directory is read-only"
    assert len(wire.sent()) == 1 and clock.sleeps == []


def test_a_connection_reset_is_retried_for_a_read(jira, rsps):
    client, wire = jira
    rsps.add(responses.GET, f"{JIRA}/user", body=requests.ConnectionError("Connection reset by peer"))
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    assert client.get_user("jdoe") is not None
    assert len(wire.sent()) == 2


def test_a_read_timeout_is_retried_for_a_read(jira, rsps):
    client, _ = jira
    rsps.add(responses.GET, f"{JIRA}/user", body=requests.ReadTimeout("read timed out"))
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    assert client.get_user("jdoe") is not None


def test_deadline_exhausted_gives_a_clear_unavailable(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.GET, f"{JIRA}/user", status=503, body="Service Unavailable")

    with pytest.raises(Unavailable) as caught:
        client.get_user("jdoe")

    error = caught.value
    assert not isinstance(error, RateLimited)
    assert error.target == "jira-test" and error.status == 503
    assert str(error).startswith("target 'jira-test': gave up after ")
    assert "within the 30 s deadline; last: Jira answered HTTP 503 to GET /rest/api/2/user" in str(error)
    assert sum(clock.sleeps) <= 30
    assert len(wire.sent()) == len(clock.sleeps) + 1 >= 3


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.GET, f"{JIRA}/user", status=429, headers={"Retry-After": "120"})

    with pytest.raises(RateLimited) as caught:
        client.get_user("jdoe")

    assert caught.value.retry_after == 120
    assert "asked to wait 120 s" in str(caught.value)
    assert clock.sleeps == [] and len(wire.sent()) == 1


def test_create_after_an_ambiguous_timeout_finds_the_account_and_does_not_post_again(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{JIRA}/user", body=requests.ReadTimeout("read timed out"))
    rsps.add(responses.GET, f"{JIRA}/user", json=USER)

    creation = client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert creation.created is True and creation.resource.key == "JIRAUSER10100"
    assert [s.method for s in wire.sent()] == ["POST", "GET", "GET"]


def test_create_after_an_ambiguous_reset_that_did_not_land_posts_again(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{JIRA}/user", body=requests.ConnectionError("Connection reset by peer"))
    rsps.add(responses.POST, f"{JIRA}/user", status=201, json={"name": "jdoe", "key": "JIRAUSER10100"})
    rsps.add(responses.GET, f"{JIRA}/user", status=404, json={"errorMessages": ["no jdoe"], "errors": {}})

    assert client.create_user("jdoe", "Jane Doe", "jdoe@example.com").created is True
    # POST, look (absent), POST again (whose 201 carries the account): never two POSTs without a look between.
    assert [s.method for s in wire.sent()] == ["POST", "GET", "POST"]


def test_bitbucket_create_after_a_502_is_looked_up_not_resent(client_for, rsps):
    client, wire = client_for("bitbucket")
    rsps.add(responses.POST, f"{BITBUCKET}/admin/users", status=502, body="Bad Gateway")
    page = {
        "size": 1,
        "limit": 100,
        "isLastPage": True,
        "start": 0,
        "values": [
            {
                "name": "jdoe",
                "id": 7,
                "displayName": "Jane",
                "emailAddress": "j@example.com",
                "active": True,
                "slug": "jdoe",
                "type": "NORMAL",
            },
        ],
    }
    rsps.add(responses.GET, f"{BITBUCKET}/admin/users", json=page, content_type="application/json;charset=UTF-8")
    rsps.add(responses.PUT, f"{BITBUCKET}/admin/users/credentials", status=204)

    assert client.create_user("jdoe", "Jane", "j@example.com").resource.key == "7"
    # The create found after the 502 is this one: its URL password is replaced as after a 204.
    assert [s.method for s in wire.sent()] == ["POST", "GET", "GET", "PUT"]


def test_create_refused_before_sending_is_retried_without_a_look(jira, rsps):
    client, wire = jira
    rsps.add(responses.POST, f"{JIRA}/user", body=refused(f"{JIRA}/user"))
    rsps.add(responses.POST, f"{JIRA}/user", status=201, json={"name": "jdoe"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert [s.method for s in wire.sent()] == ["POST", "POST"]


def test_create_rate_limited_is_retried_without_a_look(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.POST, f"{JIRA}/user", status=429, headers={"Retry-After": "2"})
    rsps.add(responses.POST, f"{JIRA}/user", status=201, json={"name": "jdoe"})

    client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert [s.method for s in wire.sent()] == ["POST", "POST"] and clock.sleeps == [2.0]


def test_create_keeps_failing_ambiguously_until_the_deadline(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.POST, f"{JIRA}/user", status=503, body="down")
    rsps.add(responses.GET, f"{JIRA}/user", status=404, json={"errorMessages": ["no jdoe"], "errors": {}})

    with pytest.raises(Unavailable, match="gave up after"):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    sent = [s.method for s in wire.sent()]
    assert all(sent[i + 1] == "GET" for i, method in enumerate(sent) if method == "POST" and i + 1 < len(sent))
    assert sum(clock.sleeps) <= 30


def test_the_lookup_after_an_ambiguous_failure_shares_the_deadline(jira, rsps, clock):
    client, wire = jira
    rsps.add(responses.POST, f"{JIRA}/user", body=requests.ReadTimeout("read timed out"))
    rsps.add(responses.GET, f"{JIRA}/user", status=503, body="down")

    with pytest.raises(Unavailable):
        client.create_user("jdoe", "Jane Doe", "jdoe@example.com")

    assert sum(clock.sleeps) <= 30
    assert [s.method for s in wire.sent()].count("POST") == 1
