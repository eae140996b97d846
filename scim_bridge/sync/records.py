"""What delivery reads and writes in the store: SCIM snapshots, link rows, target audit entries.

A delivery attempt's own records (its audit entries, its link's outcome, a link forgotten) are
written in the transaction that settles its outbox row when the worker opens ``deferred()`` around
it: one transaction at the end of an attempt instead of one per call (docs/architecture.md,
"Delivery and the worker"). Outside it (reconcile, the console, tests) each is written at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from atlassian_clients.base import Seats
from scim_bridge.rules.model import AppliedUser, GroupSnapshot, UserSnapshot
from scim_bridge.rules.seats import SEATS_FULL
from scim_bridge.rules.snapshots import display_name_of, email_of, manager_id_of
from scim_bridge.store.database import make_session_factory, reading, statement_reads
from scim_bridge.store.dialect import upsert_into
from scim_bridge.store.models import AuditEntry, Group, GroupMember, Link, OutboxRow, TargetSeats, User, utcnow
from scim_bridge.store.outbox import claimable_at, enqueue, enqueue_missing, wake_members


@dataclass(frozen=True)
class QueuedRow:
    """What ``ensure_queued`` found of an outbox row."""

    parked: bool  # set aside until ``scim-bridge retry`` (or a change to the resource)
    claimable_at: datetime  # pending: when a worker may next take it (``claimable_at``)
    error: str | None  # the last failure's message


@dataclass
class PendingWrites:
    """The records of one delivery attempt, kept for the transaction that settles its row."""

    writes: list[Callable] = field(default_factory=list)
    # An attempt audits each call it made: one multi-row INSERT for them all, not one each.
    audits: list[dict] = field(default_factory=list)

    def __call__(self, session) -> None:
        for write in self.writes:
            write(session)
        if self.audits:
            session.execute(_AUDIT, self.audits)
        self.writes.clear()
        self.audits.clear()


class DeliveryRecords:
    def __init__(self, engine: sa.Engine, clock=utcnow):
        self.engine = engine
        self.clock = clock
        self._read = make_session_factory(engine)
        # The reads of every delivery (its user, its link) without a transaction around them
        # (store/database.py ``reading``): no BEGIN and ROLLBACK, on PostgreSQL two round trips each.
        self._reads = statement_reads(engine)
        self._write = make_session_factory(engine, write=True)
        self._local = threading.local()
        # Told the target whenever rows of it are made due here (the worker wakes that loop).
        self.on_due: Callable[[str], None] = lambda target: None

    @contextmanager
    def deferred(self) -> Iterator[PendingWrites]:
        """Within the block, this thread's records wait in the yielded ``PendingWrites``; the caller
        runs them in its settle's transaction, or with ``write`` when there is none."""
        pending = PendingWrites()
        self._local.pending = pending
        try:
            yield pending
        finally:
            self._local.pending = None

    def write(self, pending: PendingWrites) -> None:
        """Write what a delivery attempt left pending, on its own."""
        if pending.writes or pending.audits:
            with self._write() as session, session.begin():
                pending(session)

    def _record(self, write: Callable) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.writes.append(write)
            return
        with self._write() as session, session.begin():
            write(session)

    # -- SCIM side ----------------------------------------------------------------------------------

    def user(self, user_id: str) -> UserSnapshot | None:
        with reading(self._reads) as conn:
            row = conn.execute(_USER, {"id": user_id}).first()
            if row is None:
                return None
            return _user_snapshot(row, tuple(conn.execute(_USER_GROUPS, {"id": user_id}).scalars()))

    def group(self, group_id: str) -> GroupSnapshot | None:
        with self._read() as session:
            row = session.get(Group, group_id)
            if row is None:
                return None
            return _group_snapshot(row)

    def live_group_names(self) -> list[str]:
        with self._read() as session:
            return list(session.scalars(sa.select(Group.display_name).where(Group.deleted_at.is_(None))))

    def linked_member_names(self, group_id: str, target: str) -> tuple[str, ...]:
        """The target usernames of the group's members that the bridge has applied on the target."""
        with self._read() as session:
            rows = session.execute(
                sa.select(Link.applied)
                .join(GroupMember, GroupMember.user_id == Link.resource_id)
                .where(GroupMember.group_id == group_id, Link.resource_type == "User", Link.target == target)
            ).scalars()
            return tuple(sorted(a["name"] for a in rows if a and a.get("name")))

    def groups_named(self, display_names: Iterable[str]) -> dict[str, str]:
        """The live SCIM groups with these display names (compared case-insensitively): id -> display name."""
        lowered = sorted({n.lower() for n in display_names})
        if not lowered:
            return {}
        with self._read() as session:
            return dict(session.execute(sa.select(Group.id, Group.display_name).where(
                Group.display_name_lower.in_(lowered), Group.deleted_at.is_(None))).all())

    def member_ids(self, group_id: str) -> list[str]:
        with self._read() as session:
            return list(session.scalars(sa.select(GroupMember.user_id).where(GroupMember.group_id == group_id)))

    def resource_ids(self, resource_type: str) -> list[str]:
        """Every stored resource of a type, tombstones included (they may still need deprovisioning)."""
        model = User if resource_type == "User" else Group
        with self._read() as session:
            return list(session.scalars(sa.select(model.id).order_by(model.created, model.id)))

    def linked_user_names(self, target: str) -> set[str]:
        """Lower-cased names the bridge manages on a target: applied ones and reserved ones."""
        with self._read() as session:
            rows = session.execute(sa.select(Link.applied_name_lower, Link.remote_name_lower).where(
                Link.target == target, Link.resource_type == "User"))
            return {name for pair in rows for name in pair if name}

    def key_linked_elsewhere(self, target: str, resource_type: str, key: str, resource_id: str) -> bool:
        """Whether another resource is already linked to the target account with this product key."""
        with self._read() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(Link).where(
                Link.target == target, Link.resource_type == resource_type, Link.remote_key == key,
                Link.resource_id != resource_id)) > 0

    # -- links ----------------------------------------------------------------------------------------

    def applied(self, resource_type: str, resource_id: str, target: str) -> dict | None:
        return self.link(resource_type, resource_id, target)[0]

    def link(self, resource_type: str, resource_id: str, target: str) -> tuple[dict | None, str | None]:
        """The link's applied state and status (None, None: no link)."""
        with reading(self._reads) as conn:
            row = conn.execute(_LINK_STATE, {"type": resource_type, "id": resource_id, "target": target}).first()
            return (row.applied, row.status) if row is not None else (None, None)

    def record_outcome(self, resource_type: str, resource_id: str, target: str, *, status: str,
                       applied: dict | None, reason: str | None = None, error: str | None = None) -> None:
        now = self.clock()

        values = {"status": status, "reason": reason, "last_error": error, "updated": now}
        if applied is not None:
            # Indexed copies for the name reservations (store/links.py) and the one-account-one-link
            # check (key_linked_elsewhere).
            values.update(applied=applied, applied_name_lower=applied["name"].lower() if applied.get("name") else None,
                          remote_key=applied.get("key"))

        def write(session) -> None:
            # One statement (it runs in the settle's transaction, on the way back to a waiting write).
            session.execute(_outcome_upsert(session, applied is not None),
                            dict(resource_type=resource_type, resource_id=resource_id, target=target, created=now,
                                 **values))

        self._record(write)

    def forget(self, resource_type: str, resource_id: str, target: str) -> None:
        """The target no longer holds anything for a deleted resource: drop its link. The tombstone is
        purged when its last outbox row is settled (``Outbox.done``)."""
        self._record(lambda session: session.execute(sa.delete(Link).where(*_link(resource_type, resource_id,
                                                                                    target))))

    def move_applied_group(self, group_id: str, target: str, old: str, new: str, moved: frozenset[str]) -> None:
        """A group rename moved the accounts named in ``moved`` from ``old`` to ``new`` on the target."""
        moved_keys, old_key, new_key = {m.lower() for m in moved}, old.lower(), new.lower()
        with self._write() as session, session.begin():
            links = session.scalars(
                sa.select(Link)
                .join(GroupMember, GroupMember.user_id == Link.resource_id)
                .where(GroupMember.group_id == group_id, Link.resource_type == "User", Link.target == target)
            ).all()
            for link in links:
                applied = link.applied or {}
                if (applied.get("name") or "").lower() not in moved_keys:
                    continue
                kept = [g for g in applied.get("groups") or () if g.lower() not in (old_key, new_key)]
                link.applied = {**applied, "groups": sorted([*kept, new])}

    # -- the outbox ---------------------------------------------------------------------------------

    def queue(self, resource_type: str, ids: Iterable[str], target: str) -> None:
        """Deliver these resources to the target again, now (a parked row is woken too)."""
        with self._write() as session, session.begin():
            enqueue(session, resource_type, ids, [target], self.clock())
        self.on_due(target)

    def wake_members(self, group_id: str, target: str) -> None:
        """Make the queued deliveries of the group's members due now, and have any running one go
        again: users waiting for the group to exist go ahead."""
        with self._write() as session, session.begin():
            wake_members(session, group_id, target, self.clock())
        self.on_due(target)

    def ensure_queued(self, resource_type: str, ids: Iterable[str], target: str) -> dict[str, QueuedRow]:
        """Queue these resources for the target unless a row is there already (pending, running or
        parked): waiting users must not restart a delivery in progress or wake a refused one. Returns
        what was found of each row (by resource id), which is what a user waiting for it goes by."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        with self._write() as session, session.begin():
            enqueue_missing(session, resource_type, ids, [target], self.clock())
            rows = session.execute(
                sa.select(OutboxRow.resource_id, OutboxRow.state, OutboxRow.due_at, OutboxRow.lease_until,
                          OutboxRow.last_error)
                .where(OutboxRow.resource_type == resource_type, OutboxRow.target == target,
                       OutboxRow.resource_id.in_(ids))
            ).all()
        self.on_due(target)
        return {r.resource_id: QueuedRow(r.state == "parked", claimable_at(r.due_at, r.lease_until), r.last_error)
                for r in rows}

    # -- licence seats (docs/architecture.md, "Licence seats") ---------------------------------------

    def save_seats(self, target: str, seats: Seats | None) -> None:
        """The seat count just read from the target (None: an unlimited licence), for status and the console."""
        with self._write() as session, session.begin():
            row = session.get(TargetSeats, target) or TargetSeats(target=target)
            row.used, row.total = (seats.used, seats.total) if seats else (None, None)
            row.licence = seats.licence if seats else None
            row.read_at = self.clock()
            session.add(row)

    def release_parked_for_seats(self, target: str, limit: int | None = None) -> int:
        """Seats freed up: up to ``limit`` free seats' worth of rows of ``target`` parked because the
        licence was full (None: all), oldest first, are due now. Rows released before and not yet
        delivered (pending, their last error still the full licence) count against ``limit``."""
        with self._write() as session, session.begin():
            ids = sa.select(OutboxRow.id).where(*_parked_for_seats(target)).order_by(OutboxRow.id)
            if limit is not None:
                released = session.scalar(sa.select(sa.func.count()).select_from(OutboxRow).where(
                    *_parked_for_seats(target, "pending")))
                limit -= released
                if limit <= 0:
                    return 0
                ids = ids.limit(limit)
            chosen = list(session.scalars(ids))
            if not chosen:
                return 0
            made_due = session.execute(
                sa.update(OutboxRow).where(OutboxRow.id.in_(chosen))
                .values(state="pending", due_at=self.clock(), claimed_by=None, lease_until=None)
            ).rowcount
        self.on_due(target)
        return made_due

    def parked_for_seats(self, target: str) -> int:
        with self._read() as session:
            return session.scalar(
                sa.select(sa.func.count()).select_from(OutboxRow).where(*_parked_for_seats(target)))

    # -- audit ---------------------------------------------------------------------------------------

    def audit(self, target: str, action: str, resource_type: str, resource_id: str, *, outcome: str,
              detail: str | None = None, before: dict | None = None, after: dict | None = None) -> None:
        entry = dict(at=self.clock(), actor="delivery", scope=target, action=action, resource_type=resource_type,
                     resource_id=resource_id, before=before, after=after, outcome=outcome, detail=detail)
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.audits.append(entry)
            return
        self._record(lambda session: session.execute(_AUDIT, entry))


# The statements of every delivery, built once: building a statement costs more than running it here.
_USERS, _LINKS = User.__table__.c, Link.__table__.c
_USER = sa.select(_USERS.id, _USERS.user_name, _USERS.resource, _USERS.active, _USERS.deleted_at).where(
    _USERS.id == sa.bindparam("id"))
_USER_GROUPS = (sa.select(Group.__table__.c.display_name)
                .join(GroupMember.__table__, GroupMember.__table__.c.group_id == Group.__table__.c.id)
                .where(GroupMember.__table__.c.user_id == sa.bindparam("id"), Group.__table__.c.deleted_at.is_(None))
                .order_by(Group.__table__.c.display_name_lower))
_LINK_STATE = sa.select(_LINKS.applied, _LINKS.status).where(_LINKS.resource_type == sa.bindparam("type"),
                                                             _LINKS.resource_id == sa.bindparam("id"),
                                                             _LINKS.target == sa.bindparam("target"))
_AUDIT = sa.insert(AuditEntry.__table__)
_OUTCOME = ("status", "reason", "last_error", "updated")
_APPLIED = ("applied", "applied_name_lower", "remote_key")
_OUTCOME_UPSERTS: dict[tuple[str, bool], sa.Insert] = {}


def _outcome_upsert(session, with_applied: bool):
    """Insert a link row, or update the one there; the applied state only ``with_applied``."""
    key = (session.get_bind().dialect.name, with_applied)
    statement = _OUTCOME_UPSERTS.get(key)
    if statement is None:
        insert = upsert_into(session, Link.__table__)
        columns = _OUTCOME + (_APPLIED if with_applied else ())
        statement = _OUTCOME_UPSERTS[key] = insert.on_conflict_do_update(
            index_elements=["resource_type", "resource_id", "target"],
            set_={name: insert.excluded[name] for name in columns})
    return statement


def applied_user(state: dict | None) -> AppliedUser | None:
    if not state or not state.get("name"):
        return None
    return AppliedUser(name=state["name"], key=state.get("key"), display_name=state.get("display_name"),
                       email=state.get("email"), active=state.get("active"),
                       groups=frozenset(state.get("groups") or ()))


def _parked_for_seats(target: str, state: str = "parked"):
    """Rows of ``target`` in ``state`` whose last error is a full licence (``rules/seats.py``)."""
    return (OutboxRow.target == target, OutboxRow.state == state, OutboxRow.last_error.like(f"{SEATS_FULL}%"))


def _user_snapshot(row, groups: tuple[str, ...]) -> UserSnapshot:
    return UserSnapshot(id=row.id, user_name=row.user_name, display_name=display_name_of(row.resource),
                        email=email_of(row.resource), active=row.active, deleted=row.deleted_at is not None,
                        groups=groups, manager_id=manager_id_of(row.resource))


def _group_snapshot(row) -> GroupSnapshot:
    return GroupSnapshot(id=row.id, display_name=row.display_name, deleted=row.deleted_at is not None)


def _link(resource_type: str, resource_id: str, target: str):
    return (Link.resource_type == resource_type, Link.resource_id == resource_id, Link.target == target)


class StoreSnapshot:
    """Every stored user and group, read once in a few queries, for a reconciliation that compares
    them all (``sync/reconcile.py``); ``for_target`` adds one target's link rows. Answers the reads
    delivery's planning makes (``Delivery.prepare_user`` / ``prepare_group``) from memory, and passes
    anything else to the ``DeliveryRecords`` it was read from."""

    def __init__(self, records: DeliveryRecords):
        self._records = records
        with records._read() as session:
            groups = {row.id: _group_snapshot(row) for row in session.execute(
                sa.select(Group.id, Group.display_name, Group.deleted_at).order_by(Group.created, Group.id))}
            memberships: dict[str, list[tuple[str, str]]] = {}
            for user_id, name, lowered in session.execute(
                    sa.select(GroupMember.user_id, Group.display_name, Group.display_name_lower)
                    .join(Group, GroupMember.group_id == Group.id).where(Group.deleted_at.is_(None))):
                memberships.setdefault(user_id, []).append((lowered, name))
            users = {}
            for row in session.execute(sa.select(User.id, User.user_name, User.resource, User.active,
                                                 User.deleted_at, User.created).order_by(User.created, User.id)):
                users[row.id] = _user_snapshot(row, tuple(name for _, name in sorted(memberships.get(row.id, ()))))
        self.users = users
        self.groups = groups
        self._live_group_names = [g.display_name for g in self.groups.values() if not g.deleted]

    def for_target(self, target: str) -> TargetRecords:
        return TargetRecords(self, target)

    def live_group_names(self) -> list[str]:
        return list(self._live_group_names)


class TargetRecords:
    """A :class:`StoreSnapshot` with one target's link rows: what planning reads, from memory."""

    def __init__(self, store: StoreSnapshot, target: str):
        self.store = store
        self.target = target
        self._applied: dict[tuple[str, str], dict | None] = {}
        self._keys: dict[tuple[str, str], set[str]] = {}
        names: set[str] = set()
        with store._records._read() as session:
            for kind, resource_id, applied, key, applied_lower, reserved_lower in session.execute(
                    sa.select(Link.resource_type, Link.resource_id, Link.applied, Link.remote_key,
                              Link.applied_name_lower, Link.remote_name_lower).where(Link.target == target)):
                self._applied[(kind, resource_id)] = applied
                if key is not None:
                    self._keys.setdefault((kind, key), set()).add(resource_id)
                if kind == "User":
                    names.update(n for n in (applied_lower, reserved_lower) if n)
        self.linked_names = names

    def resource_ids(self, resource_type: str) -> list[str]:
        return list(self.store.users if resource_type == "User" else self.store.groups)

    def user(self, user_id: str) -> UserSnapshot | None:
        return self.store.users.get(user_id)

    def group(self, group_id: str) -> GroupSnapshot | None:
        return self.store.groups.get(group_id)

    def live_group_names(self) -> list[str]:
        return self.store.live_group_names()

    def applied(self, resource_type: str, resource_id: str, target: str) -> dict | None:
        # Planning asks only of its own target, the one these link rows were read for.
        return self._applied.get((resource_type, resource_id))

    def link(self, resource_type: str, resource_id: str, target: str) -> tuple[dict | None, str | None]:
        return self.applied(resource_type, resource_id, target), None  # reconcile reads every group anyway

    def key_linked_elsewhere(self, target: str, resource_type: str, key: str, resource_id: str) -> bool:
        return bool(self._keys.get((resource_type, key), set()) - {resource_id})

    def __getattr__(self, name: str):
        return getattr(self.store._records, name)  # the rare reads (a group rename's members) go to the store
