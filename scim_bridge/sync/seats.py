"""The licence-seat guard's bookkeeping per target (docs/architecture.md, "Licence seats").

A :class:`SeatLedger` keeps the seat count last read from its target (``DirectoryClient.seats``)
and the seats promised to deliveries in flight, so that concurrent deliveries in one process never
send more creates than there are seats. The decisions are ``rules/seats.py``'s; this module reads,
counts and releases:

* a delivery whose plan takes a seat asks :meth:`SeatLedger.take` first: a seat is held for it, or it
  gets the refusal it is parked with (the count is read again before refusing, never refused on a
  stale one); :meth:`SeatLedger.give_back` ends the hold;
* a delivery whose plan freed a seat calls :meth:`SeatLedger.freed`, which releases as many rows
  parked for seats as seats are now free, oldest first;
* :meth:`SeatLedger.tick`, from the worker's loop, reads the count again every
  ``delivery.seats_refresh_seconds`` while rows are parked for seats, and releases them likewise (a
  seat freed on the product by hand, or a bigger licence);
* every read is saved in the store (``target_seats``), for ``scim-bridge status`` and the console,
  and handed to ``on_read`` (the alerts: seats at ``alerts.seats_share``).

Across processes (several instances on PostgreSQL) each ledger counts only its own deliveries: the
product's own refusal (a licence limit answer) then parks the rare surplus like any refusal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from atlassian_clients.base import AtlassianError, Seats, Unavailable
from scim_bridge.rules.seats import seat_refusal, seats_short
from scim_bridge.sync.executor import Target
from scim_bridge.sync.records import DeliveryRecords

log = logging.getLogger("scim_bridge.delivery")

OnRead = Callable[[str, Seats | None], None]


class SeatLedger:
    def __init__(self, target: Target, records: DeliveryRecords, *, refresh_seconds: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic, on_read: OnRead | None = None):
        self.target = target
        self.records = records
        self.refresh_seconds = refresh_seconds
        self.monotonic = monotonic
        self.on_read = on_read or (lambda target, seats: None)
        self._lock = threading.RLock()
        self._seats: Seats | None = None
        self._read_at: float | None = None
        self._held = 0
        self._failed_at: float | None = None  # the worker's last read failed then (the product down)

    def resting(self) -> bool:
        """The worker's own read failed less than ``refresh_seconds`` (at least 5 s) ago: its loop
        does not ask again meanwhile, so an outage costs it no extra waits."""
        failed = self._failed_at
        return failed is not None and self.monotonic() - failed < max(self.refresh_seconds, 5.0)

    def failed(self) -> None:
        self._failed_at = self.monotonic()

    def _stale(self) -> bool:
        """The count was never read, or is ``refresh_seconds`` old."""
        return self._read_at is None or self.monotonic() - self._read_at >= self.refresh_seconds

    def applies(self) -> bool:
        """The product tells its seats, and the target is not a dry run (which calls nothing that mutates)."""
        if self.target.rules.dry_run:
            return False
        return bool(getattr(self.target.client.capabilities(), "can_read_seats", False))

    def seats(self, *, fresh: bool = False) -> Seats | None:
        """The count, read again when older than ``refresh_seconds`` (or ``fresh``)."""
        with self._lock:
            if fresh or self._stale():
                self._read()
            return self._seats

    def _read(self) -> None:
        seats = self.target.client.seats()
        self._seats, self._read_at = seats, self.monotonic()
        try:
            self.records.save_seats(self.target.name, seats)
        except Exception as exc:  # noqa: BLE001 - showing the count must not stop the guard
            log.warning("licence seats of %s not saved: %s", self.target.name, exc.__class__.__name__)
        self.on_read(self.target.name, seats)

    def take(self) -> str | None:
        """Hold a seat for a delivery that takes one; else the refusal it is parked with.

        A product out of reach raises (the delivery is retried as any outage); one that refuses to
        tell its seats (the bridge's account may not read the licence) is not guarded: its own
        refusal then parks a create past the limit."""
        with self._lock:
            read_now = self._stale()
            try:
                seats = self.seats()
                refusal = seat_refusal(seats, self._held)
                if refusal and not read_now:
                    refusal = seat_refusal(self.seats(fresh=True), self._held)  # never refuse on an old count
            except Unavailable:
                raise
            except AtlassianError as exc:
                log.warning("licence seats of %s not read (%s): creates are not guarded", self.target.name,
                            exc.__class__.__name__, extra={"target": self.target.name})
                return None
            if refusal is None:
                self._held += 1
            return refusal

    def give_back(self, *, taken: bool) -> None:
        """The delivery that held a seat is over: ``taken`` when its plan ran, so the account holds it."""
        with self._lock:
            self._held = max(self._held - 1, 0)
            if taken and self._seats is not None:
                self._seats = Seats(self._seats.used + 1, self._seats.total, self._seats.licence)
            elif not taken:
                self._read_at = None  # what happened is not known: read again next time

    def freed(self) -> int:
        """A delivery deactivated, deleted or unlicensed an account: one seat is free again. Returns
        how many rows parked for seats were released."""
        with self._lock:
            if self._seats is not None:
                self._seats = Seats(max(self._seats.used - 1, 0), self._seats.total, self._seats.licence)
            return self._release()

    def _release(self) -> int:
        if self._seats is None:
            free = None  # unlimited: release every one
        else:
            free = self._seats.remaining - self._held
            if free <= 0:
                return 0
        released = self.records.release_parked_for_seats(self.target.name, limit=free)
        if released:
            log.info("%d delivery(ies) to %s parked for licence seats released", released, self.target.name,
                     extra={"target": self.target.name})
        return released

    def tick(self) -> int:
        """From the worker's loop: while rows are parked for seats, read the count every
        ``refresh_seconds`` and release as many as seats are free."""
        with self._lock:
            if not self._stale():
                return 0
        if not self.records.parked_for_seats(self.target.name) or not self.applies():
            return 0
        with self._lock:
            self.seats(fresh=True)
            return self._release()

    def short(self, batch: int) -> bool:
        """Fewer seats left than ``batch`` deliveries could take: deprovisioning goes first."""
        with self._lock:
            return self.short_by_count(batch)

    def short_by_count(self, batch: int) -> bool:
        """``short`` by the count and holds as they are now, without the ledger's lock: a delivery
        holds that lock while it reads the product or writes the store (its seat count, releasing
        parked rows), so a SCIM write's transaction, which holds the store's write lock, must not
        wait for it. A count a moment old only decides which rows go to the pool at once."""
        seats, held = self._seats, self._held
        if seats is not None:
            seats = Seats(seats.used + held, seats.total, seats.licence)
        return seats_short(seats, batch)


class SeatGuard:
    """The ledgers of the targets whose product tells its seats (the others have none)."""

    def __init__(self, targets: dict[str, Target], records: DeliveryRecords, *, refresh_seconds: float = 60.0,
                 on_read: OnRead | None = None, monotonic: Callable[[], float] = time.monotonic):
        self.ledgers = {name: SeatLedger(target, records, refresh_seconds=refresh_seconds, on_read=on_read,
                                         monotonic=monotonic)
                        for name, target in targets.items()}

    def ledger(self, target: str) -> SeatLedger | None:
        ledger = self.ledgers.get(target)
        return ledger if ledger is not None and ledger.applies() else None

    def short(self, target: str, batch: int) -> bool:
        """Never raises: a product out of reach is the deliveries' to find out and retry."""
        ledger = self.ledgers.get(target)
        if ledger is None or ledger.resting():
            return False
        try:
            if not ledger.applies():
                return False
            ledger.seats()
            return ledger.short(batch)
        except Exception as exc:  # noqa: BLE001
            self._failed(ledger, exc)
            return False

    def known_short(self, target: str, batch: int) -> bool:
        """``short`` by the count already read, without reading it or waiting for the ledger's lock:
        for the request's thread, inside its write's transaction (``Worker.claim_written``)."""
        ledger = self.ledgers.get(target)
        return ledger is not None and ledger.short_by_count(batch)

    def tick(self, target: str) -> int:
        ledger = self.ledgers.get(target)
        if ledger is None or ledger.resting():
            return 0
        try:
            return ledger.tick()
        except Exception as exc:  # noqa: BLE001 - the next tick tries again
            self._failed(ledger, exc)
            return 0

    @staticmethod
    def _failed(ledger: SeatLedger, exc: Exception) -> None:
        ledger.failed()
        log.warning("licence seats of %s not read: %s", ledger.target.name, exc.__class__.__name__,
                    extra={"target": ledger.target.name})
