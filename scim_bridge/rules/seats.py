"""The licence-seat guard's decisions, pure (docs/architecture.md, "Licence seats").

A Data Center product over its user licence limit stops working for everyone, and Jira or
Bitbucket answer a change that would pass it with a refusal (docs/products.md §1.11). Where the
product tells its seat count (``Capabilities.can_read_seats``), delivery asks these functions first:

* ``takes_seat(plan)`` — the plan licenses an account that holds no seat now: a create, an
  activation, a licence grant;
* a plan frees a seat when the account leaves (``rules/users.py`` ``leaves``: deactivated, deleted
  or unlicensed);
* ``seat_refusal(seats, held)`` — with ``held`` seats promised to deliveries in flight, whether one
  more seat is left; if not, the message the row is parked with, ``licence full (10 of 10 seats)``;
* ``seats_short(seats, batch)`` — fewer seats left than a batch of deliveries could take: the worker
  then delivers deprovisioning rows before the rest.
"""

from __future__ import annotations

from atlassian_clients.base import Seats
from scim_bridge.rules.model import Plan
from scim_bridge.rules.operations import CreateUser, GrantLicence, SetActive

# Every message of a delivery parked for seats starts so; the rows so parked are released when a
# seat frees up (sync/seats.py).
SEATS_FULL = "licence full"


def takes_seat(plan: Plan) -> bool:
    return any(isinstance(op, (CreateUser, GrantLicence)) or (isinstance(op, SetActive) and op.active)
               for op in plan.operations)


def seat_refusal(seats: Seats | None, held: int = 0) -> str | None:
    """Why one more account may not take a seat (None: it may). ``seats`` None: no limit."""
    if seats is None:
        return None
    if seats.used + held < seats.total:
        return None
    # Seats held for deliveries in flight may already be counted by the product: the count shown is
    # the product's, or the whole licence when held seats fill it.
    return f"{SEATS_FULL} ({max(seats.used, seats.total)} of {seats.total} seats)"


def seats_short(seats: Seats | None, batch: int) -> bool:
    return seats is not None and seats.remaining < batch


def share_reached(seats: Seats | None, share: float) -> bool:
    """The seats in use have reached ``share`` of the licence (``alerts.seats_share``)."""
    return seats is not None and seats.total > 0 and seats.used >= share * seats.total


def parked_for_seats(message: str | None) -> bool:
    return bool(message) and message.startswith(SEATS_FULL)
