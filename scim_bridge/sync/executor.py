"""The one executor: runs a plan of typed operations on a target, for delivery, reconcile and retry.

It alone honours ``dry_run`` (the plan is audited as ``planned`` and the link says so; no call is
made that mutates), audits every call with the applied values before and after it, records the
link's outcome, and turns a failure into an :class:`Outcome` through the failure policy
(``failure_policy.py``). Concurrent deliveries in one process never create (or delete) one group
twice at once: such operations name what they must do alone (``Operation.exclusive``) and run
under a lock per target and name (docs/architecture.md, "Delivery and the worker"). What a plan only
reports (``Plan.reports``) gets an entry of its own, ``skipped`` once the calls ran, ``planned`` in a
dry run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from atlassian_clients.base import DirectoryClient, Unavailable
from scim_bridge.rules.model import Plan, TargetRules
from scim_bridge.rules.operations import AccountFound, Operation
from scim_bridge.sync.failure_policy import AwaitedGroup, Decision, FailurePolicy, Verdict
from scim_bridge.sync.outbox import ClaimLost
from scim_bridge.sync.records import DeliveryRecords

log = logging.getLogger("scim_bridge.delivery")
# The audit action of what a plan reports and leaves alone (a leaver alone administering a space).
REPORT = "sole_administrator"


@dataclass
class Target:
    name: str
    client: DirectoryClient
    rules: TargetRules
    service_account: str | None = None  # the account the bridge logs in with (never reconciled away)


class Settle(Enum):
    DONE = "done"
    RETRY = "retry"  # with backoff, counted as a failed attempt
    WAIT = "wait"  # not counted: a group this delivery needs is being created by its own (``not_before``)
    PARK = "park"
    LOST = "lost"  # the worker's lease ran out; another worker has the row


@dataclass(frozen=True)
class Outcome:
    kind: Settle
    error: str | None = None
    retry_after: float | None = None
    group: str | None = None  # WAIT from a 404 to a membership: the group awaited (the caller calls ``waiting``)
    not_before: datetime | None = None  # WAIT: not due before the awaited groups' deliveries can run
    verdict: Verdict | None = None  # RETRY / PARK: the failure policy's verdict (the metrics' result)


DONE = Outcome(Settle.DONE)


@dataclass(frozen=True)
class Subject:
    """What a plan is about: a SCIM resource, or (``resource_id`` None) an account no IdP user maps to."""

    resource_type: str
    resource_id: str | None


@dataclass
class Run:
    """What running a plan came to. ``ran`` False: skipped, or a dry run, recorded as such; else
    ``outcome`` None means every operation ran. ``state`` is the applied state after the calls made."""

    state: Any
    outcome: Outcome | None = None
    ran: bool = True


class Executor:
    def __init__(self, records: DeliveryRecords, policy: FailurePolicy | None = None):
        self.records = records
        self.policy = policy or FailurePolicy()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def run(self, target: Target, subject: Subject, plan: Plan, state: Any, *, attempts: int = 0,
            beat: Callable[[], None] = lambda: None, because: str | None = None) -> Run:
        """Run ``plan`` from the applied ``state``. ``because`` is added to each audit entry's detail."""
        if plan.skipped:
            self._record(target, subject, status="skipped", applied=None, reason=plan.skipped)
            self._audit(target, subject, "skip", "skipped", plan.skipped)
            return Run(state, ran=False)
        if plan.refused:
            # Refused before any call, dry run or not: nothing would be planned that could run.
            return Run(state, self._failure(target, subject, self.policy.refused(plan.refused), None, state))
        if target.rules.dry_run:
            return self._plan_only(target, subject, plan, state, because)
        operations = plan.operations
        at = 0
        while at < len(operations):
            batch = _together(operations, at)
            if len(batch) > 1 and not _at_once(target.client):
                batch = batch[:1]
            at += len(batch)
            if len(batch) > 1:
                # One call for several operations the product takes at once (a user's group adds);
                # audited and advanced one by one as if made singly. Refused, they are made singly,
                # so that each refusal is the one operation's (a missing group is that group's).
                try:
                    result = batch[0].call_together(target.client, batch)
                except ClaimLost:
                    raise
                except Unavailable as error:  # the product is away: it would be away for each one too
                    return Run(state, self.failed(target, subject, error, batch[0], attempts=attempts, state=state))
                except Exception:  # noqa: BLE001 - each is made on its own below, and the policy decides
                    pass
                else:
                    for operation in batch:
                        state = self._applied(target, subject, operation, state, result, because)
                    self._beat(target, subject, beat, state)
                    continue
            for operation in batch:
                try:
                    with self._exclusive(target, operation):
                        result = operation.call(target.client)
                except (ClaimLost, AccountFound):
                    # AccountFound: a create sent unread met an account; nothing changed, and the
                    # delivery plans again with it (sync/create_first.py).
                    raise
                except Exception as error:  # noqa: BLE001 - the failure policy decides, bugs included
                    return Run(state, self.failed(target, subject, error, operation, attempts=attempts, state=state))
                state = self._applied(target, subject, operation, state, result, because)
                self._beat(target, subject, beat, state)
        for report in plan.reports:  # once the calls ran: a retried attempt does not say it twice
            self._audit(target, subject, REPORT, "skipped", report)
        return Run(state)

    def _applied(self, target: Target, subject: Subject, operation: Operation, state: Any, result: Any,
                 because: str | None) -> Any:
        after = operation.advance(state, result) if state is not None else None
        self._audit(target, subject, operation.action, "applied", _detail(operation, because), *_changes(state, after))
        return after

    def _beat(self, target: Target, subject: Subject, beat: Callable[[], None], state: Any) -> None:
        try:
            beat()
        except ClaimLost:
            # Keep what did happen (an account created, a rename made) for the next attempt.
            self._record(target, subject, status="failed", applied=_link(state))
            raise

    def _plan_only(self, target: Target, subject: Subject, plan: Plan, state: Any, because: str | None) -> Run:
        planned = state
        operations = plan.operations + plan.awaiting  # what a real run makes, once the groups exist
        for operation in operations:
            after = operation.advance(planned, None) if planned is not None else None
            self._audit(target, subject, operation.action, "planned", _detail(operation, because),
                        *_changes(planned, after))
            planned = after
        for report in plan.reports:
            self._audit(target, subject, REPORT, "planned", report)
        summary = f"dry run: {len(operations)} operation(s) planned, none applied"
        if subject.resource_id is not None:
            self._record(target, subject, status="planned", applied=None, reason="; ".join((summary, *plan.notes)))
        return Run(state, ran=False)

    def failed(self, target: Target, subject: Subject, error: BaseException, operation: Operation | None = None,
               *, attempts: int = 0, state: Any = None) -> Outcome:
        """Record a failure (of ``operation``, or of a read when None) and say how to settle the row."""
        where = f"{subject.resource_type} {subject.resource_id or '-'} to {target.name}"
        decision = self.policy.decide(error, mutates=bool(operation and operation.mutates),
                                      needs_group=operation.needs_group if operation else None,
                                      attempts=attempts, where=where)
        if decision.verdict is Verdict.AWAIT_GROUP:
            # What did happen is kept now; the caller makes sure the group's delivery is queued and
            # settles the wait through ``waiting`` with what it found of it.
            self._record(target, subject, status="pending", applied=_link(state), reason=decision.message)
            return Outcome(Settle.WAIT, decision.message, group=decision.group)
        return self._failure(target, subject, decision, operation, state)

    def _failure(self, target: Target, subject: Subject, decision: Decision, operation: Operation | None,
                 state: Any) -> Outcome:
        self._record(target, subject, status="failed", applied=_link(state), error=decision.message)
        detail = f"{operation.describe()}: {decision.message}" if operation else decision.message
        self._audit(target, subject, "deliver", decision.audit_outcome, detail)
        if decision.verdict is not Verdict.DEFECT:
            log.warning("delivery to %s failed: %s", target.name, decision.message,
                        extra={"target": target.name, "resource_type": subject.resource_type,
                               "resource_id": subject.resource_id, "transient": not decision.park})
        return _outcome(decision)

    def decided(self, subject: Subject, target: str, error: BaseException, *, attempts: int) -> Outcome:
        """How to settle a delivery that failed outside any plan, with nothing recorded (recording
        may be what failed)."""
        decision = self.policy.decide(error, mutates=False, needs_group=None, attempts=attempts,
                                      where=f"{subject.resource_type} {subject.resource_id} to {target}")
        return _outcome(decision)

    def waiting(self, target: Target, subject: Subject, state: Any, groups: Sequence[AwaitedGroup]) -> Outcome:
        """The plan ran but for memberships of groups being created by their own deliveries; ``groups``
        carry what was found of those deliveries' rows. The failure policy says whether to wait (and
        until when) or, their deliveries all parked, to park."""
        decision = self.policy.awaiting(groups)
        if decision.park:
            return self._failure(target, subject, decision, None, state)
        self._record(target, subject, status="pending", applied=_link(state), reason=decision.message)
        return Outcome(Settle.WAIT, decision.message, not_before=decision.not_before)

    def succeeded(self, target: Target, subject: Subject, applied: dict | None, reason: str | None) -> None:
        """Every operation ran: ``applied`` is the link's new state (None: nothing is left on the
        target, and the link goes)."""
        if applied is None:
            self.records.forget(subject.resource_type, subject.resource_id, target.name)
        else:
            self._record(target, subject, status="ok", applied=applied, reason=reason)

    # -- helpers -----------------------------------------------------------------------------------

    def _exclusive(self, target: Target, operation: Operation):
        if operation.exclusive is None:
            return _NO_LOCK
        with self._locks_guard:
            return self._locks.setdefault((target.name, operation.exclusive), threading.Lock())

    def _record(self, target: Target, subject: Subject, **outcome) -> None:
        if subject.resource_id is not None:  # an unmanaged account has no link row
            self.records.record_outcome(subject.resource_type, subject.resource_id, target.name, **outcome)

    def _audit(self, target: Target, subject: Subject, action: str, outcome: str, detail: str,
               before: dict | None = None, after: dict | None = None) -> None:
        self.records.audit(target.name, action, subject.resource_type, subject.resource_id, outcome=outcome,
                           detail=detail, before=before, after=after)


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_LOCK = _NoLock()


def _outcome(decision: Decision) -> Outcome:
    if decision.park:
        return Outcome(Settle.PARK, decision.message, verdict=decision.verdict)
    return Outcome(Settle.RETRY, decision.message, decision.retry_after, verdict=decision.verdict)


def _detail(operation: Operation, because: str | None) -> str:
    return f"{operation.describe()} ({because})" if because else operation.describe()


def _link(state: Any) -> dict | None:
    return state.link_state() if state is not None else None


def _changes(before: Any, after: Any) -> tuple[dict | None, dict | None]:
    """The applied values an operation changed, before and after (with the name, to tell whose)."""
    old, new = _link(before) or {}, _link(after) or {}
    keys = [k for k in dict.fromkeys([*old, *new]) if k == "name" or old.get(k) != new.get(k)]
    return ({k: old.get(k) for k in keys} if old else None), ({k: new.get(k) for k in keys} if new else None)


def _together(operations: Sequence[Operation], at: int) -> Sequence[Operation]:
    """The operations from ``at`` on that one call can make (``Operation.together``): at least one."""
    key = operations[at].together
    end = at + 1
    if key is not None:
        while end < len(operations) and operations[end].together == key:
            end += 1
    return operations[at:end]


def _at_once(client: DirectoryClient) -> bool:
    try:
        return bool(getattr(client.capabilities(), "can_add_groups_at_once", False))
    except Exception:  # noqa: BLE001 - the product unread: one call each, whose failure the policy judges
        return False
