"""A target's refusal is reported with the product's own words and never blocks the SCIM side.

Confluence answers 402 when no licence is left, Jira 400 to a request it will not take; Bitbucket,
whose licence seats the bridge reads, is not asked at all: the create is parked with the seat count
(docs/architecture.md, "Licence seats"), and its own 403 is in tests/contract/test_fakes_bitbucket.py.
Each refusal shows on the link (``last_error``) and in the audit log (outcome ``refused``) with the
product's message (the guard's, for Bitbucket), parks the
outbox row, and the identity provider's write still succeeds; reads and writes go on working. A new
change to the resource tries again; ``scim-bridge retry`` re-queues parked rows, which are delivered
once the product accepts them.

The worker runs and requests wait for the first delivery attempt (as in production), so each
response comes after the refusal has been recorded.
"""

from __future__ import annotations

import pytest

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, PRODUCTS, OutboxState
from tests.support.bridge import wait_until_delivered


def no_confluence_licence(bridge) -> None:
    bridge.confluence.licence_seats = 1  # the administrator holds the only one


def no_bitbucket_licence(bridge) -> None:
    bridge.bitbucket.licence_limit = 1
    # The worker may have read the seats as the bridge started, before the licence shrank: a seat
    # count is trusted for delivery.seats_refresh_seconds, so read it again as that time would.
    bridge.sync.seats.ledgers["bitbucket"].seats(fresh=True)


def jira_refuses_two_creates(bridge) -> None:
    bridge.jira.knobs.force_error("POST", "/rest/api/2/user", 400, count=2)


def licences_bought(bridge) -> None:
    bridge.confluence.licence_seats = None
    bridge.bitbucket.licence_limit = None


REFUSALS = [
    pytest.param("confluence", no_confluence_licence, "No more licences are available to create a user",
                 id="confluence-402"),
    pytest.param("bitbucket", no_bitbucket_licence, "licence full (1 of 1 seats)", id="bitbucket-licence-full"),
    pytest.param("jira", jira_refuses_two_creates, "The server answered 400 (fault injected by the fake)",
                 id="jira-400"),
]


@pytest.mark.parametrize(("product", "refuse", "message"), REFUSALS)
def test_a_refusal_is_reported_with_the_products_message_and_the_scim_side_keeps_answering(
        start, tmp_path, product, refuse, message):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS)
    refuse(bridge)
    idp = bridge.idp
    alice = idp.create_user("alice@example.com", "Alice Smith")  # 201 although one product refused

    others = [p for p in PRODUCTS if p != product]
    links = bridge.links("User", alice)
    assert links[product].status == "failed" and message in links[product].error
    assert [links[p].status for p in others] == ["ok", "ok"]
    assert bridge.fake(product).user("alice") is None
    assert all(bridge.fake(p).user("alice") is not None for p in others)
    refused = [row for row in bridge.audit(resource_id=alice) if row.outcome == "refused"]
    assert [(row.scope, row.action) for row in refused] == [(product, "deliver")] and message in refused[0].detail
    parked = bridge.outbox()
    assert parked == [OutboxState("User", alice, product, "parked", parked[0].last_error)]
    assert message in parked[0].last_error

    # The SCIM side goes on: reads, and writes, which try the parked delivery again (still refused).
    assert idp.found('/Users?filter=userName eq "alice@example.com"') == [alice]
    assert idp.change_user(alice, displayName="Alice Jones")["displayName"] == "Alice Jones"
    assert [(row.state, row.target) for row in bridge.outbox()] == [("parked", product)]
    assert len([row for row in bridge.audit(resource_id=alice) if row.outcome == "refused"]) == 2
    assert [bridge.fake(p).user("alice").display_name for p in others] == ["Alice Jones", "Alice Jones"]

    # The administrator makes room, then re-queues what was parked.
    licences_bought(bridge)
    assert bridge.cli(tmp_path, "retry", in_process=True).strip() == "1 parked row(s) queued again"
    bridge.settle(("User", alice))
    assert bridge.outbox() == []
    assert bridge.links("User", alice)[product].status == "ok"
    created = bridge.fake(product).user("alice")
    assert (created.display_name, created.email) == ("Alice Jones", "alice@example.com")


def test_a_group_rename_refused_half_way_is_completed_by_retry(start, tmp_path):
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"delete": True}}, targets=LICENCE_GROUPS)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    team = bridge.idp.create_group("Dev Team", alice)
    # Jira creates the new group, then refuses to move Alice into it.
    bridge.jira.knobs.force_error("POST", "/rest/api/2/group/user", 400)
    bridge.idp.ok(bridge.idp.patch(f"/Groups/{team}", [{"op": "replace", "path": "displayName",
                                                         "value": "Platform"}]), 204)
    assert [(row.target, row.state) for row in bridge.outbox()] == [("jira", "parked")]
    assert bridge.jira.members("Platform") == [] and bridge.jira.members("Dev Team") == ["alice"]

    assert bridge.cli(tmp_path, "retry", in_process=True).strip() == "1 parked row(s) queued again"
    bridge.settle(("Group", team))
    assert bridge.outbox() == []
    # The rename is carried through: Alice moved, the old group deleted (groups.delete).
    assert bridge.jira.members("Platform") == ["alice"]
    assert bridge.jira.dump()["groups"] == [{"name": name, "members": members} for name, members in (
        ("jira-administrators", ["admin"]), ("jira-software-users", ["alice"]), ("Platform", ["alice"]))]
    assert bridge.links("Group", team)["jira"].name == "Platform"


def test_a_permission_refused_for_one_object_is_parked_as_a_refusal_not_retried_as_an_outage(start):
    """Bitbucket answers 403 to deleting a group with a higher permission than the bridge's account:
    nothing will change that by waiting, so the row is parked and audited as refused."""
    bridge = start(rules={**EMAIL_LOCAL_PART, "groups": {"delete": True}}, targets=LICENCE_GROUPS, worker=False)
    ops = bridge.idp.create_group("Ops")
    bridge.drain()
    bridge.bitbucket.knobs.force_error("DELETE", "/rest/api/latest/admin/groups", 403, count=1)
    assert bridge.idp.delete(f"/Groups/{ops}").status == 204
    bridge.drain()
    parked = [row for row in bridge.outbox() if row.target == "bitbucket"]
    assert [row.state for row in parked] == ["parked"]
    assert ("bitbucket", "refused") in {(scope, outcome) for scope, outcome, _ in bridge.target_audit(ops)}
    assert bridge.links("Group", ops)["bitbucket"].status == "failed"
    assert "Ops" in {g["name"] for g in bridge.bitbucket.dump()["groups"]}  # refused: still there
    assert "Ops" not in {g["name"] for g in bridge.jira.dump()["groups"]}  # the others went ahead


@pytest.mark.parametrize("status", [
    pytest.param(401, id="credentials-refused"),
    pytest.param(403, id="read-forbidden"),
])
def test_an_answer_about_the_bridges_own_access_is_retried_never_parked(start, status):
    """A 401 (the bridge's credentials) or a 403 to a read (the bridge's own rights) is the target's
    configuration, which an administrator fixes: delivery retries it with backoff and does not park
    the row as it does a refusal (docs/architecture.md, "Delivery and the worker")."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    wait_until_delivered(bridge.engine, PRODUCTS)
    # A change to a linked user reads its account first: that read is answered 401 or 403, twice.
    forced = bridge.jira.knobs.force_error("GET", "/rest/api/2/user", status, count=2)
    bridge.idp.ok(bridge.idp.patch(f"/Users/{alice}", [{"op": "replace", "path": "displayName",
                                                         "value": "Alice Jones"}]), 200)
    wait_until_delivered(bridge.engine, PRODUCTS)
    assert forced.count == 0  # both answers were given, and the delivery went on past them
    assert bridge.jira.user("alice").display_name == "Alice Jones"
    assert bridge.links("User", alice)["jira"].status == "ok"
    assert [row for row in bridge.audit(resource_id=alice) if row.outcome == "refused"] == []
    # Two attempts failed (and were audited as such), the third made the change.
    assert [(row.action, row.outcome) for row in bridge.audit(resource_id=alice, scope="jira")] == [
        ("create_user", "applied"), ("add_member", "applied"),
        ("deliver", "failed"), ("deliver", "failed"), ("update_user", "applied")]
