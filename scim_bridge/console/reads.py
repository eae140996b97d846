"""What the console shows, read from the store: per-target overview, parked deliveries, a person's
history, stored tokens. Plain data out; nothing here writes or calls a product."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from scim_bridge.config import Settings
from scim_bridge.rules.seats import SEATS_FULL
from scim_bridge.store.audit import AuditFilter, audit_rows
from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import AuditEntry, Link, OutboxRow, TargetSeats, User, UserEmail
from scim_bridge.store.names import resource_names

# Outcomes that mean the product answered (made the change, or refused it in its own words); a
# "failed" delivery is one the product did not answer (down, timed out, throttled, credentials).
ANSWERED = ("applied", "refused")
PAGE = 200  # rows a list shows at most


@dataclass
class TargetOverview:
    name: str
    product: str
    url: str
    enabled: bool
    last_answer: datetime | None = None
    last_failure: datetime | None = None
    last_failure_detail: str | None = None
    users: int = 0
    groups: int = 0
    queued: int = 0
    parked: int = 0
    oldest_queued: datetime | None = None
    # Licence seats as last read from the product (docs/architecture.md, "Licence seats"); None:
    # never read, or the product does not tell. ``seats_total`` None with ``seats_read``: unlimited.
    seats_used: int | None = None
    seats_total: int | None = None
    seats_read: datetime | None = None
    parked_for_seats: int = 0

    @property
    def seats_full(self) -> bool:
        return self.seats_total is not None and self.seats_used is not None and self.seats_used >= self.seats_total

    @property
    def reachable(self) -> bool | None:
        """True: the product answered since the last outage; False: it did not; None: no call yet."""
        if self.last_failure is None:
            return None if self.last_answer is None else True
        return self.last_answer is not None and self.last_answer > self.last_failure


@dataclass
class Problem:
    row_id: int
    target: str
    resource_type: str
    resource_id: str
    name: str | None
    attempts: int
    since: datetime
    error: str | None  # the product's words: the outbox row's last error
    link_error: str | None
    reason: str | None  # the rule that led there, where known


@dataclass
class PersonMatch:
    id: str
    user_name: str
    display_name: str | None
    email: str | None
    active: bool
    deleted: bool
    names: dict[str, str] = field(default_factory=dict)  # target -> applied account name


@dataclass
class TargetState:
    target: str
    status: str | None
    reason: str | None
    last_error: str | None
    applied: dict | None
    updated: datetime | None
    queued: str | None  # the outbox row's state, if one waits
    queued_error: str | None
    calls: list = field(default_factory=list)  # audit rows of this target


@dataclass
class Person:
    user: PersonMatch
    resource: dict
    scim: list  # audit rows on the SCIM side
    targets: list[TargetState]


class ConsoleReads:
    def __init__(self, engine: sa.Engine, settings: Settings):
        self.engine = engine
        self.settings = settings
        self._read = make_session_factory(engine)

    # -- overview -----------------------------------------------------------------------------------

    def overview(self) -> list[TargetOverview]:
        out = []
        with self._read() as session:
            for name, target in self.settings.targets.items():
                view = TargetOverview(name, target.type, target.url, target.enabled)
                self._fill_contact(session, view)
                for kind, count in session.execute(
                        sa.select(Link.resource_type, sa.func.count()).where(Link.target == name,
                                                                             Link.applied.is_not(None))
                        .group_by(Link.resource_type)):
                    setattr(view, "users" if kind == "User" else "groups", count)
                for state, count, oldest in session.execute(
                        sa.select(OutboxRow.state, sa.func.count(), sa.func.min(OutboxRow.created))
                        .where(OutboxRow.target == name).group_by(OutboxRow.state)):
                    if state == "parked":
                        view.parked = count
                    else:
                        view.queued, view.oldest_queued = count, oldest
                self._fill_seats(session, view)
                out.append(view)
        return out

    @staticmethod
    def _fill_seats(session, view: TargetOverview) -> None:
        seats = session.get(TargetSeats, view.name)
        if seats is not None:
            view.seats_used, view.seats_total, view.seats_read = seats.used, seats.total, seats.read_at
        if view.parked:
            view.parked_for_seats = session.scalar(
                sa.select(sa.func.count()).select_from(OutboxRow)
                .where(OutboxRow.target == view.name, OutboxRow.state == "parked",
                       OutboxRow.last_error.like(f"{SEATS_FULL}%")))

    @staticmethod
    def _fill_contact(session, view: TargetOverview) -> None:
        scope = AuditEntry.scope == view.name
        answered = session.scalar(sa.select(sa.func.max(AuditEntry.at)).where(scope, AuditEntry.outcome.in_(ANSWERED)))
        # A delivery that found nothing to change leaves no audit entry, only its link.
        checked = session.scalar(sa.select(sa.func.max(Link.updated)).where(Link.target == view.name,
                                                                            Link.status == "ok"))
        view.last_answer = max(filter(None, (answered, checked)), default=None)
        failure = session.execute(sa.select(AuditEntry.at, AuditEntry.detail)
                                  .where(scope, AuditEntry.outcome == "failed")
                                  .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(1)).first()
        if failure is not None:
            view.last_failure, view.last_failure_detail = failure

    # -- problems -----------------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        with self._read() as session:
            rows = session.scalars(sa.select(OutboxRow).where(OutboxRow.state == "parked")
                                   .order_by(OutboxRow.target, OutboxRow.created, OutboxRow.id).limit(PAGE)).all()
            links = self._links(session, [(r.resource_type, r.resource_id) for r in rows])
            names = self._names(session, rows)
            out = []
            for r in rows:
                link = links.get((r.resource_type, r.resource_id, r.target))
                out.append(Problem(r.id, r.target, r.resource_type, r.resource_id,
                                   names.get((r.resource_type, r.resource_id)), r.attempts, r.created, r.last_error,
                                   link.last_error if link else None, link.reason if link else None))
            return out

    def parked_count(self) -> int:
        with self._read() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(OutboxRow).where(OutboxRow.state == "parked"))

    @staticmethod
    def _links(session, keys: list[tuple[str, str]]) -> dict[tuple[str, str, str], Link]:
        if not keys:
            return {}
        rows = session.scalars(sa.select(Link).where(sa.tuple_(Link.resource_type, Link.resource_id).in_(keys)))
        return {(link.resource_type, link.resource_id, link.target): link for link in rows}

    @staticmethod
    def _names(session, rows: Iterable) -> dict[tuple[str, str], str]:
        return resource_names(session, [(r.resource_type, r.resource_id) for r in rows])

    def names(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        with self._read() as session:
            return resource_names(session, keys)

    # -- people -------------------------------------------------------------------------------------

    def search_people(self, text: str) -> list[PersonMatch]:
        """Users whose SCIM userName, an e-mail address or an applied Atlassian name starts with ``text``
        (case-insensitively): each is an indexed prefix lookup."""
        prefix = text.strip().lower()
        if not prefix:
            return []
        with self._read() as session:
            ids = set(session.scalars(sa.select(User.id).where(
                User.user_name_lower.startswith(prefix, autoescape=True)).limit(PAGE)))
            ids |= set(session.scalars(sa.select(UserEmail.user_id).where(
                UserEmail.value_lower.startswith(prefix, autoescape=True)).limit(PAGE)))
            ids |= set(session.scalars(sa.select(Link.resource_id).where(
                Link.resource_type == "User", Link.applied_name_lower.startswith(prefix, autoescape=True)).limit(PAGE)))
            users = session.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.user_name).limit(PAGE)).all()
            applied = self._applied_names(session, [u.id for u in users])
            return [_match(u, applied.get(u.id, {})) for u in users]

    @staticmethod
    def _applied_names(session, user_ids: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if not user_ids:
            return out
        for resource_id, target, applied in session.execute(
                sa.select(Link.resource_id, Link.target, Link.applied)
                .where(Link.resource_type == "User", Link.resource_id.in_(user_ids))):
            if applied and applied.get("name"):
                out.setdefault(resource_id, {})[target] = applied["name"]
        return out

    def person(self, user_id: str) -> Person | None:
        with self._read() as session:
            user = session.get(User, user_id)
            if user is None:
                return None
            # The query of `scim-bridge audit --user` (store/audit.py): each call names the token that asked.
            audit = list(reversed(list(audit_rows(session.connection(), AuditFilter(user=user_id, newest=PAGE)))))
            links = {link.target: link for link in session.scalars(
                sa.select(Link).where(Link.resource_type == "User", Link.resource_id == user_id))}
            queued = {row.target: row for row in session.scalars(
                sa.select(OutboxRow).where(OutboxRow.resource_type == "User", OutboxRow.resource_id == user_id))}
            targets = []
            for name in [*self.settings.targets, *sorted(set(links) - set(self.settings.targets))]:
                link, row = links.get(name), queued.get(name)
                targets.append(TargetState(
                    name, link.status if link else None, link.reason if link else None,
                    link.last_error if link else None, link.applied if link else None,
                    link.updated if link else None, row.state if row else None, row.last_error if row else None,
                    [entry for entry in audit if entry.target == name]))
            applied = {t.target: t.applied["name"] for t in targets if t.applied and t.applied.get("name")}
            return Person(_match(user, applied), user.resource or {},
                          [entry for entry in audit if entry.target is None], targets)


def _match(user: User, names: dict[str, str]) -> PersonMatch:
    return PersonMatch(user.id, user.user_name, user.display_name, user.primary_email_lower, user.active,
                       user.deleted_at is not None, names)
