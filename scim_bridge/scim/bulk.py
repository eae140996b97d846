"""Bulk requests (RFC 7644 §3.7): the envelope, each operation's target, ``bulkId`` references and
the order to run them in, and the BulkResponse. Pure: what runs an operation is ``api/bulk.py``.

What the bridge relies on about the RFC is in docs/architecture.md ("Bulk").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scim_bridge.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError, error_document
from scim_bridge.scim.schemas import RESOURCE_TYPES, ResourceType

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
REFERENCE = "bulkId:"


class Conflict(ScimError):
    """409 without a scimType: the RFC names the status for a circular or unresolvable reference,
    and none of its scimType keywords fits (docs/architecture.md "Bulk")."""

    status = 409


@dataclass(frozen=True)
class Operation:
    index: int
    method: str | None  # None when the request's method is not one of METHODS
    rtype: ResourceType | None
    resource_id: str | None  # None for a POST; may be a "bulkId:" reference
    bulk_id: str | None
    version: str | None
    data: object
    problem: ScimError | None = None  # refused before anything runs
    references: frozenset[str] = frozenset()  # the bulkIds its path and data name


@dataclass(frozen=True)
class BulkJob:
    operations: tuple[Operation, ...]
    fail_on_errors: int | None
    order: tuple[int, ...]  # indexes of ``operations`` in the order to run them
    circular: frozenset[int] = field(default_factory=frozenset)  # operations on a cycle of references


def parse_bulk_request(body: object, max_operations: int) -> BulkJob:
    """The job of a BulkRequest; an envelope that cannot be run at all raises (nothing is done then)."""
    if not isinstance(body, dict):
        raise InvalidSyntax(f"A bulk request must be a JSON object with the schema {BULK_REQUEST}.")
    members = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
    schemas = members.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or BULK_REQUEST not in schemas):
        raise InvalidValue(f'"schemas" of a bulk request must hold {BULK_REQUEST}.')
    raw = members.get("operations")
    if not isinstance(raw, list):
        raise InvalidSyntax('A bulk request needs "Operations": an array of operations.')
    if len(raw) > max_operations:
        # RFC 7644 §3.7.4: 413, naming the limit exceeded.
        raise PayloadTooLarge(
            f"The bulk request has {len(raw)} operations, more than maxOperations ({max_operations}): "
            f"split it into requests of at most {max_operations} operations."
        )
    fail_on_errors = members.get("failonerrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int) or fail_on_errors < 0
    ):
        raise InvalidValue('"failOnErrors" must be a non-negative integer: the number of errors to accept.')
    parsed = [_operation(i, item) for i, item in enumerate(raw)]
    defined = _defined_bulk_ids(parsed)
    operations = tuple(_check_references(op, defined) for op in parsed)
    order, circular = _execution_order(operations, defined)
    return BulkJob(operations, fail_on_errors, order, circular)


def _operation(index: int, item: object) -> Operation:
    def refused(problem: ScimError, **known) -> Operation:
        return Operation(index, known.get("method"), None, None, known.get("bulk_id"), None, None, problem)

    if not isinstance(item, dict):
        return refused(InvalidSyntax(f"Operation {index + 1} must be an object with a method and a path."))
    members = {k.lower(): v for k, v in item.items() if isinstance(k, str)}
    bulk_id = members.get("bulkid")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        return refused(InvalidValue(f'Operation {index + 1}: "bulkId" must be a non-empty string.'))
    method = members.get("method")
    method = method.upper() if isinstance(method, str) else None
    if method not in METHODS:
        return refused(InvalidValue(f'Operation {index + 1}: "method" must be one of {", ".join(METHODS)}.'),
                       bulk_id=bulk_id)
    try:
        rtype, resource_id = _target(method, members.get("path"))
    except ScimError as problem:
        problem.detail = f"Operation {index + 1}: {problem.detail}"
        return refused(problem, method=method, bulk_id=bulk_id)
    version = members.get("version")
    if version is not None and not isinstance(version, str):
        return refused(InvalidValue(f'Operation {index + 1}: "version" must be an ETag string.'),
                       method=method, bulk_id=bulk_id)
    data = members.get("data")
    problem = None
    if method != "DELETE" and not isinstance(data, dict):
        problem = InvalidSyntax(f'Operation {index + 1}: a {method} needs "data", the body the same '
                                f"request would send on its own.")
    references = set(_references(data)) if method != "DELETE" else set()
    if resource_id is not None and resource_id.startswith(REFERENCE):
        references.add(resource_id[len(REFERENCE):])
    return Operation(index, method, rtype, resource_id, bulk_id, version, data, problem, frozenset(references))


def _target(method: str, path: object) -> tuple[ResourceType, str | None]:
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidValue('"path" is required: /Users or /Groups for a POST, /Users/{id} or /Groups/{id} '
                           "otherwise.")
    parts = path.strip().strip("/").split("/")
    rtype = next((t for t in RESOURCE_TYPES.values() if t.endpoint.strip("/").lower() == parts[0].lower()), None)
    if rtype is None or len(parts) > 2:
        raise InvalidValue(f'"path" {path[:80]!r} names no resource of this server: use /Users or /Groups.')
    resource_id = parts[1] if len(parts) == 2 and parts[1] else None
    if method == "POST" and resource_id is not None:
        raise InvalidValue(f"A POST creates a resource: its path is {rtype.endpoint}, not {path[:80]!r}.")
    if method != "POST" and resource_id is None:
        raise InvalidValue(f"A {method} acts on one resource: its path is {rtype.endpoint}/{{id}}.")
    return rtype, resource_id


def _references(value: object):
    """Every bulkId named by a whole string ``bulkId:X`` anywhere in ``value`` (RFC 7644 §3.7.2)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.startswith(REFERENCE):
                yield item[len(REFERENCE):]
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _defined_bulk_ids(operations: list[Operation]) -> dict[str, int]:
    """bulkId → the POST that creates it; a bulkId given twice would make references ambiguous."""
    seen: set[str] = set()
    defined: dict[str, int] = {}
    for op in operations:
        if op.bulk_id is None:
            continue
        if op.bulk_id in seen:
            raise InvalidValue(f'bulkId "{op.bulk_id}" is given to more than one operation: a bulkId must be '
                               "unique within a bulk request.")
        seen.add(op.bulk_id)
        if op.method == "POST":
            defined[op.bulk_id] = op.index
    return defined


def _check_references(op: Operation, defined: Mapping[str, int]) -> Operation:
    unknown = sorted(r for r in op.references if r not in defined)
    if op.problem is not None or not unknown:
        return op
    problem = InvalidValue(f'Operation {op.index + 1} references "{REFERENCE}{unknown[0]}", but no POST of this '
                           "request has that bulkId.")
    return Operation(op.index, op.method, op.rtype, op.resource_id, op.bulk_id, op.version, op.data, problem,
                     op.references)


def _execution_order(operations: tuple[Operation, ...], defined: Mapping[str, int]):
    """Request order, except that the POST an operation references runs before it (RFC 7644 §3.7 lets a
    service provider reorder when the result is the one the client meant). Depth first, without
    recursion; an operation reached again while its own references are being ordered is on a cycle."""
    needs = [sorted(defined[r] for r in op.references if r in defined) for op in operations]
    state = [0] * len(operations)  # 0 unseen, 1 being ordered, 2 ordered
    order: list[int] = []
    circular: set[int] = set()
    for root in range(len(operations)):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(needs[root]))]
        while stack:
            node, pending = stack[-1]
            following = next(pending, None)
            if following is None:
                stack.pop()
                state[node] = 2
                order.append(node)
            elif state[following] == 0:
                state[following] = 1
                stack.append((following, iter(needs[following])))
            elif state[following] == 1:
                path = [n for n, _ in stack]
                circular.update(path[path.index(following):])
    return tuple(order), frozenset(circular)


def circular_problem(job: BulkJob, index: int) -> Conflict:
    names = sorted(f'"{job.operations[i].bulk_id}"' for i in job.circular if job.operations[i].bulk_id)
    return Conflict(
        f"Operation {index + 1} is part of a circle of bulkId references ({', '.join(names)}): the bridge "
        "does not resolve circular references (RFC 7644 §3.7.1). Create the resources first, then link them "
        "with a PATCH."
    )


def resolve(value: object, created: Mapping[str, str]) -> object:
    """``value`` with each ``bulkId:X`` string replaced by the id of the resource X's POST created."""
    if isinstance(value, str):
        if not value.startswith(REFERENCE):
            return value
        bulk_id = value[len(REFERENCE):]
        if bulk_id not in created:
            raise Conflict(f'"{value}" names a resource that was not created: the POST with bulkId "{bulk_id}" '
                             "failed or was not performed.")
        return created[bulk_id]
    if isinstance(value, dict):
        return {k: resolve(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, created) for v in value]
    return value


def operation_result(op: Operation, status: int, *, location: str | None = None, version: str | None = None,
                     error: ScimError | None = None) -> dict:
    """One entry of a BulkResponse (RFC 7644 §3.7.3); ``status`` is a string there."""
    result: dict = {}
    if location is not None:
        result["location"] = location
    if op.method is not None:
        result["method"] = op.method
    if op.bulk_id is not None:
        result["bulkId"] = op.bulk_id
    if version is not None:
        result["version"] = version
    result["status"] = str(status)
    if error is not None:
        result["response"] = error_document(error)
    return result


def bulk_response(results: list[dict]) -> dict:
    return {"schemas": [BULK_RESPONSE], "Operations": results}
