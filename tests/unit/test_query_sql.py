"""Filters and sortBy translated to SQL: the same rows on SQLite and PostgreSQL, the same as in Python.

Rows are written straight through the models; each filter's expected ids are checked against the
database and against ``scim.filter.matches`` on the resources as the API renders them, so the two
evaluators cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from scim_bridge.errors import InvalidFilter
from scim_bridge.scim.filter import parse_filter
from scim_bridge.scim.matching import matches
from scim_bridge.scim.schemas import ENTERPRISE_USER, GROUP, USER
from scim_bridge.store.models import Group, GroupMember, User, UserEmail
from scim_bridge.store.query import order_clause, where_clause


def at(month: int) -> datetime:
    return datetime(2024, month, 1, tzinfo=UTC)


USERS = {
    "u1": ({
        "userName": "Alice@Example.com", "externalId": "ext-A", "displayName": "Alice Liddell", "active": True,
        "name": {"givenName": "Alice", "familyName": "Liddell"}, "title": "Engineer",
        "emails": [{"value": "alice@example.com", "type": "work", "primary": True},
                   {"value": "alice@home.org", "type": "home"}],
        "phoneNumbers": [{"value": "555-0100", "type": "work"}],
        ENTERPRISE_USER: {"employeeNumber": "701984", "department": "R&D", "manager": {"value": "u3"}},
    }, at(3), 1),
    "u2": ({
        "userName": "bob", "externalId": "Ext-A", "displayName": "Bob", "active": False,
        "name": {"familyName": "Employee"},
        "emails": [{"value": "Bob@Work.example.com", "type": "work", "display": "Bob at work"},
                   {"value": "aaron@example.org", "type": "home"}],
        "phoneNumbers": [{"value": "555-0300", "type": "home"}, {"value": "555-0050", "type": "work", "primary": True}],
    }, at(1), 3),
    "u3": ({"userName": "c_rol%50", "active": True}, at(2), 1),
    "u4": ({"userName": "cxrolx50", "active": True, "title": "Émile"}, at(4), 2),
}
TOMBSTONED_USER = ("u5", {"userName": "alice-old", "externalId": "ext-A", "active": True})
GROUPS = {
    "g1": ({"displayName": "Engineering", "externalId": "G-1"}, ["u1", "u2"], at(1)),
    "g2": ({"displayName": "Sales"}, ["u2"], at(2)),
    "g4": ({"displayName": "Empty"}, [], at(3)),
}
TOMBSTONED_GROUP = ("g3", {"displayName": "Old"}, ["u1"])

USER_FILTERS = [
    ('userName eq "alice@example.com"', {"u1"}),
    ('userName eq "ALICE@EXAMPLE.COM"', {"u1"}),
    ('UserName Eq "Bob"', {"u2"}),
    ('userName sw "c_r"', {"u3"}),
    ('userName co "%5"', {"u3"}),
    ('userName ew "X50"', {"u4"}),
    ('userName gt "c"', {"u3", "u4"}),
    ('userName le "bob"', {"u1", "u2"}),
    ("userName eq null", set()),
    ('externalId eq "ext-A"', {"u1"}),
    ('externalId eq "EXT-A"', set()),
    ('externalId eq "Ext-A"', {"u2"}),
    ("externalId eq Ext-A", {"u2"}),
    ('externalId co "xt-"', {"u1", "u2"}),
    ('externalId co "XT"', set()),
    ('externalId sw "Ext"', {"u2"}),
    ('externalId ew "-A"', {"u1", "u2"}),
    ('externalId ew "-a"', set()),
    ('externalId ew "longer than any ext-A"', set()),
    ('externalId gt "ext"', {"u1"}),
    ("externalId pr", {"u1", "u2"}),
    ("not (externalId pr)", {"u3", "u4"}),
    ('displayName eq "alice liddell"', {"u1"}),
    ('displayName co "O"', {"u2"}),
    ("active eq true", {"u1", "u3", "u4"}),
    ("active eq false", {"u2"}),
    ("active ne true", {"u2"}),
    ('id eq "u1"', {"u1"}),
    ('id eq "U1"', set()),
    ('meta.created gt "2024-01-15T00:00:00Z"', {"u1", "u3", "u4"}),
    ('meta.created ge "2024-02-01T01:00:00+01:00"', {"u1", "u3", "u4"}),
    ('meta.created lt "2024-02-01T00:00:00Z"', {"u2"}),
    ('meta.lastModified le "2024-02-01"', {"u2", "u3"}),
    ("meta.created gt 2015-10-10T14:38:21.8617979-07:00", {"u1", "u2", "u3", "u4"}),
    ('meta.version eq "W/\\"3\\""', {"u2"}),
    ('meta.resourceType eq "User"', {"u1", "u2", "u3", "u4"}),
    ("meta pr", {"u1", "u2", "u3", "u4"}),
    ('emails.value eq "ALICE@example.com"', {"u1"}),
    ('emails eq "bob@work.example.com"', {"u2"}),
    ('emails[type eq "work"].value eq "bob@work.example.com"', {"u2"}),
    ('emails[type eq "work"].value eq "aaron@example.org"', set()),
    ('emails[type eq "WORK" and value ew "example.com"]', {"u1", "u2"}),
    ('emails[type eq "home" and value ew "example.com"]', set()),
    ("emails[primary eq true]", {"u1"}),
    ("emails[not (primary eq true)]", {"u1", "u2"}),
    ('emails[type eq "work" and not (primary eq true)]', {"u2"}),
    ("emails pr", {"u1", "u2"}),
    ("not (emails pr)", {"u3", "u4"}),
    ("emails[display pr]", {"u2"}),
    ('emails.display co "WORK"', {"u2"}),
    ('emails[type eq "work" and display co "bob"]', {"u2"}),
    ('emails.type ne "work"', {"u1", "u2"}),
    ('emails.value gt "b"', {"u2"}),
    ('phoneNumbers[type eq "work" and value sw "555"]', {"u1", "u2"}),
    ('phoneNumbers[type eq "home" and primary eq true]', set()),
    ('phoneNumbers.value co "0100"', {"u1"}),
    ("phoneNumbers[primary eq true]", {"u2"}),
    ('name.givenName eq "ALICE"', {"u1"}),
    ("name.familyName eq Employee", {"u2"}),
    ("name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)", {"u2"}),
    ("name pr", {"u1", "u2"}),
    ("name[givenName pr]", {"u1"}),
    ('name[familyName sw "e" and not (givenName pr)]', {"u2"}),
    ('manager eq "u3"', {"u1"}),
    (f'{ENTERPRISE_USER}:manager.value eq "u3"', {"u1"}),
    ("employeeNumber eq 701984", {"u1"}),
    ('department eq "r&d"', {"u1"}),
    (f"{ENTERPRISE_USER}:manager pr", {"u1"}),
    ('id eq "u1" and manager eq "u3"', {"u1"}),
    ("title pr", {"u1", "u4"}),
    ("title eq null", {"u2", "u3"}),
    ('title co "mile"', {"u4"}),
    ('title ne "Engineer"', {"u4"}),
    ('not (title eq "Engineer")', {"u2", "u3", "u4"}),
    ('title gt "A"', {"u1", "u4"}),
    ('title gt "f"', {"u4"}),
    ('groups.value eq "g1"', {"u1", "u2"}),
    ('groups eq "g2"', {"u2"}),
    ('groups eq "G2"', set()),
    ('groups[display eq "SALES"]', {"u2"}),
    ('groups.display eq "old"', set()),
    ("groups pr", {"u1", "u2"}),
    ('groups.type eq "direct"', {"u1", "u2"}),
    ('userName eq "cxrolx50" or (active eq false and emails[type eq "home"])', {"u2", "u4"}),
    ('not (userName sw "c" or emails pr)', set()),
    ('userName sw "c" and not (title pr) or groups[display eq "sales"]', {"u2", "u3"}),
]

GROUP_FILTERS = [
    ('displayName eq "engineering"', {"g1"}),
    ('displayName eq "old"', set()),
    ('displayName sw "S"', {"g2"}),
    ('externalId eq "G-1"', {"g1"}),
    ('externalId eq "g-1"', set()),
    ('members.value eq "u2"', {"g1", "g2"}),
    ('members[value eq "u1"]', {"g1"}),
    ('members[value eq "U1"]', set()),
    ('members eq "u1"', {"g1"}),
    ('members.display eq "BOB"', {"g1", "g2"}),
    ('members[display sw "alice" or value eq "u9"]', {"g1"}),
    ('members.type eq "User"', {"g1", "g2"}),
    ("members pr", {"g1", "g2"}),
    ("not (members pr)", {"g4"}),
    ('id eq "g2" and members[value eq "u2"]', {"g2"}),
    ('meta.created ge "2024-02-01T00:00:00Z"', {"g2", "g4"}),
]


def _fill(engine) -> tuple[dict, dict]:
    """Store the fixtures; return the users and groups as the API renders them."""
    uid, attrs = TOMBSTONED_USER
    users = [User(**_user_columns(uid, attrs, at(1), 1), deleted_at=at(5))]
    users[0].user_name_lower = None
    users += [User(**_user_columns(uid, *row)) for uid, row in USERS.items()]
    emails = [UserEmail(user_id=uid, value_lower=e["value"].lower(), type=e.get("type"), primary=bool(e.get("primary")))
              for uid, (attrs, _c, _v) in USERS.items() for e in attrs.get("emails", [])]
    gid, attrs, members = TOMBSTONED_GROUP
    groups = [Group(id=gid, display_name=attrs["displayName"], display_name_lower=None, resource=attrs,
                    created=at(1), last_modified=at(1), version=1, deleted_at=at(5))]
    memberships = [GroupMember(group_id=gid, user_id=u) for u in members]
    for gid, (attrs, members, created) in GROUPS.items():
        groups.append(Group(id=gid, display_name=attrs["displayName"], display_name_lower=attrs["displayName"].lower(),
                            external_id=attrs.get("externalId"), resource=attrs, created=created,
                            last_modified=created, version=1))
        memberships += [GroupMember(group_id=gid, user_id=u) for u in members]
    with Session(engine) as session:
        for rows in (users, emails, groups, memberships):  # parents first: no ORM relationships order them
            session.add_all(rows)
            session.flush()
        session.commit()

    names = {gid: attrs["displayName"] for gid, (attrs, _m, _c) in GROUPS.items()}
    users = {uid: {**attrs, "id": uid, "meta": _meta("User", created, version), "groups": [
        {"value": g, "display": names[g], "type": "direct"} for g, (_a, members, _c) in GROUPS.items() if uid in members
    ]} for uid, (attrs, created, version) in USERS.items()}
    groups = {gid: {**attrs, "id": gid, "meta": _meta("Group", created, 1), "members": [
        {"value": u, "display": USERS[u][0]["userName"], "type": "User"} for u in members
    ]} for gid, (attrs, members, created) in GROUPS.items()}
    return users, groups


def _user_columns(uid: str, attrs: dict, created: datetime, version: int) -> dict:
    emails = attrs.get("emails", [])
    primary = next((e["value"] for e in emails if e.get("primary")), emails[0]["value"] if emails else None)
    return dict(id=uid, user_name=attrs["userName"], user_name_lower=attrs["userName"].lower(),
                external_id=attrs.get("externalId"), display_name=attrs.get("displayName"),
                display_name_lower=(attrs.get("displayName") or "").lower() or None,
                primary_email_lower=primary.lower() if primary else None, active=attrs["active"], resource=attrs,
                version=version, created=created, last_modified=created)


def _meta(resource_type: str, created: datetime, version: int) -> dict:
    stamp = created.isoformat().replace("+00:00", "Z")
    return {"resourceType": resource_type, "created": stamp, "lastModified": stamp, "version": f'W/"{version}"'}


@pytest.fixture
def stored(engine):
    users, groups = _fill(engine)
    return engine, users, groups


def _sql_ids(engine, model, rtype, text: str) -> set[str]:
    with Session(engine) as session:
        query = sa.select(model.id).where(model.deleted_at.is_(None), where_clause(parse_filter(text, rtype), rtype))
        return set(session.scalars(query))


@pytest.mark.parametrize(("rtype", "model", "cases"), [(USER, User, USER_FILTERS), (GROUP, Group, GROUP_FILTERS)],
                         ids=["users", "groups"])
def test_filters_select_the_same_rows_in_sql_and_python(stored, rtype, model, cases):
    engine, users, groups = stored
    rendered = users if rtype is USER else groups
    wrong = []
    for text, expected in cases:
        in_sql = _sql_ids(engine, model, rtype, text)
        in_python = {rid for rid, doc in rendered.items() if matches(parse_filter(text, rtype), doc, rtype)}
        if in_sql != expected or in_python != expected:
            wrong.append(f"{text}: expected {sorted(expected)}, SQL {sorted(in_sql)}, Python {sorted(in_python)}")
    assert wrong == []


def test_non_ascii_letters_compare_case_insensitively(stored):
    engine, users, _groups = stored
    # SQLite's built-in lower() folds ASCII only; store/database.py registers a Unicode one.
    for text in ('title eq "Émile"', 'title eq "éMILE"', 'title co "ÉMI"', 'title sw "é"'):
        assert _sql_ids(engine, User, USER, text) == {"u4"}, text
        assert {u for u, doc in users.items() if matches(parse_filter(text, USER), doc, USER)} == {"u4"}, text


@pytest.mark.parametrize(("text", "detail"), [
    ("members.$ref pr", '"members.$ref" cannot be used in a filter: filter on members.value instead.'),
    ('meta.location eq "https://x/Groups/g1"', '"meta.location" cannot be used in a filter: filter on id instead.'),
])
def test_attributes_the_store_cannot_compare_are_refused(text, detail):
    with pytest.raises(InvalidFilter) as caught:
        where_clause(parse_filter(text, GROUP), GROUP)
    assert caught.value.detail == detail


SORTS = [
    (None, False, ["u2", "u3", "u1", "u4"]),
    (None, True, ["u4", "u1", "u3", "u2"]),
    ("userName", False, ["u1", "u2", "u3", "u4"]),
    ("USERNAME", True, ["u4", "u3", "u2", "u1"]),
    ("title", False, ["u1", "u4", "u2", "u3"]),
    ("title", True, ["u3", "u2", "u4", "u1"]),
    ("emails", False, ["u1", "u2", "u3", "u4"]),
    ("emails.value", True, ["u4", "u3", "u2", "u1"]),
    ("phoneNumbers", False, ["u2", "u1", "u3", "u4"]),
    ("phoneNumbers.type", False, ["u1", "u2", "u3", "u4"]),
    ("name.familyName", False, ["u2", "u1", "u3", "u4"]),
    ("externalId", False, ["u2", "u1", "u3", "u4"]),
    ("active", False, ["u2", "u1", "u3", "u4"]),
    ("meta.created", True, ["u4", "u1", "u3", "u2"]),
    ("meta.version", False, ["u1", "u3", "u4", "u2"]),
    ("employeeNumber", False, ["u1", "u2", "u3", "u4"]),
    ("fooBar", False, ["u2", "u3", "u1", "u4"]),
    ("password", False, ["u2", "u3", "u1", "u4"]),
    ("name", False, ["u2", "u3", "u1", "u4"]),
    ("groups.display", False, ["u2", "u3", "u1", "u4"]),
]


def test_sorting(stored):
    """RFC 7644 §3.4.2.3: missing values last ascending, first descending; a multi-valued attribute by
    its primary value, else its first; unknown sortBy falls back to creation order; ties by id."""
    engine, _users, _groups = stored
    wrong = []
    with Session(engine) as session:
        for sort_by, descending, expected in SORTS:
            query = sa.select(User.id).where(User.deleted_at.is_(None)).order_by(
                *order_clause(sort_by, descending, USER))
            got = list(session.scalars(query))
            if got != expected:
                wrong.append(f"sortBy={sort_by} descending={descending}: expected {expected}, got {got}")
    assert wrong == []


def test_sorting_groups_and_paging_is_stable(stored):
    engine, _users, _groups = stored
    with Session(engine) as session:
        order = order_clause("displayName", False, GROUP)
        names = list(session.scalars(sa.select(Group.display_name).where(Group.deleted_at.is_(None)).order_by(*order)))
        pages = [list(session.scalars(sa.select(Group.id).where(Group.deleted_at.is_(None)).order_by(
            *order_clause(None, False, GROUP)).offset(i).limit(1))) for i in range(3)]
    assert names == ["Empty", "Engineering", "Sales"]
    assert pages == [["g1"], ["g2"], ["g4"]]
