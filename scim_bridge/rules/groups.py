"""A SCIM group on one target: whether it exists there and under which name (docs/architecture.md,
decision 3).

Memberships are planned per user (``users.py``); a group plan only creates, deletes, and carries the
members across a rename, because no product renames groups (docs/products.md §1.10): a rename
becomes create-new, move the managed members, then delete-old where ``groups.delete`` allows.
"""

from __future__ import annotations

from scim_bridge.rules.model import DesiredGroup, GroupSnapshot, Plan, TargetRules
from scim_bridge.rules.names import is_protected, map_group_name, name_key
from scim_bridge.rules.operations import AddMember, CreateGroup, DeleteGroup, Operation, RemoveMember


def desired_group(snapshot: GroupSnapshot, rules: TargetRules) -> DesiredGroup | None:
    """The target group for a SCIM group, or ``None`` when ``groups.include`` / ``exclude`` keep it off."""
    name = map_group_name(snapshot.display_name, rules)
    return None if name is None else DesiredGroup(name=name, deleted=snapshot.deleted)


def renames(desired: DesiredGroup | None, applied_name: str | None) -> bool:
    """Whether the plan moves the group to a new name, the one case that needs its members' names."""
    # Case-only changes are no rename: every product compares group names case-insensitively.
    return (desired is not None and not desired.deleted and applied_name is not None
            and name_key(applied_name) != name_key(desired.name))


def plan_group(
    desired: DesiredGroup | None,
    applied_name: str | None,
    *,
    remote_exists: bool,
    members: tuple[str, ...],
    rules: TargetRules,
) -> Plan:
    """The operations that bring the group in line on this target.

    ``applied_name`` is the name the link row holds (None: never linked). ``remote_exists`` says
    whether a group named ``desired.name`` exists on the target; it is not consulted for a deleted
    group, whose delete is idempotent (absent counts as done). ``members`` are the target
    usernames of the group's linked members, moved across a rename: only read when ``renames``.
    """
    if desired is None:
        # A group that include / exclude no longer push is left as it is, never deleted: that
        # follows an edit of the bridge's settings, not an identity provider's deletion, and
        # deleting a group loses the permissions and restrictions granted to it on the product.
        if applied_name is None:
            return Plan(skipped="not pushed to this target (groups.include / groups.exclude)")
        return Plan(skipped=f"no longer pushed to this target (groups.include / groups.exclude): "
                            f"{applied_name} is left on the target as it is")
    if desired.deleted:
        return _deleted(applied_name, rules)
    if renames(desired, applied_name):
        return _renamed(desired.name, applied_name, remote_exists, members, rules)
    name = applied_name or desired.name
    if remote_exists:
        return Plan(final_name=name)
    if not rules.groups.create:
        return Plan(skipped=f"no group {desired.name} on the target and groups.create is off")
    notes = () if applied_name is None else (
        f"the group {name} linked before is gone from the target: created again, and its members queued",)
    return Plan((CreateGroup(desired.name),), notes=notes, final_name=desired.name)


def _is_default(name: str, rules: TargetRules) -> bool:
    return name_key(name) in {name_key(g) for g in rules.default_groups}


def _deleted(applied_name: str | None, rules: TargetRules) -> Plan:
    if applied_name is None:
        # Never linked here: a group of that name on the target is not the bridge's to delete.
        return Plan()
    if _is_default(applied_name, rules):
        return Plan(skipped=f"{applied_name} is one of default_groups (a licence group): never deleted")
    if not rules.groups.delete:
        return Plan(skipped=f"deleted in the identity provider; groups.delete is off: {applied_name} is left "
                            "on the target")
    return Plan((DeleteGroup(applied_name),))


def _renamed(new: str, old: str, remote_exists: bool, members: tuple[str, ...], rules: TargetRules) -> Plan:
    operations: list[Operation] = []
    notes: list[str] = []
    if not remote_exists:
        if not rules.groups.create:
            return Plan(skipped=f"renamed to {new}, but there is no such group on the target and groups.create "
                                f"is off: {old} is left as it is")
        operations.append(CreateGroup(new))
    if not rules.groups.sync_members:
        # Deleting the old group would drop memberships nobody moves.
        notes.append(f"members of {old} are not moved to {new} (groups.sync_members is off): "
                     f"{old} is left on the target")
        return Plan(tuple(operations), notes=tuple(notes), final_name=new)
    movable = [m for m in members if not is_protected(m, rules)]
    kept = [m for m in members if is_protected(m, rules)]
    if kept:
        notes.append(f"protected accounts keep their membership of {old}: {', '.join(kept)}")
    operations += [AddMember(m, group=new) for m in movable]
    if _is_default(old, rules):
        notes.append(f"{old} is one of default_groups (a licence group): left with its members")
    elif rules.groups.delete and not kept:
        operations.append(DeleteGroup(old))
    else:
        operations += [RemoveMember(m, group=old) for m in movable]
        why = "groups.delete is off" if not rules.groups.delete else "it has protected members"
        notes.append(f"{old} is left on the target ({why})")
    return Plan(tuple(operations), notes=tuple(notes), final_name=new, moved=tuple(movable))
