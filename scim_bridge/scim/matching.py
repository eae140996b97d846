"""Evaluating a parsed SCIM filter against a resource in Python (RFC 7644 §3.4.2.2).

PATCH value paths (``emails[type eq "work"]``, ``members[value eq "…"]``) select values with it; the
store translates the same AST to SQL (store/query.py) under the same rules, and the tests compare the
two on one table of filters.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime

from scim_bridge.scim.filter import And, Compare, Node, Not, Or, Present, ValuePath, parse_date_time
from scim_bridge.scim.schemas import Attribute, AttributePath, ResourceType

_RELATIONS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
              "lt": operator.lt, "le": operator.le}
_SUBSTRINGS = {"co": operator.contains, "sw": str.startswith, "ew": str.endswith}


def matches(node: Node, value: dict, rtype: ResourceType) -> bool:
    """Whether ``value`` satisfies ``node``. ``value`` is a canonical resource (core attributes at top
    level, extension attributes under their URN) for a parsed filter, or one value of a multi-valued
    attribute for a ``ValuePath``/``PatchPath`` filter.

    A comparison holds when some value of the attribute satisfies it (RFC 7644 §3.4.2.2 on
    multi-valued attributes); an unassigned attribute has no value, so ``title ne "x"`` does not match
    a user without a title (``not (title eq "x")`` does). The same rule is used by store/query.py.
    """
    match node:
        case And(operands):
            return all(matches(n, value, rtype) for n in operands)
        case Or(operands):
            return any(matches(n, value, rtype) for n in operands)
        case Not(operand):
            return not matches(operand, value, rtype)
        case Present(path):
            return any(_assigned(v) for v in _values(value, path))
        case Compare(path, op, expected):
            return any(_compare(v, op, expected, path.target) for v in _values(value, path))
        case ValuePath(path, inner):
            return any(matches(inner, el, rtype) for el in _values(value, path) if isinstance(el, dict))
    raise TypeError(f"not a filter node: {node!r}")


def _lookup(holder: object, name: str):
    """Canonical resources use canonical names; a client-shaped dict may not (RFC 7643 §2.1)."""
    if not isinstance(holder, dict):
        return None
    if name in holder:
        return holder[name]
    lowered = name.lower()
    return next((v for k, v in holder.items() if isinstance(k, str) and k.lower() == lowered), None)


def _values(resource: dict, path: AttributePath) -> list:
    holder = _lookup(resource, path.urn) if path.urn else resource
    found = _lookup(holder, path.attribute.name)
    items = found if isinstance(found, list) else [found]
    if path.sub_attribute is not None:
        items = [_lookup(item, path.sub_attribute.name) for item in items]
    return [item for item in items if item is not None]


def _assigned(value: object) -> bool:
    # RFC 7643 §2.5: null, "" and [] (and an empty complex value) are unassigned.
    return value not in ("", [], {})


def _compare(actual: object, op: str, expected: object, attr: Attribute) -> bool:
    if isinstance(expected, bool):
        if isinstance(actual, str) and actual.strip().lower() in ("true", "false"):
            actual = actual.strip().lower() == "true"
        return isinstance(actual, bool) and _RELATIONS[op](actual, expected)
    if isinstance(expected, datetime):
        if isinstance(actual, str):
            actual = parse_date_time(actual)
        if not isinstance(actual, datetime):
            return False
        if actual.tzinfo is None:
            actual = actual.replace(tzinfo=UTC)
    elif isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
    else:
        if isinstance(actual, bool | dict | list):
            return False
        actual = actual if isinstance(actual, str) else str(actual)
        if not attr.case_exact:
            actual, expected = actual.lower(), expected.lower()
        if op in _SUBSTRINGS:
            return _SUBSTRINGS[op](actual, expected)
    return _RELATIONS[op](actual, expected)
