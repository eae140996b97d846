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
from scim_bridge.store.models import Group, Link, User, utcnow


class Naming(Protocol):
    """What the store needs to know of the targets: their names and the rules' name mapping."""

    targets: tuple[str, ...]

    def remote_names(self, resource_type: str, attributes: dict) -> dict[str, str | None]:
        """Per target, the name the resource gets there; None when it is not pushed there."""


def reserve(session: Session, naming: Naming, resource_type: str, resource_id: str, attributes: dict) -> None:
    for target, name in naming.remote_names(resource_type, attributes).items():
        if name is None:
            continue  # not pushed to this target; an existing link stays for deprovisioning
        key = name.lower()
        link = session.execute(
            sa.select(Link).where(
                Link.resource_type == resource_type, Link.resource_id == resource_id, Link.target == target
            )
        ).scalar()
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
        if link.remote_name != name:
            link.remote_name, link.remote_name_lower, link.updated = name, key, utcnow()


def _taken(session: Session, target: str, resource_type: str, name: str, holder_id: str) -> str:
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
