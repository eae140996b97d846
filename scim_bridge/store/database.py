"""Engine and session set-up for SQLite and PostgreSQL, with a bound on every wait for the database.

A database that is down, frozen or partitioned must cost a request seconds, not the server's whole
timeout (docs/architecture.md decision 9): connecting, waiting for a pooled connection, running a
statement and waiting for SQLite's write lock are each bounded by a ``database:`` setting, and
``database_unavailable`` tells the error boundary which failures mean "try again later" (503).
"""

from __future__ import annotations

import logging
import math
import os
import select
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from scim_bridge.store.dialect import register_sqlite_functions

log = logging.getLogger("scim_bridge.store")


@dataclass(frozen=True)
class Timeouts:
    """Seconds; the defaults are those of ``config.yaml``'s ``database:`` section."""

    connect_timeout: float = 5.0  # establishing a PostgreSQL connection
    statement_timeout: float = 10.0  # one statement on PostgreSQL (the server cancels it)
    pool_timeout: float = 5.0  # waiting for a free connection of the pool
    busy_timeout: float = 10.0  # SQLite: waiting for another writer's lock

    @classmethod
    def of(cls, database) -> Timeouts:
        """From the ``database:`` section (``config.DatabaseSettings``)."""
        return cls(**{f.name: getattr(database, f.name) for f in fields(cls)})


def engine_from_settings(database) -> sa.Engine:
    """The engine the ``database:`` section (``config.DatabaseSettings``) describes."""
    return make_engine(database.url, Timeouts.of(database))


def make_engine(url: str, timeouts: Timeouts | None = None) -> sa.Engine:
    timeouts = timeouts or Timeouts()
    if url.startswith("sqlite"):
        parsed = sa.make_url(url)
        engine = sa.create_engine(url, pool_timeout=timeouts.pool_timeout,
                                  connect_args={"check_same_thread": False, "timeout": timeouts.busy_timeout,
                                                "factory": _WriteLockedConnection})
        writes = _file_writes(parsed.database)
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, timeouts, writes))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    parsed = sa.make_url(url)
    # The statement timeout travels in the startup packet (no extra round trip); options the URL
    # already carries (a search_path) are kept.
    options = " ".join(filter(None, [parsed.query.get("options"),
                                     f"-c statement_timeout={int(timeouts.statement_timeout * 1000)}"]))
    _install_bounded_waits()
    engine = sa.create_engine(
        parsed, pool_size=10, max_overflow=10, pool_timeout=timeouts.pool_timeout, pool_recycle=RECYCLE_SECONDS,
        connect_args={"options": options, "connect_timeout": max(1, math.ceil(timeouts.connect_timeout)),
                      "connection_factory": _bounded_connection(timeouts)},
    )
    _ping_when_idle(engine)
    return engine


# -- PostgreSQL: liveness of pooled connections ---------------------------------------------------------
#
# A pooled connection may have died while it sat in the pool (the server restarted, a proxy dropped
# it). Pinging every checkout (pool_pre_ping) costs a round trip per request; instead a connection is
# pinged only when it sat idle longer than IDLE_PING_SECONDS, and none lives longer than
# RECYCLE_SECONDS. A connection found dead while in use (the server went away under load) fails its
# statement as a disconnect: SQLAlchemy then discards every connection of the pool made before it,
# and the error boundary answers that request 503 with Retry-After (``database_unavailable``), which
# identity providers retry.

IDLE_PING_SECONDS = 2.0
RECYCLE_SECONDS = 1800


def _ping_when_idle(engine: sa.Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            # The pool retries the checkout with a fresh connection (a dead server then fails that
            # connect, within connect_timeout).
            raise sa.exc.DisconnectionError(exc.__class__.__name__) from exc


# -- PostgreSQL: waits bounded on the client side ------------------------------------------------------
#
# A statement timeout is enforced by the server; a frozen or partitioned server enforces nothing, and
# libpq would wait on its socket for ever. psycopg2 lets a wait callback do the waiting instead
# (psycopg2.extensions.set_wait_callback); ours gives up after the connection's bound, which closes
# the connection, so the pool discards it. The bound is the statement timeout plus the connect timeout:
# a healthy server cancels a slow statement and says so first.


def _bounded_connection(timeouts: Timeouts) -> type:
    import psycopg2.extensions  # here: a SQLite deployment never loads libpq

    return type("BoundedConnection", (psycopg2.extensions.connection,), {
        "connect_wait": timeouts.connect_timeout,
        "reply_wait": timeouts.statement_timeout + timeouts.connect_timeout,
    })


def _install_bounded_waits() -> None:
    import psycopg2.extensions

    if psycopg2.extensions.get_wait_callback() is None:
        psycopg2.extensions.set_wait_callback(_bounded_wait)


def _bounded_wait(conn) -> None:
    """psycopg2's wait callback (psycopg2.extras.wait_select) with a time bound per wait. Connections
    not made by ``make_engine`` carry no bound and wait as libpq would."""
    import psycopg2.extensions

    connecting = conn.status == psycopg2.extensions.STATUS_SETUP
    bound = getattr(conn, "connect_wait" if connecting else "reply_wait", None)
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            ready = select.select([conn.fileno()], [], [], bound)[0]
        elif state == psycopg2.extensions.POLL_WRITE:
            ready = select.select([], [conn.fileno()], [], bound)[1]
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        if not ready:
            what = "connecting" if connecting else "waiting for a reply"
            # Worded as libpq's own loss of a server, which SQLAlchemy reads as a disconnect.
            raise psycopg2.OperationalError(f"could not receive data from server: no answer within {bound:g} s "
                                            f"while {what}")


@contextmanager
def unbounded(connection: sa.Connection) -> Iterator[None]:
    """Lift the statement timeout and the reply bound inside one transaction (schema migrations)."""
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name != "postgresql" or not hasattr(dbapi, "reply_wait"):
        yield
        return
    connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
    dbapi.reply_wait = None
    try:
        yield
    finally:
        del dbapi.reply_wait  # back to the class's bound


# -- what counts as "the database is unavailable" ----------------------------------------------------

# SQLSTATE classes and codes that mean "later may work": connection exception, insufficient
# resources (too many connections), operator intervention (statement timeout, shutdown, starting
# up), lock not available, and serialization failure or deadlock.
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_CODES = ("55P03", "40001", "40P01")
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database is busy",
                     "unable to open database file")


def database_unavailable(error: BaseException) -> bool:
    """True for failures of reaching the database (refused, timed out, pool exhausted, locked), which a
    client should retry later; False for everything else, which is a bug to report."""
    if isinstance(error, sa.exc.TimeoutError):  # no pooled connection came free in pool_timeout
        return True
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, sa.exc.InterfaceError):
        return True
    orig = error.orig
    if hasattr(orig, "pgcode"):  # psycopg2
        code = orig.pgcode
        if code is None:  # libpq's own failures: refused, closed, no answer
            return isinstance(error, sa.exc.OperationalError)
        return code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES
    if isinstance(orig, sqlite3.OperationalError):
        return any(text in str(orig) for text in _SQLITE_TRANSIENT)
    return False


def describe(error: BaseException) -> str:
    """The kind of a database failure, for logs: class and SQLSTATE, never the message (which can
    carry statement parameters)."""
    orig = getattr(error, "orig", None)
    code = getattr(orig, "pgcode", None)
    kind = orig.__class__.__name__ if orig is not None else error.__class__.__name__
    return f"{kind} {code}" if code else kind


# -- SQLite ------------------------------------------------------------------------------------------


# SQLite takes one writer at a time. Writers of other processes wait in SQLite's busy handler, which
# sleeps in growing steps (up to 100 ms) between tries; writers of this process queue on a lock instead
# (one per database file), taken before BEGIN IMMEDIATE and released when the transaction ends, so
# the next one starts the moment the previous one commits.

#
# In WAL mode the commit that takes the log past ``wal_autocheckpoint`` pages (1,000) copies the log
# into the database file and syncs both, tens of milliseconds, while it holds the write lock: every
# writer queues behind that one request (the tail of create latency). The connections made here turn
# that off, and a thread per database file and process (``_Checkpointer``) runs a PASSIVE checkpoint,
# which waits for no reader or writer, about once a second while commits come in. Durability is as
# before: a commit is in the log when it returns, and a checkpoint only moves committed pages.


@dataclass
class _FileWrites:
    lock: threading.Lock
    checkpointer: _Checkpointer


_FILES: dict[str, _FileWrites] = {}
_FILES_GUARD = threading.Lock()


def _file_writes(database: str | None) -> _FileWrites | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None  # a private database: no other connection writes to it
    from pathlib import Path

    key = str(Path(database).resolve())
    with _FILES_GUARD:
        if key not in _FILES:
            _FILES[key] = _FileWrites(threading.Lock(), _Checkpointer(key))
        return _FILES[key]


class _Checkpointer:
    """Checkpoints one database file's write-ahead log off the request path, once a second at most and
    only after commits. The first commit starts the thread; it ends after a minute without commits
    (a test run opens many databases), and the next commit starts it again."""

    INTERVAL_SECONDS = 1.0
    IDLE_ROUNDS = 60

    def __init__(self, path: str):
        self.path = path
        self.commits = 0  # a count of this process's commits; only its changing matters
        self._checkpointed = 0
        self._pid: int | None = None  # the process whose thread runs (a forked child starts its own)
        self._guard = threading.Lock()

    def committed(self) -> None:
        self.commits += 1
        if self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._guard:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        connection, idle = None, 0
        try:
            while True:
                time.sleep(self.INTERVAL_SECONDS)
                with self._guard:
                    idle = 0 if self.commits != self._checkpointed else idle + 1
                    if idle >= self.IDLE_ROUNDS:
                        self._pid = None  # the next commit starts a thread again
                        return
                try:
                    connection = connection or sqlite3.connect(self.path, check_same_thread=False)
                    self.checkpoint(connection)
                except sqlite3.Error as exc:
                    # Tried again after the next commit, on a new connection; meanwhile the log
                    # grows, and nothing is lost.
                    log.warning("checkpoint of the SQLite log failed (%s)", exc.__class__.__name__)
                    if connection is not None:
                        connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint when there were commits since the last one."""
        commits = self.commits
        if commits != self._checkpointed:
            self._checkpointed = commits
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class _WriteLockedConnection(sqlite3.Connection):
    """A sqlite3 connection that holds its database's process-wide write lock from BEGIN IMMEDIATE
    until its transaction ends (commit, rollback or close)."""

    write_lock: threading.Lock | None = None
    checkpointer: _Checkpointer | None = None
    busy_timeout: float = 10.0
    holds_lock = False

    def begin_write(self) -> None:
        if self.write_lock is not None:
            if not self.write_lock.acquire(timeout=self.busy_timeout):
                # Worded as SQLite's own, so that the boundary answers 503 (``database_unavailable``).
                raise sqlite3.OperationalError("database is locked")
            self.holds_lock = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self.holds_lock:
            self.holds_lock = False
            self.write_lock.release()

    def commit(self) -> None:
        wrote = self.in_transaction
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()
        if wrote and self.checkpointer is not None:
            self.checkpointer.committed()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


def _journal_in_wal(cursor, seconds: float) -> None:
    """Switch the store to write-ahead logging. Two processes opening it at once (gunicorn's workers
    starting together on a new store, one of them creating the schema) can get "database is locked"
    at once from this pragma, without SQLite's busy wait (seen in CI: a worker failed to boot): it is
    tried again, for up to the busy timeout."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_connection, timeouts: Timeouts, writes: _FileWrites | None = None):
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    if isinstance(dbapi_connection, _WriteLockedConnection):
        dbapi_connection.busy_timeout = timeouts.busy_timeout
        if writes is not None:
            dbapi_connection.write_lock = writes.lock
            dbapi_connection.checkpointer = writes.checkpointer
    cursor = dbapi_connection.cursor()
    _journal_in_wal(cursor, timeouts.busy_timeout)  # readers do not block the writer
    if isinstance(dbapi_connection, _WriteLockedConnection) and writes is not None:
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # _Checkpointer's thread does it
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(timeouts.busy_timeout * 1000)}")
    # A commit is the promise that the change is kept (docs/architecture.md decision 1): in WAL mode
    # NORMAL survives a crash of the process but may drop the last commits on power loss; FULL syncs
    # the log at each commit, as PostgreSQL does by default (about 2 ms a commit on this disk).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
    register_sqlite_functions(dbapi_connection)


def statement_reads(engine: sa.Engine) -> sa.Engine:
    """The engine for reads whose statements each see the database as it is when they run, with no
    transaction around them (``reading``): on SQLite no BEGIN and ROLLBACK around a look-up, as
    PostgreSQL's reads run in autocommit."""
    return engine.execution_options(statement_reads=True)


@contextmanager
def reading(reads: sa.Engine) -> Iterator[sa.Connection]:
    """A connection of ``statement_reads``' engine for one read, with no transaction around its
    statements (each is its own snapshot, as under PostgreSQL's READ COMMITTED anyway), which saves
    the BEGIN and ROLLBACK: on SQLite two statements, on PostgreSQL two round trips (autocommit).
    psycopg2's ``autocommit`` flag is set and cleared on the client alone; SQLAlchemy's AUTOCOMMIT
    isolation option would cost a round trip to reset the isolation level at every return to the
    pool."""
    with reads.connect() as conn:
        if reads.dialect.name != "postgresql":
            yield conn
            return
        dbapi = conn.connection.dbapi_connection
        dbapi.autocommit = True
        try:
            yield conn
        finally:
            if not dbapi.closed:
                dbapi.autocommit = False


def _sqlite_begin(conn):
    # A write transaction reads (uniqueness, ETag) before it writes. With a deferred BEGIN, a second
    # writer would fail at once with "database is locked" when upgrading its read lock; taking the
    # write lock at BEGIN makes writers queue on busy_timeout instead. Reads stay deferred (WAL).
    options = conn.get_execution_options()
    if options.get("statement_reads", False):
        return  # sqlite3 runs each statement in a transaction of its own (isolation_level None)
    immediate = options.get("write", False)
    dbapi = conn.connection.dbapi_connection
    if immediate and isinstance(dbapi, _WriteLockedConnection):
        try:
            dbapi.begin_write()
        except sqlite3.Error as exc:
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", (), exc) from exc
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_sqlite_write(dbapi_connection) -> None:
    """A write transaction on a SQLite DBAPI connection used without SQLAlchemy's execution, begun
    as ``_sqlite_begin`` begins a session's (the process's write lock, then BEGIN IMMEDIATE)."""
    if isinstance(dbapi_connection, _WriteLockedConnection):
        dbapi_connection.begin_write()
    else:
        dbapi_connection.execute("BEGIN IMMEDIATE")


def make_session_factory(engine: sa.Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions for reading, or (``write=True``) for transactions that change the store."""
    bind = engine.execution_options(write=True) if write else engine
    return sessionmaker(bind, expire_on_commit=False)
