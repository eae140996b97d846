"""The metrics' names and labels (docs/metrics.md), the result of each way a delivery settles, and the
product-call latency as the HTTP policy reports it (one observation per HTTP attempt)."""

from __future__ import annotations

import pytest
import requests
import responses
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from atlassian_clients import HttpSettings
from atlassian_clients.http import route
from scim_bridge.metrics import RESULTS, Metrics, delivery_result
from scim_bridge.sync.executor import DONE, Outcome, Settle
from scim_bridge.sync.failure_policy import Verdict
from tests.client_harness import client_for, clock, rsps

__all__ = ["client_for", "clock", "rsps"]

JIRA = "http://atlassian.test/jira/rest/api/2"
CONFLUENCE = "http://atlassian.test/confluence/rest/api"


@pytest.mark.parametrize(("path", "expected"), [
    ("/rest/api/2/user", "/rest/api/2/user"),
    ("/rest/api/2/user/search", "/rest/api/2/user/search"),
    ("/rest/api/2/group/member", "/rest/api/2/group/member"),
    ("/rest/api/latest/admin/users/rename", "/rest/api/latest/admin/users/rename"),
    ("/rest/api/admin/user/jdoe%40example.com/disable", "/rest/api/admin/user/{name}/disable"),
    ("/rest/api/group/team%20a/member", "/rest/api/group/{name}/member"),
    ("/rest/api/user/jdoe/group/confluence-users", "/rest/api/user/{name}/group/{name}"),
    ("/rest/api/user/memberof?username=jdoe", "/rest/api/user/memberof"),
    ("/rest/usermanagement/1/user/group/direct", "/rest/usermanagement/1/user/group/direct"),
    ("/rest/usermanagement/1/group/user/direct", "/rest/usermanagement/1/group/user/direct"),
])
def test_a_route_names_the_rest_call_never_the_account(path, expected):
    assert route(path) == expected


@pytest.mark.parametrize(("outcome", "result"), [
    (DONE, "applied"),
    (Outcome(Settle.RETRY, "503", verdict=Verdict.RETRY), "retry"),
    (Outcome(Settle.PARK, "409", verdict=Verdict.REFUSAL), "refused"),
    (Outcome(Settle.RETRY, "bug", verdict=Verdict.DEFECT), "defect"),
    (Outcome(Settle.PARK, "bug, 5th time", verdict=Verdict.DEFECT), "defect"),
    (Outcome(Settle.PARK, "its groups' deliveries are parked", verdict=Verdict.AWAIT_GROUP), "parked"),
    (Outcome(Settle.PARK, "target 'old' is no longer configured"), "parked"),
    (Outcome(Settle.WAIT, "waiting for the group"), "waiting"),
    (Outcome(Settle.LOST), "lost"),
])
def test_every_way_a_delivery_settles_has_a_result(outcome, result):
    assert delivery_result(outcome) == result
    assert result in RESULTS


def _families(metrics: Metrics) -> dict:
    return {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.exposed).decode())}


def test_the_delivery_and_product_metrics_have_their_documented_names_and_labels():
    metrics = Metrics()
    metrics.delivered("jira", DONE)
    metrics.delivered("jira", Outcome(Settle.RETRY, "503", verdict=Verdict.RETRY))
    metrics.delivered("confluence", Outcome(Settle.PARK, "409", verdict=Verdict.REFUSAL))
    metrics.product_call("jira", "POST /rest/api/2/user", 0.3)
    families = _families(metrics)

    deliveries = families["scim_bridge_deliveries"]
    assert deliveries.type == "counter"
    assert {(s.labels["target"], s.labels["result"], s.value) for s in deliveries.samples
            if s.name.endswith("_total")} == {("jira", "applied", 1), ("jira", "retry", 1),
                                               ("confluence", "refused", 1)}
    retries = families["scim_bridge_delivery_retries"]
    assert [(s.labels, s.value) for s in retries.samples if s.name.endswith("_total")] == [({"target": "jira"}, 1)]

    latency = families["scim_bridge_product_call_seconds"]
    assert latency.type == "histogram"
    count, = (s for s in latency.samples if s.name.endswith("_count"))
    assert count.labels == {"target": "jira", "operation": "POST /rest/api/2/user"} and count.value == 1
    under_half_second = next(s for s in latency.samples if s.name.endswith("_bucket") and s.labels["le"] == "0.5")
    assert under_half_second.value == 1
    # The request metrics keep their names (dashboards and the existing alerts use them).
    assert {"scim_bridge_requests", "scim_bridge_request_seconds"} <= set(families)


def test_the_http_policy_reports_every_attempt_with_target_and_route(client_for, rsps):
    seen = []
    jira, _ = client_for("jira", observe=lambda *call: seen.append(call),
                         http=HttpSettings(deadline=30, rate=1000, burst=1000))
    rsps.add(responses.GET, f"{JIRA}/user", body=requests.ConnectionError("refused"))
    rsps.add(responses.GET, f"{JIRA}/user", json={"name": "jdoe", "key": "k", "displayName": "J",
                                                  "emailAddress": "j@example.com", "active": True})
    jira.get_user("jdoe")
    confluence, _ = client_for("confluence", observe=lambda *call: seen.append(call))
    rsps.add(responses.GET, f"{CONFLUENCE}/group/team%20a", status=404, json={"message": "no such group"})
    assert confluence.get_group("Team A") is None

    assert [(target, operation) for target, operation, _ in seen] == [
        ("jira-test", "GET /rest/api/2/user"), ("jira-test", "GET /rest/api/2/user"),  # the failed attempt too
        ("confluence-test", "GET /rest/api/group/{name}"),
    ]
    assert all(seconds >= 0 for *_, seconds in seen)
