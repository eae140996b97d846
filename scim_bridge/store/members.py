"""Group membership rows: one per (group, user), changed by delta, never by rewriting the group."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.errors import InvalidValue
from scim_bridge.scim.matching import matches
from scim_bridge.scim.patch import MemberChanges
from scim_bridge.scim.schemas import ResourceType
from scim_bridge.store.models import GroupMember, User

_CHUNK = 500  # bound the size of IN (...) lists on both databases


def _chunks(ids: list[str]):
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _user_ids(members: list[dict]) -> list[str]:
    """The ids of members, refusing what the bridge cannot hold: nested groups, unknown ids."""
    ids = []
    for member in members:
        if str(member.get("type", "User")).lower() != "user":
            raise InvalidValue(
                f'Member {member["value"]!r} has type {member.get("type")!r}: only Users can be members '
                "here, because Jira, Confluence and Bitbucket groups hold users."
            )
        ids.append(member["value"])
    return list(dict.fromkeys(ids))


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


def replace_members(session: Session, group_id: str, members: list[dict]) -> set[str]:
    """Make the group's members exactly ``members``; returns the users whose membership changed."""
    wanted = _user_ids(members)
    _check_users_exist(session, wanted)
    present = current_members(session, group_id)
    keep = set(wanted)
    removed = _remove(session, group_id, [i for i in present if i not in keep])
    added = _add(session, group_id, wanted, present)
    return removed | added


def apply_member_changes(
    session: Session, group_id: str, changes: MemberChanges, rtype: ResourceType
) -> set[str]:
    """Apply a PATCH's member delta in the order the operations gave it; returns the users touched."""
    if changes.replace is not None:
        return replace_members(session, group_id, changes.replace)
    affected: set[str] = set()
    if changes.remove_all:
        affected |= _remove(session, group_id, list(current_members(session, group_id)))
    remove = list(changes.remove)
    if changes.remove_matching:
        # Filters other than `value eq` need the member rows; rare enough to read them here.
        rows = session.execute(
            sa.select(User.id, User.user_name).join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == group_id)
        )
        for user_id, user_name in rows:
            value = {"value": user_id, "display": user_name, "type": "User"}
            if any(matches(node, value, rtype) for node in changes.remove_matching):
                remove.append(user_id)
    affected |= _remove(session, group_id, remove)
    added_ids = _user_ids(changes.add)
    _check_users_exist(session, added_ids)
    affected |= _add(session, group_id, added_ids)
    return affected
