"""SCIM filters and sortBy → SQLAlchemy WHERE and ORDER BY on the users and groups tables.

The caller writes::

    select(User).where(User.deleted_at.is_(None), where_clause(node, USER))
                .order_by(*order_clause(sort_by, descending, USER))

and must add the tombstone condition itself (it does for the count query too); the sub-selects here
already leave out tombstoned groups where the rendered ``groups`` attribute does.

Where each attribute lives (indexed columns, child rows, the resource JSON) is in attribute_columns.py.

Semantics match ``scim.filter.matches``: a comparison holds when some value satisfies it, so an
unassigned attribute satisfies no comparison (SQL NULL); ``not`` turns a NULL into false before it
negates, which keeps ``not (title eq "x")`` true for users without a title, as in Python. Strings
compare case-insensitively unless the attribute is caseExact: the ``*_lower`` columns hold
Python-lower-cased text and are compared with the Python-lower-cased literal, so ``eq`` hits their
index; other strings go through SQL ``lower()`` (on SQLite it folds ASCII letters only).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from scim_bridge.errors import InvalidFilter
from scim_bridge.scim.filter import (
    ORDERING,
    SUBSTRING,
    And,
    Compare,
    Node,
    Not,
    Or,
    Present,
    ValuePath,
    resolve_attribute,
)
from scim_bridge.scim.schemas import AttributePath, ResourceType
from scim_bridge.store.attribute_columns import TABLES, ChildRows, JsonValues, Operand, ResourceTable, child_key
from scim_bridge.store.dialect import codepoint_order, text_position

_RELATIONS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
              "lt": operator.lt, "le": operator.le}
_TEXT = ("string", "reference", "binary")


def where_clause(node: Node, rtype: ResourceType, targets: Sequence[str] = ()) -> ColumnElement[bool]:
    """``targets``: the configured targets, which the provisioning extension's values are per."""
    return _translate(node, _table(rtype.name, tuple(targets)))


@functools.lru_cache(maxsize=32)
def _table(resource_type: str, targets: tuple[str, ...]) -> ResourceTable:
    """The resource table with the extension's per-target rows: built once per configuration, not per
    request (the construct is immutable SQL, shared safely across threads)."""
    return TABLES[resource_type].with_status(targets)


def order_clause(sort_by: str | None, descending: bool, rtype: ResourceType) -> list:
    """ORDER BY for RFC 7644 §3.4.2.3, ending with the primary key so that pages are stable.

    A ``sortBy`` naming nothing sortable (an unknown attribute, ``password``, a complex attribute
    without a sub-attribute) is ignored rather than refused: the RFC orders resources that have no
    value for ``sortBy`` by ``sortOrder`` alone, and sorting is an optional feature no identity
    provider relies on; a 400 there would only break a listing it needs.
    """
    table = TABLES[rtype.name]
    direction = sa.desc if descending else sa.asc
    key = _sort_key(sort_by.strip(), table) if sort_by and sort_by.strip() else None
    if key is None:
        return [direction(table.model.created), direction(table.model.id)]
    # RFC 7644 §3.4.2.3: resources without a value come last ascending, first descending.
    ordered = sa.desc(key).nulls_first() if descending else sa.asc(key).nulls_last()
    return [ordered, direction(table.model.id)]


def indexed_equality(node: Node | None, rtype: ResourceType) -> tuple[ColumnElement, object] | None:
    """``(column, value)`` when the filter is one ``eq`` on an attribute kept in its own column
    (``userName``, ``externalId``, ``displayName``, ``id``, ``active``), with the value as the column
    holds it: the look-ups identity providers make before every write, which the repository answers
    with a statement built once (``store/repository.py``)."""
    if not isinstance(node, Compare) or node.op != "eq" or node.path.attribute.multi_valued:
        return None
    table = TABLES[rtype.name]
    operand = table.columns.get(node.path.dotted)
    if operand is None or not isinstance(operand.expr, sa.Column | sa.orm.InstrumentedAttribute):
        return None
    value, attr = node.value, operand.attribute
    if isinstance(value, str):
        if attr.type not in _TEXT:
            return None
        if not attr.case_exact:
            if not operand.lowered:
                return None
            value = value.lower()
    elif not (isinstance(value, bool) and attr.type == "boolean"):
        return None
    return operand.expr, value


# -- filters ---------------------------------------------------------------------------------------


def _translate(node: Node, table: ResourceTable) -> ColumnElement[bool]:
    match node:
        case And(operands):
            return sa.and_(*(_translate(n, table) for n in operands))
        case Or(operands):
            return sa.or_(*(_translate(n, table) for n in operands))
        case Not(operand):
            return _negate(_translate(operand, table))
        case Present(path):
            return _present_at(path, table)
        case Compare(path, op, value):
            if path.attribute.multi_valued:
                values = table.values(path, {path.sub_attribute.name})
                return values.having(_compare(values.operand(path.sub_attribute), op, value))
            return _compare(_operand(path, table), op, value)
        case ValuePath(path, inner):
            if not path.attribute.multi_valued:  # name[givenName eq "x"] is name.givenName eq "x"
                return _translate(_rebase(inner, path), table)
            values = table.values(path, _names(inner))
            return values.having(_translate_value(inner, values))
    raise TypeError(f"not a filter node: {node!r}")


def _translate_value(node: Node, values: ChildRows | JsonValues) -> ColumnElement[bool]:
    """A value filter, over the sub-attributes of one value of a multi-valued attribute."""
    match node:
        case And(operands):
            return sa.and_(*(_translate_value(n, values) for n in operands))
        case Or(operands):
            return sa.or_(*(_translate_value(n, values) for n in operands))
        case Not(operand):
            return _negate(_translate_value(operand, values))
        case Present(path):
            return _present(values.operand(path.attribute))
        case Compare(path, op, value):
            return _compare(values.operand(path.attribute), op, value)
    raise TypeError(f"not a value filter node: {node!r}")


def _negate(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    # NOT NULL is NULL: a comparison with an unassigned value is "no match", so its negation matches.
    return sa.not_(sa.func.coalesce(condition, sa.false()))


def _present_at(path: AttributePath, table: ResourceTable) -> ColumnElement[bool]:
    attr, sub = path.attribute, path.sub_attribute
    if attr.multi_valued:
        values = table.values(path, {sub.name} if sub else set())
        return values.having(_present(values.operand(sub)) if sub else None)
    if attr.is_complex and sub is None:
        if attr.name == "meta":
            return sa.true()
        return sa.or_(*(_present(_operand(AttributePath(path.urn, attr, s), table)) for s in attr.sub_attributes))
    return _present(_operand(path, table))


def _present(operand: Operand) -> ColumnElement[bool]:
    if operand.attribute.type in _TEXT:
        return sa.and_(operand.expr.is_not(None), operand.expr != "")
    return operand.expr.is_not(None)


def _compare(operand: Operand, op: str, value) -> ColumnElement[bool]:
    expr, attr = operand.expr, operand.attribute
    if isinstance(value, str):
        if not attr.case_exact:
            value = value.lower()
            expr = expr if operand.lowered else sa.func.lower(expr)
        if op in SUBSTRING:
            return _substring(expr, op, value, case_exact=attr.case_exact)
        if op in ORDERING:
            expr = codepoint_order(expr)
    return _RELATIONS[op](expr, value)


def _substring(expr, op: str, value: str, *, case_exact: bool) -> ColumnElement[bool]:
    if not case_exact:
        # Both sides are lower case here: LIKE is case-sensitive on PostgreSQL, insensitive on SQLite.
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]
        return expr.like(pattern, escape="\\")
    if op == "co":
        return text_position(expr, value) > 0
    if op == "sw":
        return sa.func.substr(expr, 1, len(value)) == value
    length = sa.func.length(expr)
    return sa.and_(length >= len(value), sa.func.substr(expr, length - len(value) + 1) == value)


def _operand(path: AttributePath, table: ResourceTable) -> Operand:
    found = table.operand(path)
    if found is None:
        raise InvalidFilter(f'"{path.dotted}" cannot be used in a filter: filter on id instead.')
    return found


def _rebase(node: Node, parent: AttributePath) -> Node:
    """A single-valued complex attribute's value filter, with its paths made absolute."""
    match node:
        case And(operands):
            return And(tuple(_rebase(n, parent) for n in operands))
        case Or(operands):
            return Or(tuple(_rebase(n, parent) for n in operands))
        case Not(operand):
            return Not(_rebase(operand, parent))
        case Present(path):
            return Present(AttributePath(parent.urn, parent.attribute, path.attribute))
        case Compare(path, op, value):
            return Compare(AttributePath(parent.urn, parent.attribute, path.attribute), op, value)
    raise TypeError(f"not a value filter node: {node!r}")


def _names(node: Node) -> set[str]:
    """The sub-attributes a value filter reads."""
    match node:
        case And(operands) | Or(operands):
            return set().union(*(_names(n) for n in operands))
        case Not(operand):
            return _names(operand)
        case Present(path) | Compare(path, _, _):
            return {path.attribute.name}
    return set()


# -- sorting ---------------------------------------------------------------------------------------


def _sort_key(sort_by: str, table: ResourceTable):
    path = resolve_attribute(sort_by, table.rtype)
    # Never returned, or returned only on request (the provisioning state): not something to sort by.
    if path is None or path.target.returned in ("never", "request"):
        return None
    attr = path.attribute
    if attr.multi_valued:
        sub = path.sub_attribute or attr.sub("value")
        dotted = f"{attr.name}.{sub.name}"
        if dotted in table.sort_columns:
            return table.sort_columns[dotted]
        if child_key(path) in table.child_rows and not table.child_rows[child_key(path)].in_resource:
            return None
        values = JsonValues(table, path)
        primary = attr.sub("primary")
        # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else its first.
        condition = _compare(values.operand(primary), "eq", True) if primary else sa.true()
        return _sortable(Operand(values.first(sub, condition), sub))
    if attr.is_complex and path.sub_attribute is None:
        return None  # RFC 7644 §3.4.2.3: a complex attribute sorts by one of its sub-attributes
    if path.dotted in table.sort_columns:
        return table.sort_columns[path.dotted]
    found = table.operand(path)
    return _sortable(found) if found is not None else None


def _sortable(operand: Operand):
    expr = operand.expr
    if operand.attribute.type not in _TEXT:
        return expr
    if not operand.attribute.case_exact and not operand.lowered:
        expr = sa.func.lower(expr)
    return codepoint_order(expr)
