"""The INSERTs of new resources written on the DBAPI connection, without SQLAlchemy's execution.

A create without targets or members writes its resource's row, its email rows and its audit entry.
Through a session that costs, besides the INSERTs, the Session, the Connection and its transaction,
a cache look-up and an execution context per statement: on SQLite about a fifth of a create's time
in the process. On PostgreSQL it also costs round trips (BEGIN, three INSERTs, COMMIT: five on
psycopg2), and group commit writes one create or batch at a time, so those round trips set the rate
of creates. PostgreSQL runs a message of several statements sent outside a transaction block as one
implicit transaction, all of them or none (the simple query protocol, which psycopg2 uses for every
``execute``): the same INSERTs joined into one message on a connection in autocommit are one round
trip, atomic, and committed when the answer comes back.

Each value goes through its column type's own bind processor, as SQLAlchemy's execution would send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import sqlalchemy as sa

# The drivers whose statements are written here: their parameter marks, and psycopg2's INSERTs joined
# into one message (it interpolates parameters on the client, so a text may hold several statements).
_MARKS = {"psycopg2": "%s", "pysqlite": "?"}


def direct_insert(dialect: sa.Dialect) -> DirectInsert | None:
    """The statements for this dialect's driver, or None when its creates go through sessions."""
    return DirectInsert(dialect) if dialect.driver in _MARKS else None


class DirectInsert:
    def __init__(self, dialect: sa.Dialect):
        self.dialect = dialect
        self.one_message = dialect.driver == "psycopg2"
        self._mark = _MARKS[dialect.driver]

    def message(self, *parts: tuple[type, Sequence[dict]]) -> tuple[str, list]:
        """PostgreSQL: one multi-row INSERT per ``(model, rows)`` with rows (all rows of a part have the
        same keys), joined into one text, and their parameters in order."""
        texts: list[str] = []
        parameters: list = []
        for model, rows in parts:
            if rows:
                head, marks, processors = _insert(self.dialect, self._mark, model.__table__, tuple(rows[0]))
                texts.append(head + ", ".join([marks] * len(rows)))
                for row in rows:
                    parameters.extend(_values(row, processors))
        return ";\n".join(texts), parameters

    def statements(self, *parts: tuple[type, Sequence[dict]]) -> list[tuple[str, list[tuple]]]:
        """One single-row INSERT per ``(model, rows)`` with rows, and each row's parameters (for
        ``executemany``)."""
        out = []
        for model, rows in parts:
            if rows:
                head, marks, processors = _insert(self.dialect, self._mark, model.__table__, tuple(rows[0]))
                out.append((head + marks, [tuple(_values(row, processors)) for row in rows]))
        return out


def _values(row: dict, processors: tuple[tuple[str, object], ...]) -> list:
    return [row[column] if process is None else process(row[column]) for column, process in processors]


@lru_cache(maxsize=32)
def _insert(dialect: sa.Dialect, mark: str, table: sa.Table, columns: tuple[str, ...]) -> tuple[str, str, tuple]:
    preparer = dialect.identifier_preparer
    processors = tuple((c, table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in columns)
    names = ", ".join(preparer.quote(c) for c in columns)
    return (f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ",
            "(" + ", ".join([mark] * len(columns)) + ")", processors)
