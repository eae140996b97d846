"""Writing outbox rows: "bring resource R in line on target T" (docs/architecture.md decisions 1 and 2).

Rows are written in the transaction of the SCIM change that needs them. There is at most one row per
(resource, target): a further change before delivery bumps its generation instead of adding a row,
which is how five quick changes to one user coalesce into one delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.store.dialect import insert_for
from scim_bridge.store.models import GroupMember, OutboxRow


def _rows(resource_type: str, ids: Iterable[str], targets: Iterable[str], now: datetime) -> list[dict]:
    return [
        {"resource_type": resource_type, "resource_id": i, "target": t, "state": "pending", "due_at": now,
         "attempts": 0, "generation": 1, "created": now}
        for i in sorted(set(ids)) for t in targets
    ]


_KEY = ["resource_type", "resource_id", "target"]


@cache
def _enqueue_statement(dialect: str) -> sa.Insert:
    # Built once per dialect, run on the session's connection (Core, not an ORM bulk insert): on
    # every write that queues a delivery, building it and the ORM's bulk path cost more than the
    # database took to run it (profiled: half a millisecond of a create's ~1.6).
    insert = insert_for(dialect, OutboxRow.__table__)
    # A parked row (the target refused an earlier state) is woken too: the new state may be acceptable.
    return insert.on_conflict_do_update(
        index_elements=_KEY,
        set_={"state": "pending", "due_at": insert.excluded.due_at, "attempts": 0, "last_error": None,
              "generation": OutboxRow.__table__.c.generation + 1},
    )


@cache
def _enqueue_missing_statement(dialect: str) -> sa.Insert:
    return insert_for(dialect, OutboxRow.__table__).on_conflict_do_nothing(index_elements=_KEY)


def enqueue(session: Session, resource_type: str, ids: Iterable[str], targets: Iterable[str],
            now: datetime) -> None:
    rows = _rows(resource_type, ids, targets, now)
    if rows:
        connection = session.connection()
        connection.execute(_enqueue_statement(connection.dialect.name), rows)


def enqueue_missing(session: Session, resource_type: str, ids: Iterable[str], targets: Iterable[str],
                    now: datetime) -> None:
    """Add rows only where there is none for the (resource, target): an existing row is left as it is."""
    rows = _rows(resource_type, ids, targets, now)
    if rows:
        connection = session.connection()
        connection.execute(_enqueue_missing_statement(connection.dialect.name), rows)


def wake_members(session: Session, group_id: str, target: str, now: datetime) -> None:
    """Make the queued deliveries of the group's members on ``target`` due now, and have any running one
    go again (its generation moves on). One statement, whatever the group's size; rows are not added."""
    members = sa.select(GroupMember.user_id).where(GroupMember.group_id == group_id)
    session.execute(
        sa.update(OutboxRow)
        .where(OutboxRow.resource_type == "User", OutboxRow.target == target, OutboxRow.state == "pending",
               OutboxRow.resource_id.in_(members))
        .values(due_at=now, generation=OutboxRow.generation + 1)
    )


def claimable_at(due_at: datetime, lease_until: datetime | None) -> datetime:
    """When a pending row may next be claimed: the later of its due time and its lease's end (a row
    leased by another worker, live or crashed, is not claimable before the lease ends)."""
    return max(due_at, lease_until) if lease_until is not None else due_at
