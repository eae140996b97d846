"""The worker's own rules: capped, jittered backoff, and leases kept alive by a long delivery and
given up when another worker has taken the row over."""

import math
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import OutboxRow, utcnow
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.executor import DONE, Outcome, Settle
from scim_bridge.sync.outbox import Outbox
from scim_bridge.sync.seats import SeatGuard
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
        self.seats = SeatGuard({}, None)  # no target tells its licence seats
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
    assert outcome.kind is Settle.DONE
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
    assert worker._deliver_and_settle(claim).kind is Settle.LOST
    assert delivery.calls == 2  # stopped at the heartbeat after the row was taken over
    with engine.connect() as conn:
        assert conn.execute(sa.select(OutboxRow.claimed_by, OutboxRow.state)).one() == ("w2", "pending")
    worker.stop()


class Deliveries:
    """A target that takes every delivery at once; remembers which resources it was given."""

    def __init__(self):
        self.targets = {"jira": None}
        self.seats = SeatGuard({}, None)
        self.delivered: list[str] = []
        self.arrived = threading.Event()

    def deliver(self, claim, heartbeat):
        self.delivered.append(claim.resource_id)
        self.arrived.set()
        return DONE


class Transactions:
    """Counts the transactions begun and the statements sent on ``engine`` (every connection)."""

    def __init__(self, engine):
        self.engine, self.begun, self.statements = engine, 0, 0

    def __enter__(self):
        sa.event.listen(self.engine, "begin", self._begin)
        sa.event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "begin", self._begin)
        sa.event.remove(self.engine, "before_cursor_execute", self._statement)

    def _begin(self, conn):
        self.begun += 1

    def _statement(self, *args):
        self.statements += 1


class SimulatedWaits:
    """The idle loop's wait, without sleeping: each wait moves both clocks on by its length and notes
    the transactions counted so far. Stops the worker once ``until`` says so."""

    def __init__(self, wall: Clock, mono: Clock, counted: Transactions, until):
        self.wall, self.mono, self.counted, self.until = wall, mono, counted, until
        self.log: list[tuple[datetime, float, int, int]] = []  # (started at, seconds, begun, statements)
        self.worker: Worker | None = None

    def __call__(self, event, seconds):
        assert not event.is_set()  # nothing notified: a wait cut short would hide a spin
        self.log.append((self.wall(), seconds, self.counted.begun, self.counted.statements))
        self.wall.now += timedelta(seconds=seconds)
        self.mono.now += seconds
        if self.until() or len(self.log) > 10_000:  # a spinning loop ends here, and fails below
            self.worker.stop()


@pytest.mark.parametrize("poll_seconds", [1.0, 50.0])
def test_an_idle_worker_polls_at_its_idle_rate_while_another_owner_holds_the_leases(engine, poll_seconds):
    """Rows of a crashed instance are leased, not claimable: the idle worker looks at the queue once
    per poll, not without pause, and takes the rows over the moment the lease ends."""
    lease = 120.0
    wall, mono = Clock(datetime(2026, 1, 1, tzinfo=UTC)), Clock(0.0)
    targets = Deliveries()
    with Transactions(engine) as counted:
        # The idle rate, measured: a worker with an empty queue over ten polls.
        idle = SimulatedWaits(wall, mono, counted, until=lambda: len(idle.log) == 10)
        idle.worker = Worker(Outbox(engine, owner="w1", lease_seconds=lease, clock=wall), targets,
                             poll_seconds=poll_seconds, clock=wall, monotonic=mono, wait=idle)
        idle.worker._loop("jira")
        assert [seconds for _, seconds, _, _ in idle.log] == [poll_seconds] * 10
        per_poll = [(b2 - b1, s2 - s1) for (_, _, b1, s1), (_, _, b2, s2) in zip(idle.log, idle.log[1:], strict=False)]
        assert len(set(per_poll)) == 1
        begun_per_poll, statements_per_poll = per_poll[0]
        assert begun_per_poll == 1  # the look at when the next row is claimable: no claim (a write) while none is

        with make_session_factory(engine, write=True)() as session, session.begin():
            enqueue(session, "User", ["u1", "u2", "u3"], ["jira"], wall())
        crashed = Outbox(engine, owner="crashed", lease_seconds=lease, clock=wall)
        assert len(crashed.claim("jira", 4)) == 3  # ... and then the instance died
        lease_ends = wall() + timedelta(seconds=lease)

        waits = SimulatedWaits(wall, mono, counted, until=lambda: len(targets.delivered) == 3)
        waits.worker = Worker(Outbox(engine, owner="w1", lease_seconds=lease, clock=wall), targets,
                              poll_seconds=poll_seconds, clock=wall, monotonic=mono, wait=waits)
        started_begun, started_statements = counted.begun, counted.statements
        waits.worker._loop("jira")

    during = [entry for entry in waits.log if entry[0] < lease_ends]
    polls = math.ceil(lease / poll_seconds)
    assert len(during) == polls  # one look per poll for the whole lease, never a spin
    assert sum(seconds for _, seconds, _, _ in during) == lease  # the last wait ends as the lease does
    # Counted at each wait over the lease: the claim the loop starts with and a look, then exactly the
    # idle rate, poll after poll.
    counted_at = [(begun - started_begun, statements - started_statements) for _, _, begun, statements in during]
    first_begun, first_statements = counted_at[0]
    assert counted_at == [(first_begun + begun_per_poll * k, first_statements + statements_per_poll * k)
                          for k in range(polls)]
    assert sorted(targets.delivered) == ["u1", "u2", "u3"]  # taken over once the lease ended ...
    # ... by the first claim after it: the worker stops at the first wait with all three delivered.
    assert len(waits.log) == polls + 1 and waits.log[-1][0] == lease_ends
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(OutboxRow)) == 0  # and settled by w1


def test_a_local_write_wakes_the_idle_wait_at_once(engine):
    """With a poll of an hour, only ``notify()`` can make the worker deliver a new row in time."""
    targets = Deliveries()
    worker = Worker(Outbox(engine, owner="w1"), targets, poll_seconds=3600)
    worker.start()
    try:
        with make_session_factory(engine, write=True)() as session, session.begin():
            enqueue(session, "User", ["u1"], ["jira"], utcnow())
        worker.notify()
        assert targets.arrived.wait(60), "the worker slept through notify()"
        assert targets.delivered == ["u1"]
    finally:
        worker.stop()


class FailsFirst(Deliveries):
    """A target that fails each resource's first delivery (a 503), then takes it."""

    def deliver(self, claim, heartbeat):
        super().deliver(claim, heartbeat)
        return DONE if self.delivered.count(claim.resource_id) > 1 else Outcome(Settle.RETRY, "503")


def test_a_writes_rows_are_delivered_at_once_without_waiting_for_a_poll(engine):
    """With a poll of an hour and no ``notify()``, the rows a write hands over are delivered, and the
    writer hears of their first attempt from the worker."""
    targets = Deliveries()
    worker = Worker(Outbox(engine, owner="w1"), targets, poll_seconds=3600)
    worker.start()
    try:
        with make_session_factory(engine, write=True)() as session, session.begin():
            enqueue(session, "User", ["u1", "u2"], ["jira"], utcnow())
        dispatch = worker.deliver_now([("User", "u1"), ("User", "u2")])
        assert dispatch.wait(60), "the handed-over rows were not delivered"
        assert sorted(targets.delivered) == ["u1", "u2"]
        with engine.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(OutboxRow)) == 0
    finally:
        worker.stop()


def test_a_handed_over_row_that_must_be_retried_goes_back_to_the_loop(engine):
    targets = FailsFirst()
    worker = Worker(Outbox(engine, owner="w1"), targets, poll_seconds=3600,
                    backoff=Backoff(0.01, 0.01, rand=lambda: 1.0))
    worker.start()
    try:
        with make_session_factory(engine, write=True)() as session, session.begin():
            enqueue(session, "User", ["u1"], ["jira"], utcnow())
        assert worker.deliver_now([("User", "u1")]).wait(60)  # the first attempt (it failed) is what a write waits for
        for _ in range(600):
            if targets.delivered.count("u1") == 2:
                break
            targets.arrived.clear()
            targets.arrived.wait(0.1)
        assert targets.delivered == ["u1", "u1"]  # retried by the loop, woken for it
    finally:
        worker.stop()


def test_rows_a_write_cannot_take_are_left_to_the_loop_and_to_the_database_to_tell(engine):
    targets = Deliveries()
    with make_session_factory(engine, write=True)() as session, session.begin():
        enqueue(session, "User", ["u1"], ["jira"], utcnow())
    assert Outbox(engine, owner="elsewhere").claim("jira", 1)  # another instance is delivering it
    worker = Worker(Outbox(engine, owner="w1"), targets, poll_seconds=3600)
    try:
        dispatch = worker.deliver_now([("User", "u1")])
        assert not dispatch.wait(0)  # complete only the database can tell
        assert targets.delivered == []
    finally:
        worker.stop()


class ChangedDuringFirst(Deliveries):
    """A target whose first delivery of each resource sees a newer change arrive meanwhile (the
    resource's row moves to its next generation, as a SCIM write or a group created for it does)."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def deliver(self, claim, heartbeat):
        if claim.resource_id not in self.delivered:
            with make_session_factory(self.engine, write=True)() as session, session.begin():
                enqueue(session, claim.resource_type, [claim.resource_id], [claim.target], utcnow())
        return super().deliver(claim, heartbeat)


def test_a_handed_over_row_changed_during_its_attempt_is_not_reported_delivered(engine):
    """The write waiting for its rows must not hear "delivered" while its row is queued again: the
    attempt carried an older state. The database tells when the next attempt has run."""
    targets = ChangedDuringFirst(engine)
    worker = Worker(Outbox(engine, owner="w1"), targets, poll_seconds=3600)
    worker.start()
    try:
        with make_session_factory(engine, write=True)() as session, session.begin():
            enqueue(session, "User", ["u1"], ["jira"], utcnow())
        outbox = Outbox(engine, owner="reader")
        assert not worker.deliver_now([("User", "u1")]).wait(60)  # settled, and not complete
        for _ in range(600):
            if not outbox.unattempted([("User", "u1")]):
                break
            targets.arrived.clear()
            targets.arrived.wait(0.1)
        assert targets.delivered == ["u1", "u1"]  # delivered again by the loop, woken for it
        with engine.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(OutboxRow)) == 0
    finally:
        worker.stop()
