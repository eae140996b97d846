"""Alerts reach the administrator: a refusal, a burst of them, and a target down and back.

The bridge is live over HTTP against the in-process fakes; the alerts go to an SMTP sink and a
webhook receiver the test starts on loopback (``tests/support/alert_sinks.py``). The alerts run on
the test's clock, so a batch window or an outage's length passes when the test says, not after a
sleep; the deliveries themselves are real.
"""

from __future__ import annotations

import logging
import time

import pytest

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS
from tests.support.alert_sinks import body_of, smtp_sink, webhook_receiver

BASE_URL = "https://bridge.example.com/scim/v2"
CONSOLE = "https://bridge.example.com/admin/problems"
BATCH = 30.0
DOWN_AFTER = 600.0
SMTP_PASSWORD = "smtp-secret-do-not-log"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def sinks():
    with smtp_sink() as (port, mails), webhook_receiver() as (url, hooks):
        yield port, mails, url, hooks


def alerts_section(port: int, hook_url: str, *, format: str = "json") -> dict:
    return {
        "server": {"base_url": BASE_URL},
        "alerts": {
            "webhook": {"url": hook_url, "format": format},
            "smtp": {"host": "127.0.0.1", "port": port, "from": "bridge@example.com",
                     "to": ["admins@example.com"], "username": "bridge", "password": SMTP_PASSWORD,
                     "starttls": False},
            "batch_seconds": BATCH,
            "unreachable_after_seconds": DOWN_AFTER,
        },
    }


def test_a_refusal_is_one_message_with_the_products_words_the_target_and_the_console(start, sinks, caplog):
    port, mails, hook_url, hooks = sinks
    clock = Clock()
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, sections=alerts_section(port, hook_url),
                   alerts_clock=clock)
    bridge.confluence.licence_seats = 1  # the administrator holds the only one
    caplog.set_level(logging.DEBUG)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")  # 201 although Confluence refused
    assert [row.state for row in bridge.outbox()] == ["parked"]

    clock.advance(BATCH)  # the batch window passes; the alerts thread sends
    [hook] = hooks.wait_for(1)
    [mail] = mails.wait_for(1)
    words = "No more licences are available to create a user"
    [first] = hook["parked"]["first"]
    assert (hook["parked"]["count"], hook["parked"]["by_target"]) == (1, {"confluence": 1})
    assert (first["target"], first["resource_type"], first["resource_id"]) == ("confluence", "User", alice)
    assert words in first["reason"]
    assert hook["console"] == CONSOLE and CONSOLE in hook["text"]
    assert mail["Subject"] == "scim-bridge: 1 delivery parked"
    assert (mail["From"], mail["To"]) == ("bridge@example.com", "admins@example.com")
    assert f"User {alice} to confluence: " in body_of(mail) and words in body_of(mail) and CONSOLE in body_of(mail)
    assert mails.logins == [("bridge", SMTP_PASSWORD)]

    # Nothing more happened: nothing more is sent.
    clock.advance(BATCH * 2)
    bridge.app.extensions["scim_bridge_alerts"].pump(force=True)
    assert (len(hooks.items), len(mails.items)) == (1, 1)
    assert SMTP_PASSWORD not in caplog.text


def test_three_hundred_parked_in_a_burst_are_one_message_with_counts_and_the_first_few(start, sinks):
    port, mails, hook_url, hooks = sinks
    clock = Clock()
    bridge = start(sections=alerts_section(port, hook_url, format="slack"), alerts_clock=clock, worker=False)
    bridge.jira.knobs.force_error("POST", "/rest/api/2/user", 400, count=300)
    users = [bridge.idp.create_user(f"user{i}@example.com", f"User {i}") for i in range(300)]
    bridge.drain()
    assert sum(row.state == "parked" for row in bridge.outbox()) == 300
    alerts = bridge.app.extensions["scim_bridge_alerts"]

    assert alerts.pump() is None  # within the window: nothing yet
    clock.advance(BATCH)
    assert alerts.pump() is not None
    assert alerts.pump() is None
    [hook] = hooks.items
    [mail] = mails.items
    assert set(hook) == {"text"}  # what a Slack or Teams incoming webhook takes
    text = hook["text"]
    assert "300 deliveries parked" in text and "(jira: 300)" in text and "and 295 more" in text
    listed = [line for line in text.splitlines() if line.startswith("- User ")]
    assert len(listed) == 5 and all(line.split()[2] in users and "to jira: " in line for line in listed)
    assert "fault injected by the fake" in listed[0]
    assert CONSOLE in text and "and 295 more" in body_of(mail)


def test_a_target_down_past_the_set_time_is_one_alert_and_its_return_one_more(start, sinks):
    port, mails, hook_url, hooks = sinks
    clock = Clock()
    bridge = start(sections=alerts_section(port, hook_url), alerts_clock=clock, worker=False)
    alerts = bridge.app.extensions["scim_bridge_alerts"]
    bridge.jira.knobs.set_failure_rate(1.0)  # every Jira call answers 503
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()
    assert [row.state for row in bridge.outbox()] == ["pending"]

    clock.advance(DOWN_AFTER - 1)
    retry_when_due(bridge)  # still failing, not yet long enough: nothing even batched
    assert alerts.pump(force=True) is None and hooks.items == [] and mails.items == []

    clock.advance(1)
    retry_when_due(bridge)
    assert alerts.pump() is None  # the alert is batched; its window opens now
    clock.advance(BATCH)
    alerts.pump()
    [down] = hooks.items
    assert down["unreachable"][0]["target"] == "jira" and down["unreachable"][0]["seconds"] >= DOWN_AFTER
    assert "503" in down["unreachable"][0]["last_error"] and down["parked"]["count"] == 0
    assert mails.wait_for(1)[0]["Subject"] == "scim-bridge: jira unreachable"

    # Still down: no second alert.
    clock.advance(DOWN_AFTER)
    retry_when_due(bridge)
    clock.advance(BATCH)
    assert alerts.pump() is None and len(hooks.items) == 1

    bridge.jira.knobs.clear()
    deadline = time.monotonic() + 60
    while bridge.outbox() and time.monotonic() < deadline:
        retry_when_due(bridge)
    assert bridge.outbox() == [] and bridge.links("User", alice)["jira"].status == "ok"
    clock.advance(BATCH)
    alerts.pump()
    assert len(hooks.items) == 2 and hooks.items[1]["recovered"][0]["target"] == "jira"
    assert [m["Subject"] for m in mails.items] == ["scim-bridge: jira unreachable", "scim-bridge: jira reachable again"]


def retry_when_due(bridge) -> None:
    """One more attempt of the pending rows (their backoff is tenths of a second here)."""
    deadline = time.monotonic() + 30
    while not bridge.drain() and time.monotonic() < deadline:
        time.sleep(0.05)
