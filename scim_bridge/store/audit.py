"""Questions to the audit log: which entries match a filter, each with who asked and about whom.

``scim-bridge audit`` (cli.py) asks them; docs/cli.md, "audit", describes the filters and the rows.
Rows are streamed from the database in batches (``yield_per``), so an export of the whole log never
holds it in memory.

A delivery's entries are written by the worker (actor ``delivery``); who asked for the change is the
token of the newest SCIM entry of the same resource before it, found by a correlated subquery.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from scim_bridge.store.models import AuditEntry, Group, Link, User

OUTCOMES = ("applied", "refused", "failed", "planned", "skipped")
SCIM_SCOPE = "scim"
BATCH = 500


class AuditFilterError(ValueError):
    """A filter that names nothing the store knows: a mistake to report, never an empty answer."""


@dataclass(frozen=True)
class AuditFilter:
    """Each field narrows the entries; None (or empty) leaves that side open."""

    user: str | None = None  # SCIM userName or id
    group: str | None = None  # SCIM displayName or id
    resource: str | None = None  # either of the two
    account: str | None = None  # the user's or group's name on a target (the Atlassian username)
    target: str | None = None
    outcomes: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive, zoned
    until: datetime | None = None  # exclusive, zoned
    newest: int | None = None  # only the newest N of what matches (still listed oldest first)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    asked_by: str | None  # token name of the SCIM change (of the newest one before a delivery entry)
    actor: str  # token name, "delivery" or "cli"
    target: str | None  # None for the SCIM side
    action: str
    outcome: str
    resource_type: str | None
    resource_id: str | None
    name: str | None  # the SCIM userName or displayName
    account: str | None  # the name on the target the entry is about
    detail: str | None  # what was decided, and the product's own words when it refused
    before: dict | None
    after: dict | None


def audit_rows(conn: sa.Connection, query: AuditFilter, known_targets: tuple[str, ...] = ()) -> Iterator[AuditRow]:
    """The matching entries, oldest first, streamed. Raises :class:`AuditFilterError` at once (before
    any row is read) when a filter names a user, group, account or target the store has never seen."""
    conditions = _conditions(conn, query, known_targets)
    select = _select().where(*conditions)
    if query.newest is not None:
        newest = sa.select(AuditEntry.id).where(*conditions).order_by(AuditEntry.id.desc()).limit(query.newest)
        select = _select().where(AuditEntry.id.in_(newest.scalar_subquery()))
    return _stream(conn, select.order_by(AuditEntry.id))


def _stream(conn: sa.Connection, select: sa.Select) -> Iterator[AuditRow]:
    for row in conn.execution_options(stream_results=True, yield_per=BATCH).execute(select):
        scim = row.scope == SCIM_SCOPE
        yield AuditRow(row.id, row.at, row.actor if scim else row.requester, row.actor, None if scim else row.scope,
                       row.action, row.outcome, row.resource_type, row.resource_id, row.name,
                       None if scim else _account(row), row.detail, row.before, row.after)


def _select() -> sa.Select:
    earlier = aliased(AuditEntry)
    requester = (sa.select(earlier.actor)
                 .where(earlier.scope == SCIM_SCOPE, earlier.resource_type == AuditEntry.resource_type,
                        earlier.resource_id == AuditEntry.resource_id, earlier.id < AuditEntry.id)
                 .order_by(earlier.id.desc()).limit(1).correlate(AuditEntry).scalar_subquery())
    # A deleted resource's row in users or groups is gone: its name is the one its SCIM entries recorded.
    named = aliased(AuditEntry)
    names = (getattr(named, side)[key].as_string()
             for key in ("userName", "displayName") for side in ("after", "before"))
    recorded = (sa.select(sa.func.coalesce(*names))
                .where(named.scope == SCIM_SCOPE, named.resource_type == AuditEntry.resource_type,
                       named.resource_id == AuditEntry.resource_id, named.id <= AuditEntry.id)
                .order_by(named.id.desc()).limit(1).correlate(AuditEntry).scalar_subquery())
    return (
        sa.select(AuditEntry.id, AuditEntry.at, AuditEntry.actor, requester.label("requester"), AuditEntry.scope,
                  AuditEntry.action, AuditEntry.outcome,
                  AuditEntry.resource_type, AuditEntry.resource_id, AuditEntry.detail, AuditEntry.before,
                  AuditEntry.after, sa.func.coalesce(User.user_name, Group.display_name, recorded).label("name"),
                  Link.applied.label("link_applied"), Link.remote_name)
        .outerjoin(User, sa.and_(AuditEntry.resource_type == "User", User.id == AuditEntry.resource_id))
        .outerjoin(Group, sa.and_(AuditEntry.resource_type == "Group", Group.id == AuditEntry.resource_id))
        .outerjoin(Link, sa.and_(Link.resource_type == AuditEntry.resource_type,
                                 Link.resource_id == AuditEntry.resource_id, Link.target == AuditEntry.scope))
    )


def _account(row) -> str | None:
    for document in (row.after, row.before, row.link_applied):
        if isinstance(document, dict) and document.get("name"):
            return document["name"]
    return row.remote_name


def _conditions(conn: sa.Connection, query: AuditFilter, known_targets: tuple[str, ...]) -> list:
    conditions = []
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise AuditFilterError(f"--since ({_iso(query.since)}) is not before --until ({_iso(query.until)})")
    if query.target is not None:
        seen = conn.execute(sa.select(AuditEntry.id).where(AuditEntry.scope == query.target).limit(1)).first()
        if query.target not in known_targets and seen is None:
            known = ", ".join(known_targets) or "none configured"
            raise AuditFilterError(f"--target {query.target!r}: no such target (configured: {known}) "
                                   "and none by that name in the audit log")
        conditions.append(AuditEntry.scope == query.target)
    for outcome in query.outcomes:
        if outcome not in OUTCOMES:
            raise AuditFilterError(f"--outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    if query.outcomes:
        conditions.append(AuditEntry.outcome.in_(query.outcomes))
    if query.since is not None:
        conditions.append(AuditEntry.at >= query.since)
    if query.until is not None:
        conditions.append(AuditEntry.at < query.until)
    for option, ids in (("--user", _user_ids(conn, query.user) if query.user else None),
                        ("--group", _group_ids(conn, query.group) if query.group else None),
                        ("--resource", _user_ids(conn, query.resource) | _group_ids(conn, query.resource)
                         if query.resource else None),
                        ("--account", _account_ids(conn, query.account, query.target) if query.account else None)):
        if ids is None:
            continue
        if not ids:
            raise AuditFilterError(_unknown(option, query))
        conditions.append(sa.tuple_(AuditEntry.resource_type, AuditEntry.resource_id).in_(sorted(ids)))
    return conditions


def _unknown(option: str, query: AuditFilter) -> str:
    value = {"--user": query.user, "--group": query.group, "--resource": query.resource,
             "--account": query.account}[option]
    what = {"--user": "no user with that userName or SCIM id",
            "--group": "no group with that displayName or SCIM id",
            "--resource": "no user (userName or id) or group (displayName or id) by that name",
            "--account": "no user or group has that name on " + (f"target {query.target}" if query.target
                                                                 else "any target")}[option]
    return f"{option} {value!r}: {what} in the store or the audit log"


def _user_ids(conn, text: str) -> set[tuple[str, str]]:
    return _named(conn, "User", User, User.user_name_lower, "userName", text)


def _group_ids(conn, text: str) -> set[tuple[str, str]]:
    return _named(conn, "Group", Group, Group.display_name_lower, "displayName", text)


def _named(conn, kind: str, model, lowered_column, attribute: str, text: str) -> set[tuple[str, str]]:
    """Live resources by name or id, and deleted ones by the name their SCIM entries recorded."""
    lowered = text.lower()
    ids = set(conn.execute(sa.select(model.id).where(sa.or_(model.id == text, lowered_column == lowered))).scalars())
    recorded = sa.or_(AuditEntry.resource_id == text,
                      sa.func.lower(AuditEntry.after[attribute].as_string()) == lowered,
                      sa.func.lower(AuditEntry.before[attribute].as_string()) == lowered)
    ids |= set(conn.execute(sa.select(AuditEntry.resource_id).distinct().where(
        AuditEntry.scope == SCIM_SCOPE, AuditEntry.resource_type == kind, recorded)).scalars())
    return {(kind, rid) for rid in ids}


def _account_ids(conn, text: str, target: str | None) -> set[tuple[str, str]]:
    """Resources linked to the account ``text`` (reserved or applied name), and those whose delivery
    entries recorded it (an account since deleted)."""
    lowered = text.lower()
    links = sa.select(Link.resource_type, Link.resource_id).where(
        sa.or_(Link.remote_name_lower == lowered, Link.applied_name_lower == lowered))
    recorded = sa.select(AuditEntry.resource_type, AuditEntry.resource_id).distinct().where(
        AuditEntry.scope != SCIM_SCOPE, AuditEntry.resource_id.is_not(None),
        sa.or_(sa.func.lower(AuditEntry.after["name"].as_string()) == lowered,
               sa.func.lower(AuditEntry.before["name"].as_string()) == lowered))
    if target is not None:
        links, recorded = links.where(Link.target == target), recorded.where(AuditEntry.scope == target)
    return {(kind, rid) for kind, rid in (*conn.execute(links), *conn.execute(recorded))}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
