"""Writing outbox rows: "bring resource R in line on target T" (docs/architecture.md decisions 1 and 2).

Rows are written in the transaction of the SCIM change that needs them. There is at most one row per
(resource, target): a further change before delivery bumps its generation instead of adding a row,
which is how five quick changes to one user coalesce into one delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scim_bridge.store.models import OutboxRow

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _rows(resource_type: str, ids: Iterable[str], targets: Iterable[str], now: datetime) -> list[dict]:
    return [
        {"resource_type": resource_type, "resource_id": i, "target": t, "state": "pending", "due_at": now,
         "attempts": 0, "generation": 1, "created": now}
        for i in sorted(set(ids)) for t in targets
    ]


def enqueue(session: Session, resource_type: str, ids: Iterable[str], targets: Iterable[str],
            now: datetime) -> None:
    rows = _rows(resource_type, ids, targets, now)
    if not rows:
        return
    insert = _INSERTS[session.get_bind().dialect.name](OutboxRow)
    # A parked row (the target refused an earlier state) is woken too: the new state may be acceptable.
    statement = insert.on_conflict_do_update(
        index_elements=["resource_type", "resource_id", "target"],
        set_={"state": "pending", "due_at": now, "attempts": 0, "last_error": None,
              "generation": OutboxRow.generation + 1},
    )
    session.execute(statement, rows)


def enqueue_missing(session: Session, resource_type: str, ids: Iterable[str], targets: Iterable[str],
                    now: datetime) -> None:
    """Add rows only where there is none for the (resource, target): an existing row is left as it is."""
    rows = _rows(resource_type, ids, targets, now)
    if rows:
        insert = _INSERTS[session.get_bind().dialect.name](OutboxRow)
        session.execute(insert.on_conflict_do_nothing(index_elements=["resource_type", "resource_id", "target"]),
                        rows)
