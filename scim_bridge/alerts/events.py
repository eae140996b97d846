"""What an administrator is told about, as plain values; and the watch that notices outages."""

from __future__ import annotations

from dataclasses import dataclass

from atlassian_clients.base import Seats
from scim_bridge.rules.seats import share_reached


@dataclass(frozen=True)
class Parked:
    """A delivery set aside until the resource changes or ``scim-bridge retry``: ``reason`` is the
    product's own words (or the failure policy's, for a bridge defect)."""

    target: str
    resource_type: str
    resource_id: str
    reason: str


@dataclass(frozen=True)
class Unreachable:
    target: str
    seconds: float  # how long deliveries to it have failed without one success
    last_error: str


@dataclass(frozen=True)
class Recovered:
    target: str
    seconds: float  # how long it was unreachable


@dataclass(frozen=True)
class SeatsLow:
    """A target's licence seats in use reached ``alerts.seats_share`` of its licence."""

    target: str
    used: int
    total: int
    share: float


class SeatWatch:
    """Per target: one :class:`SeatsLow` when the seats in use reach the share, then none until a
    count below it re-arms the watch (docs/architecture.md, "Licence seats")."""

    def __init__(self, share: float):
        self.share = share
        self._reported: set[str] = set()

    def read(self, target: str, seats: Seats | None) -> list[Event]:
        """``seats`` None: an unlimited licence (or one the product does not tell)."""
        if not share_reached(seats, self.share):
            self._reported.discard(target)
            return []
        if target in self._reported:
            return []
        self._reported.add(target)
        return [SeatsLow(target, seats.used, seats.total, self.share)]


@dataclass(frozen=True)
class Drift:
    """A scheduled reconciliation found ``target`` out of line with the store: ``operations`` planned
    for ``resources`` users and groups (``queued`` of them sent to the worker unless ``dry_run``),
    besides ``unmanaged`` accounts no identity provider user maps to. ``run_id`` names the run on the
    console's Reconcile page."""

    target: str
    operations: int
    resources: int
    queued: int
    unmanaged: int
    dry_run: bool
    run_id: int


Event = Parked | Unreachable | Recovered | SeatsLow | Drift


class OutageWatch:
    """Per target: since when its deliveries fail to be retried with none delivered. Past
    ``after_seconds`` that is one :class:`Unreachable`; the next delivery that reaches the target
    (delivered, or refused by it) ends the outage, with one :class:`Recovered` if it was reported.
    Times are the caller's clock (seconds), so tests drive it without waiting."""

    def __init__(self, after_seconds: float):
        self.after_seconds = after_seconds
        self._since: dict[str, float] = {}
        self._last_error: dict[str, str] = {}
        self._reported: set[str] = set()

    def failed(self, target: str, error: str, now: float) -> list[Event]:
        self._since.setdefault(target, now)
        self._last_error[target] = error
        return self.check(now)

    def reached(self, target: str, now: float) -> list[Event]:
        since = self._since.pop(target, None)
        self._last_error.pop(target, None)
        if target in self._reported:
            self._reported.discard(target)
            return [Recovered(target, now - since)]
        return []

    def check(self, now: float) -> list[Event]:
        """The outages that have lasted long enough and are not reported yet."""
        due = [t for t, since in self._since.items()
               if t not in self._reported and now - since >= self.after_seconds]
        self._reported.update(due)
        return [Unreachable(t, now - self._since[t], self._last_error[t]) for t in due]
