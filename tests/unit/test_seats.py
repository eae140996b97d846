"""The licence-seat guard: its decisions (rules/seats.py, pure, as tables of cases), the ledger that
holds seats for deliveries in flight and releases parked ones (sync/seats.py), and the alert when
seats reach a share of the licence (alerts/)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from atlassian_clients.base import Capabilities, Seats
from scim_bridge.alerts import Alerts
from scim_bridge.alerts.events import SeatsLow, SeatWatch
from scim_bridge.config import validate_config
from scim_bridge.rules.model import Plan, TargetRules
from scim_bridge.rules.operations import (
    AddMember,
    CreateUser,
    DeleteUser,
    GrantLicence,
    RemoveMember,
    RevokeLicence,
    SetActive,
    UpdateUser,
)
from scim_bridge.rules.seats import (
    parked_for_seats,
    seat_refusal,
    seats_short,
    share_reached,
    takes_seat,
)
from scim_bridge.rules.users import leaves
from scim_bridge.sync.executor import Target
from scim_bridge.sync.seats import SeatGuard, SeatLedger

# ---- decisions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("operations, takes, frees", [
    ((CreateUser("ann", email="ann@example.com"),), True, False),
    ((CreateUser("ann"), AddMember("ann", group="jira-software-users")), True, False),
    ((SetActive("ann", active=True),), True, False),
    ((GrantLicence("ann"),), True, False),
    ((SetActive("ann", active=False),), False, True),
    ((RemoveMember("ann", group="stash-users"), RevokeLicence("ann")), False, True),
    ((DeleteUser("ann"),), False, True),
    ((UpdateUser("ann", display_name="Ann"),), False, False),
    ((AddMember("ann", group="devs"),), False, False),
    ((), False, False),
])
def test_which_plans_take_or_free_a_seat(operations, takes, frees):
    plan = Plan(operations)
    assert (takes_seat(plan), leaves(plan)) == (takes, frees)  # a leaver frees a seat


@pytest.mark.parametrize("seats, held, refusal", [
    (None, 0, None),  # unlimited, or the product does not tell
    (Seats(9, 10), 0, None),
    (Seats(10, 10), 0, "licence full (10 of 10 seats)"),
    (Seats(9, 10), 1, "licence full (10 of 10 seats)"),  # the last seat is held for a delivery in flight
    (Seats(8, 10), 1, None),
    (Seats(12, 10), 0, "licence full (12 of 10 seats)"),  # over the licence already: the product's count
    (Seats(0, 0), 0, "licence full (0 of 0 seats)"),
])
def test_a_seat_is_refused_only_when_none_is_left(seats, held, refusal):
    assert seat_refusal(seats, held) == refusal
    assert parked_for_seats(refusal) is (refusal is not None)


@pytest.mark.parametrize("seats, batch, short", [
    (None, 4, False), (Seats(9, 10), 4, True), (Seats(6, 10), 4, False), (Seats(7, 10), 4, True),
])
def test_seats_are_short_when_fewer_are_left_than_a_batch_could_take(seats, batch, short):
    assert seats_short(seats, batch) is short


@pytest.mark.parametrize("seats, share, reached", [
    (None, 0.9, False), (Seats(8, 10), 0.9, False), (Seats(9, 10), 0.9, True), (Seats(10, 10), 1.0, True),
    (Seats(0, 0), 0.9, False),
])
def test_the_share_of_seats_in_use(seats, share, reached):
    assert share_reached(seats, share) is reached


# ---- the ledger -------------------------------------------------------------------------------------


class Client:
    """A product that tells its seats; ``reads`` counts the times it was asked."""

    def __init__(self, seats: Seats | None, can_read: bool = True):
        self.now, self.can_read, self.reads = seats, can_read, 0

    def capabilities(self):
        return Capabilities(can_read_seats=self.can_read)

    def seats(self):
        self.reads += 1
        return self.now


class Records:
    def __init__(self, parked: int = 0):
        self.saved, self.parked, self.released = [], parked, []

    def save_seats(self, target, seats):
        self.saved.append((target, seats))

    def parked_for_seats(self, target):
        return self.parked

    def release_parked_for_seats(self, target, limit=None):
        # As the store does: rows released before and not delivered yet count against the limit.
        count = self.parked if limit is None else max(min(limit - sum(self.released), self.parked), 0)
        self.parked -= count
        self.released.append(count)
        return count


@dataclass
class Tick:
    now: float = 0.0

    def __call__(self):
        return self.now


def ledger(seats, *, parked=0, dry_run=False, refresh=60.0):
    client, records, tick, heard = Client(seats), Records(parked), Tick(), []
    target = Target("jira", client, TargetRules(product="jira", dry_run=dry_run))
    return SeatLedger(target, records, refresh_seconds=refresh, monotonic=tick,
                      on_read=lambda t, s: heard.append((t, s))), client, records, tick, heard


def test_deliveries_in_flight_hold_seats_so_no_more_are_sent_than_are_left():
    seats, client, records, _, heard = ledger(Seats(8, 10))
    assert seats.take() is None and seats.take() is None
    assert seats.take() == "licence full (10 of 10 seats)"
    assert client.reads == 2  # read once, and again before refusing: never refused on an old count
    assert records.saved == [("jira", Seats(8, 10))] * 2 and heard == records.saved
    seats.give_back(taken=True)
    seats.give_back(taken=True)
    assert seats.short(1)  # 10 of 10 counted without reading
    assert client.reads == 2


def test_a_freed_seat_releases_as_many_parked_rows_as_seats_are_free():
    seats, client, records, _, _ = ledger(Seats(10, 10), parked=5)
    assert seats.take() is not None
    assert seats.freed() == 1 and records.released == [1]
    assert seats.freed() == 1 and records.parked == 3  # 2 seats free: one for the row released before


def test_a_failed_delivery_gives_its_seat_back_and_the_count_is_read_again():
    seats, client, _, _, _ = ledger(Seats(9, 10))
    assert seats.take() is None
    seats.give_back(taken=False)
    assert seats.take() is None and client.reads == 2


def test_the_periodic_read_releases_parked_rows_once_the_licence_grows():
    seats, client, records, tick, _ = ledger(Seats(10, 10), parked=3)
    seats.seats()
    assert seats.tick() == 0 and client.reads == 1  # read less than refresh_seconds ago
    client.now = Seats(10, 12)
    tick.now = 60
    assert seats.tick() == 2 and records.parked == 1 and client.reads == 2


def test_no_guard_on_a_dry_run_or_a_product_that_does_not_tell():
    assert not ledger(Seats(10, 10), dry_run=True)[0].applies()
    quiet = Target("confluence", Client(None, can_read=False), TargetRules(product="confluence"))
    guard = SeatGuard({"confluence": quiet}, Records())
    assert guard.ledger("confluence") is None and guard.short("confluence", 4) is False
    assert guard.tick("confluence") == 0


# ---- the alert --------------------------------------------------------------------------------------


def test_seats_reaching_the_share_are_told_once_until_they_drop_below_it():
    watch = SeatWatch(0.9)
    assert watch.read("jira", Seats(8, 10)) == []
    assert watch.read("jira", Seats(9, 10)) == [SeatsLow("jira", 9, 10, 0.9)]
    assert watch.read("jira", Seats(10, 10)) == []
    assert watch.read("jira", Seats(7, 10)) == []
    assert watch.read("jira", Seats(9, 10)) == [SeatsLow("jira", 9, 10, 0.9)]
    assert watch.read("jira", None) == []


class Recorder:
    name = "recorder"

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)


@dataclass(frozen=True)
class Claim:
    target: str
    resource_type: str = "User"
    resource_id: str = "u1"


def test_seats_low_and_creates_parked_for_seats_are_one_message():
    from scim_bridge.sync.executor import Outcome, Settle

    sender = Recorder()
    alerts = Alerts([sender], batch_seconds=30, clock=lambda: 0.0, seats_share=0.9)
    alerts.seats("jira", Seats(10, 10, "jira-software"))
    alerts(Claim("jira", resource_id="u7"), Outcome(Settle.PARK, "licence full (10 of 10 seats)"))
    message = alerts.pump(force=True)
    assert message.details["seats"] == [{"target": "jira", "used": 10, "total": 10, "share": 0.9}]
    assert message.details["parked_for_seats"] == {"jira": 1}
    assert "jira licence 10 of 10 seats" in message.subject and "1 parked for licence seats on jira" in message.subject
    assert "licence full (10 of 10 seats)" in message.text


def test_the_share_is_a_setting():
    assert validate_config({"alerts": {"seats_share": 0.8}}).alerts.seats_share == 0.8
    assert validate_config({}).alerts.seats_share == 0.9
    assert validate_config({}).delivery.seats_refresh_seconds == 60.0


def test_a_product_out_of_reach_is_not_asked_again_by_the_worker_until_a_while_later():
    class Down(Client):
        def seats(self):
            self.reads += 1
            raise ConnectionError("down")

    client, tick = Down(None), Tick()
    guard = SeatGuard({"jira": Target("jira", client, TargetRules(product="jira"))}, Records(parked=1),
                      monotonic=tick, refresh_seconds=0)
    assert guard.short("jira", 4) is False and guard.tick("jira") == 0
    assert client.reads == 1  # the tick rested after the failed read
    tick.now = 5
    assert guard.tick("jira") == 0 and client.reads == 2


def test_a_product_that_will_not_tell_its_seats_is_not_guarded_and_one_out_of_reach_is_retried():
    from atlassian_clients.base import PermissionDenied, Unavailable

    class Refusing(Client):
        def __init__(self, error):
            super().__init__(None)
            self.error = error

        def seats(self):
            raise self.error

    denied = SeatLedger(Target("bitbucket", Refusing(PermissionDenied("bitbucket", "no ADMIN")),
                               TargetRules(product="bitbucket")), Records())
    assert denied.take() is None
    down = SeatLedger(Target("bitbucket", Refusing(Unavailable("bitbucket", "down")),
                             TargetRules(product="bitbucket")), Records())
    with pytest.raises(Unavailable):
        down.take()
