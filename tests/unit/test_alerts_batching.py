"""Alerts: a burst is one message, an outage is told once and its end once, and a broken channel
never reaches delivery (scim_bridge/alerts/)."""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass

import pytest

from scim_bridge.alerts import Alerts, build_alerts, console_url
from scim_bridge.alerts.batch import Batcher
from scim_bridge.alerts.events import OutageWatch, Parked, Recovered, Unreachable
from scim_bridge.alerts.senders import SmtpSender, WebhookSender
from scim_bridge.config import SmtpSettings, WebhookSettings, validate_config
from scim_bridge.errors import ConfigError
from scim_bridge.sync.executor import Outcome, Settle
from tests.support.alert_sinks import smtp_sink


@dataclass(frozen=True)
class Claim:
    target: str
    resource_type: str = "User"
    resource_id: str = "u1"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Recorder:
    name = "recorder"

    def __init__(self, fail: int = 0):
        self.sent, self.fail, self.tries = [], fail, 0

    def send(self, message):
        self.tries += 1
        if self.tries <= self.fail:
            raise ConnectionError("https://hooks.example.com/T000/secret-path refused")
        self.sent.append(message)


def parked(n: int, target: str = "jira") -> list[Parked]:
    return [Parked(target, "User", f"u{i}", f"refused {i}") for i in range(n)]


# ---- the batch -------------------------------------------------------------------------------------

def test_a_burst_within_the_window_is_one_message_counting_all_and_listing_the_first_few():
    batcher = Batcher(30, "https://b.example.com/admin/problems")
    for i, event in enumerate(parked(298) + parked(2, "confluence")):
        batcher.add(event, now=i * 0.01)
    assert batcher.take(now=29.9) is None
    message = batcher.take(now=30)
    assert message.subject == "scim-bridge: 300 deliveries parked"
    assert message.details["parked"]["count"] == 300
    assert message.details["parked"]["by_target"] == {"confluence": 2, "jira": 298}
    assert [p["resource_id"] for p in message.details["parked"]["first"]] == ["u0", "u1", "u2", "u3", "u4"]
    assert "- User u0 to jira: refused 0" in message.text and "- and 295 more" in message.text
    assert "https://b.example.com/admin/problems" in message.text
    assert batcher.take(now=1000, force=True) is None  # the batch closed with its message


def test_the_window_opens_with_the_first_event_after_a_message():
    batcher = Batcher(30, None)
    batcher.add(parked(1)[0], now=0)
    assert batcher.take(now=30) is not None
    batcher.add(parked(1)[0], now=100)
    assert batcher.take(now=129) is None and batcher.take(now=130).details["parked"]["count"] == 1


def test_an_outage_and_a_return_in_one_window_are_one_message_naming_both():
    batcher = Batcher(10, None)
    batcher.add(Unreachable("jira", 900, "503 Service Unavailable"), now=0)
    batcher.add(Recovered("bitbucket", 4000), now=1)
    message = batcher.take(now=10)
    assert message.subject == "scim-bridge: jira unreachable; bitbucket reachable again"
    assert "for 15 min; the last error: 503 Service Unavailable" in message.text
    assert "bitbucket reachable again after 67 min" in message.text
    assert "set server.base_url" in message.text


# ---- the outage watch -----------------------------------------------------------------------------

def test_an_outage_is_told_once_past_the_set_time_and_its_end_once():
    watch = OutageWatch(after_seconds=600)
    assert watch.failed("jira", "503", now=0) == []
    assert watch.failed("jira", "503 again", now=599) == []
    assert watch.check(now=600) == [Unreachable("jira", 600, "503 again")]
    assert watch.failed("jira", "503", now=5000) == [] and watch.check(now=9000) == []
    assert watch.reached("jira", now=9600) == [Recovered("jira", 9600)]
    assert watch.reached("jira", now=9700) == []


def test_a_short_outage_is_never_told():
    watch = OutageWatch(after_seconds=600)
    watch.failed("jira", "503", now=0)
    assert watch.reached("jira", now=599) == [] and watch.check(now=10_000) == []


# ---- the dispatcher -------------------------------------------------------------------------------

def test_outcomes_become_alerts_refusals_count_as_the_target_answering():
    clock, sender = Clock(), Recorder()
    alerts = Alerts([sender], batch_seconds=30, unreachable_after_seconds=60, clock=clock)
    alerts(Claim("jira"), Outcome(Settle.RETRY, "503"))
    clock.now = 61
    alerts(Claim("jira"), Outcome(Settle.RETRY, "503"))
    alerts(Claim("bitbucket"), Outcome(Settle.WAIT, "waiting for a group"))  # not news
    alerts.pump()
    clock.now = 100
    alerts(Claim("jira", resource_id="u9"), Outcome(Settle.PARK, "licence limit reached"))
    alerts(Claim("jira"), Outcome(Settle.DONE))
    assert alerts.pump() is not None
    [message] = sender.sent
    assert message.details["unreachable"] == [{"target": "jira", "seconds": 61, "last_error": "503"}]
    assert message.details["recovered"] == [{"target": "jira", "seconds": 100}]
    assert message.details["parked"]["first"][0]["reason"] == "licence limit reached"


def test_a_failing_channel_is_retried_then_logged_by_class_only(caplog):
    clock, flaky, dead = Clock(), Recorder(fail=2), Recorder(fail=99)
    alerts = Alerts([dead, flaky], batch_seconds=0, clock=clock, attempts=3, retry_pause=0)
    alerts(Claim("jira"), Outcome(Settle.PARK, "refused"))
    with caplog.at_level(logging.WARNING, "scim_bridge.alerts"):
        alerts.pump()
    assert (dead.tries, flaky.tries, len(flaky.sent)) == (3, 3, 1)  # the dead one does not stop the other
    assert "sending by recorder failed (ConnectionError), attempt 3 of 3; this alert is dropped" in caplog.text
    assert "secret-path" not in caplog.text and "hooks.example.com" not in caplog.text


def test_the_observer_never_waits_for_a_channel():
    release = threading.Event()

    class Stuck:
        name = "stuck"

        def send(self, message):
            release.wait(30)

    alerts = Alerts([Stuck()], batch_seconds=0, retry_pause=0)
    alerts.start()
    try:
        alerts(Claim("jira"), Outcome(Settle.PARK, "refused"))  # the thread now hangs in send()
        done = threading.Event()

        def settle_many():
            for _ in range(1000):
                alerts(Claim("jira"), Outcome(Settle.PARK, "refused"))
            done.set()

        threading.Thread(target=settle_many, daemon=True).start()
        assert done.wait(30)
    finally:
        release.set()
        alerts.stop()


def test_a_slack_body_is_text_only_and_a_json_body_carries_the_details():
    batcher = Batcher(0, None)
    batcher.add(parked(1)[0], now=0)
    message = batcher.take(now=0)
    slack = WebhookSender(WebhookSettings(url="http://127.0.0.1:9/", format="slack")).body(message)
    assert list(slack) == ["text"] and "1 deliver" in slack["text"]
    plain = WebhookSender(WebhookSettings(url="http://127.0.0.1:9/")).body(message)
    assert plain["parked"]["count"] == 1 and plain["subject"] == message.subject


# ---- settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("base_url", "console"), [
    ("https://b.example.com/scim/v2", "https://b.example.com/admin/problems"),
    ("https://b.example.com/idm/scim/v2/", "https://b.example.com/idm/admin/problems"),
    (None, None),
])
def test_the_console_link_is_beside_the_scim_api(base_url, console):
    assert console_url(base_url) == console


def test_no_channel_no_alerts_and_secrets_come_from_the_environment():
    assert build_alerts(validate_config({}, environ={})) is None
    config = validate_config({"alerts": {"webhook": {"url": "${HOOK}"},
                                         "smtp": {"host": "mail", "from": "b@example.com", "to": ["a@example.com"],
                                                  "username": "b", "password": "${SMTP_PASSWORD}"}}},
                             environ={"HOOK": "https://hooks.example.com/x", "SMTP_PASSWORD": "pw"})
    assert config.alerts.smtp.password == "pw" and "pw" not in repr(config.alerts)
    assert "hooks.example.com" not in repr(config.alerts)
    assert [s.name for s in build_alerts(config).senders] == ["webhook", "smtp"]


@pytest.mark.parametrize(("smtp", "complaint"), [
    ({"host": "mail"}, "alerts.smtp: a host is set: give from"),
    ({"host": "mail", "from": "b@example.com", "to": ["a@example.com"], "username": "b"}, "both username and password"),
    ({"from": "not-an-address"}, "alerts.smtp.from: not an e-mail address"),
])
def test_an_incomplete_smtp_section_is_refused_naming_the_key(smtp, complaint):
    with pytest.raises(ConfigError, match=complaint):
        validate_config({"alerts": {"smtp": smtp}}, environ={})


def test_with_starttls_on_nothing_goes_in_the_clear_to_a_server_that_offers_no_tls():
    with smtp_sink() as (port, received):
        sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=port, sender="b@example.com", to=("a@example.com",),
                                         username="b", password="pw", starttls=True, timeout=10))
        batcher = Batcher(0, None)
        batcher.add(parked(1)[0], now=0)
        with pytest.raises(smtplib.SMTPNotSupportedError):
            sender.send(batcher.take(now=0))
        assert received.items == [] and received.logins == []
