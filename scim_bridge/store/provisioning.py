"""Each resource's provisioning state on each configured target, from the link and outbox rows.

One definition serves both uses (docs/provisioning-status.md): the values rendered in the
provisioning extension when a client asks for them (``statuses``), and the rows a filter on it
selects from (``status_rows``, which ``store/attribute_columns.py`` hands the filter translator), so a
filter and a read never disagree. A resource has one value per configured target, in the
configuration's order, whether or not a link or outbox row exists for it there:

- ``parked``: its outbox row is parked (the product refused; set aside until retried or changed),
  or its link says ``failed`` with nothing queued;
- ``pending``: an outbox row is queued or being delivered (a first delivery, a retry after an
  outage, a member waiting for its group);
- ``linked``, ``skipped``, ``planned``: nothing queued, and the link says ``ok``, ``skipped`` (the
  target's rules leave it out) or ``planned`` (dry run);
- ``unlinked``: neither row (a target added since, or an account the rules deleted there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from scim_bridge.scim.schemas import ResourceType
from scim_bridge.store.models import Group, Link, OutboxRow, User


@dataclass(frozen=True)
class StatusRows:
    """(live resource × configured target) joined to its link and outbox row, and the columns read there."""

    joined: FromClause
    resource_id: ColumnElement
    position: ColumnElement  # the target's place in the configuration
    columns: dict[str, ColumnElement]  # sub-attribute of ``targets`` → its value

    def select(self, *columns) -> sa.Select:
        return sa.select(*columns).select_from(self.joined)


def status_rows(rtype: ResourceType, targets: Sequence[str]) -> StatusRows:
    model = aliased(User if rtype.name == "User" else Group)
    configured = _configured(targets)
    link, row = aliased(Link), aliased(OutboxRow)

    def of(table):
        return sa.and_(table.resource_type == rtype.name, table.resource_id == model.id,
                       table.target == configured.c.name)

    joined = (sa.join(model, configured, model.deleted_at.is_(None))
              .outerjoin(link, of(link)).outerjoin(row, of(row)))
    state = sa.case(
        (row.state == "parked", "parked"),
        (row.id.is_not(None), "pending"),
        (link.status == "ok", "linked"),
        (link.status == "skipped", "skipped"),
        (link.status == "planned", "planned"),
        (link.status == "failed", "parked"),
        (link.status == "pending", "pending"),
        else_="unlinked",
    )
    parked = sa.or_(row.state == "parked", sa.and_(row.id.is_(None), link.status == "failed"))
    remote = "userName" if rtype.name == "User" else "groupName"  # the name on the target
    return StatusRows(joined, model.id, configured.c.position, {
        "name": configured.c.name,
        "state": state,
        remote: sa.func.coalesce(link.applied["name"].as_string(), link.remote_name),
        "reason": sa.case((row.state == "parked", None), else_=link.reason),
        "lastError": sa.case((parked, sa.func.coalesce(row.last_error, link.last_error)), else_=None),
    })


def statuses(session: Session, rtype: ResourceType, targets: Sequence[str], ids: Sequence[str]) -> dict[str, list]:
    """``{resource id: [{"name", "state", ...}, one per target]}`` for the provisioning extension."""
    out: dict[str, list] = {i: [] for i in ids}
    if not ids or not targets:
        return out
    rows = status_rows(rtype, targets)
    names = list(rows.columns)
    query = (rows.select(rows.resource_id, *rows.columns.values())
             .where(rows.resource_id.in_(list(ids))).order_by(rows.resource_id, rows.position))
    for resource_id, *values in session.execute(query):
        out[resource_id].append({n: v for n, v in zip(names, values, strict=True) if v is not None})
    return out


def _configured(targets: Sequence[str]) -> FromClause:
    """The configured targets as rows (name, position); none makes every status filter match nothing."""
    selects = [sa.select(sa.literal(name, sa.String).label("name"), sa.literal(i, sa.Integer).label("position"))
               for i, name in enumerate(targets)]
    if not selects:
        selects = [sa.select(sa.literal("", sa.String).label("name"), sa.literal(0, sa.Integer).label("position"))
                   .where(sa.false())]
    return (sa.union_all(*selects) if len(selects) > 1 else selects[0]).subquery("configured_targets")
