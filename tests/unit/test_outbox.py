"""Outbox semantics on SQLite and PostgreSQL: one row per (resource, target), coalescing, leases,
generations, parking."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import OutboxRow
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.outbox import Outbox
from tests.support.plans import StatementLog, full_scans


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self):
        return self.now


def _enqueue(engine, ids, targets=("jira",), clock=None):
    with make_session_factory(engine, write=True)() as session, session.begin():
        enqueue(session, "User", ids, targets, (clock or Clock())())


def _rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(OutboxRow.resource_id, OutboxRow.target, OutboxRow.state, OutboxRow.generation,
                                      OutboxRow.attempts).order_by(OutboxRow.resource_id, OutboxRow.target)).all()


def test_changes_coalesce_into_one_row_per_resource_and_target(engine):
    for _ in range(5):
        _enqueue(engine, ["u1", "u2"], ("jira", "confluence"))
    rows = _rows(engine)
    assert [(r.resource_id, r.target, r.generation) for r in rows] == [
        ("u1", "confluence", 5), ("u1", "jira", 5), ("u2", "confluence", 5), ("u2", "jira", 5)]


def test_claim_takes_due_rows_of_one_target_once(engine):
    clock = Clock()
    _enqueue(engine, ["a", "b", "c"], ("jira", "bitbucket"), clock)
    first, second = Outbox(engine, owner="one", clock=clock), Outbox(engine, owner="two", clock=clock)
    claimed = first.claim("jira", 2)
    assert [c.resource_id for c in claimed] == ["a", "b"]
    assert [c.resource_id for c in second.claim("jira", 5)] == ["c"]
    assert second.claim("jira", 5) == []  # leased
    assert len(second.claim("bitbucket", 5)) == 3


def test_an_expired_lease_makes_a_row_claimable_again(engine):
    clock = Clock()
    _enqueue(engine, ["a"], clock=clock)
    dead = Outbox(engine, owner="dead", lease_seconds=60, clock=clock)
    assert dead.claim("jira", 1)
    alive = Outbox(engine, owner="alive", lease_seconds=60, clock=clock)
    assert alive.claim("jira", 1) == []
    clock.now += timedelta(seconds=61)
    assert [c.resource_id for c in alive.claim("jira", 1)] == ["a"]


def test_a_claim_says_whether_an_earlier_claim_of_its_row_never_settled(engine):
    """What lets a delivery know that calls of a dead worker's attempt may have landed unrecorded."""
    clock = Clock()
    _enqueue(engine, ["a", "b"], clock=clock)
    dead = Outbox(engine, owner="dead", lease_seconds=60, clock=clock)
    a, b = dead.claim("jira", 2)
    assert not a.taken_over and not b.taken_over
    dead.retry(b, "503", 0)  # settled: its lease is given back
    clock.now += timedelta(seconds=61)
    alive = Outbox(engine, owner="alive", lease_seconds=60, clock=clock)
    assert [(c.resource_id, c.taken_over) for c in alive.claim("jira", 2)] == [("a", True), ("b", False)]
    clock.now += timedelta(seconds=61)
    claims, _ = Outbox(engine, owner="third", clock=clock).claim_keys([("User", "a"), ("User", "b")], {"jira": 5})
    assert sorted((c.resource_id, c.taken_over) for c in claims) == [("a", True), ("b", True)]


def test_done_keeps_the_row_when_a_newer_change_arrived_during_delivery(engine):
    clock = Clock()
    _enqueue(engine, ["a", "b"], clock=clock)
    outbox = Outbox(engine, owner="w", clock=clock)
    a, b = outbox.claim("jira", 2)
    _enqueue(engine, ["a"], clock=clock)  # a SCIM change while "a" is being delivered
    outbox.done(a)
    outbox.done(b)
    assert [(r.resource_id, r.state, r.generation) for r in _rows(engine)] == [("a", "pending", 2)]
    assert [c.resource_id for c in outbox.claim("jira", 5)] == ["a"]  # released, due again


def test_retry_reschedules_and_park_sets_aside_until_a_new_change(engine):
    clock = Clock()
    _enqueue(engine, ["a", "b"], clock=clock)
    outbox = Outbox(engine, owner="w", clock=clock)
    a, b = outbox.claim("jira", 2)
    outbox.retry(a, "503 from jira", delay=30)
    outbox.park(b, "licence limit")
    assert outbox.claim("jira", 5) == []
    assert outbox.unattempted([("User", "a"), ("User", "b")]) == 0
    clock.now += timedelta(seconds=31)
    assert [c.resource_id for c in outbox.claim("jira", 5)] == ["a"]
    _enqueue(engine, ["b"], clock=clock)  # the IdP changed the user: try the new state
    assert [c.resource_id for c in outbox.claim("jira", 5)] == ["b"]


def test_operator_retry_requeues_parked_rows(engine):
    clock = Clock()
    _enqueue(engine, ["a"], ("jira", "bitbucket"), clock)
    outbox = Outbox(engine, owner="w", clock=clock)
    for target in ("jira", "bitbucket"):
        outbox.park(outbox.claim(target, 1)[0], "refused")
    assert outbox.requeue_parked("jira") == 1
    assert [r.state for r in _rows(engine)] == ["parked", "pending"]
    assert outbox.requeue_parked() == 1


def test_a_long_delivery_keeps_its_claim_by_renewing_and_a_lost_one_cannot_be_renewed(engine):
    clock = Clock()
    _enqueue(engine, ["a"], clock=clock)
    first = Outbox(engine, owner="first", lease_seconds=60, clock=clock)
    second = Outbox(engine, owner="second", lease_seconds=60, clock=clock)
    (claim,) = first.claim("jira", 1)
    for _ in range(3):  # three minutes of work, renewed as it goes
        clock.now += timedelta(seconds=40)
        assert first.renew(claim)
        assert second.claim("jira", 1) == []
    clock.now += timedelta(seconds=61)  # then it hangs past its lease
    (taken,) = second.claim("jira", 1)
    assert not first.renew(claim)


def test_a_worker_that_lost_its_claim_settles_nothing_of_the_new_owners(engine):
    clock = Clock()
    _enqueue(engine, ["a"], clock=clock)
    first = Outbox(engine, owner="first", lease_seconds=60, clock=clock)
    second = Outbox(engine, owner="second", lease_seconds=60, clock=clock)
    (old,) = first.claim("jira", 1)
    clock.now += timedelta(seconds=61)
    (new,) = second.claim("jira", 1)
    first.done(old)
    first.retry(old, "late", delay=1)
    first.park(old, "late")
    with engine.connect() as conn:
        row = conn.execute(sa.select(OutboxRow.claimed_by, OutboxRow.state, OutboxRow.attempts)).one()
    assert tuple(row) == ("second", "pending", 0)  # untouched: still the second worker's
    third = Outbox(engine, owner="third", lease_seconds=60, clock=clock)
    assert third.claim("jira", 1) == []
    second.done(new)
    assert _rows(engine) == []


def test_the_last_target_to_finish_purges_a_deleted_users_tombstone_whatever_the_order(engine):
    from scim_bridge.store.models import Link, User

    clock = Clock()
    with make_session_factory(engine, write=True)() as session, session.begin():
        session.add(User(id="gone", user_name="gone", user_name_lower=None, resource={"userName": "gone"},
                         version=2, created=clock(), last_modified=clock(), deleted_at=clock()))
    _enqueue(engine, ["gone"], ("jira", "confluence"), clock)
    jira, confluence = Outbox(engine, owner="j", clock=clock), Outbox(engine, owner="c", clock=clock)
    (j,), (c,) = jira.claim("jira", 1), confluence.claim("confluence", 1)
    # Both deliveries finish deprovisioning (their links go) before either settles its row.
    with engine.begin() as conn:
        conn.execute(sa.delete(Link))
    jira.done(j)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(User)) == 1  # confluence still pending
    confluence.done(c)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_the_workers_queue_queries_seek_indexes_with_a_large_backlog(engine):
    """30,000 rows waiting out their backoff on three targets, four under a lease: the claim and the
    look at when the next row is claimable (made by every idle worker at every poll) seek an index
    instead of reading the queue."""
    clock = Clock()
    rows = [{"resource_type": "User", "resource_id": f"u{i}", "target": target, "state": "pending",
             "due_at": clock() + timedelta(seconds=60 + i % 300), "attempts": 3, "generation": 1,
             "created": clock()} for target in ("jira", "confluence", "bitbucket") for i in range(10_000)]
    with engine.begin() as conn:
        conn.execute(sa.insert(OutboxRow), rows)
        conn.execute(sa.update(OutboxRow).where(OutboxRow.target == "jira", OutboxRow.resource_id.in_(
            ["u1", "u2", "u3", "u4"])).values(claimed_by="other", lease_until=clock() + timedelta(seconds=100)))
        conn.exec_driver_sql("ANALYZE")
    outbox = Outbox(engine, owner="w1", clock=clock)
    with StatementLog(engine) as log:
        assert outbox.claim("jira", 4) == []
        assert outbox.next_claimable("jira") == clock() + timedelta(seconds=60)
    plans = log.plans()
    assert len(plans) == 3
    for statement, plan in plans:
        assert not full_scans(plan, engine.dialect.name, ("outbox",)), f"full scan in\n{statement}\n{plan}"
        assert "ix_outbox_claim" in plan or "ix_outbox_lease" in plan, plan


def test_the_next_claimable_time_is_the_later_of_due_and_lease_end(engine):
    clock = Clock()
    outbox = Outbox(engine, owner="w1", lease_seconds=120, clock=clock)
    assert outbox.next_claimable("jira") is None
    _enqueue(engine, ["a", "b"], clock=clock)
    assert outbox.next_claimable("jira") == clock()  # due now, no lease
    assert len(Outbox(engine, owner="other", lease_seconds=120, clock=clock).claim("jira", 2)) == 2
    assert outbox.next_claimable("jira") == clock() + timedelta(seconds=120)  # due, but leased: its end
    with make_session_factory(engine, write=True)() as session, session.begin():
        session.execute(sa.update(OutboxRow).where(OutboxRow.resource_id == "b")
                        .values(due_at=clock() + timedelta(seconds=300)))  # e.g. retried later
    assert outbox.next_claimable("jira") == clock() + timedelta(seconds=120)  # "a": its lease ends first
    clock.now += timedelta(seconds=120)
    claimed = outbox.claim("jira", 2)
    assert [c.resource_id for c in claimed] == ["a"]  # claimable the moment its lease ends
    outbox.done(claimed[0])
    assert outbox.next_claimable("jira") == clock() + timedelta(seconds=180)  # "b": its own due time


def test_while_seats_are_short_the_rows_of_leavers_are_claimed_first_and_say_so(engine):
    # docs/architecture.md, "Licence seats": deprovisioning before provisioning.
    from scim_bridge.store.models import User

    clock = Clock()
    with make_session_factory(engine, write=True)() as session, session.begin():
        for uid, active, deleted in (("join1", True, None), ("leave", False, None), ("join2", True, None),
                                     ("gone", True, clock())):
            session.add(User(id=uid, user_name=uid, user_name_lower=uid if not deleted else None, active=active,
                             resource={"userName": uid}, version=1, created=clock(), last_modified=clock(),
                             deleted_at=deleted))
    _enqueue(engine, ["join1", "leave", "join2", "gone"], ("jira",), clock)
    outbox = Outbox(engine, owner="w", clock=clock)

    claimed = outbox.claim("jira", 3, deprovisions_first=True)

    assert [(c.resource_id, c.deprovisions) for c in claimed] == [("gone", True), ("leave", True),
                                                                  ("join1", False)]
    assert [(c.resource_id, c.deprovisions) for c in outbox.claim("jira", 3)] == [("join2", False)]


def test_a_writes_own_rows_are_claimed_by_key_on_every_target_at_once(engine):
    clock = Clock()
    _enqueue(engine, ["a", "b", "c"], ("jira", "bitbucket"), clock)
    outbox, other = Outbox(engine, owner="w", clock=clock), Outbox(engine, owner="other", clock=clock)
    assert [c.resource_id for c in other.claim("bitbucket", 1)] == ["a"]  # in flight elsewhere
    claims, left = outbox.claim_keys([("User", "a"), ("User", "b")], {"jira": 5, "bitbucket": 5})
    assert sorted((c.resource_id, c.target) for c in claims) == [("a", "jira"), ("b", "bitbucket"), ("b", "jira")]
    assert left == {"bitbucket"}  # "a" there is not attempted yet, and not this worker's to deliver
    assert other.claim("jira", 5)[0].resource_id == "c"  # what was claimed by key is leased like any claim
    assert outbox.claim_keys([("User", "a"), ("User", "b")], {"jira": 5}) == ([], {"jira"})


def test_a_claim_by_key_takes_no_more_than_the_room_given_per_target_and_leaves_the_rest(engine):
    clock = Clock()
    _enqueue(engine, ["a", "b", "c"], ("jira", "bitbucket"), clock)
    outbox = Outbox(engine, owner="w", clock=clock)
    keys = [("User", k) for k in "abc"]
    claims, left = outbox.claim_keys(keys, {"jira": 2})  # bitbucket not named: its loop takes its rows
    assert [c.resource_id for c in claims] == ["a", "b"] and {c.target for c in claims} == {"jira"}
    assert left == {"jira"}
    outbox.park(claims[0], "refused")
    outbox.retry(claims[1], "503", delay=30)
    claims, left = outbox.claim_keys(keys, {"jira": 5})
    assert [c.resource_id for c in claims] == ["c"]
    assert left == set()  # parked, or attempted and not due: nothing of the write waits for a first attempt
