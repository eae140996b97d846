"""SQLite look-ups by a unique column, run without releasing the interpreter lock
(store/sqlite_look_ups.py): they answer as the driver does, see every commit made before them, never
wait on a busy store while holding the lock, and close their connections with their threads."""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from scim_bridge.scim.filter import parse_filter
from scim_bridge.scim.schemas import GROUP, USER
from scim_bridge.store.database import Timeouts, make_engine
from scim_bridge.store.models import Base, User
from scim_bridge.store.repository import Repository, _equality_page
from scim_bridge.store.sqlite_look_ups import _LIB, SqliteLookUps, sqlite_look_ups
from scim_bridge.store.tables import TABLES


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    Base.metadata.create_all(engine)
    yield engine, tmp_path / "bridge.db"
    engine.dispose()


def _user(name: str, **more) -> dict:
    return {"userName": name, "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
            "active": True, **more}


def _look_up_sql(engine):
    """The statement the repository runs for ``userName eq``, and its parameters for a name."""
    page = _equality_page(engine.dialect, TABLES["User"], User.user_name_lower, False, True)
    return page.sql, lambda name: page.parameters(name.lower(), 0, 100)


def _with_ann(store):
    """The store holding user "ann"; the userName look-up's statement and parameters; look-ups of its own."""
    engine, path = store
    Repository(engine).create(USER, _user("ann"), "idp")
    sql, parameters = _look_up_sql(engine)
    return engine, path, sql, parameters, SqliteLookUps(engine)


def _db_files_open(path) -> int:
    """File descriptors of this process on the store's main file."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since listed
            count += os.readlink(f"/proc/self/fd/{fd}") == target
    return count


def test_unique_look_ups_answer_as_the_driver_does(store):
    engine, _ = store
    repo = Repository(engine)
    ann = repo.create(USER, _user("Émile.Zoë", displayName="Émile \"Z\" Zoë", externalId="e-1"), "idp")
    repo.create(USER, _user("bob", active=False), "idp")
    team = repo.create(GROUP, {"displayName": "Ünïcode Team"}, "idp")
    filters = [
        (USER, 'userName eq "ÉMILE.ZOË"'), (USER, 'userName eq "bob"'), (USER, 'userName eq "nobody"'),
        (USER, f'id eq "{ann.id}"'), (GROUP, 'displayName eq "ünïcode team"'), (GROUP, f'id eq "{team.id}"'),
        (USER, 'externalId eq "e-1"'),  # not unique: the driver's, as before
    ]
    for rtype, text in filters:
        node = parse_filter(text, rtype)
        # sortBy takes the general query path, which never comes here: the driver's answer.
        expected = repo.search(rtype, node, sort_by="id")
        found = repo.search(rtype, node)
        assert [(r.id, r.attributes, r.version, r.created, r.last_modified, r.groups) for r in found[1]] == \
               [(r.id, r.attributes, r.version, r.created, r.last_modified, r.groups) for r in expected[1]], text
        assert found[0] == expected[0] == len(found[1]), text
    # The rows came from this path, not the driver's, and are the rows sqlite3 returns.
    sql, parameters = _look_up_sql(engine)
    driver = sqlite3.connect(engine.url.database)
    try:
        for name in ("émile.zoë", "bob", "nobody"):
            assert sqlite_look_ups(engine).rows(sql, parameters(name)) == \
                   driver.execute(sql, parameters(name)).fetchall()
        # Every kind of value, bound and read back as sqlite3 binds and reads it.
        values = ("Émile ☃ 𝄞", "", -(2**63), 2**63 - 1, 1.5, None, True)
        typed = "SELECT ?, ?, ?, ?, ?, ?, ?, x'00ff', x'', typeof(?)"
        expected = driver.execute(typed, (*values, 2**62)).fetchall()
        assert sqlite_look_ups(engine).rows(typed, (*values, 2**62)) == expected
        assert sqlite_look_ups(engine).rows(typed, (*values, 2**64)) is None  # beyond SQLite's integers
    finally:
        driver.close()


def test_the_repository_runs_unique_look_ups_without_a_pooled_connection(tmp_path):
    """The repository takes this path for userName (and not for externalId, which is not unique and
    could match many rows): with every pooled connection taken, the one answers, the other waits."""
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}", Timeouts(pool_timeout=0.3))
    try:
        Base.metadata.create_all(engine)
        repo = Repository(engine)
        ann = repo.create(USER, _user("ann", externalId="e-1"), "idp")
        by_name, by_external_id = parse_filter('userName eq "ANN"', USER), parse_filter('externalId eq "e-1"', USER)
        assert [r.id for r in repo.search(USER, by_name)[1]] == [ann.id]  # (finds the store's file)
        taken = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]
        try:
            assert [r.id for r in repo.search(USER, by_name)[1]] == [ann.id]
            with pytest.raises(sa.exc.TimeoutError):
                repo.search(USER, by_external_id)
        finally:
            for connection in taken:
                connection.close()
        assert [r.id for r in repo.search(USER, by_external_id)[1]] == [ann.id]
    finally:
        engine.dispose()


def test_a_look_up_sees_each_commit_made_before_it(store):
    engine, path = store
    repo = Repository(engine)
    node = parse_filter('userName eq "ann"', USER)
    assert repo.search(USER, node) == (0, [])
    ann = repo.create(USER, _user("ann"), "idp")
    assert [r.id for r in repo.search(USER, node)[1]] == [ann.id]
    repo.delete(USER, ann.id, "idp")
    assert repo.search(USER, node) == (0, [])
    other = make_engine(f"sqlite:///{path}")  # another worker process's store, on the same file
    try:
        again = Repository(other).create(USER, _user("ann"), "idp")
        assert [r.id for r in repo.search(USER, node)[1]] == [again.id]
    finally:
        other.dispose()


def test_a_busy_store_is_left_to_the_driver_without_waiting(store):
    """Holding the interpreter lock, a busy wait would stop every other request thread: the look-up
    hands a busy store to the driver at once, which waits with the lock released."""
    engine, path = store
    Repository(engine).create(USER, _user("ann"), "idp")
    sql, parameters = _look_up_sql(engine)
    look_ups = sqlite_look_ups(engine)
    warm = threading.Thread(target=look_ups.rows, args=(sql, parameters("ann")))  # finds the store's file
    warm.start()
    warm.join()
    gc.collect()
    engine.dispose()  # no connection of the bridge left open: another may now lock the store whole
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # no other connection may read now
    try:
        began = time.monotonic()
        assert look_ups.rows(sql, parameters("ann")) is None
        # No busy wait: the store's busy timeout is 10 s; half of it is a generous bound for an answer
        # given at once on a loaded machine, and still well short of a wait that ran out.
        assert time.monotonic() - began < Timeouts().busy_timeout / 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(look_ups.rows(sql, parameters("ann"))) == 1


class _BusyAtStep:
    """SQLite as it answers a step while another process holds the store (SQLITE_BUSY), which a test
    cannot bring about for a connection that has already read the schema without locking the others out."""

    def __init__(self, lib):
        self._lib = lib

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def sqlite3_step(self, statement):
        return 5  # SQLITE_BUSY


def test_a_step_refused_as_busy_is_left_to_the_driver(store):
    engine, _ = store
    Repository(engine).create(USER, _user("ann"), "idp")
    sql, parameters = _look_up_sql(engine)
    assert SqliteLookUps(engine, lib=_BusyAtStep(_LIB)).rows(sql, parameters("ann")) is None
    assert len(SqliteLookUps(engine, lib=_LIB).rows(sql, parameters("ann"))) == 1


def test_a_look_up_given_up_half_way_leaves_no_read_transaction_open(store):
    """A read transaction left open would keep the write-ahead log from ever being emptied."""
    engine, path = store
    repo = Repository(engine)
    for name in ("ann", "bob"):
        repo.create(USER, _user(name), "idp")
    look_ups = sqlite_look_ups(engine)
    # Text that is not UTF-8 in the first row: given up there, left to the driver to report.
    assert look_ups.rows("SELECT CAST(x'ff' AS TEXT) FROM users", ()) is None
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("UPDATE users SET version = version + 1")
        busy, _log, _done = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        writer.close()


def test_a_thread_s_connection_is_closed_when_the_thread_ends(store):
    engine, path, sql, parameters, look_ups = _with_ann(store)
    during: list[int] = []

    def look_up():
        assert len(look_ups.rows(sql, parameters("ann"))) == 1
        engine.dispose()  # the pool's connections closed: what stays open is the look-ups'
        during.append(_db_files_open(path))

    thread = threading.Thread(target=look_up)
    thread.start()
    thread.join()
    gc.collect()
    # The thread's own connection (SQLite also keeps a closed connection's file open while another
    # connection of the process holds locks on the file: the pool's, closed above)...
    assert during[0] >= 1
    assert _db_files_open(path) == 0  # ...gone with the thread, and with it whatever it held open


def test_disposing_of_the_engine_closes_every_thread_s_connection(store):
    """What ``engine.dispose()`` promises (no connection left on the file, so that it may be
    replaced), even while the threads that opened them live on."""
    engine, path = store
    repo = Repository(engine)
    repo.create(USER, _user("ann"), "idp")
    node = parse_filter('userName eq "ann"', USER)
    looked_up, finish = threading.Event(), threading.Event()

    def worker():
        repo.search(USER, node)
        looked_up.set()
        finish.wait(30)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        looked_up.wait(30)
        assert repo.search(USER, node)[0] == 1
        assert _db_files_open(path) >= 2
        engine.dispose()
        assert _db_files_open(path) == 0
        assert repo.search(USER, node)[0] == 1  # a new connection when next used
    finally:
        finish.set()
        thread.join()


def test_the_look_up_connection_never_writes_the_store(store):
    """Not even the checkpoint SQLite runs when the last connection to a store closes."""
    engine, path, sql, parameters, look_ups = _with_ann(store)
    assert len(look_ups.rows(sql, parameters("ann"))) == 1
    engine.dispose()  # the look-up connection is now the only one open
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE users SET version = version + 1")
    writer.close()  # not the last: its log stays
    size, log = path.stat().st_size, path.with_name(path.name + "-wal")
    assert log.exists()
    look_ups.close()  # the last connection closes
    assert (path.stat().st_size, log.exists()) == (size, True)


def test_a_forked_child_opens_its_own_connection(store):
    """A connection must not be carried across a fork (SQLite's rule): the child reads through a new one."""
    engine, _, sql, parameters, look_ups = _with_ann(store)
    assert len(look_ups.rows(sql, parameters("ann"))) == 1
    parents = look_ups._connection()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running anything of pytest's
        try:
            ok = look_ups._connection() is not parents and len(look_ups.rows(sql, parameters("ann"))) == 1
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert look_ups._connection() is parents  # the parent's is untouched


def test_a_store_in_memory_is_left_to_the_driver():
    engine = sa.create_engine("sqlite://")
    try:
        Base.metadata.create_all(engine)
        sql, parameters = _look_up_sql(engine)
        assert SqliteLookUps(engine).rows(sql, parameters("ann")) is None  # another connection sees another store
    finally:
        engine.dispose()


def test_look_ups_stay_right_while_others_write_and_the_log_is_emptied(store):
    """Threads looking up while another writes and a checkpoint empties and restarts the write-ahead
    log again and again (the moment a reader must notice the log it knew is gone): every look-up of a
    stored user finds it, of a user never stored finds nothing, of a user created during the run finds
    it once its create has returned, and no look-up fails."""
    engine, path = store
    repo = Repository(engine)
    stored = [repo.create(USER, _user(f"kept{i}"), "idp").id for i in range(20)]
    created: list[tuple[str, str]] = []  # (name, id), appended once the create has returned
    errors: list[BaseException] = []
    stop = threading.Event()

    def write():
        n = 0
        while not stop.is_set():
            record = repo.create(USER, _user(f"new{n}"), "idp")
            created.append((f"new{n}", record.id))
            n += 1

    def checkpoint():
        checkpointer = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            while not stop.is_set():
                checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                time.sleep(0.002)
        finally:
            checkpointer.close()

    def look_up(seed: int):
        rounds = 0
        while not stop.is_set() or rounds < 50:
            rounds += 1
            i = (seed + rounds) % len(stored)
            found = repo.search(USER, parse_filter(f'userName eq "KEPT{i}"', USER))[1]
            assert [r.id for r in found] == [stored[i]]
            assert repo.search(USER, parse_filter(f'userName eq "never{i}"', USER)) == (0, [])
            if created:
                name, known = created[-1 - rounds % len(created)]
                assert [r.id for r in repo.search(USER, parse_filter(f'userName eq "{name}"', USER))[1]] == [known]

    def guarded(work, *args):
        try:
            work(*args)
        except BaseException as exc:  # reported below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(write,)), threading.Thread(target=guarded, args=(checkpoint,))]
    threads += [threading.Thread(target=guarded, args=(look_up, seed)) for seed in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(created) > 10  # the writer did write meanwhile
