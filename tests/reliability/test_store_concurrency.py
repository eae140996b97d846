"""Concurrency in the store, on SQLite and PostgreSQL (docs/architecture.md decision 6): several
workers claiming from one outbox never get the same row, and a claim does not wait for rows another
transaction holds (``FOR UPDATE SKIP LOCKED``); a member add racing a user DELETE never adds a member
to a tombstone (``FOR SHARE`` on the users added)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from scim_bridge.store.database import make_engine, make_session_factory
from scim_bridge.store.models import GroupMember, OutboxRow, User
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.outbox import Outbox
from tests.support.bridge import ScimClient, bridge_app

ROWS = 400
WORKERS = 6
JOIN_SECONDS = 60  # a thread still running then is stuck on a lock: the test fails, it does not hang


def _enqueue(engine, count: int) -> list[str]:
    ids = [f"u{i:04d}" for i in range(count)]
    with make_session_factory(engine, write=True)() as session, session.begin():
        enqueue(session, "User", ids, ("jira",), datetime(2026, 1, 1, tzinfo=UTC))
    return ids


def test_workers_claiming_from_one_outbox_never_get_the_same_row(engine, database_url):
    ids = _enqueue(engine, ROWS)
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def work(owner: str) -> None:
        # An engine (a connection pool) of its own, as another bridge instance would have.
        own = make_engine(database_url)
        outbox, mine = Outbox(own, owner=owner), []
        try:
            start.wait()
            while batch := outbox.claim("jira", 7):
                mine.extend(c.resource_id for c in batch)
        except BaseException as exc:  # reported below, with the thread's name
            errors.append(exc)
        finally:
            claimed[owner] = mine
            own.dispose()

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads) and errors == []
    every = Counter(i for mine in claimed.values() for i in mine)
    assert [i for i, n in every.items() if n > 1] == []  # no row claimed twice
    assert sorted(every) == ids  # and none left behind
    with engine.connect() as conn:
        owners = dict(conn.execute(sa.select(OutboxRow.resource_id, OutboxRow.claimed_by)).all())
    assert all(owners[i] == owner for owner, mine in claimed.items() for i in mine)


def test_a_claim_skips_rows_another_transaction_holds_instead_of_waiting(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: claims are serial by construction")
    ids = _enqueue(engine, 10)
    with engine.connect() as holder:
        holder.begin()
        # Another instance in the middle of its claim of the five oldest rows.
        held = holder.execute(sa.select(OutboxRow.resource_id).where(OutboxRow.resource_id.in_(ids[:5]))
                              .with_for_update()).scalars().all()
        assert sorted(held) == ids[:5]
        got: list[str] = []
        claimer = threading.Thread(target=lambda: got.extend(
            c.resource_id for c in Outbox(engine, owner="other").claim("jira", 10)))
        claimer.start()
        claimer.join(JOIN_SECONDS)
        assert not claimer.is_alive(), "the claim waited for locked rows instead of skipping them"
        holder.rollback()
    assert got == ids[5:]


def _user(scim: ScimClient, name: str) -> str:
    created = scim.post("/Users", {"userName": name})
    assert created.status == 201, created.body
    return created.body["id"]


def _members(engine, user_id: str) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.select(GroupMember.group_id).where(GroupMember.user_id == user_id)).scalars().all()


def test_a_member_add_waits_for_a_user_delete_in_progress_and_then_refuses_the_tombstone(engine):
    app = bridge_app(engine)
    scim = ScimClient(app)
    user_id = _user(scim, "racer@example.com")
    group_id = scim.post("/Groups", {"displayName": "racers"}).body["id"]
    answers = []
    with make_session_factory(engine, write=True)() as deleting, deleting.begin():
        # A DELETE of the user that has locked the user's row and not yet committed its tombstone.
        row = deleting.scalar(sa.select(User).where(User.id == user_id).with_for_update())
        adder = threading.Thread(target=lambda: answers.append(ScimClient(app).patch(
            f"/Groups/{group_id}", [{"op": "add", "path": "members", "value": [{"value": user_id}]}])))
        adder.start()
        adder.join(1.0)
        assert adder.is_alive(), "the member add did not wait for the user's row"
        row.deleted_at = datetime.now(UTC)
        row.user_name_lower = None
    adder.join(JOIN_SECONDS)
    assert not adder.is_alive()
    assert answers[0].status == 400 and user_id in answers[0].body["detail"], answers[0]
    assert _members(engine, user_id) == []


def test_member_adds_racing_user_deletes_never_leave_a_member_on_a_tombstone(engine):
    app = bridge_app(engine)
    scim = ScimClient(app)
    group_id = scim.post("/Groups", {"displayName": "crowd"}).body["id"]
    outcomes = Counter()
    for n in range(12):
        user_id = _user(scim, f"racer{n}@example.com")
        both = threading.Barrier(2)
        replies = {}

        def add(user_id=user_id, both=both, replies=replies):
            both.wait()
            replies["add"] = ScimClient(app).patch(
                f"/Groups/{group_id}", [{"op": "add", "path": "members", "value": [{"value": user_id}]}]).status

        def delete(user_id=user_id, both=both, replies=replies):
            both.wait()
            replies["delete"] = ScimClient(app).delete(f"/Users/{user_id}").status

        threads = [threading.Thread(target=add), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_SECONDS)
        assert not any(t.is_alive() for t in threads)
        assert replies["delete"] == 204 and replies["add"] in (200, 204, 400), replies
        outcomes[replies["add"]] += 1
        # Whichever committed first, the deleted user is in no group.
        assert _members(engine, user_id) == [], (n, replies)
    assert sum(outcomes.values()) == 12


def test_sqlite_commits_leave_the_checkpoint_to_a_thread_that_brings_every_row_into_the_database_file(tmp_path):
    """A commit never copies SQLite's write-ahead log into the database file itself (every writer
    would queue behind that request); the store's checkpoint thread does, soon after the commits."""
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    writes = engine.execution_options(write=True)
    with writes.begin() as conn:
        conn.exec_driver_sql("create table t (value text)")
    for n in range(50):
        with writes.begin() as conn:
            conn.exec_driver_sql("insert into t values (?)", (f"row {n}",))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    deadline = time.monotonic() + JOIN_SECONDS
    while _rows_in_the_file_alone(path, tmp_path / "copy.db") != 50:
        assert time.monotonic() < deadline, "the log was not checkpointed"
        time.sleep(0.2)
    engine.dispose()


def _rows_in_the_file_alone(path, copy) -> int:
    """The rows the database file holds without its log (a copy of the file alone)."""
    shutil.copyfile(path, copy)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        try:
            return conn.execute("select count(*) from t").fetchone()[0]
        except sqlite3.OperationalError:  # the table itself is still in the log only
            return -1
