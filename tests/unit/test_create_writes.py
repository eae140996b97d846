"""A create is written whole or not at all: the resource's row, its email rows and its audit entry
commit together, alone or in a batch, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from scim_bridge.scim.schemas import USER
from scim_bridge.store.models import AuditEntry, User, UserEmail
from scim_bridge.store.repository import Repository


def _user(name: str) -> dict:
    return {"userName": name, "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
            "active": True}


def _stored(engine: sa.Engine) -> tuple[list, list, list]:
    with engine.connect() as conn:
        return (conn.execute(sa.select(User.user_name).order_by(User.user_name)).scalars().all(),
                conn.execute(sa.select(UserEmail.value_lower).order_by(UserEmail.value_lower)).scalars().all(),
                conn.execute(sa.select(AuditEntry.resource_id).order_by(AuditEntry.id)).scalars().all())


def test_a_create_whose_audit_entry_fails_leaves_no_row(engine):
    """The audit entry is the last row written (an entry without its actor is refused by the
    table): the user's row and email rows written before it must not stay."""
    repo = Repository(engine)
    with pytest.raises(sa.exc.IntegrityError) as refused:
        repo.create(USER, _user("ann"), None)
    assert _stored(engine) == ([], [], [])
    assert f"INSERT INTO {AuditEntry.__tablename__}" in refused.value.statement  # the error names it


def test_a_list_of_creates_whose_audit_entries_fail_leaves_no_row(engine):
    repo = Repository(engine)
    with pytest.raises(sa.exc.IntegrityError):
        repo.create_many(USER, [_user("ann"), _user("bob")], None)
    assert _stored(engine) == ([], [], [])


def test_created_rows_hold_what_a_create_answered(engine):
    """The rows read back as the create answered them: the user, its emails and its audit entry."""
    repo = Repository(engine)
    one = repo.create(USER, _user("Ann"), "idp")
    many = repo.create_many(USER, [_user("bob"), _user("cy")], "idp")
    assert _stored(engine) == (["Ann", "bob", "cy"], ["ann@example.com", "bob@example.com", "cy@example.com"],
                               [one.id, *(r.id for r in many)])
    got = repo.get(USER, one.id)
    assert (got.attributes, got.version, got.created, got.groups) == (one.attributes, 1, one.created, [])
    with engine.connect() as conn:
        entry = conn.execute(sa.select(AuditEntry).where(AuditEntry.resource_id == one.id)).one()
        user = conn.execute(sa.select(User).where(User.id == one.id)).one()
    assert (entry.actor, entry.action, entry.before, entry.after) == ("idp", "create", None, one.attributes)
    assert (user.user_name_lower, user.primary_email_lower, user.active) == ("ann", "ann@example.com", True)


def test_a_list_of_creates_meeting_taken_names_refuses_those_alone_naming_the_holder(engine):
    """Names are not looked up before the INSERTs: a name taken by a stored user, or by an earlier
    create of the same list, still refuses that create alone (409 naming the holder), and the others
    are created."""
    repo = Repository(engine)
    held = repo.create(USER, _user("ann"), "idp")
    results = repo.create_many(USER, [_user("bob"), _user("ANN"), _user("cy"), _user("Bob")], "idp")
    bob, ann, cy, bob_again = results
    assert ann.status == 409 and held.id in ann.detail
    assert bob_again.status == 409 and bob.id in bob_again.detail
    assert _stored(engine)[0] == ["ann", "bob", "cy"]
    assert sorted(_stored(engine)[2]) == sorted([held.id, bob.id, cy.id])
