"""Large stores written straight through the models (not through SCIM), for the tests that need a big
directory: index use at scale (``tests/e2e/test_scale_indexes.py``) and the databases' query plans
(``tests/unit/test_query_plans.py``).

User ``i`` is ``user{i:06d}@example.com`` with that work address and ``externalId`` ``ext-{i}``;
group ``g`` is ``Group {g}`` with ``externalId`` ``g-{g}``. Ids are made from the numbers, so a test
can name a user or group without reading the store back; names and ids are the benchmarks' own
(``bench/dataset.py``), so a figure there and a test here speak of the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.dataset import group_id, user_id, user_name
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import Base, Group, GroupMember, User, UserEmail

__all__ = ["START", "bulk_engine", "group_id", "home_email", "load", "user_id", "user_name"]

START = datetime(2024, 1, 1, tzinfo=UTC)


def home_email(i: int) -> str:
    return f"home{i}@example.org"


@contextmanager
def bulk_engine(request, tmp_path_factory) -> Iterator[sa.Engine]:
    """An engine on an empty schema of the bridge's tables, on the database ``request.param`` names
    (``sqlite`` or ``postgresql``), for a module-scoped fixture parametrized over both."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bulk') / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    try:
        yield engine
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()


def load(engine: sa.Engine, *, users: int, groups: int, memberships: Iterable[tuple[int, int]],
         home_emails: bool = False) -> None:
    """``users`` users created a second apart, ``groups`` groups, ``memberships`` as (group, user)
    numbers; with ``home_emails`` every other user also has a home address. Then ANALYZE, so that
    both databases plan from statistics."""
    user_rows, email_rows = [], []
    for i in range(users):
        name, stamp = user_name(i), START + timedelta(seconds=i)
        resource = {"userName": name, "externalId": f"ext-{i}", "displayName": f"User {i}",
                    "emails": [{"value": name, "type": "work", "primary": True}]}
        user_rows.append({"id": user_id(i), "user_name": name, "user_name_lower": name, "external_id": f"ext-{i}",
                          "display_name": f"User {i}", "display_name_lower": f"user {i}", "primary_email_lower": name,
                          "active": True, "resource": resource, "version": 1, "created": stamp,
                          "last_modified": stamp})
        email_rows.append({"user_id": user_id(i), "value_lower": name, "type": "work", "primary": True})
        if home_emails and i % 2 == 0:
            email_rows.append({"user_id": user_id(i), "value_lower": home_email(i), "type": "home", "primary": False})
    group_rows = [{"id": group_id(g), "display_name": f"Group {g}", "display_name_lower": f"group {g}",
                   "external_id": f"g-{g}", "resource": {"displayName": f"Group {g}"}, "version": 1,
                   "created": START, "last_modified": START} for g in range(groups)]
    member_rows = [{"group_id": group_id(g), "user_id": user_id(i)} for g, i in memberships]
    with engine.begin() as conn:
        for model, rows in ((User, user_rows), (UserEmail, email_rows), (Group, group_rows),
                            (GroupMember, member_rows)):
            if rows:
                conn.execute(sa.insert(model), rows)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
