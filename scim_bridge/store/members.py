"""Group membership rows: one per (group, user), changed by delta, never by rewriting the group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.errors import InvalidValue
from scim_bridge.store.models import GroupMember, User

_CHUNK = 500  # bound the size of IN (...) lists on both databases


@dataclass(frozen=True)
class MembershipDelta:
    """A change of one group's members, by user id, applied in this order.

    With ``replace`` set, the members become exactly those users (the other fields are then empty).
    Otherwise every member is dropped when ``clear``, then the users in ``remove``, then the users in
    ``add`` join (one already a member stays as it is): a user both removed and added ends a member.
    """

    replace: Sequence[str] | None = None
    clear: bool = False
    remove: Sequence[str] = ()
    add: Sequence[str] = ()


def _chunks(ids: list[str]):
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _check_users_exist(session: Session, ids: list[str]) -> None:
    found: set[str] = set()
    for chunk in _chunks(ids):
        # FOR SHARE (PostgreSQL; SQLite writers are serial anyway): a concurrent DELETE of one of
        # these users commits first or waits, so a member is never added to a tombstone.
        found.update(session.scalars(
            sa.select(User.id).where(User.id.in_(chunk), User.deleted_at.is_(None)).with_for_update(read=True)
        ))
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise InvalidValue(
            f"No User with id {shown}{' and others' if len(missing) > 5 else ''}: "
            "provision the user before adding it to a group."
        )


def current_members(session: Session, group_id: str) -> set[str]:
    return set(session.scalars(sa.select(GroupMember.user_id).where(GroupMember.group_id == group_id)))


def _add(session: Session, group_id: str, ids: list[str], present: set[str] | None = None) -> set[str]:
    if present is None:
        present = set()
        for chunk in _chunks(ids):
            present.update(session.scalars(sa.select(GroupMember.user_id).where(
                GroupMember.group_id == group_id, GroupMember.user_id.in_(chunk))))
    new = [i for i in ids if i not in present]
    if new:
        session.execute(sa.insert(GroupMember), [{"group_id": group_id, "user_id": i} for i in new])
    return set(new)


def _remove(session: Session, group_id: str, ids: list[str]) -> set[str]:
    removed: set[str] = set()
    for chunk in _chunks(ids):
        result = session.execute(sa.delete(GroupMember).where(
            GroupMember.group_id == group_id, GroupMember.user_id.in_(chunk)).returning(GroupMember.user_id))
        removed.update(result.scalars())
    return removed


def member_list(session: Session, group_id: str) -> list[dict]:
    """The group's members as ``{"value", "display", "type"}`` (display: the userName), for PATCH
    filters over member sub-attributes; rare enough to read every row."""
    rows = session.execute(
        sa.select(User.id, User.user_name).join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group_id)
    )
    return [{"value": user_id, "display": user_name, "type": "User"} for user_id, user_name in rows]


def replace_members(session: Session, group_id: str, user_ids: Sequence[str]) -> set[str]:
    """Make the group's members exactly ``user_ids``; returns the users whose membership changed."""
    wanted = list(dict.fromkeys(user_ids))
    _check_users_exist(session, wanted)
    present = current_members(session, group_id)
    keep = set(wanted)
    removed = _remove(session, group_id, [i for i in present if i not in keep])
    added = _add(session, group_id, wanted, present)
    return removed | added


def apply_delta(session: Session, group_id: str, delta: MembershipDelta) -> set[str]:
    """Apply a member delta in its order; returns the users whose membership changed."""
    if delta.replace is not None:
        return replace_members(session, group_id, delta.replace)
    affected: set[str] = set()
    if delta.clear:
        affected |= _remove(session, group_id, list(current_members(session, group_id)))
    affected |= _remove(session, group_id, list(dict.fromkeys(delta.remove)))
    added = list(dict.fromkeys(delta.add))
    _check_users_exist(session, added)
    affected |= _add(session, group_id, added)
    return affected
