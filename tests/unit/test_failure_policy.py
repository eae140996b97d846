"""The failure policy as a table: the client's exception, whether the failed call mutates, and the
group it needs → retry, park as a refusal, wait for a group, or (a bug) retry a bounded number of
times and then park with the error id of its log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from atlassian_clients.base import (
    AuthFailed,
    Conflict,
    LicenceLimit,
    NotFound,
    PermissionDenied,
    RateLimited,
    Rejected,
    Unavailable,
    Unsupported,
    WrongEndpoint,
)
from scim_bridge.sync.failure_policy import AwaitedGroup, FailurePolicy, Verdict
from scim_bridge.sync.records import QueuedRow

RETRY, REFUSAL, AWAIT, DEFECT = Verdict.RETRY, Verdict.REFUSAL, Verdict.AWAIT_GROUP, Verdict.DEFECT


def error(cls, status=None, said=None, **extra):
    return cls("jira", f"HTTP {status}", status=status, product_message=said, **extra)


# (exception, mutates, needs_group, verdict, parked)
TABLE = [
    (error(Unavailable, 503), False, None, RETRY, False),
    (error(Unavailable, 503), True, None, RETRY, False),
    (error(RateLimited, 429, retry_after=30.0), True, None, RETRY, False),
    (error(WrongEndpoint, 404), True, None, RETRY, False),
    (error(AuthFailed, 401), True, None, RETRY, False),
    (error(PermissionDenied, 403, "You do not have permission"), False, None, RETRY, False),  # the bridge's rights
    (error(PermissionDenied, 403, "higher permission than you"), True, None, REFUSAL, True),  # this object
    (error(NotFound, 404, "group not found"), True, "Dev Team", AWAIT, False),  # add_member: the group is gone
    (error(NotFound, 404, "user not found"), True, None, REFUSAL, True),
    (error(NotFound, 404), False, None, RETRY, False),  # vanished between two reads
    (error(Conflict, 409), True, None, REFUSAL, True),
    (error(Rejected, 400, "bad e-mail"), True, None, REFUSAL, True),
    (error(LicenceLimit, 402), True, None, REFUSAL, True),
    (error(Unsupported, None), True, None, REFUSAL, True),
    (KeyError("alice@example.com"), True, None, DEFECT, False),
    (TypeError("boom"), False, None, DEFECT, False),
]


@pytest.mark.parametrize(("exc", "mutates", "needs_group", "verdict", "parked"), TABLE,
                         ids=[f"{type(row[0]).__name__}-{'write' if row[1] else 'read'}" for row in TABLE])
def test_the_policy_table(exc, mutates, needs_group, verdict, parked):
    decision = FailurePolicy().decide(exc, mutates=mutates, needs_group=needs_group, attempts=0, where="User u1")
    assert (decision.verdict, decision.park) == (verdict, parked)
    assert decision.audit_outcome == ("refused" if verdict is REFUSAL else "failed")


def test_a_refusal_carries_the_products_words_and_a_rate_limit_its_hint():
    policy = FailurePolicy()
    refused = policy.decide(error(Rejected, 400, "The email address is invalid"), mutates=True, needs_group=None,
                            attempts=0, where="User u1")
    assert "The email address is invalid" in refused.message
    limited = policy.decide(error(RateLimited, 429, retry_after=30.0), mutates=True, needs_group=None, attempts=0,
                            where="User u1")
    assert limited.retry_after == 30.0
    waiting = policy.decide(error(NotFound, 404), mutates=True, needs_group="Dev Team", attempts=0, where="User u1")
    assert waiting.group == "Dev Team"


@pytest.mark.parametrize(("attempts", "parked"), [(0, False), (3, False), (4, True), (9, True)])
def test_a_bug_is_retried_up_to_the_bound_then_parked_with_the_error_id_of_its_log_line(attempts, parked, caplog):
    policy = FailurePolicy(max_defect_attempts=5)
    try:
        {}["alice@example.com"]  # a defect whose message holds a user's data
    except KeyError as bug:
        with caplog.at_level(logging.ERROR, logger="scim_bridge.delivery"):
            decision = policy.decide(bug, mutates=True, needs_group=None, attempts=attempts, where="User u1 to jira")
    assert (decision.verdict, decision.park) == (DEFECT, parked)
    assert decision.error_id and decision.error_id in decision.message and "KeyError" in decision.message
    [line] = [r.getMessage() for r in caplog.records]
    assert decision.error_id in line and "KeyError" in line and "test_failure_policy.py:" in line
    assert "alice@example.com" not in line and "alice@example.com" not in decision.message


T0 = datetime(2026, 1, 1, tzinfo=UTC)
PARKED = QueuedRow(parked=True, claimable_at=T0, error="HTTP 400 (the product said: no)")


@pytest.mark.parametrize(("groups", "parked", "not_before"), [
    ([AwaitedGroup("devs", PARKED)], True, None),
    ([AwaitedGroup("devs", PARKED), AwaitedGroup("ops", PARKED)], True, None),
    # One group still pending: wait for it (its creation wakes the user, which then parks for the other).
    ([AwaitedGroup("devs", PARKED), AwaitedGroup("ops", QueuedRow(False, T0 + timedelta(minutes=5), None))],
     False, T0 + timedelta(minutes=5)),
    # Several pending: not before the last of them has had its attempt.
    ([AwaitedGroup("a", QueuedRow(False, T0, None)), AwaitedGroup("b", QueuedRow(False, T0 + timedelta(seconds=9),
                                                                                  "HTTP 503"))],
     False, T0 + timedelta(seconds=9)),
    # No SCIM group stands behind the name (a default group): the user's next delivery creates it.
    ([AwaitedGroup("all-staff", None), AwaitedGroup("devs", PARKED)], False, None),
])
def test_a_user_waits_for_its_groups_rows_and_parks_when_all_of_them_are_parked(groups, parked, not_before):
    decision = FailurePolicy().awaiting(groups)
    assert (decision.verdict, decision.park, decision.not_before) == (AWAIT, parked, not_before)
    if parked:
        assert decision.message == "waiting for " + "; ".join(
            f"the group {g.name}, whose delivery is parked: HTTP 400 (the product said: no)" for g in groups)
    else:
        assert all(g.name in decision.message for g in groups)
