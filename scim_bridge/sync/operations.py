"""Running one planned operation with a DirectoryClient: one explicit entry per kind."""

from __future__ import annotations

from collections.abc import Callable

from atlassian_clients.base import DirectoryClient
from scim_bridge.rules.model import Operation


def _create_user(client: DirectoryClient, op: Operation):
    return client.create_user(op.name, op.display_name or op.name, op.email or "",
                              application_keys=op.application_keys or None)


_RUN: dict[str, Callable[[DirectoryClient, Operation], object]] = {
    "create_user": _create_user,
    "link_user": lambda client, op: None,  # the account exists; linking is bookkeeping only
    "update_user": lambda client, op: client.update_user(op.name, display_name=op.display_name, email=op.email),
    "set_active": lambda client, op: client.set_active(op.name, bool(op.active)),
    "rename_user": lambda client, op: client.rename_user(op.name, op.new_name),
    "delete_user": lambda client, op: client.delete_user(op.name),
    "grant_licence": lambda client, op: client.grant_licence(op.name),
    "revoke_licence": lambda client, op: client.revoke_licence(op.name),
    "create_group": lambda client, op: client.create_group(op.name),
    "delete_group": lambda client, op: client.delete_group(op.name),
    "add_member": lambda client, op: client.add_member(op.group, op.name),
    "remove_member": lambda client, op: client.remove_member(op.group, op.name),
}


def run_operation(client: DirectoryClient, operation: Operation):
    try:
        run = _RUN[operation.kind]
    except KeyError:
        raise ValueError(f"no such operation kind {operation.kind!r}") from None
    return run(client, operation)
