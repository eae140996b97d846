"""SCIM PATCH (RFC 7644 §3.5.2) applied to a resource in canonical form. Pure: no Flask, no SQL.

``apply_patch`` reads the operations (vendor dialects already normalised by ``patch_dialects``),
applies them in order to a copy of the canonical attributes and returns the result, or raises the
first error: nothing is applied unless everything is (RFC 7644 §3.5.2 "each operation ... MUST be
performed ... atomically"). Group members never live in the canonical dict (a group can have
50,000 of them, docs/architecture.md decision 3): member operations come back as ``MemberChanges``, which
the api hands to the store as a delta of user ids (row inserts and deletes).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from scim_bridge.errors import InvalidPath, InvalidValue, Mutability, NoTarget, ScimError
from scim_bridge.scim.filter import And, Compare, Node, Or, PatchPath, parse_path
from scim_bridge.scim.matching import matches
from scim_bridge.scim.patch_dialects import Operation, expand, read_operations
from scim_bridge.scim.resources import check_required, coerce_members, coerce_value
from scim_bridge.scim.schemas import GROUP, Attribute, ResourceType


@dataclass
class MemberChanges:
    """Net member changes of one PATCH, for the caller to apply in this order.

    Either ``replace`` is a list (the group's complete new member list; every other field is then
    empty), or: drop every member when ``remove_all``, drop the ids in ``remove``, drop the member
    rows ({"value", "type", "display"}) matching any filter in ``remove_matching``, then add ``add``
    (ignoring members already present). Operations were folded in request order: a member removed
    and then added is in both ``remove`` and ``add``; one added and then removed only in ``remove``.
    """

    replace: list[dict] | None = None
    add: list[dict] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    remove_matching: list[Node] = field(default_factory=list)  # filters over member sub-attributes
    remove_all: bool = False

    def matching(self, members: Iterable[dict]) -> list[str]:
        """The ids of ``members`` (the group's current member rows) that a ``remove_matching`` filter
        selects: filters other than ``value eq`` need the rows, which only the caller can read."""
        return [m["value"] for m in members if any(matches(node, m, GROUP) for node in self.remove_matching)]


@dataclass
class PatchResult:
    attributes: dict  # the new canonical attributes; the input dict is never mutated
    members: MemberChanges | None  # None when the request has no member operation
    changed: bool  # whether ``attributes`` differ from the input
    password: str | None = None  # a new password, when the request sets one (writeOnly, never stored here)


def apply_patch(rtype: ResourceType, attributes: dict, body: object, *, resource_id: str) -> PatchResult:
    patch = _Patch(rtype, copy.deepcopy(attributes))
    for requested in read_operations(body):
        for operation in expand(rtype, requested, resource_id):
            try:
                patch.apply(operation)
                check_required(rtype, patch.attributes)
            except ScimError as exc:
                exc.detail = f"{operation.where}: {exc.detail}"  # name the operation at fault
                exc.args = (exc.detail,)
                raise
    return PatchResult(patch.attributes, patch.members, patch.attributes != attributes, patch.password)


class _Patch:
    def __init__(self, rtype: ResourceType, attributes: dict):
        self.rtype = rtype
        self.attributes = attributes
        self.members: MemberChanges | None = None
        self.password: str | None = None

    def apply(self, operation: Operation) -> None:
        if operation.path is None:
            raise NoTarget('a "remove" needs a "path" naming what to remove (RFC 7644 §3.5.2.2).')
        extension = self.rtype.extension(operation.path)
        if extension is not None:  # only a remove gets here: add and replace of a whole extension were expanded
            self.attributes.pop(extension.id, None)
            return
        target = parse_path(operation.path, self.rtype)
        attr, sub = target.attribute.attribute, target.sub_attribute
        if attr is self.rtype.schema.attribute("members"):
            self._members(operation, target)
        elif attr is self.rtype.schema.attribute("password"):
            # writeOnly (RFC 7643 §7): Okta's password sync sets it. A remove (or null) is accepted and
            # ignored: the bridge keeps at most a hash it never checks, and scim2-tester expects it to succeed.
            if operation.op != "remove" and operation.value not in (None, ""):
                self.password = _password(operation.value)
        elif attr.read_only or (sub is not None and sub.read_only):
            raise Mutability(f'"{target.target.dotted}" is read-only and cannot be changed (RFC 7643 §7).')
        else:
            container = self.attributes if target.attribute.urn is None else self.attributes.setdefault(
                target.attribute.urn, {})
            if attr.multi_valued:
                self._multi(operation, target, container)
            else:
                _single(operation, target, container)
            if target.attribute.urn is not None and not container:
                self.attributes.pop(target.attribute.urn)

    def _multi(self, operation: Operation, target: PatchPath, container: dict) -> None:
        attr = target.attribute.attribute
        elements = list(container.get(attr.name) or [])
        if target.filter is None and target.sub_attribute is None:
            elements, written = _whole_list(operation, attr, elements)
        else:
            elements, written = self._selected(operation, target, elements)
        _one_primary(elements, written)
        _assign(container, attr.name, elements or None)

    def _selected(self, operation: Operation, target: PatchPath, elements: list) -> tuple[list, list]:
        """Elements chosen by a value filter (``emails[type eq "work"]``) or all of them (``emails.value``)."""
        attr, sub = target.attribute.attribute, target.sub_attribute
        chosen = [e for e in elements if target.filter is None or matches(target.filter, e, self.rtype)]
        if operation.op == "remove":
            # A filter matching nothing removes nothing, without noTarget: the state asked for already holds,
            # and IdPs repeat removals after drift, which a 400 would stall (RFC 7644 §3.5.2.2 names no error).
            if sub is None:
                return [e for e in elements if not any(e is c for c in chosen)], []
            for element in chosen:
                element.pop(sub.name, None)
            return [e for e in elements if e], []
        value = _element_value(operation, target)
        if not chosen:
            if value is None:
                return elements, []
            # Entra sends {"op":"Add","path":"emails[type eq \"work\"].value"} for a user with no work email
            # yet (docs/identity-providers.md §3.3): a filter made only of "eq" on sub-attributes describes the
            # element to create, so an add or replace that matches nothing creates it instead of failing.
            created = _created(target, value)
            if created is None:
                raise NoTarget(
                    f'no value of "{attr.name}" matches the filter in "{operation.path}" (RFC 7644 §3.5.2.3).'
                )
            return [*elements, created], [created]
        for element in chosen:
            if sub is not None:
                _assign(element, sub.name, value)
            elif operation.op == "replace":
                element.clear()  # RFC 7644 §3.5.2.3: "all matching record values SHALL be replaced"
                element.update(value or {})
            elif value is not None:
                element.update(value)
        return [e for e in elements if e], chosen

    def _members(self, operation: Operation, target: PatchPath) -> None:
        if target.sub_attribute is not None:
            raise InvalidPath(
                'member sub-attributes cannot be patched: use "members" with a list of {"value": "<id>"} to add, '
                'or "members[value eq \\"<id>\\"]" to remove.'
            )
        changes = self.members = self.members or MemberChanges()
        if target.filter is not None:
            if operation.op != "remove":
                raise InvalidPath(
                    f'"{operation.path}" selects members to remove; to {operation.op} members use "path": "members" '
                    'with a list of {"value": "<id>"}.'
                )
            ids = _member_ids(target.filter)
            if ids is None:
                _fold_remove_matching(changes, target.filter, self.rtype)
            else:
                _fold_remove(changes, ids)
        elif operation.op == "remove":
            if operation.value is None:
                _fold_remove_all(changes)
            else:
                # Entra's default dialect: {"op":"Remove","path":"members","value":[{"value":id}]} means "remove
                # these", not "remove all" as RFC 7644 §3.5.2.2 reads it (SCIMReferenceCode issue #10); and
                # an empty list removes no one rather than the whole group.
                _fold_remove(changes, [m["value"] for m in coerce_members(operation.value)])
        elif operation.op == "add":
            _fold_add(changes, coerce_members(operation.value))
        else:
            _fold_replace(changes, coerce_members(operation.value))


def _single(operation: Operation, target: PatchPath, container: dict) -> None:
    attr, sub = target.attribute.attribute, target.sub_attribute
    value = None if operation.op == "remove" else coerce_value(sub or attr, operation.value, target.target.dotted)
    if sub is not None:  # name.givenName
        parent = dict(container.get(attr.name) or {})
        _assign(parent, sub.name, value)
        _assign(container, attr.name, parent or None)
    elif value is not None and attr.is_complex:
        # RFC 7644 §3.5.2.1, §3.5.2.3: sub-attributes the value does not name are left unchanged; one it
        # names as null or "" becomes unassigned (RFC 7643 §2.5), e.g. Entra's manager {"$ref": null}.
        merged = {**(container.get(attr.name) or {}), **value}
        for name in _cleared_sub_attributes(attr, operation.value):
            merged.pop(name, None)
        container[attr.name] = merged
    else:
        # RFC 7644 §3.5.2.1: "add" on a single-valued attribute replaces it (Entra sends "Add" for changed
        # values); a null or "" value leaves it unassigned (RFC 7643 §2.5).
        _assign(container, attr.name, value)


def _cleared_sub_attributes(attr: Attribute, raw: object) -> list[str]:
    """Sub-attributes a complex value explicitly sets to null or "" (coercion drops them from the value)."""
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]  # Entra's manager arrives as a one-element array
    if not isinstance(raw, dict):
        return []
    return [attr.sub(k).name for k, v in raw.items() if isinstance(k, str) and v in (None, "") and attr.sub(k)]


def _whole_list(operation: Operation, attr: Attribute, elements: list) -> tuple[list, list]:
    """A multi-valued attribute without filter: add appends, replace swaps the list, remove clears it."""
    if operation.op == "remove":
        if operation.value is None:
            return [], []  # RFC 7644 §3.5.2.2: no filter removes every value
        # A value names what to remove: Entra's dialect for members (SCIMReferenceCode issue #10), applied
        # alike to any multi-valued attribute, and SCIM 1.1 "operation": "delete" items. An empty list
        # removes nothing: read as "remove all" it would empty the attribute on a client's no-op.
        listed = coerce_value(attr, operation.value, attr.name) or []
        return [e for e in elements if not any(_is_listed(e, item) for item in listed)], []
    new = coerce_value(attr, operation.value, attr.name) or []
    if operation.op == "replace":
        return new, new
    # RFC 7644 §3.5.2.1: a value already present is not added a second time.
    added = []
    for item in new:
        if item not in elements and item not in added:
            added.append(item)
    return [*elements, *added], added


def _is_listed(element: object, item: object) -> bool:
    if isinstance(element, dict) and isinstance(item, dict):
        return all(element.get(k) == v for k, v in item.items())
    return element == item


# RFC 7643 §2.4: sub-attributes that describe a value of a multi-valued attribute rather than hold it.
_DESCRIPTIVE = {"type", "primary", "display"}


def _element_value(operation: Operation, target: PatchPath):
    """The coerced value written into selected elements: one sub-attribute, or one whole element."""
    attr, sub = target.attribute.attribute, target.sub_attribute
    if sub is not None:
        return coerce_value(sub, operation.value, target.target.dotted)
    items = coerce_value(attr, operation.value, attr.name)
    if items and len(items) > 1:
        raise InvalidValue(f'"{operation.path}" selects values of "{attr.name}": send one object, not {len(items)}.')
    return items[0] if items else None


def _created(target: PatchPath, value) -> dict | None:
    """The element an add or replace that matched nothing creates, or None when there is none: the filter
    must be "eq" comparisons only (``type eq "work"`` → {"type": "work"}; ``or``, ``co``, ``not`` describe
    no one element) and the element must hold more than words about a value (RFC 7643 §2.4's type,
    primary and display), so ``emails[type eq "home"].primary`` on a user without a home email fails."""
    node, seed = target.filter, {}
    for part in () if node is None else node.operands if isinstance(node, And) else (node,):
        if not (isinstance(part, Compare) and part.op == "eq") or part.path.attribute.name in seed:
            return None
        seed[part.path.attribute.name] = part.value
    created = {**seed, **value} if target.sub_attribute is None else {**seed, target.sub_attribute.name: value}
    return created if set(created) - _DESCRIPTIVE else None


def _member_ids(node: Node) -> list[str] | None:
    """The ids a member filter names, when it is only ``value eq`` (or an ``or`` of them): Okta's and
    Entra's removal form ``members[value eq "id"]``, applied as deletes by id without reading members."""
    ids = []
    for part in node.operands if isinstance(node, Or) else (node,):
        if not (isinstance(part, Compare) and part.op == "eq" and part.path.attribute.name == "value"):
            return None
        ids.append(str(part.value))
    return ids


def _one_primary(elements: list, written: list) -> None:
    """RFC 7643 §2.4: at most one value is primary; the one this operation set wins."""
    winner = next((e for e in written if isinstance(e, dict) and e.get("primary") is True), None)
    if winner is None:
        return
    for element in elements:
        if element is not winner and isinstance(element, dict) and element.get("primary") is True:
            element["primary"] = False


def _assign(container: dict, key: str, value: object) -> None:
    if value is None:
        container.pop(key, None)
    else:
        container[key] = value


def _password(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValue('"password" must be a non-empty string.')
    return value


# Folding stays linear in the number of members: Okta's full push replaces a 50,000-member group in one list.
def _fold_add(changes: MemberChanges, members: list[dict]) -> None:
    pending = changes.replace if changes.replace is not None else changes.add
    seen = {m["value"] for m in pending}
    for member in members:
        if member["value"] not in seen:
            seen.add(member["value"])
            pending.append(member)


def _fold_remove(changes: MemberChanges, ids: list[str]) -> None:
    gone = set(ids)
    if changes.replace is not None:
        changes.replace = [m for m in changes.replace if m["value"] not in gone]
        return
    changes.add = [m for m in changes.add if m["value"] not in gone]
    if not changes.remove_all:
        changes.remove = list(dict.fromkeys([*changes.remove, *ids]))


def _fold_remove_matching(changes: MemberChanges, node: Node, rtype: ResourceType) -> None:
    if changes.replace is not None:
        changes.replace = [m for m in changes.replace if not matches(node, m, rtype)]
        return
    changes.add = [m for m in changes.add if not matches(node, m, rtype)]
    if not changes.remove_all:
        changes.remove_matching.append(node)


def _fold_remove_all(changes: MemberChanges) -> None:
    changes.replace, changes.add, changes.remove, changes.remove_matching = None, [], [], []
    changes.remove_all = True


def _fold_replace(changes: MemberChanges, members: list[dict]) -> None:
    changes.replace, changes.add, changes.remove, changes.remove_matching = [], [], [], []
    changes.remove_all = False
    _fold_add(changes, members)
