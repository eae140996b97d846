"""What a failed delivery does next: the one place that decides retry, park, or wait.

A table maps the client's exception (``atlassian_clients/base.py``: its class carries the product's
status and message) and whether the call that raised it mutates the product to a verdict:

* ``RETRY`` — the target is down, rate-limited or misconfigured (its URL, the bridge's credentials
  or rights): waiting, or an administrator fixing the target, will let it through; backoff.
* ``REFUSAL`` — the product refused this change (a conflict, a validation error, no licence left, a
  403 to a write such as Bitbucket's "cannot delete a group with a higher permission than you"):
  the row is parked until the resource changes or an operator runs ``scim-bridge retry``.
* ``AWAIT_GROUP`` — a membership was refused with 404 because its group is gone, or the plan needs a
  group missing on the target: the group's own delivery (re)creates it, and the user waits without
  counting a failure (docs/architecture.md), no sooner than that delivery can next run
  (:meth:`FailurePolicy.awaiting`). When every group it waits for has its delivery parked, nothing
  will change until ``scim-bridge retry``: the user is parked too, naming them and why.
* ``DEFECT`` — anything else is a bug in the bridge: retried up to ``max_defect_attempts``
  attempts, then parked with the error id of its log line. The log line names the error id, the
  exception's class and the file and line it was raised at; never its message or any value, which
  could carry a user's data.

A 403 answers a read when the bridge's own account lacks a right (retried until fixed) and a write
when the product will not let this object be changed (a refusal): hence the two columns.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from atlassian_clients.base import (
    AtlassianError,
    AuthFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    Rejected,
    Unavailable,
    WrongEndpoint,
)

if TYPE_CHECKING:
    from scim_bridge.sync.records import QueuedRow

log = logging.getLogger("scim_bridge.delivery")


class Verdict(Enum):
    RETRY = "retry"
    REFUSAL = "refusal"
    AWAIT_GROUP = "await_group"
    DEFECT = "defect"


# (exception class, verdict on a read, verdict on a write); the first class the exception is an
# instance of decides, so subclasses come before their bases.
TABLE: tuple[tuple[type[BaseException], Verdict, Verdict], ...] = (
    (RateLimited, Verdict.RETRY, Verdict.RETRY),
    (Unavailable, Verdict.RETRY, Verdict.RETRY),
    (WrongEndpoint, Verdict.RETRY, Verdict.RETRY),
    (PermissionDenied, Verdict.RETRY, Verdict.REFUSAL),
    (AuthFailed, Verdict.RETRY, Verdict.RETRY),
    # A read's 404: the object vanished between two reads of one delivery; the next one reads again.
    (NotFound, Verdict.RETRY, Verdict.AWAIT_GROUP),
    (Conflict, Verdict.REFUSAL, Verdict.REFUSAL),
    (Rejected, Verdict.REFUSAL, Verdict.REFUSAL),  # LicenceLimit and Unsupported too
    (AtlassianError, Verdict.REFUSAL, Verdict.REFUSAL),
)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    park: bool  # set aside until a change or ``scim-bridge retry``
    message: str  # for the link, the outbox row and the audit log
    retry_after: float | None = None  # the product's own hint (429), never shortened
    group: str | None = None  # AWAIT_GROUP: the group to wait for
    error_id: str | None = None  # DEFECT: names the log line
    not_before: datetime | None = None  # AWAIT_GROUP: the awaited groups' deliveries run no sooner

    @property
    def audit_outcome(self) -> str:
        return "refused" if self.verdict is Verdict.REFUSAL else "failed"


@dataclass(frozen=True)
class AwaitedGroup:
    """A group a user delivery waits for: its name on the target, and its delivery's outbox row as
    found when the user made sure it was queued (None: no SCIM group stands behind the name)."""

    name: str
    row: QueuedRow | None


class FailurePolicy:
    def __init__(self, *, max_defect_attempts: int = 5):
        self.max_defect_attempts = max_defect_attempts

    def decide(self, error: BaseException, *, mutates: bool, needs_group: str | None, attempts: int,
               where: str) -> Decision:
        """``mutates`` / ``needs_group``: of the operation that raised (a read: False / None);
        ``attempts``: failed attempts of this row before this one; ``where``: names the delivery in the
        defect's log line (resource and target, never values)."""
        verdict = self.verdict(error, mutates=mutates)
        if verdict is Verdict.AWAIT_GROUP and needs_group is None:
            verdict = Verdict.REFUSAL  # the user or group the change is about is gone: refused
        if verdict is Verdict.DEFECT:
            return self._defect(error, attempts, where)
        if verdict is Verdict.AWAIT_GROUP:
            return Decision(verdict, False, f"waiting for the group {needs_group} to be created again",
                            group=needs_group)
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        return Decision(verdict, verdict is Verdict.REFUSAL, str(error), retry_after=retry_after)

    @staticmethod
    def refused(message: str) -> Decision:
        """The plan itself refuses (a leaver who leads projects with no successor): parked like a
        product's refusal, until the resource changes or ``scim-bridge retry``."""
        return Decision(Verdict.REFUSAL, True, message)

    def awaiting(self, groups: Sequence[AwaitedGroup]) -> Decision:
        """A user delivery ran but for memberships of groups that only their own deliveries create."""
        if groups and all(g.row is not None and g.row.parked for g in groups):
            # Their rows wait for ``scim-bridge retry``, which queues this one again with them.
            reasons = "; ".join(f"the group {g.name}, whose delivery is parked: {g.row.error or 'refused'}"
                                for g in groups)
            return Decision(Verdict.AWAIT_GROUP, True, f"waiting for {reasons}")
        names = ", ".join(dict.fromkeys(g.name for g in groups))
        # Not before every pending one has had its next attempt (a creation wakes the user sooner).
        times = [g.row.claimable_at for g in groups if g.row is not None and not g.row.parked]
        return Decision(Verdict.AWAIT_GROUP, False, f"waiting for the group(s) {names} to be created by their "
                        "own delivery", not_before=max(times, default=None))

    @staticmethod
    def verdict(error: BaseException, *, mutates: bool) -> Verdict:
        for kind, on_read, on_write in TABLE:
            if isinstance(error, kind):
                return on_write if mutates else on_read
        return Verdict.DEFECT

    def _defect(self, error: BaseException, attempts: int, where: str) -> Decision:
        error_id = uuid.uuid4().hex[:12]
        frames = traceback.extract_tb(error.__traceback__)
        place = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "unknown"
        park = attempts + 1 >= self.max_defect_attempts
        log.error("delivery of %s failed on a defect: error id %s, %s at %s (attempt %d of %d)", where, error_id,
                  error.__class__.__name__, place, attempts + 1, self.max_defect_attempts,
                  extra={"error_id": error_id})
        message = f"internal error ({error.__class__.__name__}), error id {error_id}: see the bridge's log"
        return Decision(Verdict.DEFECT, park, message, error_id=error_id)
