"""Where each SCIM attribute lives in the store, as SQL expressions the filter translator compares.

- indexed columns: ``id``, ``userName`` (``user_name_lower``), ``externalId``, ``displayName``
  (``display_name_lower``), ``active``, ``meta.*``;
- child rows (``ChildRows``): ``emails`` in ``user_emails``, a user's ``groups`` and a group's
  ``members`` in ``group_members``;
- the provisioning extension's ``targets`` in the link and outbox rows, one value per configured
  target (``with_status``; the rows are store/provisioning.py's);
- everything else in the ``resource`` JSON column (``JsonValues`` for the arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from scim_bridge.errors import InvalidFilter
from scim_bridge.scim.schemas import COMMON_ATTRIBUTES, GROUP, USER, Attribute, AttributePath, ResourceType
from scim_bridge.store.dialect import json_array_elements
from scim_bridge.store.models import Document, Group, GroupMember, User, UserEmail
from scim_bridge.store.provisioning import status_rows


@dataclass(frozen=True)
class Operand:
    """A value to compare: ``lowered`` when the column holds Python-lower-cased text."""

    expr: ColumnElement
    attribute: Attribute
    lowered: bool = False


@dataclass(frozen=True)
class ChildRows:
    """A multi-valued attribute kept one value per row of a child table.

    Resources are selected with ``id IN (SELECT owner ...)``: the child table's index drives the
    lookup, where a correlated EXISTS would make SQLite visit every resource first."""

    attribute: Attribute
    owner: ColumnElement  # the resource table's id
    owners: Select  # SELECT <owner id> FROM <child rows>, with the conditions every lookup needs
    columns: dict[str, Operand]
    in_resource: bool  # the resource JSON holds the attribute too, with the sub-attributes not in columns

    def operand(self, sub: Attribute) -> Operand:
        found = self.columns.get(sub.name)
        if found is None:
            raise InvalidFilter(f'"{self.attribute.name}.{sub.name}" cannot be used in a filter: '
                                f'filter on {self.attribute.name}.value instead.')
        return found

    def having(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        return self.owner.in_(self.owners if condition is None else self.owners.where(condition))


class JsonValues:
    """A multi-valued attribute in the resource JSON, one row per array element."""

    def __init__(self, table: ResourceTable, path: AttributePath):
        self.attribute = path.attribute
        self.path = (path.urn, path.attribute.name) if path.urn else (path.attribute.name,)
        self.resource = table.model.resource
        self.values = json_array_elements(self.resource[self.path]).table_valued(
            sa.column("value", Document)).alias()

    def operand(self, sub: Attribute) -> Operand:
        return Operand(json_scalar(self.values.c.value[sub.name], sub), sub)

    def having(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        query = sa.select(1).select_from(self.values)
        return sa.exists(query if condition is None else query.where(condition))

    def first(self, sub: Attribute, condition: ColumnElement[bool]):
        """The sub-attribute of the first value meeting ``condition``, else of the first value."""
        chosen = sa.select(self.operand(sub).expr).select_from(self.values).where(condition).limit(1)
        first = json_scalar(self.resource[(*self.path, 0, sub.name)], sub)
        return sa.func.coalesce(chosen.scalar_subquery(), first)


@dataclass(frozen=True)
class ResourceTable:
    rtype: ResourceType
    model: type
    columns: dict[str, Operand]  # canonical dotted path → column
    child_rows: dict[str, ChildRows]
    sort_columns: dict[str, ColumnElement] = field(default_factory=dict)

    def operand(self, path: AttributePath) -> Operand | None:
        """A single-valued attribute's value; None for what the store cannot compare."""
        found = self.columns.get(path.dotted)
        if found is not None or path.attribute.name == "meta" and path.urn is None:
            return found
        keys = (*((path.urn,) if path.urn else ()), path.attribute.name,
                *((path.sub_attribute.name,) if path.sub_attribute else ()))
        return Operand(json_scalar(self.model.resource[keys], path.target), path.target)

    def values(self, path: AttributePath, names: set[str]) -> ChildRows | JsonValues:
        """The values of a multi-valued attribute, where the sub-attributes ``names`` can be read."""
        rows = self.child_rows.get(child_key(path))
        if rows is not None and (names <= rows.columns.keys() or not rows.in_resource):
            return rows
        return JsonValues(self, path)


    def with_status(self, targets: Sequence[str]) -> ResourceTable:
        """This table with the provisioning extension's ``targets`` over the configured ``targets``."""
        extension = self.rtype.provisioning
        attribute = extension.attribute("targets")
        rows = status_rows(self.rtype, targets)
        columns = {name: Operand(expr, attribute.sub(name)) for name, expr in rows.columns.items()}
        status = ChildRows(attribute, self.model.id, rows.select(rows.resource_id), columns, in_resource=False)
        return replace(self, child_rows={**self.child_rows, f"{extension.id}:{attribute.name}": status})


def child_key(path: AttributePath) -> str:
    """The key of ``ResourceTable.child_rows``: the attribute's name, URN-qualified in an extension."""
    return f"{path.urn}:{path.attribute.name}" if path.urn else path.attribute.name


def json_scalar(expr, attr: Attribute):
    if attr.type == "boolean":
        return expr.as_boolean()
    if attr.type in ("integer", "decimal"):
        return expr.as_float()
    return expr.as_string()


def _common(model, rtype: ResourceType) -> dict[str, Operand]:
    common = {a.name: a for a in COMMON_ATTRIBUTES}
    meta = common["meta"]
    # meta.version as rendered: the weak ETag W/"<version>" (resources.etag).
    rendered_version = sa.literal('W/"') + sa.cast(model.version, sa.String) + sa.literal('"')
    return {
        "id": Operand(model.id, common["id"]),
        "externalId": Operand(model.external_id, common["externalId"]),
        "meta.created": Operand(model.created, meta.sub("created")),
        "meta.lastModified": Operand(model.last_modified, meta.sub("lastModified")),
        "meta.version": Operand(rendered_version, meta.sub("version")),
        "meta.resourceType": Operand(sa.literal(rtype.name, sa.String), meta.sub("resourceType")),
    }


def _user_table() -> ResourceTable:
    schema = USER.schema
    emails, groups = schema.attribute("emails"), schema.attribute("groups")
    return ResourceTable(
        USER,
        User,
        {
            **_common(User, USER),
            "userName": Operand(User.user_name_lower, schema.attribute("userName"), lowered=True),
            "displayName": Operand(User.display_name_lower, schema.attribute("displayName"), lowered=True),
            "active": Operand(User.active, schema.attribute("active")),
        },
        {
            "emails": ChildRows(emails, User.id, sa.select(UserEmail.user_id), {
                "value": Operand(UserEmail.value_lower, emails.sub("value"), lowered=True),
                "type": Operand(UserEmail.type, emails.sub("type")),
                "primary": Operand(UserEmail.primary, emails.sub("primary")),
            }, in_resource=True),
            # As the repository renders groups: live groups only, "direct", display = group name.
            "groups": ChildRows(
                groups, User.id,
                sa.select(GroupMember.user_id).join(Group, Group.id == GroupMember.group_id)
                .where(Group.deleted_at.is_(None)),
                {
                    "value": Operand(GroupMember.group_id, groups.sub("value")),
                    "display": Operand(Group.display_name_lower, groups.sub("display"), lowered=True),
                    "type": Operand(sa.literal("direct", sa.String), groups.sub("type")),
                }, in_resource=False),
        },
        # The primary email, else the first: RFC 7644 §3.4.2.3 for a multi-valued sortBy.
        {"emails.value": User.primary_email_lower, "meta.version": User.version},
    )


def _group_table() -> ResourceTable:
    schema = GROUP.schema
    members = schema.attribute("members")
    member_name = sa.select(User.user_name_lower).where(User.id == GroupMember.user_id).scalar_subquery()
    return ResourceTable(
        GROUP,
        Group,
        {
            **_common(Group, GROUP),
            "displayName": Operand(Group.display_name_lower, schema.attribute("displayName"), lowered=True),
        },
        {
            # As the repository renders members: type "User", display = the member's userName.
            "members": ChildRows(members, Group.id, sa.select(GroupMember.group_id), {
                "value": Operand(GroupMember.user_id, members.sub("value")),
                "display": Operand(member_name, members.sub("display"), lowered=True),
                "type": Operand(sa.literal("User", sa.String), members.sub("type")),
            }, in_resource=False),
        },
        {"meta.version": Group.version},
    )


TABLES = {"User": _user_table(), "Group": _group_table()}
