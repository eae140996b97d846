"""SQLite look-ups by a unique column run with the interpreter lock held (docs/architecture.md decision 6).

Python's ``sqlite3`` releases the interpreter lock around every call into SQLite: three for a
one-row look-up (the step that finds the row, the step that finds the end, the reset). Under a
threaded server each release lets another request thread take the lock, and the look-up's thread
waits to get it back: benchmark 10 counted ~9 more context switches per look-up than a request
without the database, and taking the look-up's SQL off the driver made the gunicorn worker's CPU
per look-up 14–17 % smaller in same-run comparisons (1.03 → 0.85 ms, 0.97 → 0.84 ms) and its context
switches fall from ~23 to ~14 per look-up. A look-up by ``userName``, ``id`` or a group's
``displayName`` finds at most one row through a unique index: microseconds of work that releasing
the lock for costs more than it saves.

So those look-ups call the same SQLite library the ``sqlite3`` module uses (its own functions,
looked up through the module's shared object, never a second copy of SQLite: two copies in one
process break each other's POSIX file locks) through ``ctypes.PyDLL``, which keeps the lock. Each
thread has its own connection to the store's file, opened read-only (it never writes, not even the
checkpoint a last connection runs as it closes) on first use, shared by the engine's repositories,
and closed when the thread ends or the engine is disposed; a connection carried across a fork is
neither used nor closed in the child. A look-up is one statement in its own read transaction, so
it sees every commit made before it, as the driver's look-up does.

Whatever this path cannot do as the driver would, it leaves to the driver (``rows`` returns
``None``): the store busy (no busy wait while holding the lock: the driver waits with it released),
any SQLite error, a value it does not bind, text that is not UTF-8, a store that is not a file, a
Python whose ``sqlite3`` module does not expose SQLite's functions. Work under the lock is bounded:
only unique-column look-ups come here (at most one row), and a page SQLite must read from the file
system while the lock is held is a read from the operating system's cache in any store that is in
use. A cold read from a slow disk, or SQLite's own short retries when a read meets a writer
restarting the log, would hold the other request threads for their duration.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import weakref
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import event

log = logging.getLogger(__name__)

_OK, _ROW, _DONE = 0, 100, 101
_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL = 1, 2, 3, 4, 5
# Read-only: it never writes the store, not even the checkpoint a last connection runs as it closes.
# No CREATE: a missing file is an error, not a new empty store.
_OPEN_READONLY = 0x1
_TRANSIENT = ctypes.c_void_p(-1)  # SQLite copies a bound value before the call returns
_INT64 = (-(2**63), 2**63 - 1)


def _library():
    """The SQLite of Python's ``sqlite3`` module, its functions called with the interpreter lock held;
    None where the module does not expose them (SQLite linked into it with hidden symbols)."""
    try:
        import _sqlite3

        lib = ctypes.PyDLL(_sqlite3.__file__)
        lib.sqlite3_libversion.restype = ctypes.c_char_p
        import sqlite3

        if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
            return None  # not the library the module runs on
    except (AttributeError, OSError, ImportError):
        return None
    p, i, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    for name, restype, argtypes in (
        ("sqlite3_open_v2", i, [ctypes.c_char_p, ctypes.POINTER(p), i, ctypes.c_char_p]),
        ("sqlite3_close_v2", i, [p]),
        ("sqlite3_prepare_v2", i, [p, ctypes.c_char_p, i, ctypes.POINTER(p), p]),
        ("sqlite3_finalize", i, [p]),
        ("sqlite3_bind_text", i, [p, i, ctypes.c_char_p, i, p]),
        ("sqlite3_bind_int64", i, [p, i, i64]),
        ("sqlite3_bind_double", i, [p, i, ctypes.c_double]),
        ("sqlite3_bind_null", i, [p, i]),
        ("sqlite3_step", i, [p]),
        ("sqlite3_reset", i, [p]),
        ("sqlite3_clear_bindings", i, [p]),
        ("sqlite3_column_count", i, [p]),
        ("sqlite3_column_type", i, [p, i]),
        ("sqlite3_column_int64", i64, [p, i]),
        ("sqlite3_column_double", ctypes.c_double, [p, i]),
        ("sqlite3_column_text", p, [p, i]),
        ("sqlite3_column_blob", p, [p, i]),
        ("sqlite3_column_bytes", i, [p, i]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


_LIB = _library()


class _Connection:
    """One thread's read-only connection and its prepared statements. Closed when its thread ends or
    the engine is disposed; a connection opened before a fork is left alone in the child (SQLite's
    rule: never use or close a connection carried across a fork), hence its process id."""

    def __init__(self, lib, path: bytes):
        self.lib = lib
        self.pid = os.getpid()
        self.lock = threading.Lock()  # its thread's look-up, or the engine's disposal closing it
        self.statements: dict[str, ctypes.c_void_p] = {}
        self.db = ctypes.c_void_p()
        rc = lib.sqlite3_open_v2(path, ctypes.byref(self.db), _OPEN_READONLY, None)
        if rc != _OK:
            self.close()
            raise OSError(f"SQLite could not open the store for look-ups (result code {rc})")

    def usable(self) -> bool:
        return bool(self.db) and self.pid == os.getpid()

    def statement(self, sql: str) -> ctypes.c_void_p | None:
        found = self.statements.get(sql)
        if found is None:
            found = ctypes.c_void_p()
            if self.lib.sqlite3_prepare_v2(self.db, sql.encode(), -1, ctypes.byref(found), None) != _OK:
                self.lib.sqlite3_finalize(found)
                return None
            self.statements[sql] = found
        return found

    def close(self) -> None:
        if self.db and self.pid == os.getpid():
            for statement in self.statements.values():
                self.lib.sqlite3_finalize(statement)
            self.statements.clear()
            self.lib.sqlite3_close_v2(self.db)
        self.db = ctypes.c_void_p()

    def __del__(self) -> None:
        self.close()


class SqliteLookUps:
    """Unique-column look-ups of one SQLite store (see the module's docstring)."""

    def __init__(self, engine: sa.Engine, lib=None):
        self._engine = weakref.ref(engine)  # weakly: kept per engine, in a table keyed by it
        self._lib = lib or _LIB
        self._local = threading.local()
        self._path: bytes | None = None  # b"": not a file another connection can open
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()

    def rows(self, sql: str, parameters: Sequence) -> list[tuple] | None:
        """The rows ``sql`` (``?`` parameters) finds, as ``sqlite3`` returns them; None: ask the driver."""
        connection = self._connection()
        if connection is None:
            return None
        with connection.lock:
            if not connection.db:
                return None  # closed by the engine's disposal a moment ago
            statement = connection.statement(sql)
            if statement is None:
                return None
            return self._run(statement, parameters)

    def close(self) -> None:
        """Close every thread's connection (the engine was disposed); each opens a new one when next used."""
        for connection in list(self._open):
            with connection.lock:
                connection.close()

    def _run(self, statement, parameters: Sequence) -> list[tuple] | None:
        lib = self._lib
        try:
            if not self._bind(statement, parameters):
                return None
            found = []
            width = lib.sqlite3_column_count(statement)
            while (rc := lib.sqlite3_step(statement)) == _ROW:
                found.append(tuple(self._value(statement, i) for i in range(width)))
            return found if rc == _DONE else None  # busy, or any error: the driver answers
        except UnicodeError:
            return None  # text that is not UTF-8: the driver reports it as it does
        finally:
            lib.sqlite3_reset(statement)  # ends the read transaction: it must not hold up checkpoints
            lib.sqlite3_clear_bindings(statement)

    def _connection(self) -> _Connection | None:
        if self._path is None:
            with self._lock:
                if self._path is None:
                    engine = self._engine()
                    if engine is None:
                        return None
                    try:
                        self._path = _store_file(engine) or b""
                    except sa.exc.SQLAlchemyError:
                        return None  # the driver meets the same failure, and reports it
        if not self._path:
            return None
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None or not connection.usable():
            try:
                connection = _Connection(self._lib, self._path)
            except OSError as exc:
                log.debug("%s", exc)
                return None
            local.connection = connection
            self._open.add(connection)
        return connection

    def _bind(self, statement, parameters: Sequence) -> bool:
        lib = self._lib
        for index, value in enumerate(parameters, 1):
            if value is None:
                rc = lib.sqlite3_bind_null(statement, index)
            elif isinstance(value, str):
                encoded = value.encode()  # a lone surrogate raises UnicodeError: the driver's to refuse
                rc = lib.sqlite3_bind_text(statement, index, encoded, len(encoded), _TRANSIENT)
            elif isinstance(value, int):  # bool is an int, bound as 0 or 1 as sqlite3 binds it
                if not _INT64[0] <= value <= _INT64[1]:
                    return False
                rc = lib.sqlite3_bind_int64(statement, index, value)
            elif isinstance(value, float):
                rc = lib.sqlite3_bind_double(statement, index, value)
            else:
                return False
            if rc != _OK:
                return False
        return True

    def _value(self, statement, index: int):
        lib = self._lib
        kind = lib.sqlite3_column_type(statement, index)
        if kind == _INTEGER:
            return lib.sqlite3_column_int64(statement, index)
        if kind == _NULL:
            return None
        if kind == _FLOAT:
            return lib.sqlite3_column_double(statement, index)
        if kind == _TEXT:
            # As sqlite3 reads a TEXT value: UTF-8, strictly; the length asked after the text (SQLite's rule).
            pointer = lib.sqlite3_column_text(statement, index)
            size = lib.sqlite3_column_bytes(statement, index)
            return ctypes.string_at(pointer, size).decode() if size else ""
        pointer = lib.sqlite3_column_blob(statement, index)
        size = lib.sqlite3_column_bytes(statement, index)
        return ctypes.string_at(pointer, size) if size else b""


def _store_file(engine: sa.Engine) -> bytes | None:
    """The file behind the engine's main database, as SQLite names it (absolute); None for a store in
    memory or a temporary one, which another connection cannot open."""
    with engine.connect() as conn:
        for _seq, name, file in conn.exec_driver_sql("PRAGMA database_list").all():
            if name == "main":
                return os.fsencode(file) if file else None
    return None


_BY_ENGINE: weakref.WeakKeyDictionary[sa.Engine, SqliteLookUps] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def sqlite_look_ups(engine: sa.Engine) -> SqliteLookUps | None:
    """The look-ups of this engine (one per engine: its repositories share their connections), or None
    where it is not SQLite or this Python cannot run them."""
    if engine.dialect.name != "sqlite" or _LIB is None:
        return None
    with _BY_ENGINE_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = SqliteLookUps(engine)
            # Disposed, the engine's connections close; so do these (a restored file is read anew).
            event.listen(engine, "engine_disposed", lambda _engine: found.close())
        return found
