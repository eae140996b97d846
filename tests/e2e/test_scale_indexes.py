"""With 100,000 users, 20,000 groups and a 50,000-member group, IdP lookups run on indexes.

The requests go through the real API; every SQL statement they issue is captured and EXPLAINed on
the same database, and the plans must show index use (no full scan of users, user_emails or
groups). A group read that excludes ``members`` must not touch group_members at all.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from scim_bridge.store.models import GroupMember
from tests.support.bridge import ScimClient, bridge_app
from tests.support.bulk_store import bulk_engine, group_id, load, user_id
from tests.support.plans import StatementLog, full_scans

USERS = 100_000
MEMBERS = 50_000
GROUPS = 20_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def big_engine(request, tmp_path_factory):
    with bulk_engine(request, tmp_path_factory) as engine:
        load(engine, users=USERS, groups=GROUPS, memberships=((0, i) for i in range(MEMBERS)))
        yield engine


def _full_scans(plan: str, dialect: str) -> list[str]:
    return full_scans(plan, dialect, ("users", "user_emails", "groups", "group_members"))


@pytest.fixture(scope="module")
def scim(big_engine):
    return ScimClient(bridge_app(big_engine))


LOOKUPS = [
    ("/Users?filter=userName%20eq%20%22USER042917@example.com%22&startIndex=1&count=100", "user042917@example.com"),
    ("/Users?filter=externalId%20eq%20%22ext-77777%22", "user077777@example.com"),
    ('/Users?filter=emails[type%20eq%20"work"].value%20eq%20"user012345@example.com"', "user012345@example.com"),
    ('/Users?filter=emails.value%20eq%20"User099999@Example.com"', "user099999@example.com"),
    (f"/Users?filter=id%20eq%20%22{user_id(6)}%22", "user000006@example.com"),
]


@pytest.mark.parametrize(("path", "expected_user"), LOOKUPS, ids=[p.split("filter=")[1][:40] for p, _ in LOOKUPS])
def test_identity_provider_user_lookups_use_indexes(scim, big_engine, path, expected_user):
    with StatementLog(big_engine) as log:
        reply = scim.get(path)
    assert reply.status == 200, reply.body
    assert [r["userName"] for r in reply.body["Resources"]] == [expected_user]
    assert reply.body["totalResults"] == 1
    for statement, plan in log.plans():
        print(f"\n{statement}\n{plan}")
        assert not _full_scans(plan, big_engine.dialect.name), f"full scan in\n{statement}\n{plan}"


def test_group_lookup_by_display_name_uses_indexes(scim, big_engine):
    with StatementLog(big_engine) as log:
        reply = scim.get('/Groups?excludedAttributes=members&filter=displayName%20eq%20"GROUP 117"')
    assert [r["displayName"] for r in reply.body["Resources"]] == ["Group 117"]
    for statement, plan in log.plans():
        print(f"\n{statement}\n{plan}")
        assert not _full_scans(plan, big_engine.dialect.name), f"full scan in\n{statement}\n{plan}"


def test_group_read_excluding_members_issues_no_membership_query(scim, big_engine):
    big = group_id(0)
    with StatementLog(big_engine) as log:
        reply = scim.get(f"/Groups/{big}?excludedAttributes=members")
    assert reply.status == 200 and "members" not in reply.body
    assert log.statements, "the read issued no query at all"
    assert not [s for s, _ in log.statements if "group_members" in s], log.statements
    with StatementLog(big_engine) as log:
        listed = scim.get('/Groups?excludedAttributes=members&filter=displayName%20eq%20"Group 0"')
    assert listed.body["Resources"][0]["id"] == big and "members" not in listed.body["Resources"][0]
    assert not [s for s, _ in log.statements if "group_members" in s], log.statements


def test_adding_one_member_to_the_big_group_touches_one_membership(scim, big_engine):
    big = group_id(0)
    newcomer = user_id(USERS - 1)  # the last user, not yet a member
    writes: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SELECT"):
            writes.append(statement)

    event.listen(big_engine, "before_cursor_execute", record)
    try:
        reply = scim.patch(f"/Groups/{big}", [{"op": "add", "path": "members", "value": [{"value": newcomer}]}])
    finally:
        event.remove(big_engine, "before_cursor_execute", record)
    assert reply.status == 204
    member_writes = [w for w in writes if "group_members" in w]
    assert len(member_writes) == 1 and member_writes[0].lstrip().upper().startswith("INSERT"), writes
    with big_engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(GroupMember).where(GroupMember.group_id == big))
    assert count == MEMBERS + 1
