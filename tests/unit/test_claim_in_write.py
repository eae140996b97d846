"""A SCIM write claims its own outbox rows for this process's worker in its own transaction
(``Repository.attach_targets``' ``claim``), so that its delivery's first call on a product follows one
committed transaction, not two (issue 11: the fewest transactions on the write's path)."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from scim_bridge.store.models import OutboxRow
from tests.support.memory_client import MemoryDirectory


class CommitsSeen(MemoryDirectory):
    """Notes how many transactions the store had committed when each account was created."""

    def __init__(self, engine):
        super().__init__()
        self.commits = 0
        self.at_create: dict[str, int] = {}
        self._lock = threading.Lock()
        sa.event.listen(engine, "commit", self._committed)

    def _committed(self, conn) -> None:
        with self._lock:
            self.commits += 1

    def create_user(self, username, *args, **kwargs):
        with self._lock:
            self.at_create[username] = self.commits
        return super().create_user(username, *args, **kwargs)


def test_a_create_is_delivered_after_one_transaction_its_claim_included(engine, bridges):
    client = CommitsSeen(engine)
    bridge = bridges(client, worker=True, wait_seconds=30)
    bridge.create_user("warm")  # the worker's loops have started and read the queue once
    before = client.commits
    alice = bridge.create_user("alice")  # returns once the first attempt is made (wait_seconds)
    assert client.at_create["alice"] - before == 1  # the create's transaction, claim and all
    assert bridge.link("User", alice).status == "ok"
    assert bridge.outbox() == []


def test_an_edit_claims_its_rows_in_its_transaction_too(engine, bridges):
    client = CommitsSeen(engine)
    bridge = bridges(client, worker=True, wait_seconds=30)
    alice = bridge.create_user("alice", "Alice")
    calls = len(client.calls)
    before = client.commits
    bridge.change_user(alice, displayName="Alice Smith")
    assert client.users["alice"].display_name == "Alice Smith"  # delivered before the PATCH returned
    assert ("update_user", ("alice",)) in client.calls[calls:]
    assert client.commits - before == 2  # the PATCH (with its claim), then the settle


def test_where_no_worker_runs_in_the_process_the_write_claims_nothing(engine, bridges):
    """A separate ``scim-bridge worker`` process delivers: rows leased to this one would wait out the lease."""
    bridge = bridges(MemoryDirectory(), worker=False)
    bridge.create_user("alice")
    with engine.connect() as conn:
        leased = conn.execute(sa.select(OutboxRow.claimed_by, OutboxRow.lease_until)).all()
    assert leased == [(None, None)]


def test_a_write_does_not_wait_for_a_licence_ledger_a_delivery_holds(engine, bridges):
    """A delivery holds its target's seat ledger while it reads the product or writes the store; a
    SCIM write claiming in its transaction (holding the store's write lock) must not wait for that
    ledger, or each waits for the other for good."""
    bridge = bridges(MemoryDirectory(), worker=True, wait_seconds=0.5)
    ledger = bridge.sync.delivery.seats.ledgers["jira"]
    written: list[str] = []
    with ledger._lock:  # as a delivery holding it while it waits for the store
        writer = threading.Thread(target=lambda: written.append(bridge.create_user("alice")), daemon=True)
        writer.start()
        writer.join(30)
        assert written  # the write returned while the ledger was held
    bridge.settle()
    assert bridge.link("User", written[0]).status == "ok"
