"""A SCIM write claims its own outbox rows for this process's worker in its own transaction
(``Repository.attach_targets``' ``claim``), so that its delivery's first call on a product follows one
committed transaction, not two (issue 11: the fewest transactions on the write's path)."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from scim_bridge.scim.schemas import USER
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


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_an_edit_or_a_delete_claims_its_rows_in_its_transaction_too(engine, bridges, change):
    client = CommitsSeen(engine)
    bridge = bridges(client, worker=True, wait_seconds=30)
    alice = bridge.create_user("alice", "Alice")
    calls = len(client.calls)
    before = client.commits
    if change == "edit":
        bridge.change_user(alice, displayName="Alice Smith")
        assert client.users["alice"].display_name == "Alice Smith"  # delivered before the PATCH returned
        assert ("update_user", ("alice",)) in client.calls[calls:]
    else:
        assert bridge.scim.delete(f"/Users/{alice}").status == 204
        assert [name for name, args in client.calls[calls:] if args[:1] == ("alice",)]  # before it returned
        assert bridge.outbox() == []
    assert client.commits - before == 2  # the write (with its claim), then the settle


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


def _user(name: str) -> dict:
    return {"userName": name, "displayName": name.title(), "active": True,
            "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}]}


def _wait_until(condition) -> None:
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the creates did not gather behind the held write lock within 30 s")


def test_creates_written_together_claim_their_rows_in_their_one_transaction(engine, bridges):
    """SQLite: another process holds the write lock, so creates arriving meanwhile are written by one
    transaction (``GroupCommit``); each comes back with its own rows claimed in it, and is delivered
    from those claims with no claim transaction of its own."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the write lock held from outside is SQLite's")
    bridge = bridges(MemoryDirectory(), worker=True, wait_seconds=30)
    bridge.create_user("warm")
    repo = bridge.app.extensions["scim_bridge"].repository
    together = repo._together
    outside = sqlite3.connect(engine.url.database, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        with ThreadPoolExecutor(4) as pool:
            first = pool.submit(repo.create, USER, _user("first"), "idp")
            _wait_until(lambda: bool(together._writing))  # the first create waits for the lock
            later = [pool.submit(repo.create, USER, _user(name), "idp") for name in ("ann", "bob", "cy")]
            _wait_until(lambda: len(together._queue) == 3)  # gathered behind it: one batch
            outside.execute("ROLLBACK")
            records = [future.result(30) for future in later]
            alone = first.result(30)
    finally:
        outside.close()
    for record in records:
        claims, left = record.claimed
        assert [(c.resource_type, c.resource_id, c.target) for c in claims] == [("User", record.id, "jira")]
        assert left == set()
    with engine.connect() as conn:
        leased = dict(conn.execute(sa.select(OutboxRow.resource_id, OutboxRow.claimed_by)
                                   .where(OutboxRow.resource_id.in_([r.id for r in records]))).all())
    assert len(leased) == 3 and all(leased.values())  # committed claimed, with the batch
    for record in [alone, *records]:
        bridge.sync.changed(record.queued, record.claimed)  # as the API hands them over
        assert bridge.link("User", record.id).status == "ok"
    assert sorted(bridge.client.users) == ["ann", "bob", "cy", "first", "warm"]
