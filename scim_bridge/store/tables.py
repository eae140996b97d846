"""How each SCIM resource type maps onto its table: indexed columns and related rows.

The repository works on both resource types through these two small adapters instead of branching
on the type in every method.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.scim.schemas import GROUP, USER, ResourceType
from scim_bridge.store.models import Group, GroupMember, User, UserEmail


# One instance per resource type (TABLES), compared and hashed by identity: a field-wise hash would
# walk the whole schema on every cached look-up (repository.py ``_equality_page``).
@dataclass(frozen=True, eq=False)
class Table:
    rtype: ResourceType
    model: type
    unique_attribute: str  # the name identity providers match on, unique case-insensitively

    def unique_value(self, attributes: dict) -> str:
        return attributes[self.unique_attribute]

    def find_by_unique(self, session: Session, value: str):
        return session.scalar(sa.select(self.model).where(self.unique_column == value.lower()))

    def id_by_unique(self, conn: sa.Connection, value: str) -> str | None:
        """The id of the live or tombstoned resource holding the unique name (a statement built once)."""
        return conn.execute(_UNIQUE_ID[self.model], {"value": value.lower()}).scalar()

    def ids_by_unique(self, conn: sa.Connection, lowered: list[str]) -> dict[str, str]:
        """``id_by_unique`` for several lower-cased names in one query: the holder's id by name."""
        if not lowered:
            return {}
        return dict(conn.execute(_UNIQUE_IDS[self.model], {"values": lowered}).all())

    def new_row(self, attributes: dict) -> dict:
        """The indexed columns of a new row for a canonical resource (``fill``'s values, for an INSERT)."""
        values = {"resource": attributes, "external_id": attributes.get("externalId")}
        display = attributes.get("displayName")
        if self.model is User:
            values.update(
                user_name=attributes["userName"], user_name_lower=attributes["userName"].lower(),
                display_name=display, display_name_lower=display.lower() if display else None,
                active=attributes.get("active", True) is not False,
                primary_email_lower=_primary(_email_rows(attributes.get("emails") or [])),
            )
        else:
            values.update(display_name=display, display_name_lower=display.lower())
        return values

    def new_emails(self, user_id: str, attributes: dict) -> list[dict]:
        if self.model is not User:
            return []
        return [{"user_id": user_id, "value_lower": v, "type": t, "primary": p}
                for v, t, p in _email_rows(attributes.get("emails") or [])]

    @property
    def unique_column(self):
        return self.model.user_name_lower if self.model is User else self.model.display_name_lower

    def fill(self, session: Session, row, attributes: dict) -> None:
        """Copy the indexed attributes of a canonical resource onto its row."""
        stored = sa.inspect(row).persistent
        emails_before = (row.resource or {}).get("emails") if stored else None
        row.resource = attributes
        row.external_id = attributes.get("externalId")
        if self.model is User:
            row.user_name = attributes["userName"]
            row.user_name_lower = row.user_name.lower()
            row.display_name = attributes.get("displayName")
            row.display_name_lower = row.display_name.lower() if row.display_name else None
            row.active = attributes.get("active", True) is not False
            emails = attributes.get("emails") or []
            if not stored or emails != (emails_before or []):
                wanted = _email_rows(emails)
                # Set before the row is first written: a new user takes one INSERT, no UPDATE after it.
                row.primary_email_lower = _primary(wanted)
                if not stored:
                    session.add(row)
                    session.flush()  # the email rows reference the user row
                # No flush of a changed row here: the repository checks the new userName first, so a
                # rename onto a taken name is refused as "already taken", not met as a constraint error.
                with session.no_autoflush:
                    _fill_emails(session, row, wanted, replace=stored)
        else:
            row.display_name = attributes["displayName"]
            row.display_name_lower = row.display_name.lower()

    def tombstone(self, row) -> None:
        # Frees the unique name at once: the IdP may create the same userName again while
        # targets still deprovision the deleted account.
        if self.model is User:
            row.user_name_lower = None
        else:
            row.display_name_lower = None


def _email_rows(emails: list[dict]) -> list[tuple[str, str | None, bool]]:
    return [
        (e["value"].lower(), e.get("type"), bool(e.get("primary")))
        for e in emails
        if isinstance(e.get("value"), str)
    ]


def _primary(wanted: list[tuple[str, str | None, bool]]) -> str | None:
    return next((v for v, _t, p in wanted if p), wanted[0][0] if wanted else None)


def _fill_emails(session: Session, row: User, wanted: list[tuple[str, str | None, bool]], *, replace: bool) -> None:
    if replace:
        session.execute(sa.delete(UserEmail).where(UserEmail.user_id == row.id))
    session.add_all(UserEmail(user_id=row.id, value_lower=v, type=t, primary=p) for v, t, p in wanted)


_UNIQUE_ID = {
    User: sa.select(User.id).where(User.user_name_lower == sa.bindparam("value")),
    Group: sa.select(Group.id).where(Group.display_name_lower == sa.bindparam("value")),
}
_UNIQUE_IDS = {
    User: sa.select(User.user_name_lower, User.id).where(
        User.user_name_lower.in_(sa.bindparam("values", expanding=True))),
    Group: sa.select(Group.display_name_lower, Group.id).where(
        Group.display_name_lower.in_(sa.bindparam("values", expanding=True))),
}
USERS = Table(USER, User, "userName")
GROUPS = Table(GROUP, Group, "displayName")
TABLES = {"User": USERS, "Group": GROUPS}


def member_rows(session: Session, group_ids: list[str]) -> dict[str, list[dict]]:
    """Members of several groups in one query: ``{group_id: [{"value", "type"}]}``, by userName.

    No ``display``: RFC 7643 §8.7.1 gives members only value, $ref and type, and clients that read a
    group back after a PATCH compare the members with what they sent (scim2-tester's add/replace
    checks fail on a server-filled ``display``, which no identity provider reads).
    """
    out: dict[str, list[dict]] = {g: [] for g in group_ids}
    if not group_ids:
        return out
    rows = session.execute(
        sa.select(GroupMember.group_id, User.id)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id.in_(group_ids), User.deleted_at.is_(None))
        .order_by(GroupMember.group_id, User.user_name_lower)
    )
    for group_id, user_id in rows:
        out[group_id].append({"value": user_id, "type": "User"})
    return out


def group_rows(session: Session, user_ids: list[str]) -> dict[str, list[dict]]:
    """Groups of several users in one query: ``{user_id: [{"value", "display", "type"}]}``."""
    out: dict[str, list[dict]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    rows = session.execute(
        sa.select(GroupMember.user_id, Group.id, Group.display_name)
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.user_id.in_(user_ids), Group.deleted_at.is_(None))
        .order_by(GroupMember.user_id, Group.display_name_lower)
    )
    for user_id, group_id, name in rows:
        out[user_id].append({"value": group_id, "display": name, "type": "direct"})
    return out
