"""Delivery and its executor with an in-memory client passed in (``tests/support/memory_client.py``):
the audit of each call with its values before and after, the link's outcome, a dry run, the
failure policy at work, a bug parked after bounded attempts with its error id in ``scim-bridge
status``, and groups created only by their own delivery."""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from atlassian_clients.base import Rejected, RemoteGroup, Unavailable
from scim_bridge.rules.model import AppliedUser, Plan, TargetRules
from scim_bridge.rules.operations import AddMember, CreateGroup, SetActive, UpdateUser
from scim_bridge.store.models import AuditEntry, utcnow
from scim_bridge.sync.delivery import Delivery
from scim_bridge.sync.executor import Executor, Settle, Subject, Target
from scim_bridge.sync.outbox import Claim, Outbox
from scim_bridge.sync.records import DeliveryRecords
from scim_bridge.sync.worker import Backoff, Worker
from tests.e2e.provisioning_support import command_line
from tests.support.memory_bridge import MemoryBridge
from tests.support.memory_client import BITBUCKET_LIKE, MemoryDirectory
from tests.unit.test_worker import Clock


def _executor(engine, client, **rules):
    return Executor(DeliveryRecords(engine)), Target("jira", client, TargetRules(product="jira", **rules))


ALICE = AppliedUser("alice", "K1", "Alice", "alice@example.com", True, frozenset({"dev"}))
PLAN = Plan((UpdateUser("alice", display_name="Alice Jones"), SetActive("alice", active=False),
             AddMember("alice", group="qa")))


def _audit(engine):
    with engine.connect() as conn:
        return [(r.action, r.outcome, r.detail, r.before, r.after)
                for r in conn.execute(sa.select(AuditEntry).order_by(AuditEntry.id))]


def test_each_call_is_audited_with_the_values_before_and_after_and_the_link_settled(engine):
    client = MemoryDirectory()
    client.seed_user("alice", "Alice", "alice@example.com", groups=("dev",))
    client.seed_group("qa")
    executor, target = _executor(engine, client)
    run = executor.run(target, Subject("User", "u1"), PLAN, ALICE)
    assert run.ran and run.outcome is None
    assert [c[0] for c in client.mutations()] == ["update_user", "set_active", "add_member"]
    assert _audit(engine) == [
        ("update_user", "applied", "update user alice",
         {"name": "alice", "display_name": "Alice"}, {"name": "alice", "display_name": "Alice Jones"}),
        ("set_active", "applied", "deactivate alice", {"name": "alice", "active": True},
         {"name": "alice", "active": False}),
        ("add_member", "applied", "add alice to qa", {"name": "alice", "groups": ["dev"]},
         {"name": "alice", "groups": ["dev", "qa"]}),
    ]
    executor.succeeded(target, Subject("User", "u1"), run.state.link_state(), None)
    assert DeliveryRecords(engine).applied("User", "u1", "jira") == {
        "name": "alice", "key": "K1", "display_name": "Alice Jones", "email": "alice@example.com", "active": False,
        "groups": ["dev", "qa"]}


def test_a_dry_run_records_the_plan_as_planned_and_calls_nothing(engine):
    client = MemoryDirectory()
    client.forbid_mutations = True
    executor, target = _executor(engine, client, dry_run=True)
    run = executor.run(target, Subject("User", "u1"), PLAN, ALICE)
    assert not run.ran and client.calls == []
    assert [(a, o, d) for a, o, d, _, _ in _audit(engine)] == [
        ("update_user", "planned", "update user alice"), ("set_active", "planned", "deactivate alice"),
        ("add_member", "planned", "add alice to qa")]
    assert _audit(engine)[1][3:] == ({"name": "alice", "active": True}, {"name": "alice", "active": False})
    link = DeliveryRecords(engine)
    assert link.applied("User", "u1", "jira") is None  # nothing applied, nothing recorded as applied


@pytest.mark.parametrize(("failure", "settle", "audit_outcome", "status"), [
    (Rejected("jira", "refused", status=400, product_message="no"), Settle.PARK, "refused", "failed"),
    (Unavailable("jira", "down", status=503), Settle.RETRY, "failed", "failed"),
    (KeyError("x"), Settle.RETRY, "failed", "failed"),  # a bug, first attempt
])
def test_a_failed_call_keeps_what_did_happen_and_settles_by_the_policy(engine, failure, settle, audit_outcome,
                                                                        status):
    client = MemoryDirectory()
    client.seed_user("alice", "Alice", "alice@example.com", groups=("dev",))
    client.fail("set_active", failure)
    executor, target = _executor(engine, client)
    run = executor.run(target, Subject("User", "u1"), PLAN, ALICE)
    assert run.outcome.kind is settle
    assert client.count("add_member") == 0  # the plan stops at the failure
    records = DeliveryRecords(engine)
    assert records.applied("User", "u1", "jira")["display_name"] == "Alice Jones"  # the update did happen
    assert _audit(engine)[-1][:2] == ("deliver", audit_outcome)
    assert "deactivate alice" in _audit(engine)[-1][2]


class Collected(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_a_delivery_that_hits_a_bug_is_parked_after_the_bounded_attempts_and_status_names_its_error_id(
        bridges, tmp_path):
    bridge = bridges()
    bridge.client.fail("create_user", KeyError("alice@example.com"))
    alice = bridge.create_user("alice")
    handler = Collected()
    logger = logging.getLogger("scim_bridge.delivery")  # the bridge's own logger (it does not propagate)
    logger.addHandler(handler)
    try:
        bridge.settle()
    finally:
        logger.removeHandler(handler)
    [row] = bridge.outbox()
    assert (row.state, row.attempts) == ("parked", 5)  # delivery.max_defect_attempts
    assert bridge.client.count("create_user") == 5
    logged = [record.getMessage() for record in handler.records]
    lines = [line for line in logged if "defect" in line]
    assert len(lines) == 5 and all("KeyError" in line and "memory_client.py:" in line for line in lines)
    error_id = re.search(r"error id (\w+)", lines[-1]).group(1)
    assert error_id in row.last_error
    config = {**bridge.config, "database": {"url": bridge.engine.url.render_as_string(hide_password=False)}}
    printed = command_line(tmp_path, config, "status", in_process=True)
    # status names the user by userName (the SCIM id is in ``status --json``).
    assert f"jira\tUser alice\tparked after 5 attempt(s): internal error (KeyError), error id {error_id}" in printed
    assert "alice@example.com" not in printed and all("alice@example.com" not in line for line in logged)
    parked = json.loads(command_line(tmp_path, config, "status", "--json", in_process=True))["parked"]
    assert [(p["id"], p["name"]) for p in parked] == [(alice, "alice")]


def test_a_user_delivery_waits_for_its_groups_own_delivery_and_never_creates_it(bridges):
    bridge = bridges()
    alice = bridge.create_user("alice")
    bridge.settle()
    team = bridge.create_group("Dev Team", alice)
    # Deliver the user alone first: the group does not exist yet on the target.
    claim = Claim(0, "User", alice, "jira", 1, 0)
    outcome = bridge.sync.delivery.deliver(claim)
    assert outcome.kind is Settle.WAIT
    # The group's existence is not read first: the add's own 404 tells it is missing (one add).
    assert bridge.client.count("create_group") == 0 and bridge.client.count("add_member", "Dev Team") == 1
    assert bridge.link("User", alice).status == "pending"
    assert {(r.resource_type, r.resource_id) for r in bridge.outbox()} >= {("Group", team)}
    bridge.settle()
    assert bridge.client.member_names("Dev Team") == {"alice"}
    assert bridge.client.count("create_group", "Dev Team") == 1
    assert bridge.outbox() == []


class StaleGroupRead(MemoryDirectory):
    """Answers one read of ``Dev Team`` from before it was deleted (a race between read and add)."""

    def __init__(self):
        super().__init__()
        self.stale = set()

    def get_group(self, name):
        if name in self.stale:
            self.stale.discard(name)
            return RemoteGroup(name)
        return super().get_group(name)


def test_an_add_refused_with_404_because_the_group_was_deleted_waits_and_the_group_comes_back(bridges):
    client = StaleGroupRead()
    bridge = bridges(client)
    alice, bob = bridge.create_user("alice"), bridge.create_user("bob")
    team = bridge.create_group("Dev Team", alice)
    bridge.settle()
    client.delete_group("Dev Team")  # by hand, on the product
    client.stale.add("Dev Team")
    bridge.add_members(team, bob)
    bridge.settle()
    assert client.count("add_member", "Dev Team", "bob") >= 2  # refused with 404 once, then made
    assert bridge.outbox() == []  # not parked
    assert bridge.audit(outcome="refused") == []
    assert client.member_names("Dev Team") == {"alice", "bob"}  # recreated with both


def test_the_executor_turns_a_404_to_a_membership_into_a_wait_for_the_group(engine):
    client = MemoryDirectory()
    client.seed_user("alice")
    executor, target = _executor(engine, client)
    run = executor.run(target, Subject("User", "u1"), Plan((AddMember("alice", group="gone"),)), AppliedUser("alice"))
    assert (run.outcome.kind, run.outcome.group) == (Settle.WAIT, "gone")
    assert DeliveryRecords(engine).applied("User", "u1", "jira") == AppliedUser("alice").link_state()


ADDS = Plan(tuple(AddMember("alice", group=g) for g in ("dev", "ops", "qa")))


def _groups_audit(engine):
    return [(a, o, d, (before or {}).get("groups"), (after or {}).get("groups"))
            for a, o, d, before, after in _audit(engine)]


def test_where_the_product_adds_several_groups_at_once_a_users_adds_are_one_call_each_audited(engine):
    client = MemoryDirectory(capabilities=BITBUCKET_LIKE)
    client.seed_user("alice")
    for group in ("dev", "ops", "qa"):
        client.seed_group(group)
    executor, target = _executor(engine, client)
    run = executor.run(target, Subject("User", "u1"), ADDS, AppliedUser("alice"))
    assert run.outcome is None
    assert client.mutations() == [("add_memberships", ("alice", ("dev", "ops", "qa")))]
    assert _groups_audit(engine) == [
        ("add_member", "applied", "add alice to dev", [], ["dev"]),
        ("add_member", "applied", "add alice to ops", ["dev"], ["dev", "ops"]),
        ("add_member", "applied", "add alice to qa", ["dev", "ops"], ["dev", "ops", "qa"]),
    ]
    assert run.state.groups == frozenset({"dev", "ops", "qa"})


def test_adds_at_once_refused_are_made_one_by_one_so_a_missing_group_is_awaited_by_name(engine):
    client = MemoryDirectory(capabilities=BITBUCKET_LIKE)
    client.seed_user("alice")
    client.seed_group("dev")
    executor, target = _executor(engine, client)
    run = executor.run(target, Subject("User", "u1"), ADDS, AppliedUser("alice"))
    assert (run.outcome.kind, run.outcome.group) == (Settle.WAIT, "ops")
    assert client.member_names("dev") == {"alice"}  # what could be made was made, and recorded
    assert DeliveryRecords(engine).applied("User", "u1", "jira")["groups"] == ["dev"]


def test_adds_at_once_meeting_an_outage_retry_without_trying_each(engine):
    client = MemoryDirectory(capabilities=BITBUCKET_LIKE)
    client.seed_user("alice")
    client.fail("add_memberships", Unavailable("jira", "down", status=503))
    executor, target = _executor(engine, client)
    run = executor.run(target, Subject("User", "u1"), ADDS, AppliedUser("alice"))
    assert run.outcome.kind is Settle.RETRY
    assert client.count("add_member") == 0


def test_concurrent_user_deliveries_create_a_default_group_once(engine):
    client = MemoryDirectory(call_delay=0.002)
    bridge = MemoryBridge(engine, client, target_rules={"default_groups": ["all-staff"]}, concurrency=8)
    try:
        for i in range(16):
            bridge.create_user(f"user{i}")
        bridge.settle()
    finally:
        bridge.stop()
    assert client.count("create_group", "all-staff") == 1
    assert len(client.member_names("all-staff")) == 16


def test_the_executor_runs_one_create_of_a_group_at_a_time(engine):
    client = MemoryDirectory(call_delay=0.005)
    executor, target = _executor(engine, client)
    plan = Plan((CreateGroup("ops"),))
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: executor.run(target, Subject("Group", f"g{i}"), plan, None), range(6)))
    assert client.count("create_group") == 1


def _row(bridge, resource_type, resource_id):
    return next(r for r in bridge.outbox() if (r.resource_type, r.resource_id) == (resource_type, resource_id))


GROUPS_NAMED_FOR_JIRA = {"groups": {"name": {"regex": "^(.*)$", "replacement": "jira-$1", "lowercase": True}}}


def test_a_user_waiting_for_a_group_whose_delivery_is_parked_parks_naming_it_and_retry_brings_both_through(
        bridges, tmp_path):
    bridge = bridges(target_rules=GROUPS_NAMED_FOR_JIRA)
    client = bridge.client
    alice = bridge.create_user("alice")
    bridge.settle()
    client.fail("create_group", Rejected("jira", "HTTP 400", status=400,
                                         product_message="group names may not start with jira-"))
    devs = bridge.create_group("Devs", alice)
    bridge.settle()  # returns once nothing is pending: the user does not wait forever
    group_row, user_row = _row(bridge, "Group", devs), _row(bridge, "User", alice)
    assert (group_row.state, user_row.state) == ("parked", "parked")
    assert "group names may not start with jira-" in group_row.last_error
    assert user_row.last_error == f"waiting for the group jira-devs, whose delivery is parked: {group_row.last_error}"
    link = bridge.link("User", alice)
    assert (link.status, link.last_error) == ("failed", user_row.last_error)
    calls = len(client.calls)
    bridge.sync.worker.drain()
    assert len(client.calls) == calls  # parked: no delivery re-reads the product meanwhile
    config = {**bridge.config, "database": {"url": bridge.engine.url.render_as_string(hide_password=False)}}
    assert f"parked after 1 attempt(s): {user_row.last_error}" in command_line(tmp_path, config, "status",
                                                                              in_process=True)

    client.fail("create_group", None)  # the administrator fixed the cause on the product
    assert command_line(tmp_path, config, "retry", in_process=True).strip() == "2 parked row(s) queued again"
    bridge.settle()
    assert bridge.outbox() == []
    assert client.count("create_group", "jira-devs") == 2  # the refused one, then the one that made it
    assert client.member_names("jira-devs") == {"alice"}
    assert bridge.link("User", alice).status == "ok"


def test_a_user_waiting_for_a_group_in_backoff_calls_nothing_until_the_groups_row_is_due_then_goes_at_once(
        bridges):
    bridge = bridges()
    client = bridge.client
    alice = bridge.create_user("alice")
    bridge.settle()
    client.fail("create_group", Unavailable("jira", "HTTP 503", status=503))
    team = bridge.create_group("Dev Team", alice)
    # The same delivery on a clock the test moves (the backoff of MemoryBridge is hundredths of a second).
    wall = Clock(utcnow())
    worker = Worker(Outbox(bridge.engine, owner="clocked", clock=wall),
                    Delivery(DeliveryRecords(bridge.engine, wall), bridge.sync.delivery.targets),
                    backoff=Backoff(2.0, 300.0, rand=lambda: 1.0), clock=wall)
    try:
        # The group's create keeps failing until its row is due minutes ahead (2 s, 4 s, ... 256 s).
        while (due := _row(bridge, "Group", team).due_at) < wall() + timedelta(minutes=4):
            wall.now = max(wall(), due)
            worker.drain()
        # The user looks again once, after the group's last attempt or when the lease of the group
        # delivery it saw in flight ends; then it is due no sooner than the group's row.
        looks = client.count("get_user", "alice")
        while (user := _row(bridge, "User", alice)).due_at < due:
            wall.now = max(wall(), user.due_at)
            worker.drain()
        assert client.count("get_user", "alice") - looks <= 1
        assert user.attempts == 0  # waiting is not a failure
        calls = len(client.calls)
        while wall() + timedelta(seconds=10) < due:
            wall.now += timedelta(seconds=10)
            assert worker.drain() == 0
        assert len(client.calls) == calls  # minutes of waiting, not one read or write on the product
        client.fail("create_group", None)
        wall.now = due
        assert worker.drain() == 2  # the group is created, and the user delivered right after it
    finally:
        worker.stop()
    assert client.member_names("Dev Team") == {"alice"}
    assert bridge.outbox() == []



def test_a_delivery_writes_its_audit_link_and_settle_in_one_transaction(bridges):
    """The worker's attempt writes once, at its end: the audit entry of each call, the link's outcome
    and the settle of its row together (docs/architecture.md, "Delivery and the worker")."""
    bridge = bridges()
    alice = bridge.create_user("alice")
    commits = []

    def committed(conn) -> None:
        commits.append(conn)

    sa.event.listen(bridge.engine, "commit", committed)
    try:
        assert bridge.sync.worker.drain() == 1
    finally:
        sa.event.remove(bridge.engine, "commit", committed)
    assert [c[0] for c in bridge.client.mutations()] == ["create_user"]
    assert [(a.action, a.outcome) for a in bridge.audit()] == [("create_user", "applied")]
    assert bridge.link("User", alice).status == "ok" and bridge.outbox() == []
    # The claim, the settle with every record of the attempt, and the claim that found nothing more.
    assert len(commits) == 3
