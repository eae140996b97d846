"""The licence-seat guard end to end: a Jira whose licence has 10 seats, 9 of them used. The bridge
reads the seats Jira reports (``GET /applicationrole``), delivers leavers before joiners when seats
are short, parks a create that would pass the limit with the count instead of sending it, and
delivers it once a seat is free: Jira never has to refuse one (docs/architecture.md, "Licence seats").

SCIM over HTTP to the live bridge, delivery over HTTP to the fake Jira; the worker is off and each
test drains the outbox, so what is asserted never depends on how worker threads interleave.
"""

from __future__ import annotations

import json

from scim_bridge.console.accounts import Accounts
from tests.e2e.console_support import ADMIN, ConsoleClient
from tests.e2e.provisioning_support import DELIVERY, EMAIL_LOCAL_PART
from tests.support.credentials import CONSOLE_PASSWORD

SEATS = 10
LICENCE_GROUP = "jira-software-users"


def seat_limited(start, *, refresh_seconds: float = 60.0, share: float | None = None):
    sections = {"delivery": {**DELIVERY, "worker": False, "seats_refresh_seconds": refresh_seconds},
                "console": {"secure_cookies": False}}
    bridge = start(rules=EMAIL_LOCAL_PART, worker=False, products=("jira",), sections=sections)
    role = bridge.jira.application_roles["jira-software"]
    role.groups = [LICENCE_GROUP]  # the administrator holds no seat of it: every seat is a user's
    bridge.jira.set_seats("jira-software", SEATS)
    bridge.fakes.recorder.enabled = True
    return bridge


def staff(bridge, count: int) -> list[str]:
    """``count`` users provisioned through the bridge, each holding a seat."""
    ids = [bridge.idp.create_user(f"staff{n}@example.com", f"Staff {n}") for n in range(count)]
    bridge.drain()
    assert seats_used(bridge) == count
    return ids


def seats_used(bridge) -> int:
    return len(bridge.jira.role_users(bridge.jira.application_roles["jira-software"]))


def licensed(bridge, name: str) -> bool:
    account = bridge.jira.user(name)
    return account is not None and account.active and LICENCE_GROUP in bridge.jira.groups_of(name)


def refusals(bridge) -> list[tuple[str, str, int]]:
    """Every change the fake Jira refused, from its call log."""
    return [(e.method, e.url, e.status) for e in bridge.fakes.exchanges("jira")
            if e.method in ("POST", "PUT", "DELETE") and e.status >= 400]


def applied(bridge) -> list[str]:
    """What the bridge did on Jira, in order."""
    return [row.detail for row in bridge.audit(scope="jira", outcome="applied")]


def test_leavers_are_deactivated_before_joiners_take_their_seats(start):
    bridge = seat_limited(start)
    team = staff(bridge, 9)  # 9 of 10 seats

    joiners = [bridge.idp.create_user(f"joiner{n}@example.com", f"Joiner {n}") for n in range(3)]
    for leaver in team[:2]:
        bridge.idp.change_user(leaver, active=False)
    bridge.drain()

    assert all(licensed(bridge, f"joiner{n}") for n in range(3))
    assert not bridge.jira.user("staff0").active and not bridge.jira.user("staff1").active
    assert seats_used(bridge) == SEATS
    assert refusals(bridge) == [] and bridge.jira.licence_refusals == 0
    done = applied(bridge)
    first_joiner = min(done.index(f"create user joiner{n}") for n in range(3))
    assert done.index("deactivate staff0") < first_joiner and done.index("deactivate staff1") < first_joiner
    assert {row.state for row in bridge.outbox()} == set()  # everything delivered
    assert all(bridge.links("User", j)["jira"].status == "ok" for j in joiners)


def test_joiners_beyond_the_licence_are_parked_with_the_count_and_delivered_as_seats_free_up(start, tmp_path):
    bridge = seat_limited(start, refresh_seconds=0)
    team = staff(bridge, 9)

    joiners = [bridge.idp.create_user(f"joiner{n:02}@example.com", f"Joiner {n}") for n in range(11)]
    bridge.drain()

    assert seats_used(bridge) == SEATS
    assert sum(licensed(bridge, f"joiner{n:02}") for n in range(11)) == 1
    parked = [row for row in bridge.outbox() if row.state == "parked"]
    assert len(parked) == 10
    assert {row.last_error for row in parked} == {"licence full (10 of 10 seats)"}
    assert {row.resource_id for row in parked} < set(joiners)
    assert sum(bridge.jira.user(f"joiner{n:02}") is None for n in range(11)) == 10  # never sent
    assert refusals(bridge) == [] and bridge.jira.licence_refusals == 0
    link = bridge.links("User", parked[0].resource_id)["jira"]
    assert (link.status, link.error) == ("failed", "licence full (10 of 10 seats)")
    shown_in_status_and_console(bridge, tmp_path)

    # Nine leave: each deactivation frees a seat and releases a parked joiner, with no retry by hand.
    for leaver in team:
        bridge.idp.change_user(leaver, active=False)
    bridge.drain()

    assert sum(licensed(bridge, f"joiner{n:02}") for n in range(11)) == 10
    assert [row.last_error for row in bridge.outbox() if row.state == "parked"] == ["licence full (10 of 10 seats)"]
    assert seats_used(bridge) == SEATS

    # The administrator buys one more seat: the periodic read of the seats releases the last joiner.
    bridge.jira.set_seats("jira-software", SEATS + 1)
    bridge.drain()

    assert all(licensed(bridge, f"joiner{n:02}") for n in range(11))
    assert bridge.outbox() == []
    assert refusals(bridge) == [] and bridge.jira.licence_refusals == 0
    refused = [row for row in bridge.audit(scope="jira", outcome="refused")]
    assert refused and {row.detail for row in refused} <= {"licence full (10 of 10 seats)"}


def shown_in_status_and_console(bridge, tmp_path) -> None:
    """The count and the guard's decisions, as ``scim-bridge status`` and the console's Overview show them."""
    [seats] = json.loads(bridge.cli(tmp_path, "status", "--json", in_process=True))["seats"]
    assert {k: seats[k] for k in ("target", "used", "total", "unlimited", "licence", "parked_for_seats")} == \
        {"target": "jira", "used": 10, "total": 10, "unlimited": False, "licence": "jira-software",
         "parked_for_seats": 10}
    text = bridge.cli(tmp_path, "status", in_process=True)
    assert "licence seats:\n  jira\t10 of 10 seats used (jira-software), read " in text
    assert "10 create(s) parked until a seat frees up" in text
    assert text.count("parked after 1 attempt(s): licence full (10 of 10 seats)") == 10

    Accounts(bridge.engine).create(ADMIN, CONSOLE_PASSWORD)
    console = ConsoleClient(bridge.app)
    console.login()
    page = console.get("/admin/").text
    assert "Licence seats used of total" in page
    assert '<span class="tag bad">10 of 10</span>' in page
    assert "10 create(s) parked until a seat frees up" in page
