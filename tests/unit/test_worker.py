"""The worker's own rules: capped, jittered backoff, and leases kept alive by a long delivery and
given up when another worker has taken the row over."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import OutboxRow
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.delivery import DONE
from scim_bridge.sync.outbox import Outbox
from scim_bridge.sync.worker import Backoff, Worker


@pytest.mark.parametrize(("attempts", "rand", "expected"), [
    (0, 0.0, 1.0), (0, 1.0, 2.0),          # first retry: between half the initial window and all of it
    (3, 0.5, 12.0),                         # 2 * 2**3 = 16, jittered to 8..16
    (10, 0.0, 150.0), (10, 1.0, 300.0),     # capped at backoff_max
])
def test_backoff_doubles_per_attempt_with_jitter_up_to_the_cap(attempts, rand, expected):
    assert Backoff(2.0, 300.0, rand=lambda: rand).delay(attempts) == expected


def test_a_retry_after_from_the_product_is_never_shortened():
    assert Backoff(2.0, 300.0, rand=lambda: 0.0).delay(0, at_least=30.0) == 30.0


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


class LongDelivery:
    """Three calls on the target, each taking 50 s, with the lease checked after each (as Delivery
    does); ``steal`` lets another worker take the row over after a given call."""

    def __init__(self, wall: Clock, mono: Clock, steal_after: int | None = None, thief: Outbox | None = None):
        self.targets = {"jira": None}
        self.wall, self.mono, self.steal_after, self.thief = wall, mono, steal_after, thief
        self.calls = 0

    def deliver(self, claim, heartbeat):
        for _ in range(3):
            self.wall.now += timedelta(seconds=50)
            self.mono.now += 50
            self.calls += 1
            if self.calls == self.steal_after:
                self.wall.now += timedelta(seconds=200)  # the worker hung past its lease
                assert self.thief.claim("jira", 1)
            heartbeat()
        return DONE


def _setup(engine, lease=120.0):
    wall, mono = Clock(datetime(2026, 1, 1, tzinfo=UTC)), Clock(0.0)
    with make_session_factory(engine, write=True)() as session, session.begin():
        enqueue(session, "User", ["u1"], ["jira"], wall())
    return wall, mono, Outbox(engine, owner="w1", lease_seconds=lease, clock=wall)


def test_a_delivery_longer_than_its_lease_keeps_its_claim_by_renewing(engine):
    wall, mono, outbox = _setup(engine)
    thief = Outbox(engine, owner="w2", lease_seconds=120, clock=wall)
    worker = Worker(outbox, LongDelivery(wall, mono), clock=wall, monotonic=mono)
    claim = outbox.claim("jira", 1)[0]
    with engine.connect() as conn:
        first_lease = conn.scalar(sa.select(OutboxRow.lease_until))
    outcome = worker.delivery.deliver(claim, worker._heartbeat(claim))  # 150 s of calls, renewed as it went
    assert outcome.kind == "done"
    with engine.connect() as conn:
        assert conn.scalar(sa.select(OutboxRow.lease_until)) > first_lease
    assert wall() > first_lease and thief.claim("jira", 1) == []  # past the first lease, still w1's
    outbox.done(claim)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(OutboxRow)) == 0  # settled by its owner
    worker.stop()


def test_a_delivery_whose_row_was_taken_over_stops_and_settles_nothing(engine):
    wall, mono, outbox = _setup(engine)
    thief = Outbox(engine, owner="w2", lease_seconds=120, clock=wall)
    delivery = LongDelivery(wall, mono, steal_after=2, thief=thief)
    worker = Worker(outbox, delivery, clock=wall, monotonic=mono)
    claim = outbox.claim("jira", 1)[0]
    assert worker._deliver_and_settle(claim).kind == "lost"
    assert delivery.calls == 2  # stopped at the heartbeat after the row was taken over
    with engine.connect() as conn:
        assert conn.execute(sa.select(OutboxRow.claimed_by, OutboxRow.state)).one() == ("w2", "pending")
    worker.stop()
