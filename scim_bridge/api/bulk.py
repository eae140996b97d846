"""POST /Bulk (RFC 7644 §3.7), and /Me, which the bridge answers but does not implement (§3.11).

Each operation goes through the repository's own writes, as the single request would, inside a
unit of work that commits in batches (``store/bulk.py``); the delivery side is woken once, after
the last commit, for everything the request queued. Parsing, ``bulkId`` references and the order
of the operations are ``scim/bulk.py``'s.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, request

from scim_bridge.api.boundary import scim_error_of
from scim_bridge.api.context import actor, base_url, context, delivered, scim_response
from scim_bridge.api.params import json_body
from scim_bridge.api.resources import create_record, patch_record, replace_record
from scim_bridge.errors import NotImplementedByServer, PayloadTooLarge, ScimError
from scim_bridge.rules.errors import RuleError
from scim_bridge.scim.bulk import (
    REFERENCE,
    BulkJob,
    Operation,
    bulk_response,
    circular_problem,
    operation_result,
    parse_bulk_request,
    resolve,
)
from scim_bridge.scim.resources import etag
from scim_bridge.store.bulk import UnitOfWork
from scim_bridge.store.repository import Repository

STATUS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/Bulk", "bulk", bulk, methods=["POST"])
    bp.add_url_rule("/Me", "me", me, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


def bulk():
    limits = context().limits
    # RFC 7644 §3.7.4: bulk.maxPayloadSize is this endpoint's body limit (server.max_body_bytes is the
    # others'); a body without a Content-Length is cut off there by Flask, and answered 413 too.
    request.max_content_length = limits.bulk_max_payload_bytes
    if (request.content_length or 0) > limits.bulk_max_payload_bytes:
        raise PayloadTooLarge(
            f"The size of the bulk operation exceeds the maxPayloadSize ({limits.bulk_max_payload_bytes} bytes): "
            "split it into several requests."
        )
    job = parse_bulk_request(json_body(request), limits.bulk_max_operations)
    results, queued = _run(job, context().repository, actor(), base_url())
    delivered(tuple(dict.fromkeys(queued)))
    return scim_response(bulk_response([results[i] for i in sorted(results)]))


def _run(job: BulkJob, repository: Repository, who: str, base: str) -> tuple[dict[int, dict], list]:
    """Runs the operations in the job's order until failOnErrors is reached; returns each performed
    operation's result by its index, and the resources queued for delivery."""
    results: dict[int, dict] = {}
    queued: list = []
    created: dict[str, str] = {}  # bulkId -> id of the resource its POST created
    errors = 0
    with UnitOfWork(repository) as work:
        for index in job.order:
            op = job.operations[index]
            # Known before it runs unless a bulkId names it; a failed POST has no location (RFC 7644 §3.7.3).
            resource_id = None if _is_reference(op.resource_id) else op.resource_id
            try:
                if op.problem is not None:
                    raise op.problem
                if index in job.circular:
                    raise circular_problem(job, index)
                resource_id = _resolved_id(op, created)
                data = resolve(op.data, created)
                record_id, version, keys = work.run(partial(_write, op=op, resource_id=resource_id, data=data, who=who))
            except ScimError as error:
                location = _location(base, op, resource_id) if resource_id else None
                results[index] = operation_result(op, error.status, location=location, error=error)
                errors += 1
                if job.fail_on_errors is not None and errors >= max(job.fail_on_errors, 1):
                    break
                continue
            if op.method == "POST" and op.bulk_id is not None:
                created[op.bulk_id] = record_id
            queued.extend(keys)
            results[index] = operation_result(op, STATUS[op.method], location=_location(base, op, record_id),
                                              version=version)
    return results, queued


def _is_reference(resource_id: str | None) -> bool:
    return resource_id is not None and resource_id.startswith(REFERENCE)


def _resolved_id(op: Operation, created: dict[str, str]) -> str | None:
    return resolve(op.resource_id, created) if _is_reference(op.resource_id) else op.resource_id


def _write(store: Repository, op: Operation, resource_id: str | None, data, who: str):
    """The single request's write; returns (id, version ETag or None, keys queued for delivery)."""
    rtype = op.rtype
    try:
        if op.method == "POST":
            record = create_record(store, rtype, data, who)
        elif op.method == "PUT":
            record = replace_record(store, rtype, resource_id, data, who, if_match=op.version, with_related=False)
        elif op.method == "PATCH":
            record = patch_record(store, rtype, resource_id, data, who, if_match=op.version, with_related=False)
        else:
            return resource_id, None, store.delete(rtype, resource_id, who, if_match=op.version)
    except RuleError as error:
        # An operation's own error, answered in its result like any refused write (its savepoint
        # has rolled back); the mapping is the boundary's.
        raise scim_error_of(error) from error
    return record.id, etag(record.version), record.queued


def _location(base: str, op: Operation, resource_id: str) -> str:
    return f"{base}{op.rtype.endpoint}/{resource_id}"


def me():
    raise NotImplementedByServer(
        "/Me is not supported: bearer tokens identify an identity provider connection, not a user."
    )
