"""The background worker: one loop per target, each with a bounded pool, so a slow or unreachable
target never holds back the others (docs/architecture.md, "Delivery and the worker").
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime

from scim_bridge.store.models import utcnow
from scim_bridge.sync.delivery import Delivery
from scim_bridge.sync.executor import Outcome, Settle, Subject
from scim_bridge.sync.outbox import Claim, ClaimLost, Outbox
from scim_bridge.sync.records import DeliveryRecords, PendingWrites

log = logging.getLogger("scim_bridge.worker")


class Backoff:
    """Capped exponential backoff with full jitter, in seconds, by the attempts made so far."""

    def __init__(self, initial: float = 2.0, maximum: float = 300.0, rand=random.random):
        self.initial, self.maximum, self.rand = initial, maximum, rand

    def delay(self, attempts: int, at_least: float | None = None) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** max(attempts, 0))
        return max(ceiling / 2 + self.rand() * ceiling / 2, at_least or 0.0)


class Dispatch:
    """A write's rows handed to the worker by ``Worker.deliver_now``: the request waiting for their first
    attempt learns of it here, from the worker, without reading the database."""

    def __init__(self, claims: list[Claim], left: set[str]):
        self._open = {claim.id for claim in claims}
        # Complete: every row of the write was claimed here and has had its first attempt. Otherwise
        # (rows left to the loops, a delivery waiting for a group, a claim lost) only the database can tell.
        self.complete = not left
        self._settled = threading.Condition()

    def settled(self, claim: Claim, attempted: bool) -> None:
        with self._settled:
            self._open.discard(claim.id)
            self.complete = self.complete and attempted
            self._settled.notify_all()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the claimed rows to settle; True when all the write's rows have
        had their first attempt."""
        with self._settled:
            self._settled.wait_for(lambda: not self._open, max(seconds, 0.0))
            return not self._open and self.complete


class Worker:
    def __init__(self, outbox: Outbox, delivery: Delivery, *, concurrency: int = 4, poll_seconds: float = 1.0,
                 backoff: Backoff | None = None, clock=utcnow, monotonic=time.monotonic, on_settled=None,
                 wait=None, records: DeliveryRecords | None = None):
        """``records``: the delivery's records, whose writes during an attempt are made with its
        settle (``DeliveryRecords.deferred``); without, each is made when the delivery makes it."""
        self.outbox = outbox
        self.records = records
        self.delivery = delivery
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.monotonic = monotonic  # paces lease renewal during a delivery
        # The idle loop's pause: ``wait(event, seconds)`` returns early once ``notify()`` sets the event.
        self.wait = wait or _wait_for_event
        self.on_settled = on_settled or (lambda claim, outcome: None)
        self._wake = {name: threading.Event() for name in delivery.targets}
        self._stop = threading.Event()
        # Claims taken and not yet settled, so a shutdown can give back the ones it does not wait for.
        self._in_flight: dict[int, Claim] = {}
        self._dispatched: dict[int, Dispatch] = {}  # in flight by ``deliver_now``: who waits for them
        self._in_flight_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pools = {name: ThreadPoolExecutor(concurrency, thread_name_prefix=f"deliver-{name}")
                       for name in delivery.targets}

    # -- one round, also what tests and the CLI drive directly ------------------------------------

    def run_once(self, target: str) -> int:
        """Claim what is due on one target, deliver it in parallel, settle it; returns rows handled.

        While licence seats are short (``Delivery.seats``), deprovisioning rows are claimed first and
        delivered before the rest of the batch, so the seats they free are there for its joiners."""
        seats = self.delivery.seats
        seats.tick(target)
        short = seats.short(target, self.concurrency)
        claims = self.outbox.claim(target, self.concurrency, deprovisions_first=short)
        if not claims:
            return 0
        with self._in_flight_lock:
            self._in_flight.update((claim.id, claim) for claim in claims)
        pool = self._pools[target]
        leaving = [c for c in claims if c.deprovisions]
        if leaving:
            list(pool.map(self._deliver_and_settle, leaving))
        list(pool.map(self._deliver_and_settle, [c for c in claims if not c.deprovisions]))
        return len(claims)

    def claim_written(self, keys, session=None) -> tuple[list[Claim], set[str]] | None:
        """Claim the rows of a write (resources ``keys``) for ``deliver_now``, in the write's own
        transaction when ``session`` is given (``Repository.attach_targets``), else in one of their
        own. Rows it cannot take (leased by a delivery in flight, over a target's free room in its
        pool, a target whose licence seats are short, whose deprovisions go first) are left to the
        target's loop: the targets returned with the claims. None once stopping: nothing claimed."""
        if self._stop.is_set():
            return None
        targets = list(self.delivery.targets)
        with self._in_flight_lock:
            busy = Counter(claim.target for claim in self._in_flight.values())
        seats = self.delivery.seats
        limits = {t: self.concurrency - busy[t] for t in targets if not seats.known_short(t, self.concurrency)}
        limits = {t: room for t, room in limits.items() if room > 0}
        claims, left = self.outbox.claim_keys(list(keys), limits, session=session)
        return claims, left | (set(targets) - set(limits))

    def deliver_now(self, keys, claimed: tuple[list[Claim], set[str]] | None = None) -> Dispatch:
        """Deliver the rows of a committed write (resources ``keys``) at once on the targets' pools,
        with no wait for a loop to wake up and look for due rows: those ``claimed`` with the write
        (``claim_written`` in its transaction), else claimed now. The targets' loops are woken for the
        rows left to them."""
        if claimed is None:
            claimed = self.claim_written(keys)
            if claimed is None:
                return Dispatch([], set(self.delivery.targets))
        claims, left = claimed
        dispatch = Dispatch(claims, left)
        with self._in_flight_lock:
            self._in_flight.update((claim.id, claim) for claim in claims)
            self._dispatched.update((claim.id, dispatch) for claim in claims)
        for claim in claims:
            try:
                self._pools[claim.target].submit(self._deliver_dispatched, claim)
            except RuntimeError:  # the pool was shut down (stopping): give the row back at once
                with self._in_flight_lock:
                    self._in_flight.pop(claim.id, None)
                    self._dispatched.pop(claim.id, None)
                self.outbox.release(claim)
                dispatch.settled(claim, attempted=False)
        self.notify(left)
        return dispatch

    def _deliver_dispatched(self, claim: Claim) -> None:
        outcome, dropped = None, False
        try:
            outcome, dropped = self._attempt(claim)
        except Exception as exc:  # noqa: BLE001 - the settle failed (the database?): the lease frees the row
            log.error("worker for %s: %s", claim.target, exc.__class__.__name__)
        finally:
            with self._in_flight_lock:
                dispatch = self._dispatched.pop(claim.id, None)
            # Delivered but kept (a newer change arrived during the attempt, or the group it waited
            # for was created meanwhile): the write's state is not yet on the target, so the write
            # waits on, through the database, for the next attempt (bounded by wait_seconds).
            attempted = (outcome is not None and outcome.kind not in (Settle.WAIT, Settle.LOST)
                         and (dropped or outcome.kind is not Settle.DONE))
            if dispatch is not None:
                dispatch.settled(claim, attempted)
        # The row stays queued (to retry, or delivered again for a newer change): the target's loop
        # decides when. Rows made due by the delivery itself wake it through ``DeliveryRecords.on_due``.
        if not dropped:
            self.notify([claim.target])

    def drain(self, rounds: int = 1000, targets=None) -> int:
        """Deliver everything due now on every target, or on ``targets`` (synchronously); returns rows
        handled."""
        handled = 0
        names = [name for name in self.delivery.targets if targets is None or name in targets]
        for _ in range(rounds):
            done = sum(self.run_once(name) for name in names)
            handled += done
            if not done:
                break
        return handled

    def _heartbeat(self, claim: Claim):
        """Renews the claim's lease during a long delivery (a third of the lease at a time)."""
        renewed = [self.monotonic()]
        every = self.outbox.lease.total_seconds() / 3

        def beat() -> None:
            if self.monotonic() - renewed[0] < every:
                return
            if not self.outbox.renew(claim):
                raise ClaimLost(f"lease on {claim.resource_type} {claim.resource_id} for {claim.target} lost")
            renewed[0] = self.monotonic()

        return beat

    def _deliver_and_settle(self, claim: Claim) -> Outcome:
        return self._attempt(claim)[0]

    def _attempt(self, claim: Claim) -> tuple[Outcome, bool]:
        """Deliver and settle; the outcome, and True when the row was dropped (delivered, and no
        newer change arrived meanwhile)."""
        try:
            return self._deliver_and_settle_claim(claim)
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(claim.id, None)

    def _deliver_and_settle_claim(self, claim: Claim) -> tuple[Outcome, bool]:
        # The attempt's audit entries and link outcome are written with its settle, in one transaction.
        with self.records.deferred() if self.records else nullcontext(PendingWrites()) as pending:
            try:
                outcome = self.delivery.deliver(claim, self._heartbeat(claim))
            except ClaimLost:
                log.warning("delivery of %s %s to %s outlived its lease and was taken over; stopped",
                            claim.resource_type, claim.resource_id, claim.target)
                if self.records:
                    self.records.write(pending)  # what the calls made did happen
                return Outcome(Settle.LOST), False
            except Exception as exc:  # noqa: BLE001 - a bug outside the executor's plan (the database?)
                # The same policy as every failure: a bug is retried a bounded number of times, then parked.
                outcome = self.delivery.executor.decided(Subject(claim.resource_type, claim.resource_id),
                                                         claim.target, exc, attempts=claim.attempts)
        dropped = self._settle(claim, outcome, pending)
        self.on_settled(claim, outcome)
        return outcome, dropped

    def _settle(self, claim: Claim, outcome: Outcome, records: PendingWrites) -> bool:
        """True when the row was dropped."""
        if outcome.kind is Settle.DONE:
            return bool(self.outbox.done(claim, records))
        if outcome.kind is Settle.PARK:
            self.outbox.park(claim, outcome.error or "refused", records)
        elif outcome.kind is Settle.WAIT:
            # Not a failure: another delivery is creating what this one needs. Look again soon after
            # that delivery can next run (its creating the group wakes this row sooner): until then the
            # answer cannot change, and looking costs calls on the product.
            until = (outcome.not_before - self.clock()).total_seconds() if outcome.not_before else 0.0
            self.outbox.retry(claim, outcome.error or "waiting", max(until, 0.0) + self.backoff.delay(0),
                              count=False, records=records)
        else:
            self.outbox.retry(claim, outcome.error or "failed", self.backoff.delay(claim.attempts, outcome.retry_after),
                              records=records)
        return False

    # -- the background loops ---------------------------------------------------------------------

    def start(self) -> None:
        for name in self.delivery.targets:
            thread = threading.Thread(target=self._loop, args=(name,), name=f"worker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self, targets=None) -> None:
        """Wake the loops (of ``targets``, else all) to look for due rows now."""
        for name, event in self._wake.items():
            if targets is None or name in targets:
                event.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.notify()
        for thread in self._threads:
            thread.join(timeout)
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, grace_seconds: float) -> list[Claim]:
        """Stop claiming, give the deliveries in flight up to ``grace_seconds`` to finish and settle,
        then release the claims of those still running so that any worker may take them at once
        (not after their lease). Returns the released claims; their threads are abandoned, and the
        process should exit (``scim-bridge worker`` does). A delivery is idempotent (docs/architecture.md,
        decision 2), so one released mid-way is simply delivered again."""
        deadline = time.monotonic() + max(grace_seconds, 0.0)
        self._stop.set()
        self.notify()
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        with self._in_flight_lock:
            left = list(self._in_flight.values())
        released = []
        for claim in left:
            try:
                self.outbox.release(claim)
                released.append(claim)
            except Exception as exc:  # noqa: BLE001 - the database gone: the lease frees the row later
                log.error("could not release %s %s for %s on shutdown (%s); it is taken over when its lease "
                          "ends", claim.resource_type, claim.resource_id, claim.target, exc.__class__.__name__)
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        return released

    def _loop(self, target: str) -> None:
        wake = self._wake[target]
        while not self._stop.is_set():
            # Cleared before the claim: a write notified while it runs still cuts the next wait short.
            wake.clear()
            try:
                busy = self.run_once(target)
            except Exception as exc:  # noqa: BLE001 - e.g. the database briefly unreachable
                log.error("worker for %s: %s", target, exc.__class__.__name__)
                busy = 0
            if busy:
                continue
            seconds, _ = self._idle_seconds(target)
            while True:
                self.wait(wake, seconds)
                if self._stop.is_set() or wake.is_set():
                    break
                # Timed out: claim (a write transaction; on SQLite it takes the process's write lock,
                # which the SCIM writes and the settles wait for) only once a row is claimable. Until
                # then an idle poll costs a read. Seats released here wake the loop (``on_due``).
                self.delivery.seats.tick(target)
                seconds, claimable = self._idle_seconds(target)
                if claimable:
                    break

    def _idle_seconds(self, target: str) -> tuple[float, bool]:
        """Until a row becomes claimable (due, and its lease if any ended), at most ``poll_seconds``:
        writes by other processes are not notified here, so the queue is looked at that often. And
        whether one is claimable now (or the look failed: the claim will tell)."""
        try:
            due: datetime | None = self.outbox.next_claimable(target)
        except Exception:  # noqa: BLE001
            return self.poll_seconds, True
        if due is None:
            return self.poll_seconds, False
        left = (due - self.clock()).total_seconds()
        return min(max(left, 0.01), self.poll_seconds), left <= 0


def _wait_for_event(event: threading.Event, seconds: float) -> None:
    event.wait(seconds)
