"""Group members as the bridge holds them: users, by id.

Jira, Confluence and Bitbucket groups hold users, so a member of another type (a nested group) is
refused here, before the store sees the request; the store takes plain user ids and checks only
that those users exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from scim_bridge.errors import InvalidValue


def user_ids(members: Iterable[dict]) -> list[str]:
    """The ids of ``members`` (``coerce_members`` output) in order, each once."""
    ids = []
    for member in members:
        if str(member.get("type", "User")).lower() != "user":
            raise InvalidValue(
                f'Member {member["value"]!r} has type {member.get("type")!r}: only Users can be members '
                "here, because Jira, Confluence and Bitbucket groups hold users."
            )
        ids.append(member["value"])
    return list(dict.fromkeys(ids))
