"""The observer ``Sync`` calls with each settled delivery, and the thread that sends the alerts.

Being called costs the delivery a queue put and nothing else: the outcome is turned into events,
batched and sent on one background thread, where a failing webhook or mail server is retried a few
times, logged by the exception's class only (never a URL, an address's password or the server's
answer), and given up on. Delivery never waits for, or fails with, an alert.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from scim_bridge.alerts.batch import Batcher, Message
from scim_bridge.alerts.events import Drift, Event, OutageWatch, Parked, SeatWatch
from scim_bridge.sync.executor import Settle

log = logging.getLogger("scim_bridge.alerts")

TICK = 1.0  # how often the thread looks at the clock when nothing arrives (batch windows, outages)
BACKLOG = 100_000  # outcomes held for the thread at most; past it they are counted and dropped


class Alerts:
    def __init__(self, senders: Sequence, *, batch_seconds: float = 30.0, unreachable_after_seconds: float = 900.0,
                 console: str | None = None, clock: Callable[[], float] = time.monotonic,
                 attempts: int = 3, retry_pause: float = 5.0, seats_share: float = 0.9):
        self.senders = list(senders)
        self.clock = clock
        self.attempts = attempts
        self.retry_pause = retry_pause
        self._batcher = Batcher(batch_seconds, console)
        self._outages = OutageWatch(unreachable_after_seconds)
        self._seats = SeatWatch(seats_share)
        self._queue: queue.Queue = queue.Queue(BACKLOG)
        self._dropped = 0
        self._lock = threading.Lock()  # pump() from the thread, or from a test / at stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the observer (worker threads) -------------------------------------------------------------

    def __call__(self, claim, outcome) -> None:
        """``Sync``'s observer: one settled delivery (``claim`` of the outbox, ``outcome`` of the executor)."""
        if outcome.kind in (Settle.WAIT, Settle.LOST):
            return
        try:
            self._queue.put_nowait((self.clock(), claim.target, claim.resource_type, claim.resource_id,
                                    outcome.kind, outcome.error))
        except queue.Full:
            self._dropped += 1
        except Exception as exc:  # noqa: BLE001 - an alert must never break the settle of a delivery
            log.error("alerts: %s while taking in a delivery outcome", exc.__class__.__name__)

    def seats(self, target: str, seats) -> None:
        """``Sync``'s seat observer: a licence seat count just read (``atlassian_clients.Seats``, None
        for an unlimited licence), on a worker thread."""
        try:
            self._queue.put_nowait((self.clock(), target, seats))
        except queue.Full:
            self._dropped += 1
        except Exception as exc:  # noqa: BLE001 - an alert must never break a delivery
            log.error("alerts: %s while taking in a seat count", exc.__class__.__name__)
    def drift(self, found: list[Drift]) -> None:
        """What a scheduled reconciliation found out of line (``scim_bridge/schedule.py``): batched
        like any event, so it shares a message with what else happens in the window."""
        with self._lock:
            now = self.clock()
            for event in found:
                self._batcher.add(event, now)

    # -- the thread --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None and self.senders:
            self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, sending what is batched first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.pump(force=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump(wait=TICK)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one bad alert
                log.error("alerts: %s while preparing an alert", exc.__class__.__name__)
                self._stop.wait(TICK)

    def pump(self, *, wait: float = 0.0, force: bool = False) -> Message | None:
        """Take in what was observed (waiting up to ``wait`` for the first), notice outages, and send
        the batch if its window has passed (or ``force``): what the thread does each round, and what
        tests call with a clock of their own. Returns the message sent, if any."""
        try:
            first = [self._queue.get(timeout=wait)] if wait > 0 else []
        except queue.Empty:
            first = []
        with self._lock:
            for item in first + self._drain():
                if len(item) == 3:  # a seat count
                    at, target, seats = item
                    for event in self._seats.read(target, seats):
                        self._batcher.add(event, at)
                else:
                    self._observe(*item)
            now = self.clock()
            for event in self._outages.check(now):
                self._batcher.add(event, now)
            if self._dropped:
                log.warning("alerts: %d delivery outcome(s) not looked at (the alert queue was full)",
                            self._dropped)
                self._dropped = 0
            message = self._batcher.take(now, force=force)
        if message is not None:
            self._send(message)
        return message

    def _drain(self) -> list:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _observe(self, at: float, target: str, resource_type: str, resource_id: str, kind: Settle,
                 error: str | None) -> None:
        events: list[Event]
        if kind is Settle.RETRY:
            events = self._outages.failed(target, error or "failed", at)
        else:  # delivered, or refused: either way the target answered
            events = self._outages.reached(target, at)
            if kind is Settle.PARK:
                events.append(Parked(target, resource_type, resource_id, error or "refused"))
        for event in events:
            self._batcher.add(event, at)

    def _send(self, message: Message) -> None:
        for sender in self.senders:
            for attempt in range(1, self.attempts + 1):
                try:
                    sender.send(message)
                    break
                except Exception as exc:  # noqa: BLE001 - any failure of the channel is the channel's
                    last = attempt == self.attempts
                    log.warning("alerts: sending by %s failed (%s), attempt %d of %d%s", sender.name,
                                exc.__class__.__name__, attempt, self.attempts,
                                "; this alert is dropped" if last else "", extra={"channel": sender.name})
                    if not last:
                        self._stop.wait(self.retry_pause * attempt)
