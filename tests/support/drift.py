"""A provisioned estate at scale, and drift made on it behind the bridge's back, for reconciliation's
test and benchmark (``tests/e2e/test_reconcile_scale.py``, ``bench/reconcile.py``).

``seed_in_line`` writes users, groups and memberships straight into the store (as the scale tests
load it), the same accounts, groups and memberships into the fakes, and the link rows a delivery
would have left: every target in line with the store, without delivering thousands of rows first.
``inject_drift`` then edits the fakes as an administrator would by hand and returns exactly what a
reconciliation must find: per target, the operations planned (by SCIM user id) and the unmanaged
accounts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from scim_bridge.rules.groups import desired_group
from scim_bridge.rules.model import AppliedUser, GroupSnapshot, UserSnapshot
from scim_bridge.rules.operations import AddMember, SetActive, UpdateUser
from scim_bridge.rules.users import desired_user
from scim_bridge.store.models import Group, GroupMember, Link, User, UserEmail

# Products whose user listing carries the e-mail address, so an address changed by hand is seen
# there: no Confluence user object has one (docs/products.md §3.3).
REPORTS_EMAIL = frozenset({"jira", "bitbucket", "crowd"})


def user_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


def group_id(g: int) -> str:
    return str(uuid.UUID(int=10**9 + g))


@dataclass
class Seeded:
    users: list[UserSnapshot]
    groups: list[GroupSnapshot]


@dataclass
class Expected:
    """What a reconciliation of one target must find: ``planned`` (SCIM user id, operation described)
    and ``unmanaged`` account names."""

    planned: set[tuple[str, str]] = field(default_factory=set)
    unmanaged: set[str] = field(default_factory=set)
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _groups_of(i: int, groups: int) -> list[int]:
    return sorted({i % groups, (i * 7 + 3) % groups})


def seed_in_line(engine: sa.Engine, sync, fakes: dict, *, users: int, groups: int) -> Seeded:
    """``fakes``: target name -> the fake product behind it. Returns the snapshots written."""
    now = datetime.now(UTC)
    stamps = {"version": 1, "created": now, "last_modified": now}
    group_rows = [{"id": group_id(g), "display_name": f"Team {g:03d}", "display_name_lower": f"team {g:03d}",
                   "external_id": f"g-{g}", "resource": {"displayName": f"Team {g:03d}"}, **stamps}
                  for g in range(groups)]
    user_rows, emails, members, snapshots = [], [], [], []
    for i in range(users):
        name = f"user{i:05d}@example.com"
        user_rows.append({"id": user_id(i), "user_name": name, "user_name_lower": name, "external_id": f"ext-{i}",
                          "display_name": f"User {i}", "display_name_lower": f"user {i}",
                          "primary_email_lower": name, "active": True,
                          "resource": {"userName": name, "externalId": f"ext-{i}", "displayName": f"User {i}",
                                       "emails": [{"value": name, "type": "work", "primary": True}]},
                          **stamps})
        emails.append({"user_id": user_id(i), "value_lower": name, "type": "work", "primary": True})
        mine = _groups_of(i, groups)
        members += [{"group_id": group_id(g), "user_id": user_id(i)} for g in mine]
        snapshots.append(UserSnapshot(id=user_id(i), user_name=name, display_name=f"User {i}", email=name,
                                      active=True, deleted=False,
                                      groups=tuple(f"Team {g:03d}" for g in mine)))
    group_snapshots = [GroupSnapshot(id=group_id(g), display_name=f"Team {g:03d}", deleted=False)
                       for g in range(groups)]
    links = []
    for target_name, fake in fakes.items():
        rules = sync.targets[target_name].rules
        for group in group_snapshots:
            desired = desired_group(group, rules)
            fake.add_group(desired.name)
            links.append(_link("Group", group.id, target_name, desired.name, {"name": desired.name}, None))
        for snapshot in snapshots:
            desired = desired_user(snapshot, rules)
            account = fake.add_user(desired.name, desired.display_name, desired.email, groups=sorted(desired.groups))
            applied = AppliedUser(desired.name, account.key, desired.display_name, desired.email, True,
                                  desired.groups).link_state()
            links.append(_link("User", snapshot.id, target_name, desired.name, applied, account.key))
    with engine.begin() as conn:
        conn.execute(sa.insert(User), user_rows)
        conn.execute(sa.insert(UserEmail), emails)
        conn.execute(sa.insert(Group), group_rows)
        conn.execute(sa.insert(GroupMember), members)
        conn.execute(sa.insert(Link), links)
    return Seeded(snapshots, group_snapshots)


def _link(kind: str, resource_id: str, target: str, name: str, applied: dict, key: str | None) -> dict:
    now = datetime.now(UTC)
    return {"resource_type": kind, "resource_id": resource_id, "target": target, "remote_name": name,
            "remote_name_lower": name.lower(), "applied_name_lower": name.lower(), "remote_key": key,
            "applied": applied, "status": "ok", "created": now, "updated": now}


def inject_drift(sync, fakes: dict, seeded: Seeded, *, per_kind: int) -> dict[str, Expected]:
    """Per target, ``per_kind`` of each: a membership of a SCIM group removed, an e-mail address
    changed (where the product reports it), an account deactivated (where the product can), and an
    account no identity provider user maps to. Distinct users for each kind and target."""
    expected: dict[str, Expected] = {}
    for t, (target_name, fake) in enumerate(fakes.items()):
        target = sync.targets[target_name]
        rules = target.rules
        can_deactivate = target.client.capabilities().can_deactivate
        out = expected[target_name] = Expected()
        picks = _distinct(seeded.users, start=t * 997, rules=rules)

        def pick(picks=picks):
            return next(picks)

        for _ in range(per_kind):
            snapshot, desired = pick()
            group = sorted(desired.pushed_groups)[0]
            fake.remove_member(group, desired.name)
            out.planned.add((snapshot.id, AddMember(desired.name, group=group).describe()))
            out.kinds["membership missing"] += 1
        if target_name in REPORTS_EMAIL:
            for _ in range(per_kind):
                snapshot, desired = pick()
                _edit(fake, desired.name, email=f"changed.{desired.name}@elsewhere.example")
                out.planned.add((snapshot.id, UpdateUser(desired.name, email=desired.email).describe()))
                out.kinds["profile changed (name or e-mail)"] += 1
        if can_deactivate:
            for _ in range(per_kind):
                snapshot, desired = pick()
                _edit(fake, desired.name, active=False)
                out.planned.add((snapshot.id, SetActive(desired.name, active=True).describe()))
                out.kinds["account deactivated on the target"] += 1
        licence = rules.default_groups[:1]
        for k in range(per_kind):
            name = f"stray{k:04d}"
            fake.add_user(name, f"Stray {k}", f"{name}@example.com", groups=licence)
            out.unmanaged.add(name)
        out.kinds["account not managed by the bridge"] = per_kind
    return expected


def _distinct(users: list[UserSnapshot], *, start: int, rules):
    """Users spread over the estate, each once: (snapshot, desired account)."""
    seen: set[str] = set()
    for k in range(len(users)):
        snapshot = users[(start + k * 13) % len(users)]
        if snapshot.id not in seen:
            seen.add(snapshot.id)
            yield snapshot, desired_user(snapshot, rules)
    raise AssertionError("not enough users for the drift asked for")


def _edit(fake, name: str, **fields) -> None:
    with fake.lock:
        fake.directory.update_user(fake.directory.user(name), **fields)
