"""The PATCH envelope and the identity providers' dialects, normalised to RFC 7644 §3.5.2 operations.

``read_operations`` validates the envelope and yields one ``Operation`` per requested operation;
``expand`` rewrites a vendor shape into the RFC operations it means (docs/identity-providers.md §4). After
both, ``scim.patch`` only ever sees lower-case ops on attribute paths it can parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from scim_bridge.errors import InvalidSyntax, InvalidValue, Mutability
from scim_bridge.scim.filter import resolve_attribute
from scim_bridge.scim.schemas import ResourceType, Schema

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OPS = ("add", "remove", "replace")


@dataclass(frozen=True)
class Operation:
    where: str  # how the request names this operation, for error details: 'Operations[2]'
    op: str  # add | remove | replace
    path: str | None
    value: object = None  # None both when absent and when null: RFC 7643 §2.5 makes them one


def read_operations(body: object) -> list[Operation]:
    """Validate the PatchOp envelope (RFC 7644 §3.5.2) and read its operations in order."""
    if not isinstance(body, dict):
        raise InvalidSyntax(
            'A PATCH body must be a JSON object with "schemas" and "Operations" (RFC 7644 §3.5.2).'
        )
    # Message attribute names are case-insensitive like any SCIM attribute (RFC 7643 §2.1), and
    # Microsoft asks servers not to "require a case-sensitive match on structural elements".
    fields = _lowered(body)
    # ``schemas`` is not checked: RFC 7644 §3.5.2 requires the PatchOp URN, but once "Operations"
    # is present it carries no information, and refusing it would only break clients whose
    # templates carry legacy or extra URNs (OneLogin's SCIM 1.1 schemas, Microsoft's test suite).
    if "operations" not in fields:
        if "op" in fields:
            raise InvalidSyntax(
                'The PATCH body is a single operation: wrap it as {"schemas": ["' + PATCH_OP + '"], '
                '"Operations": [ ... ]}.'
            )
        if not _scim11(fields.get("schemas")) or not set(fields) - {"schemas"}:
            raise InvalidValue(
                'The PATCH body has no "Operations": send {"schemas": ["' + PATCH_OP + '"], '
                '"Operations": [{"op": "replace", "path": "...", "value": ...}]}.'
            )
        return _scim11_operations(body)
    raw = fields["operations"]
    if not isinstance(raw, list):
        raise InvalidSyntax('"Operations" must be an array of operation objects.')
    if not raw:
        raise InvalidValue('"Operations" is empty: a PATCH needs at least one operation (RFC 7644 §3.5.2).')
    return [_operation(f"Operations[{i}]", item) for i, item in enumerate(raw)]


def _operation(where: str, item: object) -> Operation:
    if not isinstance(item, dict):
        raise InvalidSyntax(f'{where} must be an object with "op", "path" and "value".')
    fields = _lowered(item)
    op = fields.get("op")
    if not isinstance(op, str) or op.lower() not in OPS:
        shown = "missing" if op is None else json.dumps(op)
        raise InvalidSyntax(f"{where}.op must be add, remove or replace, not {shown}.")
    # Entra sends "Add", "Replace", "Remove" (docs/identity-providers.md §3.3); RFC 7644 §3.5.2 spells them lower-case.
    op = op.lower()
    path = fields.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidSyntax(f'{where}.path must be a string such as "emails[type eq \\"work\\"].value".')
    path = path.strip() if path else None
    if op != "remove" and "value" not in fields:
        raise InvalidValue(f'{where} ({op}) needs a "value" (RFC 7644 §3.5.2.1, §3.5.2.3).')
    return Operation(where, op, path or None, fields.get("value"))


def _scim11_operations(body: dict) -> list[Operation]:
    """A SCIM 1.1 PATCH (draft-scim-api-01 §3.3.2): the body is a partial resource.

    OneLogin's "Core Schema v1.1" connector sends group membership this way (its sample server reads
    ``{"members": [{"value": id, "operation": "delete"}, {"value": id2}]}``, docs/identity-providers.md §1.4):
    items marked ``"operation": "delete"`` are removed, other values are added, and the names listed
    in ``meta.attributes`` are removed first.
    """
    ops: list[Operation] = []
    additions: dict = {}
    for key, value in body.items():
        lowered = key.lower() if isinstance(key, str) else None
        if lowered == "meta" and isinstance(value, dict):
            names = _lowered(value).get("attributes") or []
            ops[:0] = [Operation(f'meta.attributes["{n}"]', "remove", n) for n in names if isinstance(n, str)]
        if lowered in (None, "schemas", "meta"):
            continue
        items = value if isinstance(value, list) else None
        deleted = [i for i in items or () if _marked_delete(i)]
        if deleted:
            ops.append(Operation(key, "remove", key, [_unmarked(i) for i in deleted]))
            kept = [_unmarked(i) for i in items if not _marked_delete(i)]
            if kept:
                ops.append(Operation(key, "add", key, kept))
        else:
            additions[key] = value
    if additions:
        ops.append(Operation("the SCIM 1.1 body", "add", None, additions))
    return ops


def expand(rtype: ResourceType, operation: Operation, resource_id: str) -> list[Operation]:
    """The RFC operations one (possibly vendor-shaped) operation stands for."""
    if operation.path is None:
        if operation.op == "remove":
            return [operation]  # RFC 7644 §3.5.2.2: refused with noTarget by the caller
        return _pathless(rtype, operation, resource_id)
    extension = rtype.extension(operation.path)
    if extension is not None and operation.op != "remove":
        # A whole extension as the target: the same as sending it under its URN without a path.
        return _pathless(rtype, replace(operation, path=None, value={extension.id: operation.value}), resource_id)
    return [operation]


def _pathless(rtype: ResourceType, operation: Operation, resource_id: str) -> list[Operation]:
    """RFC 7644 §3.5.2.1/§3.5.2.3 without "path": the value is a partial resource, one op per key.

    Keys may be attribute names, dotted sub-attributes (``name.givenName``), URN-qualified paths or
    a whole extension object under its URN (Entra with ``aadOptscim062020``, docs/identity-providers.md §3.4).
    Unknown keys are ignored, as a POST ignores them (docs/architecture.md "SCIM surface"; Microsoft's suite
    expects a misspelled attribute to be ignored): a partial resource is held to the same tolerance
    as a whole one, and refusing it would fail the IdP's whole update for one unmapped attribute.
    """
    value = operation.value
    if not isinstance(value, dict):
        raise InvalidValue(
            f'{operation.where}: without a "path", "value" must be an object of attributes, '
            'such as {"active": false}.'
        )
    out: list[Operation] = []
    for key, item in value.items():
        if not isinstance(key, str):
            continue
        where = f'{operation.where} "{key}"'
        lowered = key.lower()
        if lowered == "id":
            _check_id(item, resource_id, where)
            continue
        if lowered in ("meta", "schemas", "groups"):
            continue  # server-managed or read-only input, ignored as on POST (RFC 7643 §2.2)
        extension = rtype.extension(key)
        if extension is not None:
            out.extend(_extension_ops(operation, extension, item, where))
            continue
        if "[" in key:  # a value path as a key: let the path parser judge it
            out.append(replace(operation, where=where, path=key, value=item))
            continue
        resolved = resolve_attribute(key, rtype)
        if resolved is not None and resolved.urn is not None and resolved.attribute.read_only:
            continue  # an extension's read-only attribute (the provisioning state): ignored as on POST
        if resolved is not None:
            out.append(replace(operation, where=where, path=resolved.dotted, value=item))
    return out


def _extension_ops(operation: Operation, extension: Schema, value: object, where: str) -> list[Operation]:
    if value is None:
        # RFC 7643 §2.5: null is unassigned; replacing an extension with it clears the extension.
        return [replace(operation, where=where, op="remove", path=extension.id)] if operation.op == "replace" else []
    if not isinstance(value, dict):
        raise InvalidValue(f"{where} must be an object holding the extension's attributes.")
    out = []
    for name, item in value.items():
        attr = extension.attribute(name) if isinstance(name, str) else None
        if attr is not None and not attr.read_only:  # read-only input is ignored (RFC 7643 §2.2)
            out.append(replace(operation, where=f"{where}.{attr.name}", path=f"{extension.id}:{attr.name}",
                               value=item))
    return out


def _check_id(value: object, resource_id: str, where: str) -> None:
    # Okta's group rename carries the resource's own id in the value (docs/identity-providers.md §2.3), and
    # OneLogin's templates render "id": null (docs/identity-providers.md §1.3): both leave the id as it is.
    if value is None or value == "" or value == resource_id:
        return
    raise Mutability(
        f'{where}: "id" is assigned by the server and cannot be changed (this resource\'s id is '
        f'"{resource_id}"); leave it out of the value.'
    )


def _scim11(schemas: object) -> bool:
    """No ``schemas`` at all, or a SCIM 1.1 one (``urn:scim:schemas:core:1.0``): a 1.1 partial resource."""
    items = schemas if isinstance(schemas, list) else [schemas]
    return schemas is None or any(isinstance(s, str) and s.strip().lower().startswith("urn:scim:schemas:")
                                  for s in items)


def _marked_delete(item: object) -> bool:
    return isinstance(item, dict) and str(_lowered(item).get("operation", "")).lower() == "delete"


def _unmarked(item: object) -> object:
    if not isinstance(item, dict):
        return item
    return {k: v for k, v in item.items() if not (isinstance(k, str) and k.lower() == "operation")}


def _lowered(mapping: dict) -> dict:
    return {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
