"""After its commit a SCIM write hands its rows to the worker and waits for them; whatever goes wrong
in that hand-over, the change is already accepted and the client must hear so (docs/architecture.md,
decision 1): the request returns, and the loops are woken to deliver the rows."""

from __future__ import annotations

from scim_bridge.rules.settings import effective_rules
from scim_bridge.sync.executor import Target
from scim_bridge.sync.service import Sync
from tests.support.memory_client import MemoryDirectory


class BrokenHandOver:
    """A worker whose hand-over fails with a bug, not a database error; it records being woken."""

    def __init__(self):
        self.woken = 0

    def deliver_now(self, keys, claimed=None):
        raise KeyError("a bug in the hand-over")

    def notify(self, targets=None):
        self.woken += 1

    def stop(self):
        pass


def test_a_bug_in_the_hand_over_ends_the_wait_and_wakes_the_loops(engine, caplog):
    sync = Sync(engine, {"jira": Target("jira", MemoryDirectory(), effective_rules({}, {}, "jira"))})
    sync.running = True  # as after start(), with the worker replaced by one whose hand-over fails
    sync.worker = BrokenHandOver()
    sync.changed([("User", "u-1")])
    assert sync.worker.woken == 1
    assert "stopped waiting for delivery after a committed change: KeyError" in caplog.text
