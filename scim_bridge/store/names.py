"""What an operator knows a resource by: a user's userName, a group's displayName."""

from __future__ import annotations

import sqlalchemy as sa

from scim_bridge.store.models import Group, User


def resource_names(session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """userName of users and displayName of groups, by (type, SCIM id)."""
    out = {}
    for kind, model, column in (("User", User, User.user_name), ("Group", Group, Group.display_name)):
        ids = sorted({rid for k, rid in keys if k == kind})
        if ids:
            out.update({(kind, rid): name for rid, name in session.execute(
                sa.select(model.id, column).where(model.id.in_(ids)))})
    return out
