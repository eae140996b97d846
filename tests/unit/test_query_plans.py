"""The lookups identity providers send run on indexes: the databases' own query plans, read back.

20,000 users (with 30,000 email rows), 5,000 groups and 20,000 memberships are enough for PostgreSQL's planner to
prefer an index over a sequential scan once ANALYZE has run; the 100,000-user proof is a benchmark.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from scim_bridge.scim.filter import parse_filter
from scim_bridge.scim.schemas import GROUP, USER
from scim_bridge.store.models import Group, User
from scim_bridge.store.query import order_clause, where_clause
from tests.support.bulk_store import bulk_engine, load, user_id

USERS = 20_000
GROUPS = 5_000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(request, tmp_path_factory):
    with bulk_engine(request, tmp_path_factory) as engine:
        load(engine, users=USERS, groups=GROUPS, memberships=((i % GROUPS, i) for i in range(USERS)), home_emails=True)
        yield engine


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
    ('userName eq "USER000123@example.com"', USER, ["users"], [("users", "user_name_lower")]),
    ('externalId eq "ext-123"', USER, ["users"], [("users", "external_id")]),
    ('emails[type eq "work"].value eq "user000123@example.com"', USER, ["users", "user_emails"],
     [("user_emails", "value_lower"), ("users", "id")]),
    ('emails.value eq "home124@example.org"', USER, ["users", "user_emails"],
     [("user_emails", "value_lower"), ("users", "id")]),
    (f'id eq "{user_id(123)}"', USER, ["users"], [("users", "id")]),
    ('displayName eq "Group 12"', GROUP, ["groups"], [("groups", "display_name_lower")]),
    ('externalId eq "g-12"', GROUP, ["groups"], [("groups", "external_id")]),
    (f'members.value eq "{user_id(123)}"', GROUP, ["groups", "group_members"],
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
