"""PostgreSQL: the INSERTs of new resources sent as one message, committed by the server on its own.

A create through a session costs five round trips on psycopg2 (BEGIN, the INSERTs into the resource's
table, its emails and the audit log, COMMIT), and group commit writes one create or batch at a time,
so those round trips set the rate of creates. PostgreSQL runs a message of several statements sent
outside a transaction block as one implicit transaction: all of them or none (the simple query
protocol, which psycopg2 uses for every ``execute``). So the same INSERTs, joined into one message on
a connection in autocommit, are one round trip, atomic, and committed when the answer comes back.

The statements are written here rather than by SQLAlchemy's execution, which would also cost the
Connection and its transaction on every create; each value goes through its column type's own bind
processor, as SQLAlchemy's execution would send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import sqlalchemy as sa


class OneMessage:
    """The INSERT texts for one dialect's (PostgreSQL's) connections."""

    def __init__(self, dialect: sa.Dialect):
        self.dialect = dialect

    def inserts(self, *parts: tuple[type, Sequence[dict]]) -> tuple[str, list]:
        """One multi-row INSERT per ``(model, rows)`` with rows (all rows of a part have the same
        keys), joined into one text, and their parameters in order (psycopg2's ``%s`` style)."""
        texts: list[str] = []
        parameters: list = []
        for model, rows in parts:
            if not rows:
                continue
            columns = tuple(rows[0])
            head, processors = _insert_head(self.dialect, model.__table__, columns)
            row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
            texts.append(head + ", ".join([row_marks] * len(rows)))
            for row in rows:
                parameters.extend(value if process is None else process(value)
                                  for value, process in zip((row[c] for c in columns), processors, strict=True))
        return ";\n".join(texts), parameters


@lru_cache(maxsize=32)
def _insert_head(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> tuple[str, tuple]:
    preparer = dialect.identifier_preparer
    processors = tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
    names = ", ".join(preparer.quote(c) for c in columns)
    head = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES "
    return head, processors
