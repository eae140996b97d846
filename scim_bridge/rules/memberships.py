"""A user's group memberships on one target: which to add, which to take away (docs/architecture.md,
decision 3).

Two kinds of membership follow different settings. ``default_groups`` are licence plumbing: an
active account is put in them and an account that the bridge deactivates leaves them, whatever
``groups.sync_members`` says. The memberships of pushed SCIM groups follow ``groups.sync_members``
and, for removals, ``groups.keep_unmanaged``. Group names compare case-insensitively, as every
product compares them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scim_bridge.rules.model import DesiredUser, TargetRules
from scim_bridge.rules.names import name_key
from scim_bridge.rules.operations import AddMember, CreateGroup, Operation, RemoveMember


@dataclass(frozen=True)
class MembershipPlan:
    operations: tuple[Operation, ...]  # creates of default groups, then adds (default groups first), then removes
    notes: tuple[str, ...]
    after: frozenset[str]  # the desired groups the account is in once the operations have run
    awaiting: tuple[Operation, ...] = ()  # adds to missing groups a SCIM group's own delivery creates


def _keyed(names: Iterable[str]) -> dict[str, str]:
    return {name_key(n): n for n in sorted(names)}


def plan_memberships(
    desired: DesiredUser,
    name: str,
    current: frozenset[str],
    *,
    groups_known: bool,
    active: bool,
    strip_defaults: bool,
    managed: frozenset[str],
    existing_groups: frozenset[str],
    rules: TargetRules,
) -> MembershipPlan:
    """``name`` is the account's name; ``current`` its groups (``groups_known`` False: only what the
    bridge applied last). ``active``: the account is to be an active account, so it gets the default
    groups; ``strip_defaults``: the bridge deactivates it, so it leaves them."""
    defaults = _keyed(rules.default_groups)
    have = _keyed(current)
    wanted = _keyed(desired.groups)
    adds: dict[str, str] = dict(defaults) if active else {}
    removes: dict[str, str] = {}
    if strip_defaults:
        # Not knowing the account's groups, take every default group away: removal is idempotent and
        # a licence group left behind would keep the account licensed.
        removes = {k: have.get(k, g) for k, g in defaults.items() if k in have or not groups_known}
    if rules.groups.sync_members:
        managed_keys = _keyed(managed)
        adds.update({k: g for k, g in wanted.items() if k not in defaults})
        for k, g in have.items():
            if k in wanted or k in defaults:
                continue
            if rules.groups.keep_unmanaged and k not in managed_keys:
                continue
            removes[k] = g
    adds = {k: g for k, g in adds.items() if k not in have}

    creates, add_ops, notes, awaiting = [], [], [], []
    existing = _keyed(existing_groups)
    pushed = _keyed(desired.pushed_groups)
    # The default (licence) groups first: an account is licensed before an add to a group that turns
    # out to be missing (its 404) stops the run and the user waits for that group.
    for k, group in sorted(adds.items(), key=lambda item: (item[0] not in defaults, item[0])):
        if k not in existing:
            if not rules.groups.create:
                notes.append(f"{name} is not added to {group}: no such group on the target and groups.create is off")
                continue
            if k in pushed:
                # Only a SCIM group's own delivery creates it (it knows when it was there before
                # and brings its members back): the user waits for it (docs/architecture.md).
                awaiting.append(AddMember(name, group=group))
                continue
            creates.append(CreateGroup(group))  # a default group no SCIM group stands behind
        add_ops.append(AddMember(name, group=group))
    remove_ops = [RemoveMember(name, group=g) for _, g in sorted(removes.items())]

    after_keys = (set(have) | {name_key(op.group) for op in add_ops}) - set(removes)
    after = frozenset(g for k, g in wanted.items() if k in after_keys)
    return MembershipPlan(tuple(creates + add_ops + remove_ops), tuple(notes), after, tuple(awaiting))
