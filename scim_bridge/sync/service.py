"""The delivery side as the app sees it: targets, name reservations, the worker, and waiting.

A SCIM write returns once its change is committed with its outbox rows; it then waits up to
``delivery.wait_seconds`` for the first delivery attempt of those rows (docs/architecture.md decision 1),
so the usual case is synchronous and an outage never holds a request longer than that.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from scim_bridge.rules.names import map_group_name, map_username
from scim_bridge.store.models import utcnow
from scim_bridge.sync.delivery import Delivery, Target
from scim_bridge.sync.executor import Executor, Outcome
from scim_bridge.sync.failure_policy import FailurePolicy
from scim_bridge.sync.outbox import Outbox
from scim_bridge.sync.records import DeliveryRecords
from scim_bridge.sync.seats import SeatGuard
from scim_bridge.sync.worker import Backoff, Worker

log = logging.getLogger("scim_bridge.sync")


class TargetNaming:
    """The store's view of the rules: which name a resource gets on each target (for reservations)."""

    def __init__(self, targets: dict[str, Target]):
        self._targets = targets
        self.targets = tuple(targets)

    def remote_names(self, resource_type: str, attributes: dict) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name, target in self._targets.items():
            if resource_type == "User":
                out[name] = map_username(attributes["userName"], target.rules)
            else:
                out[name] = map_group_name(attributes["displayName"], target.rules)  # None: not pushed
        return out


class Sync:
    def __init__(self, engine: sa.Engine, targets: dict[str, Target], *, wait_seconds: float = 5.0,
                 concurrency: int = 4, lease_seconds: float = 120.0, poll_seconds: float = 1.0,
                 backoff: Backoff | None = None, clock=utcnow, max_defect_attempts: int = 5,
                 on_delivered: Callable[[str, Outcome], None] | None = None, observer=None,
                 seats_refresh_seconds: float = 60.0):
        """``on_delivered(target, outcome)`` hears of every delivery attempt settled (the metrics);
        ``observer(claim, outcome)`` too, on the worker's thread (the alerts, docs/architecture.md
        "Alerts"): it must return at once and never raise. An observer with a ``seats(target, seats)``
        method hears of every licence seat count read (docs/architecture.md, "Licence seats")."""
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.targets = targets
        self.naming = TargetNaming(targets)
        self.records = DeliveryRecords(engine, clock)
        self.outbox = Outbox(engine, owner=owner, lease_seconds=lease_seconds, clock=clock)
        executor = Executor(self.records, FailurePolicy(max_defect_attempts=max_defect_attempts))
        self.observer = observer or (lambda claim, outcome: None)
        self.seats = SeatGuard(targets, self.records, refresh_seconds=seats_refresh_seconds,
                               on_read=getattr(self.observer, "seats", None))
        self.delivery = Delivery(self.records, targets, executor, self.seats)
        self.wait_seconds = wait_seconds
        self._settled = threading.Condition()
        self.worker = Worker(self.outbox, self.delivery, concurrency=concurrency, poll_seconds=poll_seconds,
                             backoff=backoff, clock=clock, on_settled=self._on_settled, records=self.records)
        self.records.on_due = lambda target: self.worker.notify([target])
        self.running = False
        self._on_delivered = on_delivered

    def start(self) -> None:
        if not self.running:
            self.worker.start()
            self.running = True

    def stop(self) -> None:
        """Stop the loops (if started) and the delivery pools (also used by ``worker.drain()``)."""
        self.worker.stop()
        self.running = False

    def _on_settled(self, claim, outcome) -> None:
        if self._on_delivered is not None:
            self._on_delivered(claim.target, outcome)
        self.observer(claim, outcome)
        with self._settled:
            self._settled.notify_all()

    def claim_written(self, session, keys):
        """In a write's own transaction (``Repository.attach_targets``): claim its rows for this
        process's worker, so that its delivery starts without a transaction of its own; None where
        this process does not deliver (a separate worker process takes the rows)."""
        if not self.running or not self.targets:
            return None
        return self.worker.claim_written(list(keys), session)

    def changed(self, keys, claimed=None) -> None:
        """After a commit: hand the write's rows to the worker (``claimed`` in its transaction by
        ``claim_written``, else claimed now), then wait (bounded) for the first attempt on ``keys``."""
        if not keys or not self.targets:
            return
        if not self.running:
            self.worker.notify()  # a separate worker process polls; this wakes nothing then
            return
        deadline = time.monotonic() + self.wait_seconds
        keys = list(keys)
        try:
            dispatch = self.worker.deliver_now(keys, claimed)
            if self.wait_seconds <= 0 or dispatch.wait(self.wait_seconds):
                return
            # Rows this worker did not take, or whose delivery waits for another: the database tells.
            while self.outbox.unattempted(keys):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                with self._settled:
                    # Another process may deliver (a separate worker): poll as well as listen.
                    self._settled.wait(min(remaining, 0.2))
        except sa.exc.SQLAlchemyError as exc:
            # The change is committed and queued: the database failing now only ends the wait, and the
            # client still hears that its change was accepted; the loops find its rows.
            self.worker.notify()
            log.warning("stopped waiting for delivery: database unavailable (%s)", exc.__class__.__name__)
        except Exception as exc:  # noqa: BLE001 - a bug in the hand-over must not turn an accepted change into a 500
            # The client would send the committed change again (a create then answers 409): the loops deliver it.
            self.worker.notify()
            log.error("stopped waiting for delivery after a committed change: %s", exc.__class__.__name__)
