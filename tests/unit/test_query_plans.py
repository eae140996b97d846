"""The lookups identity providers send run on indexes: the databases' own query plans, read back.

20,000 users (with 30,000 email rows), 5,000 groups and 20,000 memberships are enough for PostgreSQL's planner to
prefer an index over a sequential scan once ANALYZE has run; the 100,000-user proof is a benchmark.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scim_bridge.scim.filter import parse_filter
from scim_bridge.scim.schemas import GROUP, USER
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import Base, Group, GroupMember, User, UserEmail
from scim_bridge.store.query import order_clause, where_clause

USERS = 20_000
GROUPS = 5_000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    users = [{
        "id": f"00000000-0000-4000-8000-{i:012d}", "user_name": f"User{i}@Example.com",
        "user_name_lower": f"user{i}@example.com", "external_id": f"ext{i}", "display_name": f"User {i}",
        "display_name_lower": f"user {i}", "primary_email_lower": f"user{i}@example.com", "active": True,
        "resource": {"userName": f"User{i}@Example.com", "emails": [{"value": f"user{i}@example.com"}]},
        "version": 1, "created": start + timedelta(seconds=i), "last_modified": start + timedelta(seconds=i),
    } for i in range(USERS)]
    emails = [{"user_id": u["id"], "value_lower": u["primary_email_lower"], "type": "work", "primary": True}
              for u in users]
    emails += [{"user_id": u["id"], "value_lower": f"home{i}@example.org", "type": "home", "primary": False}
               for i, u in enumerate(users) if i % 2 == 0]
    groups = [{"id": f"00000000-0000-4000-9000-{i:012d}", "display_name": f"Group {i}",
               "display_name_lower": f"group {i}", "external_id": f"gext{i}", "resource": {"displayName": f"Group {i}"},
               "version": 1, "created": start, "last_modified": start} for i in range(GROUPS)]
    members = [{"group_id": groups[i % GROUPS]["id"], "user_id": u["id"]} for i, u in enumerate(users)]
    with engine.begin() as conn:
        for model, rows in ((User, users), (UserEmail, emails), (Group, groups), (GroupMember, members)):
            conn.execute(sa.insert(model), rows)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # both databases plan from statistics
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


def plan(engine, rtype, text: str) -> str:
    """The plan of the query the repository runs for a listing with this filter."""
    model = User if rtype is USER else Group
    query = (sa.select(model).where(model.deleted_at.is_(None), where_clause(parse_filter(text, rtype), rtype))
             .order_by(*order_clause(None, False, rtype)).limit(100))
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


# (filter, resource type, tables that must not be scanned, the indexed columns looked up)
LOOKUPS = [
    ('userName eq "USER123@example.com"', USER, ["users"], [("users", "user_name_lower")]),
    ('externalId eq "ext123"', USER, ["users"], [("users", "external_id")]),
    ('emails[type eq "work"].value eq "user123@example.com"', USER, ["users", "user_emails"],
     [("user_emails", "value_lower"), ("users", "id")]),
    ('emails.value eq "home124@example.org"', USER, ["users", "user_emails"],
     [("user_emails", "value_lower"), ("users", "id")]),
    ('id eq "00000000-0000-4000-8000-000000000123"', USER, ["users"], [("users", "id")]),
    ('displayName eq "Group 12"', GROUP, ["groups"], [("groups", "display_name_lower")]),
    ('externalId eq "gext12"', GROUP, ["groups"], [("groups", "external_id")]),
    ('members.value eq "00000000-0000-4000-8000-000000000123"', GROUP, ["groups", "group_members"],
     [("group_members", "user_id"), ("groups", "id")]),
]


@pytest.mark.parametrize(("text", "rtype", "not_scanned", "looked_up"), LOOKUPS, ids=[c[0] for c in LOOKUPS])
def test_identity_provider_lookups_use_indexes(filled, text, rtype, not_scanned, looked_up):
    shown = plan(filled, rtype, text)
    sqlite = filled.dialect.name == "sqlite"
    for table in not_scanned:
        scan = rf"\bSCAN {table}\b" if sqlite else rf"Seq Scan on {table}\b"
        assert not re.search(scan, shown), f"{table} is scanned:\n{shown}"
    for table, column in looked_up:
        if sqlite:
            used = rf"SEARCH {table} USING (COVERING )?INDEX \S+ \({column}=\?"
        else:
            used = rf"Index Cond: \(+(\w+\.)?{column}\)?(::text)? = "
        assert re.search(used, shown), f"no index lookup of {table}.{column}:\n{shown}"
