"""A 201 means the change is kept (docs/architecture.md decision 1): on SQLite every connection the
bridge opens syncs the write-ahead log at each commit, so a power loss right after the answer loses
nothing, as on PostgreSQL with its default settings."""

from __future__ import annotations

from scim_bridge.store.database import make_engine

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

