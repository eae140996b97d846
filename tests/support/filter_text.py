"""A compact text form of filter ASTs, so that tables of cases read as the filters they expect."""

from __future__ import annotations

from datetime import datetime

from scim_bridge.scim.filter import And, Compare, Not, Or, Present, ValuePath


def show(node) -> str:
    match node:
        case Compare(path, op, value):
            shown = value.isoformat() if isinstance(value, datetime) else repr(value)
            return f"{path.dotted} {op} {shown}"
        case Present(path):
            return f"{path.dotted} pr"
        case And(operands):
            return "(" + " and ".join(show(o) for o in operands) + ")"
        case Or(operands):
            return "(" + " or ".join(show(o) for o in operands) + ")"
        case Not(operand):
            return f"not {show(operand)}"
        case ValuePath(path, inner):
            return f"{path.dotted}[{show(inner)}]"
    raise AssertionError(f"not a filter node: {node!r}")
