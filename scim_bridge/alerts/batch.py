"""Batching: what happens within ``window`` seconds of the first event is one message, so a burst of
300 parked deliveries is one alert with counts and the first few, not 300 (docs/architecture.md,
"Alerts"). Pure: the caller passes the time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scim_bridge.alerts.events import Drift, Event, Parked, Recovered, SeatsLow, Unreachable
from scim_bridge.rules.seats import parked_for_seats

FIRST = 5  # parked deliveries listed one by one; the rest are counted


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # the whole message as lines a person reads (e-mail body, Slack/Teams text)
    details: dict  # the same as structured data, for a JSON webhook


@dataclass
class _Pending:
    opened: float
    parked: list[Parked] = field(default_factory=list)  # the first FIRST only
    parked_by_target: Counter = field(default_factory=Counter)
    unreachable: list[Unreachable] = field(default_factory=list)
    recovered: list[Recovered] = field(default_factory=list)
    seats_low: list[SeatsLow] = field(default_factory=list)
    parked_for_seats: Counter = field(default_factory=Counter)
    drift: list[Drift] = field(default_factory=list)


class Batcher:
    def __init__(self, window: float, console: str | None, *, first: int = FIRST):
        self.window = window
        self.console = console
        self.first = first
        self._pending: _Pending | None = None

    def add(self, event: Event, now: float) -> None:
        pending = self._pending = self._pending or _Pending(opened=now)
        if isinstance(event, Parked):
            if len(pending.parked) < self.first:
                pending.parked.append(event)
            pending.parked_by_target[event.target] += 1
            if parked_for_seats(event.reason):
                pending.parked_for_seats[event.target] += 1
        elif isinstance(event, Unreachable):
            pending.unreachable.append(event)
        elif isinstance(event, Recovered):
            pending.recovered.append(event)
        elif isinstance(event, SeatsLow):
            pending.seats_low.append(event)
        elif isinstance(event, Drift):
            pending.drift.append(event)

    def due(self, now: float) -> bool:
        return self._pending is not None and now - self._pending.opened >= self.window

    def take(self, now: float, *, force: bool = False) -> Message | None:
        """The message of the open batch once its window has passed (or ``force``); the batch closes."""
        if self._pending is None or not (force or self.due(now)):
            return None
        pending, self._pending = self._pending, None
        return compose(pending, self.console)


def compose(pending: _Pending, console: str | None) -> Message:
    parked_total = sum(pending.parked_by_target.values())
    headline, lines = [], []
    if parked_total:
        by_target = ", ".join(f"{t}: {n}" for t, n in sorted(pending.parked_by_target.items()))
        headline.append(f"{parked_total} deliver{'y' if parked_total == 1 else 'ies'} parked")
        lines.append(f"{parked_total} delivery(ies) parked ({by_target}); each waits for a change to its "
                     "resource or `scim-bridge retry`:")
        lines += [f"- {p.resource_type} {p.resource_id} to {p.target}: {p.reason}" for p in pending.parked]
        if parked_total > len(pending.parked):
            lines.append(f"- and {parked_total - len(pending.parked)} more")
    for target, count in sorted(pending.parked_for_seats.items()):
        headline.append(f"{count} parked for licence seats on {target}")
        lines.append(f"{target}: {count} create(s) not sent because the licence is full; each is delivered "
                     "when a seat frees up (a leaver deactivated, or a bigger licence).")
    for low in pending.seats_low:
        headline.append(f"{low.target} licence {low.used} of {low.total} seats")
        lines.append(f"{low.target}: {low.used} of {low.total} licence seats in use, at least "
                     f"{round(low.share * 100)}% (alerts.seats_share); a full licence parks new accounts.")
    for down in pending.unreachable:
        headline.append(f"{down.target} unreachable")
        lines.append(f"{down.target} unreachable: no delivery has reached it for {_duration(down.seconds)}; "
                     f"the last error: {down.last_error}. Deliveries are kept and retried.")
    for up in pending.recovered:
        headline.append(f"{up.target} reachable again")
        lines.append(f"{up.target} reachable again after {_duration(up.seconds)}.")
    for found in pending.drift:
        headline.append(f"{found.target} out of line")
        done = ("dry run: nothing was changed" if found.dry_run else
                f"{found.queued} resource(s) queued for delivery to repair it")
        lines.append(f"Scheduled reconciliation {found.run_id} found {found.target} out of line: "
                     f"{found.operations} operation(s) for {found.resources} user(s) and group(s) ({done}); "
                     f"{found.unmanaged} account(s) no identity provider user maps to."
                     + (f" The plan: {console.rsplit('/problems', 1)[0]}/reconcile/{found.run_id}" if console else ""))
    lines.append(f"Console: {console}" if console else
                 "(set server.base_url for a link to the console)")
    details = {
        "source": "scim-bridge",
        "summary": "; ".join(headline),
        "parked": {"count": parked_total, "by_target": dict(sorted(pending.parked_by_target.items())),
                   "first": [{"target": p.target, "resource_type": p.resource_type,
                              "resource_id": p.resource_id, "reason": p.reason} for p in pending.parked]},
        "unreachable": [{"target": d.target, "seconds": round(d.seconds), "last_error": d.last_error}
                        for d in pending.unreachable],
        "recovered": [{"target": u.target, "seconds": round(u.seconds)} for u in pending.recovered],
        "parked_for_seats": dict(sorted(pending.parked_for_seats.items())),
        "seats": [{"target": s.target, "used": s.used, "total": s.total, "share": s.share}
                  for s in pending.seats_low],
        "drift": [{"target": d.target, "operations": d.operations, "resources": d.resources, "queued": d.queued,
                   "unmanaged": d.unmanaged, "dry_run": d.dry_run, "run": d.run_id} for d in pending.drift],
        "console": console,
    }
    return Message(f"scim-bridge: {'; '.join(headline)}", "\n".join(lines), details)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{round(seconds)} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
