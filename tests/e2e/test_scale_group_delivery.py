"""A group delivery of a 50,000-member group whose name did not change reads no membership: its
desired state is its existence and name (docs/architecture.md, decision 3). Only a rename, which
moves the members, reads them. Every SQL statement of the delivery is captured."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from scim_bridge.rules.settings import effective_rules
from scim_bridge.sync.executor import Settle, Target
from scim_bridge.sync.outbox import Claim
from scim_bridge.sync.records import DeliveryRecords
from scim_bridge.sync.service import Sync
from tests.support.bulk_store import bulk_engine, group_id, load
from tests.support.memory_client import MemoryDirectory

MEMBERS = 50_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def big_engine(request, tmp_path_factory):
    with bulk_engine(request, tmp_path_factory) as engine:
        load(engine, users=MEMBERS, groups=1, memberships=((0, i) for i in range(MEMBERS)))
        yield engine


def deliver_group(engine, applied_name: str) -> tuple[list[str], MemoryDirectory]:
    client = MemoryDirectory()
    client.seed_group("Group 0")
    DeliveryRecords(engine).record_outcome("Group", group_id(0), "jira", status="ok", applied={"name": applied_name})
    sync = Sync(engine, {"jira": Target("jira", client, effective_rules({}, {}, "jira"))})
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        outcome = sync.delivery.deliver(Claim(0, "Group", group_id(0), "jira", 1, 0))
    finally:
        event.remove(engine, "before_cursor_execute", record)
        sync.stop()
    assert outcome.kind is Settle.DONE
    return statements, client


def test_an_unchanged_group_is_confirmed_without_a_membership_query(big_engine):
    statements, client = deliver_group(big_engine, "Group 0")
    assert statements  # the delivery did read and record
    assert [s for s in statements if "group_members" in s] == []
    assert client.mutations() == [] and client.calls == [("get_group", ("Group 0",))]


def test_a_rename_reads_the_members_it_moves(big_engine):
    statements, client = deliver_group(big_engine, "Group 0 before")
    assert [s for s in statements if "group_members" in s]  # the listener sees membership queries
