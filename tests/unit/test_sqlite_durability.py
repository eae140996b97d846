"""A 201 means the change is kept (docs/architecture.md decision 1): on SQLite every connection the
bridge opens syncs the write-ahead log at each commit, so a power loss right after the answer loses
nothing, as on PostgreSQL with its default settings."""

from __future__ import annotations

import sqlite3

import pytest

from scim_bridge.store.database import _journal_in_wal, make_engine

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_every_sqlite_connection_syncs_its_commits(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    try:
        connections = [engine.connect() for _ in range(3)]  # the pool's several connections alike
        assert [c.exec_driver_sql("PRAGMA synchronous").scalar() for c in connections] == [FULL] * 3
        assert connections[0].exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        for connection in connections:
            connection.close()
    finally:
        engine.dispose()



class _LockedCursor:
    """A cursor whose journal-mode pragma finds the store locked ``times`` times (another process
    opening the new store at the same moment)."""

    def __init__(self, times: int, message: str = "database is locked"):
        self.times, self.message, self.tried = times, message, 0

    def execute(self, sql):
        self.tried += 1
        if self.tried <= self.times:
            raise sqlite3.OperationalError(self.message)


def test_switching_to_wal_is_tried_again_while_another_process_holds_the_store():

    cursor = _LockedCursor(times=3)
    _journal_in_wal(cursor, seconds=30)
    assert cursor.tried == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _journal_in_wal(_LockedCursor(times=1000), seconds=0.2)  # bounded by the busy timeout
    other = _LockedCursor(times=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        _journal_in_wal(other, seconds=30)
    assert other.tried == 1  # anything else is not retried
