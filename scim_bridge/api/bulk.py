"""POST /Bulk (RFC 7644 §3.7), and /Me, which the bridge answers but does not implement (§3.11).

Each operation goes through the repository's own writes, as the single request would, inside a
unit of work that commits in batches (``store/bulk.py``), consecutive creates together; the
delivery side is woken once, after the last commit, for everything the request queued. Parsing,
``bulkId`` references and the order of the operations are ``scim/bulk.py``'s.
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
from scim_bridge.scim.resources import etag, parse_resource
from scim_bridge.store.bulk import UnitOfWork
from scim_bridge.store.repository import Record, Repository

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
    with UnitOfWork(repository) as work:
        run = _Run(job, work, who, base)
        for index in job.order:
            run.perform(index)
            if run.stopped:
                break
        run.flush()
    return run.results, run.queued


class _Run:
    """The operations of one request, in the job's order. Consecutive creates without members wait in
    ``pending`` and are written together (``UnitOfWork.create_all``: the names checked at once, one
    multi-row INSERT per table), each still answered with its own result. Anything else, a refusal
    included, writes them first, so results, bulkId ids and the failOnErrors count follow the order."""

    def __init__(self, job: BulkJob, work: UnitOfWork, who: str, base: str):
        self.job, self.work, self.who, self.base = job, work, who, base
        self.results: dict[int, dict] = {}
        self.queued: list = []
        self.created: dict[str, str] = {}  # bulkId -> id of the resource its POST created
        self.errors = 0
        self.pending: list[tuple[Operation, dict]] = []

    @property
    def stopped(self) -> bool:
        return self.job.fail_on_errors is not None and self.errors >= max(self.job.fail_on_errors, 1)

    def perform(self, index: int) -> None:
        op = self.job.operations[index]
        # Known before it runs unless a bulkId names it; a failed POST has no location (RFC 7644 §3.7.3).
        resource_id = None if _is_reference(op.resource_id) else op.resource_id
        try:
            if op.problem is not None:
                raise op.problem
            if index in self.job.circular:
                raise circular_problem(self.job, index)
            if op.references and not self._flushed():  # the ids it names may be pending
                return
            resource_id = _resolved_id(op, self.created)
            data = resolve(op.data, self.created)
            if op.method == "POST":
                incoming = parse_resource(op.rtype, data)
                if not incoming.members:  # a group's members go through the single create
                    self._hold(op, incoming.attributes)
                    return
            if not self._flushed():
                return
            record_id, version, keys = self.work.run(partial(_write, op=op, resource_id=resource_id, data=data,
                                                             who=self.who))
        except ScimError as error:
            if self._flushed():
                self._failed(op, error, resource_id)
            return
        self._done(op, record_id, version, keys)

    def flush(self) -> None:
        """Writes the pending creates; after the failOnErrors-th refusal the rest is not performed."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        limit = self.job.fail_on_errors
        outcomes = self.work.create_all(pending[0][0].rtype, [attributes for _op, attributes in pending], self.who,
                                        stop_after_errors=None if limit is None else max(limit, 1) - self.errors)
        for (op, _attributes), outcome in zip(pending, outcomes, strict=False):  # none past a stop
            if isinstance(outcome, Record):
                self._done(op, outcome.id, etag(outcome.version), outcome.queued)
            else:
                self._failed(op, scim_error_of(outcome) if isinstance(outcome, RuleError) else outcome, None)

    def _flushed(self) -> bool:
        """Flush; False when that reached failOnErrors (the operation at hand is then not performed)."""
        self.flush()
        return not self.stopped

    def _hold(self, op: Operation, attributes: dict) -> None:
        if self.pending and self.pending[0][0].rtype is not op.rtype and not self._flushed():
            return
        self.pending.append((op, attributes))

    def _done(self, op: Operation, record_id: str, version: str | None, keys) -> None:
        if op.method == "POST" and op.bulk_id is not None:
            self.created[op.bulk_id] = record_id
        self.queued.extend(keys)
        self.results[op.index] = operation_result(op, STATUS[op.method], location=_location(self.base, op, record_id),
                                                  version=version)

    def _failed(self, op: Operation, error: ScimError, resource_id: str | None) -> None:
        location = _location(self.base, op, resource_id) if resource_id else None
        self.results[op.index] = operation_result(op, error.status, location=location, error=error)
        self.errors += 1


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
            return resource_id, None, store.delete(rtype, resource_id, who, if_match=op.version).queued
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
