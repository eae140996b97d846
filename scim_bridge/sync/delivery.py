"""Delivering one outbox row: bring one resource in line on one target (docs/architecture.md,
decision 2).

Level-triggered: the current SCIM record is read (so quick successive changes coalesce), the rules
turn it into the desired state, the target is read, the rules plan the calls, and the executor
(``executor.py``) makes only those, audits them and records the link's outcome. This module reads
and plans, and keeps the bookkeeping between resources: a user waits for a missing group that its
SCIM group's own delivery creates, and a group created again brings its members back.
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import NamedTuple

from atlassian_clients.base import AtlassianError, RemoteUser, Unavailable
from scim_bridge.rules.groups import desired_group, plan_group, renames
from scim_bridge.rules.model import (
    AppliedGroup,
    AppliedUser,
    DesiredGroup,
    DesiredUser,
    GroupSnapshot,
    Leadership,
    Plan,
    RemoteAccount,
    UserSnapshot,
)
from scim_bridge.rules.names import managed_groups, map_group_name, name_key
from scim_bridge.rules.operations import AccountFound, CreateUser
from scim_bridge.rules.seats import takes_seat
from scim_bridge.rules.users import deprovisions, desired_user, leaves, plan_user
from scim_bridge.sync.create_first import CreateFirst
from scim_bridge.sync.executor import DONE, Executor, Outcome, Settle, Subject, Target
from scim_bridge.sync.failure_policy import AwaitedGroup
from scim_bridge.sync.outbox import Claim, ClaimLost
from scim_bridge.sync.records import DeliveryRecords, applied_user
from scim_bridge.sync.seats import SeatGuard

__all__ = ["DONE", "Delivery", "GroupPlan", "Outcome", "Settle", "Target", "UserPlan"]


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
    creates: bool  # the group is missing on the target under its desired name
    recreated: bool  # ... and was linked under that name before: its members must come back


class GroupCheck(Enum):
    """Whether a user's planning reads the groups the account is to be added to."""

    READ = "read"  # each is read: reconcile, a dry run, a delivery planning again after an add's 404
    # Read only when the user's last delivery waited for a group, which may well still be missing;
    # otherwise taken to exist, and an add's 404 makes the delivery plan again with READ.
    IF_WAITED = "if waited"


class Delivery:
    def __init__(self, records: DeliveryRecords, targets: dict[str, Target], executor: Executor | None = None,
                 seats: SeatGuard | None = None):
        self.records = records
        self.targets = targets
        self.executor = executor or Executor(records)
        self.seats = seats or SeatGuard(targets, records)
        # Per target: whether a never-linked user is created without reading its account first.
        self.create_first = {name: CreateFirst() for name in targets}

    def deliver(self, claim: Claim, heartbeat=None) -> Outcome:
        """``heartbeat`` is called after each call made on the target (the worker renews its lease
        there, and raises ClaimLost to stop a delivery another worker took over)."""
        target = self.targets.get(claim.target)
        if target is None:
            return Outcome(Settle.PARK, f"target {claim.target!r} is no longer configured")
        beat = heartbeat or (lambda: None)
        try:
            if claim.resource_type == "User":
                return self._user(target, claim, beat)
            return self._group(target, claim, beat)
        except ClaimLost:
            raise
        except Exception as error:  # noqa: BLE001 - a read failed, or a bug: the failure policy decides
            return self.executor.failed(target, Subject(claim.resource_type, claim.resource_id), error,
                                        attempts=claim.attempts)

    # -- users -------------------------------------------------------------------------------------

    def prepare_user(self, target: Target, user_id: str, records=None, *, groups: GroupCheck = GroupCheck.READ,
                     applied: AppliedUser | None = None, create_first: CreateFirst | None = None,
                     found: RemoteUser | None = None) -> UserPlan | None:
        """Read the SCIM record and the account, and plan; None when the record is gone (purged).
        ``records``: what to read the store through, when not ``self.records`` (reconcile reads every
        resource at once, ``records.TargetRecords``). ``groups``: whether the groups the account is
        to be added to are read first (``GroupCheck``). ``applied``: the state an earlier run of this
        same delivery left, whose link is not written yet; else the link's. ``create_first``: the
        target's record of what never-linked users found (``sync/create_first.py``); given, such a
        user is planned without reading the account when that plan creates it and creating first is
        likely to pay, and what a read finds is recorded. ``found``: the account a create sent unread
        met (``AccountFound``), taken as read."""
        records = records or self.records
        snapshot = records.user(user_id)
        if snapshot is None:
            return None
        rules = target.rules
        linked, status = records.link("User", user_id, target.name)
        applied = applied or applied_user(linked)
        # "pending" with an applied state: the last delivery waited (a name reservation has none).
        check_groups = groups is GroupCheck.READ or (
            groups is GroupCheck.IF_WAITED and status == "pending" and linked is not None)
        desired = desired_user(snapshot, rules)
        # A never-linked user whose account nothing has found yet: created unread, or read and counted.
        first_contact = create_first is not None and applied is None and found is None
        if first_contact:
            unread = self._unread_create(target, snapshot, desired, create_first, check_groups)
            if unread is not None:
                return unread
        remote = self._remote_account(target, applied, desired, found)
        if first_contact:
            create_first.saw(existing=remote is not None)
        managed = self._managed(target, applied, desired, remote, records)
        if remote is not None and remote.groups is not None:
            remote = replace(remote, groups=_spelled_like(remote.groups, managed | desired.groups))
        needed = desired.groups - (remote.groups or frozenset() if remote else frozenset())
        # Never cached: a group deleted on the product by hand must be noticed, by this read or by
        # the 404 its add then answers.
        existing = frozenset(g for g in needed if target.client.get_group(g) is not None) if check_groups \
            else needed
        capabilities = target.client.capabilities()
        plan = plan_user(desired, applied, remote, capabilities=capabilities, managed=managed,
                         existing_groups=existing, rules=rules)
        if remote is not None and capabilities.can_hand_over_leads and deprovisions(plan):
            # What the account leads is read only for a leaver (one call per project on Jira).
            plan = plan_user(desired, applied, remote, capabilities=capabilities, managed=managed,
                             existing_groups=existing, rules=rules,
                             leadership=self._leadership(target, snapshot, remote.name, records))
        if remote is not None and capabilities.can_report_sole_admins and leaves(plan) and not plan.refused:
            # Read only for a leaver; reported, never changed (docs/products.md §3.14, §4.15).
            plan = self._sole_administration(target, plan, remote.name)
        if applied is None and remote is not None and remote.key and \
                records.key_linked_elsewhere(target.name, "User", remote.key, user_id):
            # Never two IdP users on one account: this one found an account another user is linked to.
            plan = Plan(skipped=f"the account {remote.name} is already linked to another identity provider user")
        return UserPlan(snapshot, applied, desired, plan)

    @staticmethod
    def _unread_create(target: Target, snapshot: UserSnapshot, desired: DesiredUser, create_first: CreateFirst,
                       check_groups: bool) -> UserPlan | None:
        """The plan of a never-linked user whose account is not read first: its create, sent unread,
        tells whether the account exists (``sync/create_first.py``). None: read first, because the
        plan without an account does not create one (that plan might link or leave alone an account
        a read finds), the product must be searched by e-mail, it is a dry run or the groups are
        read, or the target's record says reading pays (too few users seen, or most had accounts)."""
        rules = target.rules
        if rules.dry_run or check_groups or rules.users.match_existing == "email" or not create_first.likely_new():
            return None
        plan = plan_user(desired, None, None, capabilities=target.client.capabilities(), managed=frozenset(),
                         existing_groups=desired.groups, rules=rules)
        if plan.skipped or plan.refused or not plan.operations or not isinstance(plan.operations[0], CreateUser):
            return None
        operations = (replace(plan.operations[0], unread=True), *plan.operations[1:])
        return UserPlan(snapshot, None, desired, replace(plan, operations=operations))

    @staticmethod
    def _sole_administration(target: Target, plan: Plan, name: str) -> Plan:
        """Report what ``name`` alone administers. A refused read (no permission to read a space's
        permissions, say) is noted and the account still goes; an unreachable product is retried."""
        try:
            alone = target.client.administered_alone(name)
        except Unavailable:
            raise
        except AtlassianError as error:
            return replace(plan, notes=(*plan.notes, f"could not tell whether {name} is the only administrator "
                                                     f"of a space or repository: {error}"))
        return _report_sole_administration(plan, name, alone)

    def _leadership(self, target: Target, snapshot: UserSnapshot, name: str, records) -> Leadership:
        """What ``name`` leads on the target and who takes it over: the SCIM manager's account when
        it is linked and active there, else ``rules.handover.default_lead`` (docs/products.md §2.13)."""
        led = target.client.led_by(name)
        if not (led.projects or led.components):
            return Leadership()
        successor = None
        manager = applied_user(records.applied("User", snapshot.manager_id, target.name)) \
            if snapshot.manager_id else None
        if manager is not None and manager.active is not False:
            account = target.client.get_user(manager.name)  # active on the target now, not only as applied
            if account is not None and account.active is not False:
                successor = account.name
        return Leadership(led.projects, led.components, successor or target.rules.handover.default_lead)

    def _user(self, target: Target, claim: Claim, beat) -> Outcome:
        subject = Subject("User", claim.resource_id)
        # The groups to add to are not read first: the add's own 404 tells a missing one, and the
        # delivery then plans again with them read, so that a missing default group is created and a
        # missing SCIM group awaited. A dry run makes no add, so it reads them; so does a user that
        # waited for a group last time.
        groups = GroupCheck.READ if target.rules.dry_run else GroupCheck.IF_WAITED
        after, found = None, None
        # Only a row's first attempt creates unread: after a failed or abandoned one (a create that
        # may have landed unrecorded) the account is read, so that no create is ever sent twice.
        create_first = self.create_first.get(target.name) if claim.attempts == 0 and not claim.taken_over else None
        while True:
            planned = self.prepare_user(target, claim.resource_id, groups=groups, applied=after,
                                        create_first=create_first, found=found)
            if planned is None:
                return DONE  # purged after an earlier, completed delivery
            snapshot, applied, desired, plan = planned
            try:
                run = self._run_user(target, subject, planned, claim, beat)
            except AccountFound as exc:
                # The create sent unread met an account: planned again with it, as if read.
                create_first.saw(existing=True)
                found, create_first = exc.account, None
                continue
            if _created_unread(plan, run):
                create_first.saw(existing=False)
            if groups is GroupCheck.READ or run.outcome is None or run.outcome.group is None:
                break
            groups, after, create_first = GroupCheck.READ, run.state, None
        if not run.ran:
            if snapshot.deleted and not target.rules.dry_run:
                # A dry run keeps the tombstone and link: once it is off, reconciliation deprovisions.
                self.records.forget("User", claim.resource_id, target.name)
            return DONE
        if run.outcome is not None:
            if run.outcome.group is not None:  # an add answered 404: the group is gone
                groups = self._queue_groups(target, snapshot, (run.outcome.group,))
                return self.executor.waiting(target, subject, run.state, groups)
            return run.outcome
        state = run.state
        if plan.applied is not None and state is not None:
            # The plan knows the whole resulting state (e.g. a Bitbucket licence, which the product
            # does not report); the calls added what only the target knows (the account's key).
            state = replace(plan.applied, key=state.key or plan.applied.key)
        if plan.awaiting:
            groups = self._queue_groups(target, snapshot, [op.needs_group for op in plan.awaiting])
            return self.executor.waiting(target, subject, state, groups)
        applied_state = None if snapshot.deleted or state is None else state.link_state()
        self.executor.succeeded(target, subject, applied_state, "; ".join(plan.notes) or None)
        return DONE

    def _run_user(self, target: Target, subject: Subject, planned: UserPlan, claim: Claim, beat):
        """Run a user's plan, taking a seat for an account that takes one and giving it back when
        the calls did not get through."""
        plan = planned.plan
        ledger = self.seats.ledger(target.name) if takes_seat(plan) or leaves(plan) else None
        holds = False
        if ledger is not None and takes_seat(plan) and not (plan.skipped or plan.refused):
            # Not sent when no seat is left: parked with the count, released when one frees up.
            refusal = ledger.take()
            plan, holds = (Plan(refused=refusal), False) if refusal else (plan, True)
        run = None
        try:
            run = self.executor.run(target, subject, plan, planned.applied or AppliedUser(name=planned.desired.name),
                                    attempts=claim.attempts, beat=beat)
        finally:
            if holds:
                ledger.give_back(taken=run_through(run))
        if ledger is not None and leaves(plan) and run_through(run):
            ledger.freed()
        return run

    def _queue_groups(self, target: Target, snapshot: UserSnapshot, names) -> list[AwaitedGroup]:
        """Make sure the deliveries of the SCIM groups behind these target group names are queued
        (only they create their groups, docs/architecture.md "Delivery and the worker"), and say what
        was found of their rows: the user waits for them, or parks with them."""
        wanted = {name_key(n): n for n in names}
        behind = {g.lower(): wanted[key] for g in snapshot.groups
                  if (key := name_key(map_group_name(g, target.rules) or "")) in wanted}
        groups = self.records.groups_named(behind)
        rows = self.records.ensure_queued("Group", groups, target.name)
        awaited = [AwaitedGroup(behind[name.lower()], rows.get(group_id)) for group_id, name in groups.items()]
        covered = {name_key(a.name) for a in awaited}
        # A name no SCIM group stands behind (a default group): this user's own delivery creates it.
        return awaited + [AwaitedGroup(n, None) for key, n in wanted.items() if key not in covered]

    def _managed(self, target: Target, applied, desired: DesiredUser, remote: RemoteAccount | None,
                 records) -> frozenset:
        """The groups whose memberships the bridge manages for this account. Only groups the account
        is in but should not be are decided by it, so the list of every SCIM group is read only when
        there are such groups, not on every delivery."""
        managed = applied.groups if applied else frozenset()
        wanted = {g.lower() for g in desired.groups}
        current = remote.groups if remote is not None and remote.groups is not None else frozenset()
        if any(g.lower() not in wanted for g in current):
            managed |= managed_groups(records.live_group_names(), target.rules)
        return managed

    def _remote_account(self, target: Target, applied: AppliedUser | None, desired: DesiredUser,
                        found: RemoteUser | None = None):
        """The account as the target reports it; ``found``: already met by a create, not read again."""
        client, rules = target.client, target.rules
        wants_groups = bool(rules.groups.sync_members or rules.default_groups)
        user, held = found, None
        if user is None:
            names = [applied.name, desired.name] if applied else [desired.name]
            for name in dict.fromkeys(names):
                # Where the product answers both at once (Jira), the account's groups come with it.
                user, held = client.get_user_and_groups(name) if wants_groups else (client.get_user(name), None)
                if user is not None:
                    break
        by_email = rules.users.match_existing == "email" and desired.email
        if user is None and by_email and client.capabilities().can_find_by_email:
            matches = client.find_users_by_email(desired.email)
            user = matches[0] if len(matches) == 1 else None  # two accounts with one address: link neither
        if user is None:
            return None
        groups = None
        if wants_groups:
            groups = frozenset(held if held is not None else client.user_groups(user.name))
        return RemoteAccount(name=user.name, key=user.key, display_name=user.display_name, email=user.email,
                             active=user.active, directory=user.directory, groups=groups, mutable=user.mutable)

    # -- groups ------------------------------------------------------------------------------------

    def prepare_group(self, target: Target, group_id: str, records=None) -> GroupPlan | None:
        records = records or self.records
        snapshot = records.group(group_id)
        if snapshot is None:
            return None
        rules = target.rules
        applied_name = (records.applied("Group", group_id, target.name) or {}).get("name")
        desired = desired_group(snapshot, rules)
        live = desired is not None and not desired.deleted
        remote_exists = live and target.client.get_group(desired.name) is not None
        renamed = renames(desired, applied_name)
        # Members' names are read only for a rename, which moves them: an unchanged group of 50,000
        # members costs one lookup on the target and no membership query.
        members = records.linked_member_names(group_id, target.name) if renamed else ()
        plan = plan_group(desired, applied_name, remote_exists=remote_exists, members=members, rules=rules)
        creates = live and not remote_exists
        return GroupPlan(snapshot, applied_name, desired, plan, creates, creates and applied_name is not None
                         and not renamed)

    def _group(self, target: Target, claim: Claim, beat) -> Outcome:
        group_id = claim.resource_id
        planned = self.prepare_group(target, group_id)
        if planned is None:
            return DONE
        snapshot, applied_name, desired, plan, creates, recreated = planned
        subject = Subject("Group", group_id)
        run = self.executor.run(target, subject, plan, AppliedGroup(applied_name), attempts=claim.attempts,
                                beat=beat)
        if not run.ran:
            if snapshot.deleted and not target.rules.dry_run:
                self.records.forget("Group", group_id, target.name)
            return DONE
        if run.outcome is not None:
            return run.outcome
        if plan.moved and applied_name and desired:
            # A rename moved these accounts to the new group behind their own deliveries' backs: their
            # links must name it, or it would not count as managed for them and a later removal or
            # group deletion would leave them in it (keep_unmanaged).
            self.records.move_applied_group(group_id, target.name, applied_name, desired.name,
                                            frozenset(plan.moved))
        if recreated:
            # Gone from the product (deleted by hand) and created again empty: the memberships the
            # store holds come back through the members' own deliveries (decision 3).
            self.records.queue("User", self.records.member_ids(group_id), target.name)
        elif creates:
            self.records.wake_members(group_id, target.name)  # members waiting for it go ahead
        gone = snapshot.deleted or desired is None
        self.executor.succeeded(target, subject, None if gone else AppliedGroup(desired.name).link_state(),
                                "; ".join(plan.notes) or None)
        return DONE


def _report_sole_administration(plan: Plan, name: str, alone: tuple[str, ...]) -> Plan:
    """An audit entry for each space, project or repository ``name`` alone administers, and a note
    on the link naming them all; the account still goes."""
    if not alone:
        return plan
    reports = tuple(f"{name} is the only administrator of {what}; left as it is" for what in alone)
    note = f"{name} was the only administrator of {', '.join(alone)}: give it another administrator"
    return replace(plan, reports=plan.reports + reports, notes=(*plan.notes, note))


def _created_unread(plan: Plan, run) -> bool:
    """The plan's create was sent unread and the account made (its calls got through)."""
    first = plan.operations[0] if plan.operations else None
    return isinstance(first, CreateUser) and first.unread and run_through(run)


def run_through(run) -> bool:
    """Every operation of the plan ran (a wait for groups comes after the account's own calls)."""
    return run is not None and run.ran and (run.outcome is None or run.outcome.kind is Settle.WAIT)


def _spelled_like(names: frozenset[str], reference: frozenset[str]) -> frozenset[str]:
    """Product group names compare case-insensitively; use the rules' spelling where they match."""
    by_lower = {r.lower(): r for r in reference}
    return frozenset(by_lower.get(n.lower(), n) for n in names)
