"""The databases' own query plans of the statements the bridge really sends: captured while it runs,
then EXPLAINed on the same database (index use at scale, the worker's queue queries)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event


class StatementLog:
    """Records the SELECT statements sent on ``engine`` while in the ``with`` block."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.statements: list[tuple[str, object]] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))

    def plans(self) -> list[tuple[str, str]]:
        prefix = "EXPLAIN QUERY PLAN " if self.engine.dialect.name == "sqlite" else "EXPLAIN "
        out = []
        with self.engine.connect() as conn:
            for statement, parameters in self.statements:
                rows = conn.exec_driver_sql(prefix + statement, parameters).all()
                out.append((statement, "\n".join(" ".join(str(c) for c in row) for row in rows)))
        return out


def full_scans(plan: str, dialect: str, tables: tuple[str, ...]) -> list[str]:
    """Lines of a plan that read a whole one of ``tables`` instead of seeking an index."""
    lines = plan.splitlines()
    if dialect == "sqlite":
        return [line for line in lines if "USING" not in line and any(f"SCAN {t}" in line for t in tables)]
    return [line for line in lines if any(f"Seq Scan on {t} " in line for t in tables)]
