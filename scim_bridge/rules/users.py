"""A SCIM user on one target: the account it should be, and the operations that make the account so.

``plan_user`` is level-triggered (docs/architecture.md, decision 2): it compares the desired state with what
the target reports now (``remote``) and, where the target cannot tell, with what the bridge applied
last (``applied``), and plans only the calls needed. Operations (``operations.py``) come in this
order: rename → create or link → update → activate → creates of default groups → member adds (to
default groups first) → member removes → hand-overs of what the account leads → deactivate or revoke
the licence → delete; a plan that deletes the account holds only the hand-overs besides. A leaver who leads projects or
components and has no successor is refused (``Plan.refused``): the account stays active. A missing
group that a SCIM group maps to is not created here but awaited
(``Plan.awaiting``): that group's own delivery creates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlassian_clients.base import Capabilities
from scim_bridge.rules.memberships import plan_memberships
from scim_bridge.rules.model import (
    AppliedUser,
    DesiredUser,
    Leadership,
    Plan,
    RemoteAccount,
    TargetRules,
    UserSnapshot,
)
from scim_bridge.rules.names import map_username, mapped_group_names, name_key, protected_by
from scim_bridge.rules.operations import (
    CreateUser,
    DeleteUser,
    GrantLicence,
    HandOverComponentLead,
    HandOverProjectLead,
    LinkUser,
    Operation,
    RemoveMember,
    RenameUser,
    RevokeLicence,
    SetActive,
    UpdateUser,
)


def desired_user(snapshot: UserSnapshot, rules: TargetRules) -> DesiredUser:
    """The account a SCIM user should have on this target: the mapped name, the profile, and the
    mapped names of its pushed groups plus ``default_groups`` (the licence groups) while active."""
    pushed = mapped_group_names(snapshot.groups, rules)
    groups = pushed
    if snapshot.active and not snapshot.deleted:
        groups |= frozenset(rules.default_groups)
    return DesiredUser(
        name=map_username(snapshot.user_name, rules),
        display_name=snapshot.display_name,
        email=snapshot.email,
        active=snapshot.active,
        deleted=snapshot.deleted,
        groups=groups,
        pushed_groups=pushed,
    )


@dataclass
class _Draft:
    """A plan being built, one list per step so the steps always come out in the same order."""

    rename: list[Operation] = field(default_factory=list)
    ensure: list[Operation] = field(default_factory=list)
    update: list[Operation] = field(default_factory=list)
    activate: list[Operation] = field(default_factory=list)
    memberships: list[Operation] = field(default_factory=list)
    handover: list[Operation] = field(default_factory=list)
    deactivate: list[Operation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    awaiting: tuple[Operation, ...] = ()

    def plan(self, applied: AppliedUser) -> Plan:
        steps = (self.rename, self.ensure, self.update, self.activate, self.memberships, self.handover,
                 self.deactivate)
        operations = tuple(op for step in steps for op in step)
        return Plan(operations, notes=tuple(self.notes), final_name=applied.name, applied=applied,
                    awaiting=self.awaiting)


def plan_user(
    desired: DesiredUser,
    applied: AppliedUser | None,
    remote: RemoteAccount | None,
    *,
    capabilities: Capabilities,
    managed: frozenset[str],
    existing_groups: frozenset[str],
    rules: TargetRules,
    leadership: Leadership | None = None,
) -> Plan:
    """The operations that bring the account in line with ``desired`` on this target.

    ``applied`` is the link row's state (None: never linked). ``remote`` is the account as the
    target reports it now, looked up by ``applied.name``, else ``desired.name``, or by e-mail when
    ``users.match_existing`` is ``email``; None when there is none. ``managed`` is
    ``managed_groups(...)``; ``existing_groups`` says which groups the plan may add exist on the
    target. ``leadership`` is what the account leads and who would take it over, read by the
    delivery when a plan without it deprovisions (:func:`deprovisions`); None: nothing is handed over.
    ``rules.dry_run`` does not change the plan: the executor decides whether to run it.
    """
    reason = _left_alone(desired, applied, remote, rules)
    if reason:
        return Plan(skipped=reason)
    if remote is None:
        if desired.deleted:
            return Plan()  # nothing left to deprovision
        return _create(desired, applied, capabilities, existing_groups, rules)
    if applied is None:
        reason = _link_refusal(desired, remote, rules)
        if reason:
            return Plan(skipped=reason)
    if _removed_by_deletion(desired, capabilities, rules):
        if applied is None:
            # Deletion cannot be undone: an account the bridge never managed is not its to delete.
            return Plan(skipped=f"{desired.name} is inactive; the existing account {remote.name} was never linked, "
                                "so it is not deleted")
        handovers, refusal = _hand_over(remote.name, leadership)
        if refusal:
            return Plan(refused=refusal)
        return Plan((*handovers, DeleteUser(remote.name)))
    return _maintain(desired, applied, remote, capabilities, managed, existing_groups, rules, leadership)


def deprovisions(plan: Plan) -> bool:
    """Whether the plan deactivates or deletes the account: what it leads must be handed over first."""
    return any(isinstance(op, DeleteUser) or (isinstance(op, SetActive) and not op.active)
               for op in plan.operations)


def leaves(plan: Plan) -> bool:
    """Whether the account goes: deactivated or deleted, or unlicensed where the product cannot
    deactivate (Bitbucket, docs/products.md §4.6)."""
    return deprovisions(plan) or any(isinstance(op, RevokeLicence) for op in plan.operations)


def _hand_over(name: str, leadership: Leadership | None) -> tuple[tuple[Operation, ...], str | None]:
    """The hand-overs of what ``name`` leads, or why the account cannot go (no successor)."""
    if leadership is None or not leadership.leads:
        return (), None
    successor = leadership.successor
    if successor is None or name_key(successor) == name_key(name):
        return (), (f"{name} leads {_led(leadership)}; no successor: set the user's manager or "
                    "rules.handover.default_lead")
    return (tuple(HandOverProjectLead(name, project=key, successor=successor) for key in leadership.projects)
            + tuple(HandOverComponentLead(name, component=c.id, label=c.label, successor=successor)
                    for c in leadership.components)), None


def _led(leadership: Leadership) -> str:
    """``projects ABC, XYZ and component ABC/Backend``."""
    parts = []
    for kind, names in (("project", leadership.projects), ("component", [c.label for c in leadership.components])):
        if names:
            parts.append(f"{kind}{'s' if len(names) > 1 else ''} {', '.join(names)}")
    return " and ".join(parts)


def _left_alone(desired: DesiredUser, applied: AppliedUser | None, remote: RemoteAccount | None,
                rules: TargetRules) -> str | None:
    names = [desired.name] + [r.name for r in (applied, remote) if r is not None]
    for name in dict.fromkeys(names):
        pattern = protected_by(name, rules)
        if pattern:
            return f"{name} is protected (users.protected {pattern!r}): never changed by the bridge"
    if remote is not None and remote.mutable is False:
        where = f" {remote.directory!r}" if remote.directory else ""
        return f"{remote.name} is in the read-only directory{where}: left alone"
    if remote is not None and rules.directory and remote.directory \
            and name_key(remote.directory) != name_key(rules.directory):
        return (f"{remote.name} is in the directory {remote.directory!r}, not {rules.directory!r} (directory): "
                "left alone")
    if desired.deleted and rules.users.on_delete == "ignore":
        return f"{desired.name} was deleted in the identity provider; users.on_delete is ignore"
    if desired.deleted and applied is None and remote is not None:
        return f"{desired.name} was deleted before it was linked: the existing account {remote.name} is left alone"
    return None


def _link_refusal(desired: DesiredUser, remote: RemoteAccount, rules: TargetRules) -> str | None:
    """Why a pre-existing account must not be linked to this SCIM user, else None."""
    mode = rules.users.match_existing
    if mode == "none":
        return f"an account {remote.name} already exists and users.match_existing is none: not linked"
    if mode == "email":
        if not desired.email:
            return f"{desired.name} has no e-mail address to match the existing account {remote.name} by"
        if remote.email is None:
            return (f"{rules.product} does not report the e-mail address of {remote.name}, so "
                    "users.match_existing email cannot link it")
        if name_key(remote.email) != name_key(desired.email):
            return (f"the account {remote.name} has another e-mail address; users.match_existing is email: "
                    "not linked")
        return None
    if name_key(remote.name) != name_key(desired.name):
        return f"the account found, {remote.name}, is not named {desired.name}: not linked"
    return None


def _deactivation_applies(desired: DesiredUser, rules: TargetRules) -> bool:
    # A deleted user reaching here has users.on_delete deactivate: that setting is its own choice,
    # independent of users.deactivate (which is about active: false).
    return desired.deleted or rules.users.deactivate


def _removed_by_deletion(desired: DesiredUser, capabilities: Capabilities, rules: TargetRules) -> bool:
    if desired.deleted and rules.users.on_delete == "delete":
        return True
    # Bitbucket has no deactivate call (docs/products.md §4.6): deactivate_with delete removes the account.
    return (not (desired.active and not desired.deleted) and _deactivation_applies(desired, rules)
            and not capabilities.can_deactivate and rules.deactivate_with == "delete")


def _create(desired: DesiredUser, applied: AppliedUser | None, capabilities: Capabilities,
            existing_groups: frozenset[str], rules: TargetRules) -> Plan:
    if not desired.active:
        return Plan(skipped=f"{desired.name} is inactive and has no account on the target: not created")
    if not rules.users.create:
        return Plan(skipped=f"no account {desired.name} on the target and users.create is off")
    if not capabilities.can_create_user:
        return Plan(skipped=f"{rules.product} cannot create accounts over REST at this version")
    if not desired.email:
        return Plan(skipped=f"{desired.name} has no e-mail address, which {rules.product} needs to create an account")
    draft = _Draft()
    if applied is not None:
        draft.notes.append(f"the account {applied.name} linked before is gone from the target: created again")
    draft.ensure.append(CreateUser(desired.name, display_name=desired.display_name, email=desired.email,
                                   application_keys=rules.application_keys))
    groups = plan_memberships(desired, desired.name, frozenset(), groups_known=True, active=True,
                              strip_defaults=False, managed=frozenset(), existing_groups=existing_groups,
                              rules=rules)
    draft.memberships.extend(groups.operations)
    draft.notes.extend(groups.notes)
    draft.awaiting = groups.awaiting
    return draft.plan(AppliedUser(desired.name, None, desired.display_name, desired.email, True, groups.after))


def _maintain(desired: DesiredUser, applied: AppliedUser | None, remote: RemoteAccount,
              capabilities: Capabilities, managed: frozenset[str], existing_groups: frozenset[str],
              rules: TargetRules, leadership: Leadership | None) -> Plan:
    draft = _Draft()
    name = _rename(draft, desired, remote.name, capabilities, rules)
    if applied is None:
        draft.ensure.append(LinkUser(name))
    display_name = _known(remote.display_name, applied and applied.display_name)
    email = _known(remote.email, applied and applied.email)
    if not desired.deleted:
        display_name, email = _update(draft, desired, name, display_name, email, rules)
    active = _set_activity(draft, desired, name, _was_active(applied, remote, capabilities), capabilities, rules)
    if any(isinstance(op, SetActive) for op in draft.deactivate):
        handovers, refusal = _hand_over(name, leadership)
        if refusal:
            return Plan(refused=refusal)
        draft.handover.extend(handovers)
    if remote.groups is not None:
        current, known = remote.groups, True
    else:
        current, known = (applied.groups if applied else frozenset()), False
    want_active = desired.active and not desired.deleted
    groups = plan_memberships(desired, name, current, groups_known=known, active=want_active and active,
                              strip_defaults=not want_active and _deactivation_applies(desired, rules),
                              managed=managed, existing_groups=existing_groups, rules=rules)
    draft.memberships.extend(groups.operations)
    draft.notes.extend(groups.notes)
    draft.awaiting = groups.awaiting
    key = remote.key if remote.key is not None else applied and applied.key
    return draft.plan(AppliedUser(name, key, display_name, email, active, groups.after))


def _known(reported, applied_value):
    """What the target says, else what the bridge applied last (Confluence reports no e-mail)."""
    return reported if reported is not None else applied_value


def _rename(draft: _Draft, desired: DesiredUser, current: str, capabilities: Capabilities,
            rules: TargetRules) -> str:
    """Rename where the product can; the account's name after the plan."""
    # Case-only changes are no rename: every product compares usernames case-insensitively
    # (docs/products.md §1.5).
    if desired.deleted or name_key(current) == name_key(desired.name):
        return current
    if not rules.users.update:
        draft.notes.append(f"{current} is not renamed to {desired.name}: users.update is off")
        return current
    if not capabilities.can_rename_user:
        draft.notes.append(f"{rules.product} cannot rename users: the account keeps the name {current} "
                           f"(the identity provider's userName now maps to {desired.name})")
        return current
    draft.rename.append(RenameUser(current, new_name=desired.name))
    return desired.name


def _update(draft: _Draft, desired: DesiredUser, name: str, display_name: str | None, email: str | None,
            rules: TargetRules) -> tuple[str | None, str | None]:
    """Plan the profile update; the display name and e-mail address the account has after it."""
    changes = {}
    if desired.display_name and desired.display_name != display_name:
        changes["display_name"] = desired.display_name
    # E-mail addresses compare case-insensitively: the products match them so (find_users_by_email).
    if desired.email and name_key(desired.email) != name_key(email or ""):
        changes["email"] = desired.email
    if not changes:
        return display_name, email
    if not rules.users.update:
        what = " and ".join(k.replace("_", " ") for k in changes)
        draft.notes.append(f"{name}: {what} not updated: users.update is off")
        return display_name, email
    draft.update.append(UpdateUser(name, **changes))
    return changes.get("display_name", display_name), changes.get("email", email)


def _was_active(applied: AppliedUser | None, remote: RemoteAccount, capabilities: Capabilities) -> bool:
    if capabilities.can_deactivate:
        state = _known(remote.active, applied and applied.active)
    else:
        # Without a deactivate call "inactive" means unlicensed, which the account's active flag does
        # not show (Bitbucket reports internal accounts active either way): trust what was applied.
        state = _known(applied and applied.active, remote.active)
    return state is not False


def _set_activity(draft: _Draft, desired: DesiredUser, name: str, was_active: bool,
                  capabilities: Capabilities, rules: TargetRules) -> bool:
    """Plan activation or deactivation; whether the account is active after the plan."""
    want_active = desired.active and not desired.deleted
    if want_active and not was_active:
        if not rules.users.activate:
            draft.notes.append(f"{name} stays inactive on the target: users.activate is off")
            return False
        draft.activate.append(SetActive(name, active=True) if capabilities.can_deactivate else GrantLicence(name))
        return True
    if not want_active and was_active:
        if not _deactivation_applies(desired, rules):
            draft.notes.append(f"{name} stays active on the target: users.deactivate is off")
            return True
        draft.deactivate.append(SetActive(name, active=False) if capabilities.can_deactivate
                                else RevokeLicence(name))
        return False
    return was_active


def plan_unmanaged(name: str, capabilities: Capabilities, rules: TargetRules) -> Plan:
    """Deprovisioning an account no identity provider user maps to (``reconcile
    --deactivate-unmanaged``), as delivery deprovisions a user: deactivate where the product can;
    else (Bitbucket, docs/products.md §4.10) the licence groups go as well as the direct licence, or the
    account keeps its licence."""
    if capabilities.can_deactivate:
        return Plan((SetActive(name, active=False),))
    return Plan(tuple(RemoveMember(name, group=g) for g in rules.default_groups) + (RevokeLicence(name),))
