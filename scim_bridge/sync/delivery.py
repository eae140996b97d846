"""Delivering one outbox row: bring one resource in line on one target (ARCHITECTURE decision 2).

Level-triggered: the current SCIM record is read (so quick successive changes coalesce), the rules
turn it into the desired state, the target is read, the rules plan the calls, and only those calls
are made. The link row keeps what was applied; the audit log keeps every call, made, refused or (in
a dry run) only planned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import NamedTuple

from atlassian_clients.base import (
    AtlassianError,
    AuthFailed,
    Creation,
    DirectoryClient,
    PermissionDenied,
    RateLimited,
    Unavailable,
    WrongEndpoint,
)
from scim_bridge.rules.groups import desired_group, plan_group
from scim_bridge.rules.model import (
    AppliedUser,
    DesiredGroup,
    DesiredUser,
    GroupSnapshot,
    Operation,
    Plan,
    RemoteAccount,
    TargetRules,
    UserSnapshot,
)
from scim_bridge.rules.names import managed_groups
from scim_bridge.rules.users import desired_user, plan_user
from scim_bridge.sync.operations import run_operation
from scim_bridge.sync.outbox import Claim, ClaimLost
from scim_bridge.sync.records import DeliveryRecords, applied_user, applied_user_state

log = logging.getLogger("scim_bridge.delivery")


@dataclass
class Target:
    name: str
    client: DirectoryClient
    rules: TargetRules
    service_account: str | None = None  # the account the bridge logs in with (never reconciled away)


@dataclass(frozen=True)
class Outcome:
    kind: str  # done | retry | park | lost (the worker's lease ran out; another worker has it)
    error: str | None = None
    retry_after: float | None = None


DONE = Outcome("done")


class UserPlan(NamedTuple):
    snapshot: UserSnapshot
    applied: AppliedUser | None
    desired: DesiredUser
    plan: Plan


class GroupPlan(NamedTuple):
    snapshot: GroupSnapshot
    applied_name: str | None
    desired: DesiredGroup | None
    plan: Plan


class Delivery:
    def __init__(self, records: DeliveryRecords, targets: dict[str, Target]):
        self.records = records
        self.targets = targets
        self._known_groups: dict[str, set[str]] = {name: set() for name in targets}

    def deliver(self, claim: Claim, heartbeat=None) -> Outcome:
        """``heartbeat`` is called after each call made on the target (the worker renews its lease
        there, and raises ClaimLost to stop a delivery another worker took over)."""
        target = self.targets.get(claim.target)
        if target is None:
            return Outcome("park", f"target {claim.target!r} is no longer configured")
        beat = heartbeat or (lambda: None)
        try:
            if claim.resource_type == "User":
                return self._user(target, claim.resource_id, beat)
            return self._group(target, claim.resource_id, beat)
        except _WriteRefused as refused:
            return self._failed(target, claim, refused.error, refusal=True)
        except AtlassianError as error:
            return self._failed(target, claim, error)

    # -- users -------------------------------------------------------------------------------------

    def prepare_user(self, target: Target, user_id: str) -> UserPlan | None:
        """Read the SCIM record and the account, and plan; None when the record is gone (purged)."""
        snapshot = self.records.user(user_id)
        if snapshot is None:
            return None
        rules = target.rules
        applied = applied_user(self.records.applied("User", user_id, target.name))
        desired = desired_user(snapshot, rules)
        remote = self._remote_account(target, applied, desired)
        managed = self._managed(target, applied, desired, remote)
        if remote is not None and remote.groups is not None:
            remote = replace(remote, groups=_spelled_like(remote.groups, managed | desired.groups))
        needed = desired.groups - (remote.groups or frozenset() if remote else frozenset())
        existing = frozenset(g for g in needed if self._group_exists(target, g))
        plan = plan_user(desired, applied, remote, capabilities=target.client.capabilities(), managed=managed,
                         existing_groups=existing, rules=rules)
        if applied is None and remote is not None and remote.key and \
                self.records.key_linked_elsewhere(target.name, "User", remote.key, user_id):
            # Never two IdP users on one account: this one found an account another user is linked to.
            plan = Plan(skipped=f"the account {remote.name} is already linked to another identity provider user")
        return UserPlan(snapshot, applied, desired, plan)

    def _user(self, target: Target, user_id: str, beat) -> Outcome:
        planned = self.prepare_user(target, user_id)
        if planned is None:
            return DONE  # purged after an earlier, completed delivery
        snapshot, applied, desired, plan = planned
        if self._settled_without_calls(target, "User", user_id, plan):
            if snapshot.deleted and not target.rules.dry_run:
                # A dry run keeps the tombstone and link: once it is off, reconciliation deprovisions.
                self.records.forget("User", user_id, target.name)
            return DONE
        state = applied or AppliedUser(name=desired.name)
        try:
            for operation in plan.operations:
                result = _write(target.client, operation)
                state = _advance(state, operation, result)
                self._after(target, operation, "User", user_id)
                beat()
        except (AtlassianError, _WriteRefused, ClaimLost):
            # Keep what did happen (an account created, a rename made) for the next attempt.
            self.records.record_outcome("User", user_id, target.name, status="failed",
                                        applied=applied_user_state(state) if state else None)
            raise
        if plan.applied is not None and state is not None:
            # The plan knows the whole resulting state (e.g. a Bitbucket licence, which the product
            # does not report); the calls added what only the target knows (the account's key).
            state = replace(plan.applied, key=state.key or plan.applied.key)
        if snapshot.deleted:
            self.records.forget("User", user_id, target.name)
        else:
            outcome = applied_user_state(state) if state else None
            self.records.record_outcome("User", user_id, target.name, status="ok", applied=outcome,
                                        reason="; ".join(plan.notes) or None)
        return DONE

    def _managed(self, target: Target, applied, desired: DesiredUser, remote: RemoteAccount | None) -> frozenset:
        """The groups whose memberships the bridge manages for this account. Only groups the account
        is in but should not be are decided by it, so the list of every SCIM group is read only when
        there are such groups, not on every delivery."""
        managed = applied.groups if applied else frozenset()
        wanted = {g.lower() for g in desired.groups}
        current = remote.groups if remote is not None and remote.groups is not None else frozenset()
        if any(g.lower() not in wanted for g in current):
            managed |= managed_groups(self.records.live_group_names(), target.rules)
        return managed

    def _remote_account(self, target: Target, applied: AppliedUser | None, desired: DesiredUser):
        client, rules = target.client, target.rules
        user = None
        names = [applied.name, desired.name] if applied else [desired.name]
        for name in dict.fromkeys(names):
            user = client.get_user(name)
            if user is not None:
                break
        by_email = rules.users.match_existing == "email" and desired.email
        if user is None and by_email and client.capabilities().can_find_by_email:
            found = client.find_users_by_email(desired.email)
            user = found[0] if len(found) == 1 else None  # two accounts with one address: link neither
        if user is None:
            return None
        groups = None
        if rules.groups.sync_members or rules.default_groups:
            groups = frozenset(client.user_groups(user.name))
        return RemoteAccount(name=user.name, key=user.key, display_name=user.display_name, email=user.email,
                             active=user.active, directory=user.directory, groups=groups, mutable=user.mutable)

    # -- groups ------------------------------------------------------------------------------------

    def prepare_group(self, target: Target, group_id: str) -> GroupPlan | None:
        snapshot = self.records.group(group_id)
        if snapshot is None:
            return None
        rules = target.rules
        applied_name = (self.records.applied("Group", group_id, target.name) or {}).get("name")
        desired = desired_group(snapshot, rules)
        remote_exists = bool(desired and not desired.deleted and self._group_exists(target, desired.name))
        members = self.records.linked_member_names(group_id, target.name)
        plan = plan_group(desired, applied_name, remote_exists=remote_exists, members=members, rules=rules)
        return GroupPlan(snapshot, applied_name, desired, plan)

    def _group(self, target: Target, group_id: str, beat) -> Outcome:
        planned = self.prepare_group(target, group_id)
        if planned is None:
            return DONE
        snapshot, applied_name, desired, plan = planned
        if self._settled_without_calls(target, "Group", group_id, plan):
            if snapshot.deleted and not target.rules.dry_run:
                self.records.forget("Group", group_id, target.name)
            return DONE
        name = applied_name
        try:
            for operation in plan.operations:
                _write(target.client, operation)
                # During a rename the link keeps the old name until the members have moved: a
                # failure half-way then leaves a rename for the next attempt to finish.
                if operation.kind == "create_group" and desired and operation.name == desired.name \
                        and applied_name is None:
                    name = desired.name
                elif operation.kind == "delete_group" and operation.name == name:
                    name = None
                self._after(target, operation, "Group", group_id)
                beat()
        except (AtlassianError, _WriteRefused, ClaimLost):
            self.records.record_outcome("Group", group_id, target.name, status="failed",
                                        applied={"name": name} if name else None)
            raise
        moved = frozenset(op.name for op in plan.operations if op.kind == "add_member")
        if moved and applied_name and desired:
            # A rename moved these accounts to the new group behind their own deliveries' backs: their
            # links must name it, or it would not count as managed for them and a later removal or
            # group deletion would leave them in it (keep_unmanaged).
            self.records.move_applied_group(group_id, target.name, applied_name, desired.name, moved)
        if snapshot.deleted or desired is None:
            self.records.forget("Group", group_id, target.name)
        else:
            self.records.record_outcome("Group", group_id, target.name, status="ok", applied={"name": desired.name},
                                        reason="; ".join(plan.notes) or None)
        return DONE

    # -- shared ------------------------------------------------------------------------------------

    def _settled_without_calls(self, target: Target, kind: str, resource_id: str, plan: Plan) -> bool:
        """Skipped resources and dry runs end here, recorded; otherwise the plan is to be run."""
        if plan.skipped:
            self.records.record_outcome(kind, resource_id, target.name, status="skipped", applied=None,
                                        reason=plan.skipped)
            self.records.audit(target.name, "skip", kind, resource_id, outcome="skipped", detail=plan.skipped)
            return True
        if target.rules.dry_run:
            for operation in plan.operations:
                self.records.audit(target.name, operation.kind, kind, resource_id, outcome="planned",
                                   detail=operation.describe())
            summary = f"dry run: {len(plan.operations)} operation(s) planned, none applied"
            self.records.record_outcome(kind, resource_id, target.name, status="planned", applied=None,
                                        reason="; ".join((summary, *plan.notes)))
            return True
        return False

    def _group_exists(self, target: Target, name: str) -> bool:
        known = self._known_groups[target.name]
        if name.lower() in known:
            return True
        if target.client.get_group(name) is not None:
            known.add(name.lower())
            return True
        return False

    def _after(self, target: Target, operation: Operation, kind: str, resource_id: str) -> None:
        known = self._known_groups[target.name]
        if operation.kind == "create_group":
            known.add(operation.name.lower())
        elif operation.kind == "delete_group":
            known.discard(operation.name.lower())
        self.records.audit(target.name, operation.kind, kind, resource_id, outcome="applied",
                           detail=operation.describe())

    def _failed(self, target: Target, claim: Claim, error: AtlassianError, *, refusal: bool = False) -> Outcome:
        message = str(error)
        transient = not refusal and isinstance(error, Unavailable | AuthFailed | WrongEndpoint)
        # A refusal is about this change and waits for a new one; an outage or a configuration
        # problem of the target is retried with backoff until someone fixes it.
        self.records.record_outcome(claim.resource_type, claim.resource_id, target.name, status="failed",
                                    applied=None, error=message)
        self.records.audit(target.name, "deliver", claim.resource_type, claim.resource_id,
                           outcome="failed" if transient else "refused", detail=message)
        self._known_groups[target.name].clear()  # a missing group may be why
        log.warning("delivery to %s failed: %s", target.name, message,
                    extra={"target": target.name, "resource_type": claim.resource_type,
                           "resource_id": claim.resource_id, "transient": transient})
        if transient:
            return Outcome("retry", message, error.retry_after if isinstance(error, RateLimited) else None)
        return Outcome("park", message)


class _WriteRefused(Exception):
    """A change the product refused as not permitted for this object (403 on a write, e.g. Bitbucket's
    "cannot delete a group with a higher permission than you"): a refusal to park, not an outage.
    The same 403 on a read means the bridge's account lacks rights, which is retried until fixed."""

    def __init__(self, error: PermissionDenied):
        super().__init__(str(error))
        self.error = error


def _write(client: DirectoryClient, operation: Operation):
    try:
        return run_operation(client, operation)
    except PermissionDenied as denied:
        raise _WriteRefused(denied) from denied


def _spelled_like(names: frozenset[str], reference: frozenset[str]) -> frozenset[str]:
    """Product group names compare case-insensitively; use the rules' spelling where they match."""
    by_lower = {r.lower(): r for r in reference}
    return frozenset(by_lower.get(n.lower(), n) for n in names)


def _advance(state: AppliedUser | None, operation: Operation, result) -> AppliedUser | None:
    """The applied state after one successful call."""
    kind = operation.kind
    if kind in ("create_user", "link_user"):
        remote = result.resource if isinstance(result, Creation) else None
        return replace(state, name=remote.name if remote else operation.name,
                       key=remote.key if remote else state.key,
                       active=True if kind == "create_user" else state.active,
                       display_name=remote.display_name if remote else state.display_name,
                       email=remote.email if remote else state.email)
    if kind == "update_user":
        return replace(state, display_name=operation.display_name or state.display_name,
                       email=operation.email or state.email)
    if kind == "set_active":
        return replace(state, active=operation.active)
    if kind in ("grant_licence", "revoke_licence"):
        # Where the product cannot deactivate (Bitbucket), the licence is what "active" means.
        return replace(state, active=kind == "grant_licence")
    if kind == "rename_user":
        return replace(state, name=operation.new_name)
    if kind == "add_member":
        return replace(state, groups=state.groups | {operation.group})
    if kind == "remove_member":
        return replace(state, groups=state.groups - {operation.group})
    if kind == "delete_user":
        return None
    return state
