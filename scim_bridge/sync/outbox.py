"""Claiming and settling outbox rows (ARCHITECTURE decisions 1, 2 and 6).

A worker claims due rows by writing its name and a lease on them; on PostgreSQL the claim query
uses ``FOR UPDATE SKIP LOCKED`` so several bridge instances share one queue without blocking each
other, on SQLite the write lock serialises claims. A row whose lease ran out (its worker died) is
claimable again, which is what makes delivery at-least-once across crashes and restarts.

Settling compares the row's generation with the one claimed: a SCIM change that arrived during the
delivery bumped it, so the row stays pending and the newer state is delivered too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import OutboxRow, utcnow


@dataclass(frozen=True)
class Claim:
    id: int
    resource_type: str
    resource_id: str
    target: str
    generation: int
    attempts: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.resource_type, self.resource_id)


class Outbox:
    def __init__(self, engine: sa.Engine, *, owner: str, lease_seconds: float = 120.0, clock=utcnow):
        self.engine = engine
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self._write = make_session_factory(engine, write=True)
        self._read = make_session_factory(engine)

    def claim(self, target: str, limit: int) -> list[Claim]:
        now = self.clock()
        with self._write() as session, session.begin():
            query = (
                sa.select(OutboxRow)
                .where(
                    OutboxRow.target == target,
                    OutboxRow.state == "pending",
                    OutboxRow.due_at <= now,
                    sa.or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
                )
                .order_by(OutboxRow.due_at, OutboxRow.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            for row in rows:
                row.claimed_by, row.lease_until = self.owner, now + self.lease
            return [Claim(r.id, r.resource_type, r.resource_id, r.target, r.generation, r.attempts) for r in rows]

    def done(self, claim: Claim) -> None:
        """Delivered: drop the row, unless a newer change arrived meanwhile (then deliver again)."""
        with self._write() as session, session.begin():
            deleted = session.execute(
                sa.delete(OutboxRow).where(OutboxRow.id == claim.id, OutboxRow.generation == claim.generation)
            ).rowcount
            if not deleted:
                self._release(session, claim)

    def retry(self, claim: Claim, error: str, delay: float) -> None:
        """A transient failure: try again after ``delay`` seconds (or at once if the state moved on)."""
        with self._write() as session, session.begin():
            updated = session.execute(
                sa.update(OutboxRow)
                .where(OutboxRow.id == claim.id, OutboxRow.generation == claim.generation)
                .values(attempts=OutboxRow.attempts + 1, last_error=error[:2000],
                        due_at=self.clock() + timedelta(seconds=delay), claimed_by=None, lease_until=None)
            ).rowcount
            if not updated:
                self._release(session, claim)

    def park(self, claim: Claim, error: str) -> None:
        """The target refused this state: keep the row aside until the state changes or an operator retries."""
        with self._write() as session, session.begin():
            updated = session.execute(
                sa.update(OutboxRow)
                .where(OutboxRow.id == claim.id, OutboxRow.generation == claim.generation)
                .values(state="parked", attempts=OutboxRow.attempts + 1, last_error=error[:2000],
                        claimed_by=None, lease_until=None)
            ).rowcount
            if not updated:
                self._release(session, claim)

    def _release(self, session, claim: Claim) -> None:
        session.execute(
            sa.update(OutboxRow).where(OutboxRow.id == claim.id).values(claimed_by=None, lease_until=None)
        )

    def unattempted(self, keys: list[tuple[str, str]]) -> int:
        """How many rows for these resources are still waiting for their first attempt."""
        if not keys:
            return 0
        with self._read() as session:
            return session.scalar(
                sa.select(sa.func.count()).select_from(OutboxRow).where(
                    OutboxRow.state == "pending",
                    OutboxRow.attempts == 0,
                    sa.tuple_(OutboxRow.resource_type, OutboxRow.resource_id).in_(keys),
                )
            )

    def next_due(self, target: str) -> datetime | None:
        with self._read() as session:
            return session.scalar(
                sa.select(sa.func.min(OutboxRow.due_at)).where(
                    OutboxRow.target == target, OutboxRow.state == "pending"
                )
            )

    def requeue_parked(self, target: str | None = None) -> int:
        """``scim-bridge retry``: parked rows become due now."""
        with self._write() as session, session.begin():
            query = sa.update(OutboxRow).where(OutboxRow.state == "parked")
            if target:
                query = query.where(OutboxRow.target == target)
            return session.execute(
                query.values(state="pending", due_at=self.clock(), attempts=0, claimed_by=None, lease_until=None)
            ).rowcount
