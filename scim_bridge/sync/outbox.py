"""Claiming and settling outbox rows (docs/architecture.md, decisions 1, 2 and 6).

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
from sqlalchemy.orm import Session

from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import Group, Link, OutboxRow, User, utcnow
from scim_bridge.store.outbox import claimable_at, wake_members


class ClaimLost(Exception):
    """The lease ran out and another worker took the row: this delivery must stop where it is."""


@dataclass(frozen=True)
class Claim:
    id: int
    resource_type: str
    resource_id: str
    target: str
    generation: int
    attempts: int
    deprovisions: bool = False  # claimed with ``deprovisions_first``: the user is inactive or deleted
    # Leased when claimed: an earlier claim never settled (its worker died or outlived the lease), so
    # calls it made may have landed unrecorded.
    taken_over: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.resource_type, self.resource_id)


def _NOTHING(session) -> None:
    """No records to write with a settle."""


class Outbox:
    def __init__(self, engine: sa.Engine, *, owner: str, lease_seconds: float = 120.0, clock=utcnow):
        self.engine = engine
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self._write = make_session_factory(engine, write=True)
        self._read = make_session_factory(engine)

    def claim(self, target: str, limit: int, *, deprovisions_first: bool = False) -> list[Claim]:
        """Due rows of ``target``, oldest first; ``deprovisions_first`` (licence seats are short,
        docs/architecture.md "Licence seats"): the rows of inactive or deleted users come before the
        rest, and say so."""
        now = self.clock()
        with self._write() as session, session.begin():
            due = (
                OutboxRow.target == target,
                OutboxRow.state == "pending",
                OutboxRow.due_at <= now,
                _lease_over(now),
            )
            if deprovisions_first:
                leaving = sa.and_(OutboxRow.resource_type == "User",
                                  sa.or_(User.active.is_(False), User.deleted_at.is_not(None)))
                first = sa.case((leaving, 1), else_=0)
                query = (
                    sa.select(OutboxRow, first)
                    .outerjoin(User, sa.and_(OutboxRow.resource_type == "User", User.id == OutboxRow.resource_id))
                    .where(*due)
                    .order_by(first.desc(), OutboxRow.due_at, OutboxRow.id)
                    .limit(limit)
                )
                if self.engine.dialect.name == "postgresql":
                    query = query.with_for_update(of=OutboxRow, skip_locked=True)
                found = [(row, bool(flag)) for row, flag in session.execute(query).all()]
            else:
                query = sa.select(OutboxRow).where(*due).order_by(OutboxRow.due_at, OutboxRow.id).limit(limit)
                if self.engine.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                found = [(row, False) for row in session.scalars(query).all()]
            taken_over = {row.id for row, _ in found if row.lease_until is not None}
            for row, _ in found:
                row.claimed_by, row.lease_until = self.owner, now + self.lease
            return [Claim(r.id, r.resource_type, r.resource_id, r.target, r.generation, r.attempts, leaving,
                          taken_over=r.id in taken_over) for r, leaving in found]

    def claim_keys(self, keys: list[tuple[str, str]], limits: dict[str, int], *,
                   session: Session | None = None) -> tuple[list[Claim], set[str]]:
        """The claimable rows of these resources, at most ``limits[target]`` per target (the targets
        named only), in one transaction: a write's own rows, claimed for the worker as soon as they
        are written. Also returns the targets with rows of these resources not claimed here and not
        yet attempted (leased by a delivery in flight, past the limit): their worker loops take them.
        ``session``: claim in that session's open transaction, that of the write that has just queued
        these rows (so it holds their row locks), else in a new one."""
        if not keys or not limits:
            return [], set()
        if session is not None:
            return self._claim_keys(session, keys, limits, locked=True)
        with self._write() as own, own.begin():
            return self._claim_keys(own, keys, limits, locked=False)

    def _claim_keys(self, session: Session, keys: list[tuple[str, str]], limits: dict[str, int], *,
                    locked: bool) -> tuple[list[Claim], set[str]]:
        now = self.clock()
        # Core statements, not ORM objects: this runs on the request's thread, before its first
        # product call.
        rows = session.execute(_PENDING_OF, {"keys": keys, "targets": list(limits)}).all()
        room = dict(limits)
        wanted = {}
        for row in rows:
            if room[row.target] > 0 and claimable_at(row.due_at, row.lease_until) <= now:
                room[row.target] -= 1
                wanted[row.id] = row
        if wanted and not locked and self.engine.dialect.name == "postgresql":
            # Another instance's claim may hold some of them (those are its to deliver), or a write
            # have moved one on since it was read: lock what is still claimable, as it is now. (In
            # the write's own transaction its upserts hold the rows' locks: they are as read.)
            wanted = {row.id: row for row in session.execute(
                sa.select(OutboxRow.id, OutboxRow.resource_type, OutboxRow.resource_id, OutboxRow.target,
                          OutboxRow.generation, OutboxRow.attempts, OutboxRow.lease_until)
                .where(OutboxRow.id.in_(list(wanted)), OutboxRow.state == "pending", OutboxRow.due_at <= now,
                       _lease_over(now))
                .with_for_update(skip_locked=True))}
        if wanted:
            session.execute(_CLAIM, {"ids": list(wanted), "owner": self.owner, "lease": now + self.lease})
        left = {row.target for row in rows if row.id not in wanted and row.attempts == 0}
        return [Claim(r.id, r.resource_type, r.resource_id, r.target, r.generation, r.attempts,
                      taken_over=r.lease_until is not None) for r in wanted.values()], left

    def done(self, claim: Claim, records=_NOTHING) -> bool:
        """Delivered: drop the row, unless a newer change arrived meanwhile (then deliver again);
        True when the row was dropped.

        A deleted resource whose last row and last link this was is purged in the same transaction;
        deciding it here, serialised on the resource row, is what keeps two targets finishing at once
        from each leaving the purge to the other.
        """
        with self._write() as session, session.begin():
            records(session)
            tombstone = self._lock_tombstone(session, claim)
            deleted = session.execute(_DROP, {"id": claim.id, "generation": claim.generation,
                                              "owner": self.owner}).rowcount
            if not deleted:
                self._release(session, claim)
            elif tombstone is not None and not self._anything_left(session, claim):
                session.delete(tombstone)
        return bool(deleted)

    def _lock_tombstone(self, session, claim: Claim):
        model = User if claim.resource_type == "User" else Group
        if session.scalar(_DELETED_AT[claim.resource_type], {"id": claim.resource_id}) is None:
            return None  # live, or already purged
        # PostgreSQL: concurrent settles of one deleted resource take turns (SQLite: already serial).
        return session.scalar(sa.select(model).where(model.id == claim.resource_id).with_for_update())

    def _anything_left(self, session, claim: Claim) -> bool:
        key = (OutboxRow.resource_type == claim.resource_type, OutboxRow.resource_id == claim.resource_id)
        rows = session.scalar(sa.select(sa.func.count()).select_from(OutboxRow).where(*key))
        links = session.scalar(sa.select(sa.func.count()).select_from(Link).where(
            Link.resource_type == claim.resource_type, Link.resource_id == claim.resource_id))
        return bool(rows or links)

    def renew(self, claim: Claim) -> bool:
        """Extend the lease of a delivery still running; False when the claim was lost (lease ran out
        and another worker took the row), in which case the delivery must stop."""
        with self._write() as session, session.begin():
            return session.execute(
                sa.update(OutboxRow).where(OutboxRow.id == claim.id, OutboxRow.claimed_by == self.owner)
                .values(lease_until=self.clock() + self.lease)
            ).rowcount > 0

    def retry(self, claim: Claim, error: str, delay: float, *, count: bool = True, records=_NOTHING) -> None:
        """A transient failure: try again after ``delay`` seconds (or at once if the state moved on).
        ``count`` False: not a failed attempt (the delivery waits for another one)."""
        with self._write() as session, session.begin():
            records(session)
            updated = session.execute(
                sa.update(OutboxRow)
                .where(OutboxRow.id == claim.id, OutboxRow.generation == claim.generation,
                       OutboxRow.claimed_by == self.owner)
                .values(attempts=OutboxRow.attempts + (1 if count else 0), last_error=error[:2000],
                        due_at=self.clock() + timedelta(seconds=delay), claimed_by=None, lease_until=None)
            ).rowcount
            if not updated:
                self._release(session, claim)

    def park(self, claim: Claim, error: str, records=_NOTHING) -> None:
        """The target refused this state: keep the row aside until the state changes or an operator retries.

        A parked group's members that are queued look again at once, in the same transaction: those
        waiting for it to be created (their rows due when its row was, or its lease ends) park too,
        naming it (docs/architecture.md, "Delivery and the worker").
        """
        with self._write() as session, session.begin():
            records(session)
            updated = session.execute(
                sa.update(OutboxRow)
                .where(OutboxRow.id == claim.id, OutboxRow.generation == claim.generation,
                       OutboxRow.claimed_by == self.owner)
                .values(state="parked", attempts=OutboxRow.attempts + 1, last_error=error[:2000],
                        claimed_by=None, lease_until=None)
            ).rowcount
            if not updated:
                self._release(session, claim)
            elif claim.resource_type == "Group":
                wake_members(session, claim.resource_id, claim.target, self.clock())

    def release(self, claim: Claim) -> None:
        """Give the row back unsettled (a worker shutting down): claimable at once, attempts unchanged."""
        with self._write() as session, session.begin():
            self._release(session, claim)

    def _release(self, session, claim: Claim) -> None:
        """Give the row back (a newer change arrived); never another worker's claim."""
        session.execute(
            sa.update(OutboxRow).where(OutboxRow.id == claim.id, OutboxRow.claimed_by == self.owner)
            .values(claimed_by=None, lease_until=None)
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

    def next_claimable(self, target: str) -> datetime | None:
        """When a pending row of ``target`` next becomes claimable (None: there is none): the earliest,
        over the rows, of the later of its ``due_at`` and its lease's end.

        A row leased by another worker (a sibling process delivering it, or a crashed instance whose
        lease has yet to run out) is not claimable before its lease ends; counting its ``due_at``
        alone made idle workers poll the database without pause for the whole lease.
        """
        now = self.clock()
        pending = (OutboxRow.target == target, OutboxRow.state == "pending")
        with self._read() as session:
            free = session.scalar(sa.select(sa.func.min(OutboxRow.due_at)).where(*pending, _lease_over(now)))
            # Rows under a lease are few (at most ``concurrency`` per live or crashed worker).
            leased = session.execute(
                sa.select(OutboxRow.due_at, OutboxRow.lease_until).where(*pending, OutboxRow.lease_until > now)
            ).all()
        times = [claimable_at(due, lease) for due, lease in leased] + ([free] if free is not None else [])
        return min(times, default=None)

    def requeue_parked(self, target: str | None = None, ids: list[int] | None = None) -> int:
        """``scim-bridge retry`` and the console's Retry: parked rows (of a target; these rows) become due now."""
        with self._write() as session, session.begin():
            query = sa.update(OutboxRow).where(OutboxRow.state == "parked")
            if target:
                query = query.where(OutboxRow.target == target)
            if ids is not None:
                query = query.where(OutboxRow.id.in_(ids))
            return session.execute(
                query.values(state="pending", due_at=self.clock(), attempts=0, claimed_by=None, lease_until=None)
            ).rowcount


# The statements of every settle, built once: building a statement costs more than running it here.
_ROWS = OutboxRow.__table__.c
_DROP = sa.delete(OutboxRow.__table__).where(_ROWS.id == sa.bindparam("id"),
                                             _ROWS.generation == sa.bindparam("generation"),
                                             _ROWS.claimed_by == sa.bindparam("owner"))
_DELETED_AT = {model.__name__: sa.select(model.__table__.c.deleted_at).where(model.__table__.c.id == sa.bindparam("id"))
               for model in (User, Group)}
_PENDING_OF = (sa.select(_ROWS.id, _ROWS.resource_type, _ROWS.resource_id, _ROWS.target, _ROWS.generation,
                         _ROWS.attempts, _ROWS.due_at, _ROWS.lease_until)
               .where(sa.tuple_(_ROWS.resource_type, _ROWS.resource_id).in_(sa.bindparam("keys", expanding=True)),
                      _ROWS.state == "pending", _ROWS.target.in_(sa.bindparam("targets", expanding=True)))
               .order_by(_ROWS.due_at, _ROWS.id))
_CLAIM = (sa.update(OutboxRow.__table__).where(_ROWS.id.in_(sa.bindparam("ids", expanding=True)))
          .values(claimed_by=sa.bindparam("owner"), lease_until=sa.bindparam("lease")))


def _lease_over(now: datetime):
    """The row has no lease, or its lease has ended (its worker died or hung): it may be claimed."""
    return sa.or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now)
