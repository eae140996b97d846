"""Link rows reserve, at SCIM write time, the name each resource will have on each target.

Two identity provider users that the rules map to one Atlassian account must not both be accepted:
the second write is refused with 409 naming the target (issue: "Identity"). The reservation is the
link's ``remote_name``; what the target really holds is in the link's ``applied`` state, written by
delivery.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.errors import Uniqueness
from scim_bridge.store.models import Link, utcnow


class Naming(Protocol):
    """What the store needs to know of the targets: their names and the rules' name mapping."""

    targets: tuple[str, ...]

    def remote_names(self, resource_type: str, attributes: dict) -> dict[str, str | None]:
        """Per target, the name the resource gets there; None when it is not pushed there."""


def reserve(session: Session, naming: Naming, resource_type: str, resource_id: str, attributes: dict) -> None:
    for target, name in naming.remote_names(resource_type, attributes).items():
        if name is None:
            continue  # not pushed to this target; an existing link stays for deprovisioning
        link = session.execute(
            sa.select(Link).where(
                Link.resource_type == resource_type, Link.resource_id == resource_id, Link.target == target
            )
        ).scalar()
        holder = session.execute(
            sa.select(Link.resource_id).where(
                Link.target == target,
                Link.resource_type == resource_type,
                Link.remote_name_lower == name.lower(),
                Link.resource_id != resource_id,
            )
        ).scalar()
        if holder is not None:
            kind = "username" if resource_type == "User" else "group name"
            raise Uniqueness(
                f'On target "{target}" this {resource_type} would be the {kind} "{name}", which {resource_type} '
                f"{holder} already maps to (the rules map both to one Atlassian account): change the "
                "name in the identity provider or the target's name rules."
            )
        if link is None:
            session.add(Link(resource_type=resource_type, resource_id=resource_id, target=target, remote_name=name,
                             remote_name_lower=name.lower(), status="pending", created=utcnow(), updated=utcnow()))
            continue
        # An account the target will not rename (Confluence cannot; users.update off) keeps the name
        # it has: that name, not the newly mapped one, stays reserved, or the next user mapped to it
        # would be linked to this user's account.
        applied = link.applied or {}
        if applied.get("renamable") is False and applied.get("name"):
            name = applied["name"]
        if link.remote_name != name:
            link.remote_name, link.remote_name_lower, link.updated = name, name.lower(), utcnow()
