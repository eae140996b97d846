"""Link rows reserve, at SCIM write time, the name each resource will have on each target.

Two identity provider users that the rules map to one Atlassian account must not both be accepted:
the second write is refused with 409 naming the target (issue: "Identity"). The reservation is the
link's ``remote_name``; what the target really holds is in the link's ``applied`` state, written by
delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.errors import Uniqueness
from scim_bridge.rules.errors import RuleError
from scim_bridge.store.models import Group, Link, User, utcnow


class Naming(Protocol):
    """What the store needs to know of the targets: their names and the rules' name mapping."""

    targets: tuple[str, ...]

    def remote_names(self, resource_type: str, attributes: dict) -> dict[str, str | None]:
        """Per target, the name the resource gets there; None when it is not pushed there."""


def reserve(session: Session, naming: Naming, resource_type: str, resource_id: str, attributes: dict) -> None:
    names = {t: n for t, n in naming.remote_names(resource_type, attributes).items() if n is not None}
    if not names:
        return  # not pushed anywhere; an existing link stays for deprovisioning
    # The resource's links in one query; a name it already reserves is its own (it was checked
    # when reserved), so only a new or changed name is looked for among the others' (a group's
    # membership change, an attribute that does not name it: no look-up at all).
    links = {link.target: link for link in session.scalars(
        sa.select(Link).where(Link.resource_type == resource_type, Link.resource_id == resource_id))}
    for target, name in names.items():
        link = links.get(target)
        if link is not None and link.remote_name == name:
            continue
        key = name.lower()
        holder = session.execute(
            sa.select(Link.resource_id)
            .where(
                Link.target == target,
                Link.resource_type == resource_type,
                Link.resource_id != resource_id,
                # The name the rules give another resource, or the name its account still has there
                # (an IdP rename not yet applied, or one Confluence cannot apply).
                sa.or_(Link.remote_name_lower == key, Link.applied_name_lower == key),
            )
            .limit(1)
        ).first()
        if holder is not None:
            raise Uniqueness(_taken(session, target, resource_type, name, holder[0]))
        if link is None:
            session.add(Link(resource_type=resource_type, resource_id=resource_id, target=target, remote_name=name,
                             remote_name_lower=key, status="pending", created=utcnow(), updated=utcnow()))
            continue
        link.remote_name, link.remote_name_lower, link.updated = name, key, utcnow()


class NewNames:
    """The target names of resources being created, reserved together (a create, or a batch of a bulk's).

    One query finds which of all their names another resource already holds on a target (as
    ``reserve`` compares: the name the rules give it, or the one its account still has); a name
    ``claim`` gave to an earlier resource of the batch is held too. A new resource has no link yet, so
    there is nothing to update: ``rows`` are the links to insert.
    """

    def __init__(self, conn: sa.Connection, naming: Naming, resource_type: str,
                 resources: Sequence[tuple[str, dict]]):
        self._conn, self._type = conn, resource_type
        self._wanted: dict[str, dict[str, str] | RuleError] = {}
        for resource_id, attributes in resources:
            try:
                names = naming.remote_names(resource_type, attributes)
            except RuleError as error:  # that resource's own refusal, raised when it is claimed
                self._wanted[resource_id] = error
                continue
            self._wanted[resource_id] = {t: n for t, n in names.items() if n is not None}
        wanted = {(t, n.lower()) for names in self._wanted.values() if isinstance(names, dict)
                  for t, n in names.items()}
        self._held: dict[tuple[str, str], str] = {}
        if wanted:
            keys = sorted({k for _t, k in wanted})
            for target, holder, key in conn.execute(_HOLDERS, {"type": resource_type, "keys": keys,
                                                               "targets": sorted({t for t, _k in wanted})}):
                if (target, key) in wanted:
                    self._held.setdefault((target, key), holder)
        self.rows: list[dict] = []

    def claim(self, resource_id: str) -> None:
        """Reserve the resource's names, or raise what ``reserve`` would (nothing is reserved then)."""
        names = self._wanted[resource_id]
        if isinstance(names, RuleError):
            raise names
        for target, name in names.items():
            holder = self._held.get((target, name.lower()))
            if holder is not None:
                raise Uniqueness(_taken(self._conn, target, self._type, name, holder))
        now = utcnow()
        for target, name in names.items():
            self._held[(target, name.lower())] = resource_id
            self.rows.append({"resource_type": self._type, "resource_id": resource_id, "target": target,
                              "remote_name": name, "remote_name_lower": name.lower(), "status": "pending",
                              "created": now, "updated": now})

    def insert(self) -> None:
        if self.rows:
            self._conn.execute(_INSERT_LINK, self.rows)



def _holders_by(column) -> sa.Select:
    return sa.select(Link.target, Link.resource_id, column).where(
        Link.target.in_(sa.bindparam("targets", expanding=True)), Link.resource_type == sa.bindparam("type"),
        column.in_(sa.bindparam("keys", expanding=True)))


# Built once: only the values change. One SELECT per name column, so that each is an index search
# (an OR of the two lets SQLite pick an index on the target alone, and read every link there).
_HOLDERS = sa.union_all(_holders_by(Link.remote_name_lower), _holders_by(Link.applied_name_lower))
_INSERT_LINK = sa.insert(Link)


def _taken(session: Session | sa.Connection, target: str, resource_type: str, name: str, holder_id: str) -> str:
    model = User if resource_type == "User" else Group
    kind = "username" if resource_type == "User" else "group name"
    deleted = session.scalar(sa.select(model.deleted_at).where(model.id == holder_id))
    if deleted is not None:
        # The holder is invisible to the IdP (deleted, 404): say what blocks the name and for how long.
        return (f'On target "{target}" the {kind} "{name}" still belongs to a deleted {resource_type} that the '
                "bridge is deprovisioning there: retry shortly (scim-bridge status shows what is pending; "
                "scim-bridge retry re-queues a refused deprovisioning).")
    return (f'On target "{target}" this {resource_type} would be the {kind} "{name}", which {resource_type} '
            f"{holder_id} already has or maps to (the rules map both to one Atlassian account): change the "
            "name in the identity provider or the target's name rules.")
