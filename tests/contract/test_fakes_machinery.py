"""What the three fakes share, over real HTTP: fault knobs, call counters, the /_fake endpoints,
the REST framework's answers to bad requests, concurrency, and the command line."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

import pytest
import requests

from tests.support.fake_products import checked_fakes, unchecked

ADMIN = ("admin", "admin")


class RecordedSleep:
    """The fakes' injected sleep: remembers what it was asked to wait, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep():
    return RecordedSleep()


@pytest.fixture
def fakes(sleep):
    with checked_fakes(sleep=sleep) as running:
        yield running


def get_admin(fakes) -> requests.Response:
    return requests.get(
        f"{fakes.base_url('jira')}/rest/api/2/user", params={"username": "admin"}, auth=ADMIN, timeout=10
    )


def create_jira_user(fakes, name: str) -> requests.Response:
    body = {"name": name, "emailAddress": f"{name}@example.com", "displayName": name}
    return requests.post(f"{fakes.base_url('jira')}/rest/api/2/user", json=body, auth=ADMIN, timeout=10)


def test_latency_knob_holds_every_answer_back(fakes, sleep):
    fakes.jira.knobs.set_latency(0.25)

    assert get_admin(fakes).status_code == 200
    assert sleep.calls == [0.25]


def failure_sequence(seed: int) -> list[int]:
    with checked_fakes() as fakes:
        fakes.jira.knobs.set_failure_rate(0.5, seed=seed)
        return [get_admin(fakes).status_code for _ in range(30)]


def test_failure_rate_is_reproducible_from_its_seed():
    first, again, other = failure_sequence(7), failure_sequence(7), failure_sequence(8)

    assert first == again
    assert set(first) == {200, 503}
    assert other != first


def test_injected_failure_speaks_the_products_error_shape(fakes):
    fakes.confluence.knobs.set_failure_rate(1.0, status=503)

    response = requests.get(f"{fakes.base_url('confluence')}/rest/api/user/current", auth=ADMIN, timeout=10)

    assert response.status_code == 503
    assert response.json()["statusCode"] == 503


def test_throttle_answers_429_with_retry_after_seconds_then_recovers(fakes):
    fakes.jira.knobs.throttle(times=1, retry_after=3)

    limited, after = get_admin(fakes), get_admin(fakes)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0" and limited.headers["X-RateLimit-FillRate"] == "5"
    assert after.status_code == 200


def test_throttle_can_give_retry_after_as_an_http_date(fakes):
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    fakes.bitbucket.knobs.throttle(times=1, retry_after=when)

    response = requests.get(f"{fakes.base_url('bitbucket')}/rest/api/latest/admin/users", auth=ADMIN, timeout=10)

    assert response.status_code == 429
    assert parsedate_to_datetime(response.headers["Retry-After"]) == when
    assert response.json()["errors"][0]["message"].startswith("Rate limit exceeded")


def test_forced_error_hits_only_matching_calls_for_its_count(fakes):
    fakes.jira.knobs.force_error("POST", "/rest/api/2/user", 503, count=2)

    statuses = [create_jira_user(fakes, "alice").status_code for _ in range(3)]

    assert statuses == [503, 503, 201]
    assert get_admin(fakes).status_code == 200
    assert fakes.jira.calls.received("POST", "/rest/api/2/user") == 3
    assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1


def test_forced_error_after_apply_changes_state_but_answers_the_error(fakes, sleep):
    fakes.jira.knobs.force_error("POST", "/rest/api/2/*", 504, after_apply=True, delay=2.0)

    response = create_jira_user(fakes, "bob")

    assert response.status_code == 504
    assert fakes.jira.user("bob") is not None
    assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1
    assert sleep.calls == [2.0]


def test_forced_delay_without_status_answers_normally_late(fakes, sleep):
    fakes.confluence.knobs.force_error("*", "/rest/api/admin/user/*", None, delay=1.5)

    response = requests.put(f"{fakes.base_url('confluence')}/rest/api/admin/user/admin/enable", auth=ADMIN, timeout=10)

    assert response.status_code == 204
    assert sleep.calls == [1.5]


def test_forced_error_can_carry_retry_after(fakes):
    fakes.bitbucket.knobs.force_error("GET", "/rest/api/*/admin/users", 503, retry_after=9)

    response = requests.get(f"{fakes.base_url('bitbucket')}/rest/api/1.0/admin/users", auth=ADMIN, timeout=10)

    assert response.status_code == 503 and response.headers["Retry-After"] == "9"


def test_reads_are_not_counted_and_clear_turns_every_knob_off(fakes):
    get_admin(fakes)
    fakes.jira.knobs.throttle(times=5)
    fakes.jira.knobs.clear()

    assert get_admin(fakes).status_code == 200
    assert fakes.jira.calls.snapshot() == {}


def test_state_dump_shows_every_product_without_secrets():
    with checked_fakes(admin_password="pw-secret", tokens={"bitbucket": "tok-secret"}) as fakes:
        fakes.bitbucket.add_user("carol", groups=["devs"], password="carol-secret")
        everything = requests.get(f"{fakes.url}/_fake/state", timeout=10)
        one = requests.get(f"{fakes.url}/_fake/state/bitbucket", timeout=10).json()
        unknown = requests.get(f"{fakes.url}/_fake/state/bamboo", timeout=10)

    assert set(everything.json()) == {"jira", "confluence", "bitbucket", "crowd"}
    assert "secret" not in everything.text  # nor Crowd's application password, the admin one
    assert everything.json()["crowd"]["applications"] == [{"name": "admin", "mayChange": True}]
    assert [u["name"] for u in one["users"]] == ["admin", "carol"]
    assert {"name": "devs", "members": ["carol"]} in one["groups"]
    assert one["licensedUsers"] == ["admin"]
    assert unknown.status_code == 404


def test_calls_endpoint_lists_mutating_calls_per_product(fakes):
    create_jira_user(fakes, "dave")

    calls = requests.get(f"{fakes.url}/_fake/calls", timeout=10).json()

    assert calls["jira"] == {"POST /rest/api/2/user": {"received": 1, "applied": 1}}
    assert calls["confluence"] == calls["bitbucket"] == {}


def test_knobs_endpoint_turns_the_knobs(fakes):
    knobs_url = f"{fakes.url}/_fake/knobs/bitbucket"
    throttled = requests.post(knobs_url, json={"throttle": {"times": 1, "retryAfter": 5}}, timeout=10)
    assert throttled.json()["throttled"] == 1

    response = requests.get(f"{fakes.base_url('bitbucket')}/rest/api/latest/admin/users", auth=ADMIN, timeout=10)
    assert response.status_code == 429 and response.headers["Retry-After"] == "5"

    forced = {"force": {"method": "DELETE", "path": "/rest/api/latest/admin/groups", "status": 500, "count": 1}}
    assert requests.post(knobs_url, json=forced, timeout=10).json()["forced"][0]["status"] == 500
    assert requests.post(knobs_url, json={"clear": True}, timeout=10).json()["forced"] == []


@pytest.mark.parametrize(
    "settings",
    ["not json", {"failureRate": 2}, {"force": {"method": "GET"}}],
    ids=["not-json", "rate-out-of-range", "force-without-path"],
)
def test_knobs_endpoint_refuses_bad_settings(fakes, settings):
    data = settings if isinstance(settings, str) else json.dumps(settings)
    response = requests.post(
        f"{fakes.url}/_fake/knobs/jira", data=data, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400


def test_unknown_rest_path_and_wrong_method_answer_in_the_products_shape(fakes):
    with unchecked(fakes):
        jira_missing = requests.get(f"{fakes.base_url('jira')}/rest/api/2/nothing", auth=ADMIN, timeout=10)
        bitbucket_missing = requests.get(
            f"{fakes.base_url('bitbucket')}/rest/api/latest/nothing", auth=ADMIN, timeout=10
        )
        wrong_method = requests.patch(f"{fakes.base_url('jira')}/rest/api/2/user", auth=ADMIN, timeout=10)

    assert jira_missing.status_code == 404
    assert jira_missing.json()["errorMessages"][0].startswith("null for uri:")
    assert bitbucket_missing.status_code == 404 and bitbucket_missing.json()["errors"][0]["message"]
    assert wrong_method.status_code == 405 and "errorMessages" in wrong_method.json()


def test_unreadable_body_and_wrong_content_type_are_refused(fakes):
    url = f"{fakes.base_url('jira')}/rest/api/2/group"
    broken = requests.post(url, data="{", headers={"Content-Type": "application/json"}, auth=ADMIN, timeout=10)
    with unchecked(fakes):  # the REST framework's 415 comes before any resource the document describes
        headers = {"Content-Type": "text/plain", "X-Atlassian-Token": "no-check"}
        as_text = requests.post(url, data='{"name": "x"}', headers=headers, auth=ADMIN, timeout=10)

    assert broken.status_code == 400 and broken.json()["errorMessages"]
    assert as_text.status_code == 415
    assert fakes.jira.directory.group("x") is None


def test_concurrent_creates_of_one_name_create_it_once(fakes):
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: create_jira_user(fakes, "racer").status_code, range(16)))

    assert sorted(statuses) == [201] + [400] * 15
    assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1


def test_concurrent_creates_of_many_names_all_land(fakes):
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: create_jira_user(fakes, f"user{n}").status_code, range(40)))

    assert statuses == [201] * 40
    assert len(fakes.jira.directory) == 41


def test_stop_closes_the_port():
    with checked_fakes() as fakes:
        url = fakes.base_url("jira")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/rest/api/2/serverInfo", timeout=2)


def test_command_line_serves_all_four_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "atlassian_clients.fakes", "--port", "0", "--jira-version", "9.12.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        state_url = lines[4].split()[-1]
        state = requests.get(state_url, timeout=10).json()
        jira_url = lines[0].split()[2]
        info = requests.get(f"{jira_url}/rest/api/2/serverInfo", timeout=10).json()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)

    assert set(state) == {"jira", "confluence", "bitbucket", "crowd"}
    assert info["version"] == "9.12.0"
    assert process.returncode == 0
