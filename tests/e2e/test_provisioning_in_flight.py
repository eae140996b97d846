"""A change that commits while a delivery of the same user is in flight is applied by the next
attempt: nothing the identity provider sent is lost, though the product may see the state the
attempt started from first (docs/architecture.md, "At least once, as read when the attempt began").

The fake Jira's create is held open by a gate the test controls (the fakes take their ``sleep``
as a parameter), so the deactivation lands inside the attempt deterministically, with no timing.
"""

from __future__ import annotations

import threading

from atlassian_clients.fakes import create_products
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS


class Gate:
    """A ``sleep`` for the fakes: the first forced delay blocks until the test opens the gate."""

    def __init__(self):
        self.entered, self.opened = threading.Event(), threading.Event()

    def sleep(self, seconds: float) -> None:
        self.entered.set()
        assert self.opened.wait(60), "the test never opened the gate"


def test_a_user_deactivated_while_its_create_is_in_flight_ends_inactive_and_unlicensed(start):
    gate = Gate()
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False,
                   fake_products=create_products(sleep=gate.sleep))
    # Only Jira's create is slow: the delay goes through the gate.
    bridge.jira.knobs.force_error("POST", "/rest/api/2/user", None, delay=0.01)
    uid = bridge.idp.create_user("ann@example.com", "Ann Lee")

    delivering = threading.Thread(target=bridge.drain)
    delivering.start()
    try:
        assert gate.entered.wait(60), "Jira never received the create"
        # The attempt planned "create ann, active"; the identity provider deactivates her now.
        bridge.idp.ok(bridge.idp.patch(f"/Users/{uid}", [{"op": "replace", "value": {"active": False}}]), 200)
    finally:
        gate.opened.set()
        delivering.join(120)
    assert not delivering.is_alive()
    bridge.drain()

    ann = bridge.jira.user("ann")
    assert (ann.active, "jira-software-users" in bridge.jira.groups_of("ann")) == (False, False)
    assert bridge.outbox() == []  # the deactivation was not lost behind the create
    jira_calls = [(row.action, row.outcome) for row in bridge.audit(scope="jira")
                  if row.action in ("create_user", "set_active", "revoke_licence")]
    assert jira_calls == [("create_user", "applied"), ("set_active", "applied")]
