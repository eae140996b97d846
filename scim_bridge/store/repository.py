"""The store's one write path: a SCIM change, its audit entry and its outbox rows in one transaction.

A method returns only after the commit, so an accepted change is durable before the identity provider
hears 201/200 (docs/architecture.md decision 1). A change computed from the current state (PATCH)
opens a unit of work with ``editing``: the row is read locked, the caller computes the new state from
it, and ``Edit.save`` writes it in the same transaction, so concurrent PATCHes of one resource queue
rather than lose each other's changes. The store takes plain data: canonical attributes and a
``MembershipDelta`` of user ids. Reads never load more than a page, and a group read that does not
want its members does not query them.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import threading
import uuid
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.errors import NotFound, PreconditionFailed, ScimError, Uniqueness
from scim_bridge.rules.errors import RuleError
from scim_bridge.scim.filter import Node
from scim_bridge.scim.schemas import ResourceType
from scim_bridge.store.database import begin_sqlite_write, make_session_factory, reading, statement_reads
from scim_bridge.store.direct_insert import direct_insert
from scim_bridge.store.group_commit import GroupCommit
from scim_bridge.store.links import Naming, NewNames, reserve
from scim_bridge.store.members import MembershipDelta, apply_delta, member_list, replace_members
from scim_bridge.store.models import AuditEntry, Group, GroupMember, User, UserEmail, utcnow
from scim_bridge.store.outbox import enqueue
from scim_bridge.store.provisioning import statuses
from scim_bridge.store.query import indexed_equality, order_clause, where_clause
from scim_bridge.store.sqlite_look_ups import sqlite_look_ups
from scim_bridge.store.tables import TABLES, Table, group_rows, member_rows


class Deleted(NamedTuple):
    """What a delete queued for delivery, and claimed for it in its transaction (see ``Record``)."""

    queued: tuple[tuple[str, str], ...]
    claimed: Any = None


@dataclass
class Record:
    """A stored resource as the API renders it."""

    rtype: ResourceType
    id: str
    attributes: dict
    version: int
    created: datetime
    last_modified: datetime
    members: list[dict] | None = None
    groups: list[dict] | None = None
    # The provisioning state per target (store/provisioning.py), read only when asked for.
    provisioning: list[dict] | None = None
    # (resource type, id) of every resource the change queued for delivery, for callers that wait.
    queued: tuple[tuple[str, str], ...] = ()
    # Those rows as claimed in the change's own transaction for this process's worker
    # (``Repository.attach_targets``' ``claim``); None: not claimed there.
    claimed: Any = None


def version_matches(if_match: str, version: int) -> bool:
    """RFC 7232 §3.1 with weak comparison: ``*``, or any listed tag naming this version."""
    tags = [t.strip() for t in if_match.split(",")]
    return any(t == "*" or t.removeprefix("W/").strip('"') == str(version) for t in tags)


class Edit:
    """One live resource opened by ``Repository.editing``: its state as read on the locked row, and
    ``save`` for the new state. Valid only inside the ``with`` block that opened it."""

    def __init__(self, repository: Repository, session: Session, table: Table, row, actor: str, action: str,
                 with_related: bool):
        self._repository = repository
        self.session, self.table, self.row = session, table, row
        self.actor, self.action, self.with_related = actor, action, with_related
        self._saved = False

    @property
    def attributes(self) -> dict:
        """A copy of the canonical attributes, free to change."""
        return copy.deepcopy(self.row.resource)

    def members(self) -> list[dict]:
        """A group's members as ``{"value", "display", "type"}`` (reads every member row)."""
        return member_list(self.session, self.row.id)

    def save(self, attributes: dict, members: MembershipDelta | None = None) -> Record:
        """Write the new canonical attributes and, for a group, the member delta; bump the version,
        reserve target names, queue deliveries and audit. Returns the record as it will commit."""
        if self._saved:
            raise RuntimeError("an Edit is saved once")
        self._saved = True
        return self._repository._save(self, attributes, members)


class Repository:
    def __init__(self, engine: sa.Engine, *, naming: Naming | None = None, clock=utcnow, new_id=None):
        self.engine = engine
        self.naming = naming
        self.clock = clock
        self.new_id = new_id or new_resource_id
        self._read = make_session_factory(engine)
        self._statement_reads = statement_reads(engine)
        # PostgreSQL: reads and direct creates run in autocommit (no BEGIN, COMMIT or ROLLBACK round trips).
        self._autocommit = engine.dialect.name == "postgresql"
        # SQLite: a look-up by a unique column without releasing the interpreter lock (store/sqlite_look_ups.py).
        self._sqlite_look_ups = sqlite_look_ups(engine)
        self._write = make_session_factory(engine, write=True)
        # A create without targets or members is written on the DBAPI connection (store/direct_insert.py).
        self._direct = direct_insert(engine.dialect)
        self._outer: Session | None = None  # see in_transaction
        self._claim_written = None  # see attach_targets
        # Creates arriving together are written together (store/group_commit.py): one transaction, one
        # synced commit and one multi-row INSERT per table for several requests.
        self._together = GroupCommit(self._create_batch, self._create_alone)

    def write_session(self) -> Session:
        return self._write()

    def in_transaction(self, session: Session) -> Repository:
        """This repository writing inside ``session``'s open transaction, each write in a savepoint of it,
        so that a write that fails rolls back alone (a unit of work of several writes: store/bulk.py)."""
        bound = copy.copy(self)
        bound._outer = session
        return bound

    def attach_targets(self, naming: Naming, claim=None) -> None:
        """From now on, changes reserve target names and queue deliveries to these targets.
        ``claim(session, keys)``: called at the end of a create's, an edit's or a delete's transaction
        with the resources it queued; what it returns (the rows claimed there for delivery, or None)
        is the record's ``claimed``. It spares the delivery a transaction of its own to claim them
        before its first call on a product; it must change nothing but those rows, so a rollback
        undoes it, and wait for no lock that is held across a store write (the transaction holds the
        write lock)."""
        self.naming = naming
        self._claim_written = claim

    @property
    def targets(self) -> tuple[str, ...]:
        return self.naming.targets if self.naming else ()

    def ping(self) -> str | None:
        """None when the database answers, else the kind of error (for /readyz; no details leak)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        except sa.exc.SQLAlchemyError as exc:
            return exc.__class__.__name__
        return None

    # -- reads ---------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, resource_id: str, *, with_related: bool = True,
            with_status: bool = False) -> Record:
        """``with_status``: read the provisioning state on each target too."""
        table = TABLES[rtype.name]
        with self._read() as session:
            row = _live(session, table, resource_id)
            return self._records(session, table, [row], with_related, with_status)[0]

    def provisioning(self, rtype: ResourceType, resource_ids: Sequence[str]) -> dict[str, list[dict]]:
        """The provisioning state of these resources on each configured target, as it is now."""
        with self._read() as session:
            return statuses(session, rtype, self.targets, resource_ids)

    def search(
        self,
        rtype: ResourceType,
        node: Node | None,
        *,
        sort_by: str | None = None,
        descending: bool = False,
        start_index: int = 1,
        count: int = 100,
        with_related: bool = True,
        with_status: bool = False,
    ) -> tuple[int, list[Record]]:
        """One page and the total. The page is read with SQLAlchemy Core (rows, not ORM objects); the
        total comes from the page itself when it is the first and not full, else from a COUNT; a
        user's groups are read only for users that have some (one flag in the page's query)."""
        table = TABLES[rtype.name]
        equality = indexed_equality(node, rtype) if not sort_by and count > 0 else None
        if equality is not None:
            rows = self._look_up(_equality_page(self.engine.dialect, table, equality[0], descending, with_related),
                                 equality[1], start_index - 1, count)
            if start_index == 1 and len(rows) < count:
                return len(rows), self._page_records(None, table, rows, with_related, with_status)
        conditions = self._conditions(table, node)
        with self._reader() as conn:
            if equality is None:
                rows = [] if count <= 0 else conn.execute(
                    self._page(table, conditions, sort_by, descending, start_index, count, with_related)).all()
            if start_index == 1 and len(rows) < count:
                total = len(rows)
            else:
                total = conn.scalar(sa.select(sa.func.count()).select_from(table.model).where(*conditions))
            return total, self._page_records(conn, table, rows, with_related, with_status)

    def _look_up(self, page: _EqualityPage, value, offset: int, limit: int) -> list:
        """The rows of an indexed ``eq`` look-up, run on the DBAPI cursor of a pooled connection: the
        statement is compiled once, so a look-up skips SQLAlchemy's per-execution work (cache key,
        execution context, result wrapping, the Connection and its transaction), which was most of its
        time in the database layer. The pool's checkout, checkin and events still apply; a failure is
        raised as SQLAlchemy raises it, a lost connection invalidated as SQLAlchemy does. On SQLite a
        look-up by a unique column runs on its thread's own connection instead, keeping the interpreter
        lock (store/sqlite_look_ups.py), and comes here whenever that path cannot answer."""
        parameters = page.parameters(value, offset, limit)
        if page.unique and self._sqlite_look_ups is not None:
            rows = self._sqlite_look_ups.rows(page.sql, parameters)
            if rows is not None:
                return [page.row(r) for r in rows]
        with self._driver_cursor(page.sql) as (fairy, cursor):
            if page.prepare is None or fairy.info.get(_UNPREPARED):
                cursor.execute(page.sql, parameters)
            else:
                self._execute_prepared(fairy, cursor, page, parameters)
            rows = cursor.fetchall()
        return [page.row(r) for r in rows]

    @contextmanager
    def _driver_cursor(self, sql: str) -> Iterator[tuple]:
        """A pooled connection's DBAPI connection (the pool's fairy) and a cursor of it, in autocommit on
        PostgreSQL (no BEGIN and COMMIT or ROLLBACK round trips). The pool's checkout, checkin and events
        still apply; a failure is raised as SQLAlchemy raises it (``sql`` names the statement, never its
        parameters), a lost connection invalidated as SQLAlchemy does."""
        dialect = self.engine.dialect
        fairy = self.engine.raw_connection()
        dbapi = fairy.dbapi_connection
        cursor = None
        try:
            if self._autocommit:
                dbapi.autocommit = True
            cursor = fairy.cursor()
            yield fairy, cursor
            cursor.close()
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, fairy, cursor)
            if lost:
                # What Connection does on a disconnect: this connection and every older pooled one go.
                self.engine.pool._invalidate(fairy, exc)
            raise sa.exc.DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                                             hide_parameters=True, connection_invalidated=lost,
                                             dialect=dialect) from exc
        finally:
            if self._autocommit and not dbapi.closed:
                dbapi.autocommit = False
            fairy.close()

    def _execute_prepared(self, fairy, cursor, page: _EqualityPage, parameters) -> None:
        """PostgreSQL: the look-up as a statement prepared once per connection, which spares the
        server's parse and plan of every look-up (most of its time for one). A connection whose
        server session does not keep prepared statements (a pooler in front of PostgreSQL that
        shares server sessions) runs the plain statement from then on."""
        error = self.engine.dialect.loaded_dbapi.Error
        prepared = fairy.info.setdefault(_PREPARED, set())
        if page.name not in prepared:
            try:
                cursor.execute(page.prepare)
            except error as exc:
                # Already there: a name is the digest of its statement's text, so it is this statement,
                # prepared on this server session by another client of a pooler sharing sessions.
                if getattr(exc, "pgcode", None) != _DUPLICATE_PREPARED_STATEMENT:
                    raise
            prepared.add(page.name)
        try:
            cursor.execute(page.execute, parameters)
        except error as exc:
            # The session does not hold it (a pooler gave this connection another session), or its
            # plan no longer fits the table (a migration by another instance): plain statements then.
            if getattr(exc, "pgcode", None) not in _PREPARED_STATEMENT_GONE:
                raise
            fairy.info[_UNPREPARED] = True
            cursor.execute(page.sql, parameters)

    def _conditions(self, table: Table, node: Node | None) -> list:
        live = [table.model.deleted_at.is_(None)]
        return live if node is None else [*live, where_clause(node, table.rtype, self.targets)]

    def _page(self, table: Table, conditions: list, sort_by, descending: bool, start_index: int, count: int,
              with_related: bool):
        return (sa.select(*_page_columns(table, with_related)).where(*conditions)
                .order_by(*order_clause(sort_by, descending, table.rtype))
                .offset(start_index - 1).limit(count))

    def _page_records(self, conn: sa.Connection | None, table: Table, rows, with_related: bool,
                      with_status: bool) -> list[Record]:
        """``conn``: the page's connection, or None to take one only if related rows or states are read."""
        related: dict[str, list[dict]] = {}
        status: dict[str, list[dict]] = {}
        wanted = [r.id for r in rows if table.model is Group or r.related] if with_related else []
        if wanted or (with_status and rows):
            with ExitStack() as stack:
                session = Session(bind=conn if conn is not None else stack.enter_context(self._reader()))
                stack.enter_context(session)
                if wanted:
                    related = (member_rows if table.model is Group else group_rows)(session, wanted)
                if with_status:
                    status = statuses(session, table.rtype, self.targets, [r.id for r in rows])
        out = []
        for row in rows:
            record = Record(table.rtype, row.id, row.resource, row.version, row.created, row.last_modified)
            if with_related:
                if table.model is Group:
                    record.members = related.get(row.id, [])
                else:
                    record.groups = related.get(row.id, [])
            if with_status:
                record.provisioning = status[row.id]
            out.append(record)
        return out

    def _reader(self):
        """A connection for one read, with no transaction around its statements (``reading``)."""
        return reading(self._statement_reads)

    def _records(self, session: Session, table: Table, rows, with_related: bool,
                 with_status: bool = False) -> list[Record]:
        ids = [r.id for r in rows]
        related = {}
        if with_related:
            related = member_rows(session, ids) if table.model is Group else group_rows(session, ids)
        status = statuses(session, table.rtype, self.targets, ids) if with_status else {}
        out = []
        for row in rows:
            record = Record(table.rtype, row.id, row.resource, row.version, row.created, row.last_modified)
            if with_related:
                if table.model is Group:
                    record.members = related[row.id]
                else:
                    record.groups = related[row.id]
            if with_status:
                record.provisioning = status[row.id]
            out.append(record)
        return out

    # -- writes --------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, attributes: dict, actor: str, *, members: Sequence[str] = ()) -> Record:
        """``members``: the ids of a new group's users. One INSERT per table (the resource, its emails,
        the audit entry; without targets or members on the DBAPI connection, ``_insert_directly``).
        The unique index on the lower-cased name refuses a taken name; only then is the holder looked
        up, to name it in the answer.

        Creates without members that arrive while another is being written are written together by
        the next commit (``create_many``'s statements, ``_create_batch``), each answered as if alone;
        except PostgreSQL's one-message creates, which are written side by side: the server already
        syncs the WAL once for commits that come together, and gathering them would only queue each
        create's round trip behind the one before it."""
        if self._outer is None and not members and not self._side_by_side():
            return self._together.submit((rtype.name, actor), (rtype, attributes))
        return self._create_one(rtype, attributes, actor, members)

    def _side_by_side(self) -> bool:
        return self._direct is not None and self._direct.one_message and not self.targets

    def _create_batch(self, key: tuple[str, str], batch: Sequence[tuple[ResourceType, dict]]) -> list:
        """One transaction for the batch, or nothing of it: a name taken meanwhile by another request
        raises, and each request then writes its own create (``create_many``'s one-by-one fallback
        would commit some before a later one failed, and those would be written again)."""
        table = TABLES[key[0]]
        if self._writes_directly(()):
            written = self._insert_directly(table, [attributes for _, attributes in batch], key[1])
            if written is not None:
                return written
        with self._transaction() as session:
            return self._insert_many(session, table, [attributes for _, attributes in batch], key[1], None)

    def _create_alone(self, key: tuple[str, str], item: tuple[ResourceType, dict]) -> Record:
        rtype, attributes = item
        return self._create_one(rtype, attributes, key[1], ())

    def _create_one(self, rtype: ResourceType, attributes: dict, actor: str, members: Sequence[str]) -> Record:
        table = TABLES[rtype.name]
        try:
            if self._writes_directly(members):
                written = self._insert_directly(table, [attributes], actor)
                if written is None:
                    raise _name_raced()
                return written[0]
            return self._insert(table, attributes, actor, members)
        except Uniqueness:
            value = table.unique_value(attributes)
            if self._outer is not None:  # in a bulk batch: the holder may be a write of this batch
                other = table.id_by_unique(self._outer.connection(), value)
            else:
                with self._reader() as conn:
                    other = table.id_by_unique(conn, value)
            if other is None:
                raise
            raise _taken(table, value, other) from None

    def create_many(self, rtype: ResourceType, attributes: Sequence[dict], actor: str, *,
                    stop_after_errors: int | None = None) -> list[Record | ScimError | RuleError]:
        """Several creates (resources without members), each answered as ``create`` would: its
        Record, or the error that refused it alone (nothing of it is written). The names are checked
        for all of them at once (one query for the unique names, one for the target names, a name
        taken by an earlier create of the list counting as taken), then each table gets one
        multi-row INSERT: the same rows as single creates. After the ``stop_after_errors``-th
        refusal the rest is not created (the list is shorter). Should the INSERTs still meet a taken
        name (another request took it after the check), each create is made on its own instead.

        Without targets and outside a unit of work, the INSERTs are tried first with no check
        (``_insert_directly``, as ``create``'s); only when a name is taken do the checks above decide.
        ``/Bulk`` calls this inside its unit of work, where the checks always come first."""
        table = TABLES[rtype.name]
        if self._writes_directly(()) and attributes:
            written = self._insert_directly(table, attributes, actor)
            if written is not None:
                return written
        try:
            with self._transaction() as session:
                return self._insert_many(session, table, attributes, actor, stop_after_errors)
        except Uniqueness:
            pass  # rolled back: one by one, each refusal its own
        results: list[Record | ScimError | RuleError] = []
        for one in attributes:
            try:
                results.append(self._create_one(rtype, one, actor, ()))
            except (ScimError, RuleError) as error:
                results.append(error)
                if _enough(results, stop_after_errors):
                    break
        return results

    def _writes_directly(self, members: Sequence[str]) -> bool:
        """Whether a create is written by ``_insert_directly``: outside a unit of work, with nothing but
        its own rows and audit entry to write (no members, no target names or outbox)."""
        return self._direct is not None and self._outer is None and not members and not self.targets

    def _insert_directly(self, table: Table, attributes: Sequence[dict], actor: str) -> list[Record] | None:
        """The rows of these creates and their audit entries, committed together on the DBAPI connection
        (store/direct_insert.py; on PostgreSQL one message, one round trip); None, having written
        nothing, when a name is taken (by a resource or by an earlier create of the list): the caller
        then takes the path that finds and names the holder. Names are not looked up first: the
        unique index refuses a taken one, and the happy path is spared that query."""
        now = self.clock()
        rows = [_NewRow(self.new_id(), one) for one in attributes]
        resources, emails = _new_rows(table, rows, now)
        audit = [self._audit_row(actor, "create", table, row.id, None, row.resource) for row in rows]
        parts = ((table.model, resources), (UserEmail, emails), (AuditEntry, audit))
        try:
            if self._direct.one_message:
                sql, parameters = self._direct.message(*parts)
                with self._driver_cursor(sql) as (_, cursor):
                    cursor.execute(sql, parameters)
            else:
                statements = self._direct.statements(*parts)
                # A failure names the statements together: the driver's error does not say which one.
                with self._driver_cursor(";\n".join(sql for sql, _ in statements)) as (fairy, cursor):
                    dbapi = fairy.dbapi_connection
                    begin_sqlite_write(dbapi)
                    try:
                        for sql, parameters in statements:
                            cursor.executemany(sql, parameters)
                        dbapi.commit()
                    except BaseException:
                        dbapi.rollback()
                        raise
        except sa.exc.IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            return None
        return [_new_record(table, row, now, (), [] if table.model is Group else None) for row in rows]

    def _insert(self, table: Table, attributes: dict, actor: str, members: Sequence[str]) -> Record:
        with self._transaction() as session:
            conn = session.connection()
            now = self.clock()
            row = _NewRow(self.new_id(), attributes)
            _insert_rows(conn, table, [row], now)
            affected = set()
            if table.model is Group and members:
                affected = replace_members(session, row.id, members)
            names = self._new_names(conn, table, [row])
            if names is not None:
                names.claim(row.id)
            self._add_new(session, table, [row], names, actor, now)
            queued = ()
            if self.targets:  # a new group's members are delivered as users (decision 3)
                queued = ((table.rtype.name, row.id),
                          *self._queue(session, table, row, affected, include_resource=False))
            session.flush()
            members_now = member_rows(session, [row.id])[row.id] if table.model is Group else None
            record = _new_record(table, row, now, queued, members_now)
            record.claimed = self._claimed(session, queued)
            return record

    def _insert_many(self, session: Session, table: Table, attributes: Sequence[dict], actor: str,
                     stop_after_errors: int | None) -> list[Record | ScimError | RuleError]:
        conn = session.connection()
        now = self.clock()
        rows = [_NewRow(self.new_id(), one) for one in attributes]
        lowered = [table.unique_value(row.resource).lower() for row in rows]
        holders = table.ids_by_unique(conn, sorted(set(lowered)))
        names = self._new_names(conn, table, rows)
        results: list[Record | ScimError | RuleError] = []
        accepted = []
        for row, value in zip(rows, lowered, strict=True):
            try:
                if value in holders:
                    raise _taken(table, table.unique_value(row.resource), holders[value])
                if names is not None:
                    names.claim(row.id)
            except (Uniqueness, RuleError) as error:
                results.append(error)
                if _enough(results, stop_after_errors):
                    break
                continue
            holders[value] = row.id
            accepted.append(row)
            queued = ((table.rtype.name, row.id),) if self.targets else ()
            results.append(_new_record(table, row, now, queued, [] if table.model is Group else None))
        if accepted:
            _insert_rows(conn, table, accepted, now)
            self._add_new(session, table, accepted, names, actor, now)
            self._claimed_each(session, results)
        return results

    def _claimed_each(self, session: Session, results: list) -> None:
        """Creates written together (``GroupCommit``) claim their rows in their one transaction, as a
        single write does (``_claimed``): each record gets its own claims, and as targets left to the
        loops those where none of its rows was claimed. Claims made here and after the commit would
        otherwise be one more write transaction per create, each queued behind the others on SQLite."""
        records = [r for r in results if isinstance(r, Record) and r.queued]
        claimed = self._claimed(session, tuple(key for record in records for key in record.queued))
        if claimed is None:
            return
        claims, left = claimed
        by_key: dict[tuple[str, str], list] = {}
        for claim in claims:
            by_key.setdefault((claim.resource_type, claim.resource_id), []).append(claim)
        for record in records:
            own = [claim for key in record.queued for claim in by_key.get(key, ())]
            taken = {claim.target for claim in own}
            record.claimed = (own, {target for target in left if target not in taken})

    def _new_names(self, conn: sa.Connection, table: Table, rows: list[_NewRow]) -> NewNames | None:
        if not self.targets:
            return None
        return NewNames(conn, self.naming, table.rtype.name, [(row.id, row.resource) for row in rows])

    def _add_new(self, session: Session, table: Table, rows: list[_NewRow], names: NewNames | None, actor: str,
                 now: datetime) -> None:
        """What follows the rows of new resources, whether one or a batch: their claimed target names,
        one outbox row per target each, and their audit entries."""
        if names is not None:
            names.insert()
            enqueue(session, table.rtype.name, [row.id for row in rows], self.targets, now)
        session.connection().execute(
            _INSERT[AuditEntry], [self._audit_row(actor, "create", table, row.id, None, row.resource) for row in rows])

    def replace(
        self, rtype: ResourceType, resource_id: str, attributes: dict, actor: str, *,
        members: Sequence[str] | None = None, if_match: str | None = None, with_related: bool = True,
    ) -> Record:
        """``members`` None keeps a group's members; a list makes them exactly those users."""
        delta = None if members is None else MembershipDelta(replace=members)
        with self.editing(rtype, resource_id, actor, action="replace", if_match=if_match,
                          with_related=with_related) as edit:
            return edit.save(attributes, delta)

    @contextmanager
    def editing(
        self, rtype: ResourceType, resource_id: str, actor: str, *, action: str = "patch",
        if_match: str | None = None, with_related: bool = True,
    ) -> Iterator[Edit]:
        """A unit of work on one live resource: the row is read locked (``FOR UPDATE`` on PostgreSQL;
        SQLite's write transactions hold the database lock from BEGIN) and its version checked against
        ``If-Match``; the block computes the new state from ``Edit.attributes`` and calls
        ``Edit.save``; leaving the block commits, an exception rolls everything back."""
        table = TABLES[rtype.name]
        with self._transaction() as session:
            row = _live(session, table, resource_id, lock=True)
            if if_match is not None and not version_matches(if_match, row.version):
                raise PreconditionFailed(
                    f"The {rtype.name} changed since you read it (now version {row.version}): "
                    "read it again and retry with its current ETag."
                )
            yield Edit(self, session, table, row, actor, action, with_related)

    def _save(self, edit: Edit, attributes: dict, members: MembershipDelta | None) -> Record:
        session, table, row = edit.session, edit.table, edit.row
        before = row.resource
        if attributes != before:
            table.fill(session, row, attributes)
        affected: set[str] = set()
        if members is not None and table.model is Group:
            affected = apply_delta(session, row.id, members)
        self._check_unique(session, table, attributes, row.id)
        queued = self._changed(session, table, row, affected, resource_changed=attributes != before or not affected)
        self._audit(session, edit.actor, edit.action, table, row.id, before, attributes)
        session.flush()
        record = self._records(session, table, [row], edit.with_related)[0]
        record.queued = queued
        record.claimed = self._claimed(session, queued)
        return record

    def delete(self, rtype: ResourceType, resource_id: str, actor: str, if_match=None) -> Deleted:
        """Returns the resources queued for delivery and the rows claimed for them in the delete's
        transaction, like a Record's ``queued`` and ``claimed``."""
        table = TABLES[rtype.name]
        with self._transaction() as session:
            row = _live(session, table, resource_id, lock=True)
            if if_match is not None and not version_matches(if_match, row.version):
                raise PreconditionFailed(f"The {rtype.name} changed since you read it: read it again first.")
            column = GroupMember.group_id if table.model is Group else GroupMember.user_id
            affected = set(session.scalars(sa.select(GroupMember.user_id).where(column == row.id)))
            session.execute(sa.delete(GroupMember).where(column == row.id))
            self._audit(session, actor, "delete", table, row.id, row.resource, None)
            if not self.targets:
                session.delete(row)
                return Deleted(())
            # Kept as a tombstone until every target has been deprovisioned.
            row.deleted_at = self.clock()
            row.version += 1
            table.tombstone(row)
            # A deleted group changes its former members' desired groups; a deleted user is itself
            # delivered (its memberships went with it).
            queued = self._queue(session, table, row, affected if table.model is Group else set())
            return Deleted(queued, self._claimed(session, queued))

    # -- helpers -------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        try:
            if self._outer is not None:
                with self._outer.begin_nested():
                    yield self._outer
            else:
                with self._write() as session, session.begin():
                    yield session
        except sa.exc.IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            # The unique indexes are the last word when two requests race past _check_unique.
            raise _name_raced() from exc

    def _claimed(self, session: Session, queued: tuple):
        """The write's outbox rows claimed in its own transaction (``attach_targets``), last in it.
        Not inside an outer unit of work (``in_transaction``): a savepoint rolled back later would
        leave claims of rows that were never written."""
        if not queued or self._claim_written is None or self._outer is not None:
            return None
        return self._claim_written(session, queued)

    def _check_unique(self, session: Session, table: Table, attributes: dict, own_id: str | None) -> None:
        value = table.unique_value(attributes)
        with session.no_autoflush:  # the row being changed must not be flushed before the check
            other = table.find_by_unique(session, value)
        if other is not None and other.id != own_id:
            raise _taken(table, value, other.id)

    def _changed(self, session: Session, table: Table, row, affected_users: set[str],
                 resource_changed=True) -> tuple:
        """Bump the version, reserve target names, queue deliveries; returns the queued keys.

        A change of a group's members alone queues only the users it changed (docs/architecture.md decision 3):
        the group's own desired state, its existence and name, did not change.
        """
        row.version += 1
        row.last_modified = self.clock()
        if not self.targets:
            return ()
        if not resource_changed:
            return self._queue(session, table, row, affected_users, include_resource=False)
        reserve(session, self.naming, table.rtype.name, row.id, row.resource)
        return self._queue(session, table, row, affected_users)

    def _queue(self, session: Session, table: Table, row, affected_users: set[str], *,
               include_resource: bool = True) -> tuple:
        """Outbox rows for the resource and for the users whose memberships changed (memberships
        travel with users); returns the queued keys."""
        now = self.clock()
        own = ((table.rtype.name, row.id),) if include_resource else ()
        if include_resource:
            enqueue(session, table.rtype.name, [row.id], self.targets, now)
        enqueue(session, "User", affected_users, self.targets, now)
        return (*own, *(("User", u) for u in sorted(affected_users)))

    def _audit(self, session, actor, action, table: Table, resource_id, before, after) -> None:
        session.add(AuditEntry(**self._audit_row(actor, action, table, resource_id, before, after)))

    def _audit_row(self, actor, action, table: Table, resource_id, before, after) -> dict:
        return {"at": self.clock(), "actor": actor, "scope": "scim", "action": action,
                "resource_type": table.rtype.name, "resource_id": resource_id, "before": before, "after": after,
                "outcome": "applied", "detail": None}


class _RandomIds:
    """Resource ids: version 4 UUIDs as ``uuid.uuid4`` makes them, from random bytes read 4 KiB at a
    time, one system call per 256 ids instead of one per id (each call lets the other request threads
    take the interpreter lock). A forked process starts on bytes of its own."""

    def __init__(self):
        self._lock = threading.Lock()
        self._refill()
        os.register_at_fork(after_in_child=self._refill)

    def _refill(self) -> None:
        self._bytes, self._at = b"", 0

    def __call__(self) -> str:
        with self._lock:
            if self._at >= len(self._bytes):
                self._bytes, self._at = os.urandom(4096), 0
            chunk = self._bytes[self._at:self._at + 16]
            self._at += 16
        return str(uuid.UUID(bytes=chunk, version=4))


new_resource_id = _RandomIds()


@dataclass(frozen=True)
class _NewRow:
    """A resource being created: its id and canonical attributes."""

    id: str
    resource: dict


# Built once: a create runs the same statements every time.
_INSERT = {model: sa.insert(model) for model in (User, Group, UserEmail, AuditEntry)}


def _new_rows(table: Table, rows: list[_NewRow], now: datetime) -> tuple[list[dict], list[dict]]:
    """New resources' own rows and their email rows, as column values."""
    resources = [{"id": row.id, "version": 1, "created": now, "last_modified": now, **table.new_row(row.resource)}
                 for row in rows]
    return resources, [email for row in rows for email in table.new_emails(row.id, row.resource)]


def _insert_rows(conn: sa.Connection, table: Table, rows: list[_NewRow], now: datetime) -> None:
    """New resources' own rows, one INSERT per table however many (an executemany)."""
    resources, emails = _new_rows(table, rows, now)
    conn.execute(_INSERT[table.model], resources)
    if emails:
        conn.execute(_INSERT[UserEmail], emails)


def _new_record(table: Table, row: _NewRow, now: datetime, queued: tuple, members: list[dict] | None) -> Record:
    record = Record(table.rtype, row.id, row.resource, 1, now, now, queued=queued)
    if table.model is Group:
        record.members = members
    else:  # a new user belongs to no group yet
        record.groups = []
    return record


def refusals(results: list) -> int:
    """How many of a batch's results are refusals (exceptions) rather than records."""
    return sum(isinstance(r, Exception) for r in results)


def _enough(results: list, stop_after_errors: int | None) -> bool:
    return stop_after_errors is not None and refusals(results) >= stop_after_errors


def _name_raced() -> Uniqueness:
    return Uniqueness(
        "Another request created or renamed a resource to the same name at the same moment: "
        "look the name up and retry."
    )


def _taken(table: Table, value: str, other_id: str) -> Uniqueness:
    return Uniqueness(
        f'{table.unique_attribute} "{value}" is already taken by {table.rtype.name} {other_id} '
        "(compared case-insensitively): look that resource up instead of creating it again."
    )


def _page_columns(table: Table, with_related: bool) -> list:
    model = table.model
    columns = [model.id, model.resource, model.version, model.created, model.last_modified]
    if with_related and model is not Group:
        # Whether the user is a member of anything: its groups are read only then.
        columns.append(sa.exists().where(GroupMember.user_id == model.id).label("related"))
    return columns


class _EqualityPage:
    """The page statement of an indexed ``eq`` look-up compiled for one dialect: its SQL text, how its
    parameters are passed (positional on SQLite) and how its columns are read back (the JSON document,
    the UTC datetimes), as SQLAlchemy would read them."""

    def __init__(self, dialect: sa.Dialect, statement: sa.Select, column):
        compiled = statement.compile(dialect=dialect)
        self._write = column.type.dialect_impl(dialect).bind_processor(dialect)
        self.sql = compiled.string
        self._order = tuple(compiled.positiontup) if compiled.positional else None
        columns = list(statement.selected_columns)
        readers = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self._readers = tuple((i, read) for i, read in enumerate(readers) if read is not None)
        self._row = namedtuple("PageRow", [c.key for c in columns])
        # At most one row (a unique index): what store/sqlite_look_ups.py may run with the lock held.
        self.unique = _unique(column)
        self.name = self.prepare = self.execute = None
        if dialect.name == "postgresql" and self._order is None:
            names: list[str] = []
            numbered = _PYFORMAT.sub(lambda m: names.append(m.group(1)) or f"${len(names)}", self.sql)
            # Named by its text: the same name means the same statement in every process and instance
            # that may share a server session through a pooler.
            self.name = f"scim_bridge_look_up_{hashlib.sha256(numbered.encode()).hexdigest()[:24]}"
            self.prepare = f"PREPARE {self.name} AS {numbered}"
            self.execute = f"EXECUTE {self.name} ({', '.join(f'%({n})s' for n in names)})"

    def parameters(self, value, offset: int, limit: int):
        given = {"value": value if self._write is None else self._write(value), "offset": offset, "limit": limit}
        return given if self._order is None else tuple(given[name] for name in self._order)

    def row(self, raw):
        values = list(raw)
        for i, read in self._readers:
            if values[i] is not None:
                values[i] = read(values[i])
        return self._row._make(values)


def _unique(column) -> bool:
    column = column.property.columns[0] if hasattr(column, "property") else column
    return bool(column.primary_key or column.unique)


_PYFORMAT = re.compile(r"%\((\w+)\)s")
_PREPARED = "scim_bridge_prepared"  # keys of a pooled connection's info: the statements its session holds,
_UNPREPARED = "scim_bridge_unprepared"  # and whether its session keeps none
_DUPLICATE_PREPARED_STATEMENT = "42P05"  # SQLSTATEs: duplicate_prepared_statement,
_PREPARED_STATEMENT_GONE = ("26000", "0A000")  # invalid_sql_statement_name; a cached plan that must change


@lru_cache(maxsize=64)
def _equality_page(dialect: sa.Dialect, table: Table, column, descending: bool, with_related: bool) -> _EqualityPage:
    """The page of an indexed ``eq`` look-up, built and compiled once per column: only its values change."""
    direction = sa.desc if descending else sa.asc
    return _EqualityPage(dialect, sa.select(*_page_columns(table, with_related))
                         .where(table.model.deleted_at.is_(None), column == sa.bindparam("value"))
                         .order_by(direction(table.model.created), direction(table.model.id))
                         .offset(sa.bindparam("offset")).limit(sa.bindparam("limit")), column)


def _is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    code = getattr(exc.orig, "pgcode", None)  # psycopg2: 23505 unique_violation
    return code == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def _live(session: Session, table: Table, resource_id: str, *, lock: bool = False):
    query = sa.select(table.model).where(table.model.id == resource_id, table.model.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"{table.rtype.name} {resource_id!r} does not exist (or was deleted).")
    return row

