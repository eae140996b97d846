"""Bulk-loading a store the way the scale tests do: users with a work email, groups, one big group
and one ten-member group, inserted in one transaction and analysed, bypassing the SCIM API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from scim_bridge.store.models import Group, GroupMember, User, UserEmail

SMALL_GROUP_SIZE = 10


@dataclass(frozen=True)
class Scale:
    """``users`` users; group 0 holds the first ``members`` of them, group 1 the last ten."""

    users: int
    members: int
    groups: int

    @property
    def label(self) -> str:
        return f"{self.users:,} users"

    @property
    def big_group(self) -> str:
        return group_id(0)

    @property
    def small_group(self) -> str:
        return group_id(1)

    def spread(self, i: int) -> int:
        """The i-th user to look up: spread over the whole table, never the same one twice in a row."""
        return (i * 7919 + 13) % self.users

    def outsider_of_big(self, i: int) -> str:
        """A user not yet in the big group (after ``i`` earlier additions)."""
        return user_id(self.members + i)

    def outsider_of_small(self, i: int) -> str:
        """A user in neither group, taken from just below the small group's members."""
        return user_id(self.users - SMALL_GROUP_SIZE - 1 - i)


def user_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


def group_id(g: int) -> str:
    return str(uuid.UUID(int=10**9 + g))


def user_name(i: int) -> str:
    return f"user{i:06d}@example.com"


def group_name(g: int) -> str:
    return f"Group {g}"


def load(engine: sa.Engine, scale: Scale) -> None:
    now = datetime.now(UTC)
    stamps = {"version": 1, "created": now, "last_modified": now}
    users, emails = [], []
    for i in range(scale.users):
        name = user_name(i)
        emails_value = [{"value": name, "type": "work", "primary": True}]
        users.append({"id": user_id(i), "user_name": name, "user_name_lower": name, "external_id": f"ext-{i}",
                      "display_name": f"User {i}", "display_name_lower": f"user {i}", "primary_email_lower": name,
                      "active": True, "resource": {"userName": name, "externalId": f"ext-{i}",
                                                   "displayName": f"User {i}", "emails": emails_value}, **stamps})
        emails.append({"user_id": user_id(i), "value_lower": name, "type": "work", "primary": True})
    groups = [{"id": group_id(g), "display_name": group_name(g), "display_name_lower": group_name(g).lower(),
               "external_id": f"g-{g}", "resource": {"displayName": group_name(g)}, **stamps}
              for g in range(scale.groups)]
    small = range(scale.users - SMALL_GROUP_SIZE, scale.users)
    members = [{"group_id": scale.big_group, "user_id": user_id(i)} for i in range(scale.members)]
    members += [{"group_id": scale.small_group, "user_id": user_id(i)} for i in small]
    with engine.begin() as conn:
        conn.execute(sa.insert(User), users)
        conn.execute(sa.insert(UserEmail), emails)
        conn.execute(sa.insert(Group), groups)
        conn.execute(sa.insert(GroupMember), members)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
