"""Benchmark 8: reconciliation of a large estate against the fakes' rate-limit floor.

``users`` users in ``groups`` groups (each user in two, and in its target's licence group) are written
straight into the store, the fakes of Jira, Confluence, Bitbucket and Crowd, and the link rows
(``tests/support/drift.py`` ``seed_in_line``): every target in line. Drift is then made by hand on
each fake: memberships removed, e-mail addresses changed (where the product reports them), accounts
deactivated (where it can), accounts added that no identity provider user maps to. Timed:

1. a dry run, which must list exactly that drift (checked; the benchmark stops otherwise);
2. a real run with ``--deactivate-unmanaged``, which queues exactly the drifted users and
   deactivates the unmanaged accounts; the queued deliveries are then drained (timed apart);
3. a second dry run, which must find nothing (Bitbucket's unmanaged accounts stay listed: it has no
   deactivate call, docs/products.md §4.10; they are left unlicensed).

Each run's wall time is divided by its **rate-limit floor**: the least time the clients' configured
token bucket (``http.rate`` per second after a burst of ``http.burst``) allows for the calls that run
made on the busiest target, targets running in parallel. Calls are counted by the HTTP policy's
observer. The goal is at most 1.5.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from atlassian_clients.fakes import RunningFakes
from bench.bridge import bench_config
from bench.measure import Measurement, Table
from scim_bridge.config import validate_config
from scim_bridge.sync.reconcile import reconcile
from scim_bridge.sync.setup import build_sync
from tests.support.drift import inject_drift, seed_in_line

RATE, BURST = 10.0, 10  # the configuration's defaults (targets.<name>.http.rate / burst)
RATIO_GOAL = 1.5


@dataclass(frozen=True)
class ReconcileScale:
    users: int
    groups: int
    drift: int  # of each kind, per target


class CallCounter:
    """The metrics hook of the HTTP policy, counting the calls made to each target."""

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: Counter = Counter()

    def product_call(self, target: str, operation: str, seconds: float) -> None:
        with self._lock:
            self.calls[target] += 1

    def delivered(self, *args, **kwargs) -> None:
        pass

    def take(self) -> Counter:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken


def floor_seconds(calls: Counter) -> float:
    """The least time the token bucket allows for these calls on the busiest target."""
    return max((max(n - BURST, 0) / RATE for n in calls.values()), default=0.0)


def reconcile_table(database: str, engine, fakes: RunningFakes, *, users: int, groups: int, per_kind: int,
                    say) -> Table:
    config = bench_config(engine, fakes.url)
    for target in config["targets"].values():
        target["http"] = {**target["http"], "rate": RATE, "burst": BURST}
    counter = CallCounter()
    sync = build_sync(validate_config(config), engine, metrics=counter)
    products = fakes.products.by_name()
    fake_of = {name: products[target["type"]] for name, target in config["targets"].items()}
    try:
        say(f"{database}: seeding {users:,} users and {groups} groups on {len(fake_of)} targets")
        seeded = seed_in_line(engine, sync, fake_of, users=users, groups=groups)
        expected = inject_drift(sync, fake_of, seeded, per_kind=per_kind)
        counter.take()

        def timed(label: str, **kwargs):
            say(f"{database}: {label}")
            started = time.perf_counter()
            reports = reconcile(sync, **kwargs)
            return reports, time.perf_counter() - started, counter.take()

        dry, dry_s, dry_calls = timed("dry run", dry_run=True, deactivate_unmanaged=True)
        found = {r.target: ({(rid, op.describe()) for _, rid, op in r.planned}, set(r.unmanaged)) for r in dry}
        want = {t: (e.planned, e.unmanaged) for t, e in expected.items()}
        if found != want or any(r.stopped or r.errors for r in dry):
            raise AssertionError(f"the dry run did not list exactly the drift injected: {_difference(found, want)}")

        real, real_s, real_calls = timed("real run", dry_run=False, deactivate_unmanaged=True)
        queued = {r.target: r.queued for r in real}
        if queued != {t: len({rid for rid, _ in e.planned}) for t, e in expected.items()} or \
                {r.target: set(r.deactivated) for r in real} != {t: e.unmanaged for t, e in expected.items()}:
            raise AssertionError(f"the real run did not repair exactly the drift: queued {queued}")
        say(f"{database}: draining {sum(queued.values())} repairs")
        started = time.perf_counter()
        delivered = sync.worker.drain()
        drain_s, drain_calls = time.perf_counter() - started, counter.take()

        again, again_s, again_calls = timed("second run", dry_run=True)
        leftover = {r.target: (r.planned, r.errors, r.stopped) for r in again}
        unmanaged = {r.target: set(r.unmanaged) for r in again}
        stays = {t: (expected[t].unmanaged if sync.targets[t].client.capabilities().can_deactivate is False else set())
                 for t in expected}
        if any(v != ([], [], None) for v in leftover.values()) or unmanaged != stays:
            raise AssertionError(f"the second run found drift: {leftover} {unmanaged}")
    finally:
        sync.stop()

    column = "÷ rate-limit floor"
    table = Table(f"8. Reconcile at scale — {database}",
                  f"{users:,} users and {groups} groups on {len(fake_of)} targets ({', '.join(fake_of)}), each "
                  f"target's client limited to {RATE:g} calls/s after a burst of {BURST} (the default); "
                  f"drift injected per target: {per_kind} of each kind. Wall time of each run, and its ratio "
                  f"to the least time that rate allows for the calls the run made on its busiest target "
                  f"(goal ≤ {RATIO_GOAL}).", [column])
    for label, seconds, calls in (("dry run: list the drift", dry_s, dry_calls),
                                  ("real run: queue the repairs, deactivate unmanaged accounts", real_s, real_calls),
                                  ("second run: finds nothing", again_s, again_calls)):
        floor = floor_seconds(calls)
        table.add(label, Measurement(label, "s", (seconds,)), {column: seconds / floor if floor else None})
        table.notes.append(f"{label}: {seconds:.1f} s; calls {_calls(calls)}; floor {floor:.1f} s.")
    drain_floor = floor_seconds(drain_calls)
    table.add("draining the queued repairs (deliveries, one user at a time)", Measurement("drain", "s", (drain_s,)),
              {column: drain_s / drain_floor if drain_floor else None})
    table.notes.append(f"drain: {delivered} deliveries in {drain_s:.1f} s; calls {_calls(drain_calls)}; "
                       f"floor {drain_floor:.1f} s (the worker's own deliveries, measured for completeness: "
                       "drain() takes the targets in turns, so their buckets refill while another is served).")
    kinds = Counter()
    for e in expected.values():
        kinds.update(e.kinds)
    table.notes.append("Drift found by the dry run, all targets (exactly the drift injected): "
                       + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ".")
    kept = len(stays.get("bitbucket", ()))
    table.notes.append(f"Second run: no operation on any target; Bitbucket still lists its {kept} unmanaged "
                       "accounts (unlicensed, not deactivatable over REST).")
    return table


def _calls(calls: Counter) -> str:
    return ", ".join(f"{t} {n}" for t, n in sorted(calls.items()))


def _difference(found: dict, want: dict) -> str:
    out = []
    for target in sorted(set(found) | set(want)):
        (got_ops, got_un), (want_ops, want_un) = found.get(target, (set(), set())), want.get(target, (set(), set()))
        extra, missing = sorted(got_ops - want_ops)[:3], sorted(want_ops - got_ops)[:3]
        if extra or missing or got_un != want_un:
            out.append(f"{target}: extra {extra}, missing {missing}, unmanaged {sorted(got_un ^ want_un)[:3]}")
    return "; ".join(out)
