"""Reconciliation: compare every managed account and group with the target's real state, show the
plan, and (unless it is a dry run) queue the resources whose plan is not empty, so the worker brings
them in line. Accounts on the target that no identity provider user maps to are listed, and
deactivated only when asked: a plan of typed operations run by the executor like any delivery, so a
target in ``dry_run`` records the plan and is never called.

It scales with the number of accounts, not the calls per account: the store is read once
(``records.StoreSnapshot``), each target is listed page by page (``target_view.TargetView``) and
every stored resource is planned against that listing in memory with delivery's own code
(``Delivery.prepare_user`` / ``prepare_group``). Targets run in parallel, one thread each, every
one within its client's rate limit (the HTTP policy's token bucket). A target that cannot be read --
its first call fails after the HTTP policy's retries -- ends at once with a message naming it and
the cause (``TargetReport.stopped``); the others go on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from atlassian_clients.base import AtlassianError, Unavailable
from scim_bridge.rules.model import AppliedUser
from scim_bridge.rules.names import is_protected, name_key
from scim_bridge.rules.operations import Operation
from scim_bridge.rules.users import desired_user, plan_unmanaged
from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import utcnow
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.executor import Subject, Target
from scim_bridge.sync.records import StoreSnapshot, TargetRecords
from scim_bridge.sync.service import Sync
from scim_bridge.sync.target_view import TargetView

# progress(target, stage, done, total): stages "accounts" (listed so far; total once known), "groups"
# (groups whose members were read), "compared" (stored resources planned), "done".
Progress = Callable[[str, str, int, "int | None"], None]

# The kinds of drift a plan's operations stand for, by Operation.action (the summary's words).
DRIFT = {
    "create_user": "account missing",
    "link_user": "account not linked yet",
    "update_user": "profile changed (name or e-mail)",
    "rename_user": "username to change",
    "delete_user": "account to delete",
    "grant_licence": "licence missing",
    "revoke_licence": "licence to revoke",
    "create_group": "group missing",
    "delete_group": "group to delete",
    "add_member": "membership missing",
    "remove_member": "membership to remove",
    "hand_over_project_lead": "project lead to hand over",
    "hand_over_component_lead": "component lead to hand over",
}


def drift_kind(operation: Operation) -> str:
    if operation.action == "set_active":
        return "account deactivated on the target" if getattr(operation, "active", False) else "account to deactivate"
    return DRIFT.get(operation.action, operation.action)


@dataclass
class TargetReport:
    target: str
    planned: list[tuple[str, str, Operation]] = field(default_factory=list)  # (type, SCIM id, operation)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (type, SCIM id, reason)
    unmanaged: list[str] = field(default_factory=list)
    deprovisioning: list[tuple[str, Operation]] = field(default_factory=list)  # planned, not applied
    deactivated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queued: int = 0
    stopped: str | None = None  # the target could not be read: why (nothing after it was compared)
    unreachable: bool = False  # ... because it did not answer (rather than refusing the bridge)
    accounts: int = 0  # accounts listed on the target
    compared: int = 0  # stored resources planned against them
    seconds: float = 0.0

    def found(self) -> Counter:
        """What was found, by kind of drift: operations planned, unmanaged accounts, resources left alone."""
        kinds = Counter(drift_kind(op) for _, _, op in self.planned)
        if self.unmanaged:
            kinds["account not managed by the bridge"] = len(self.unmanaged)
        if self.skipped:
            kinds["left alone (see why)"] = len(self.skipped)
        return kinds

    def summary(self) -> str:
        if self.stopped is not None:
            return f"{self.target}: not reconciled, the target could not be read: {self.stopped}"
        found = self.found()
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(found.items())) or "no drift"
        did = [f"{self.queued} resource(s) queued for delivery"] if self.queued else []
        if self.deactivated:
            did.append(f"{len(self.deactivated)} unmanaged account(s) deactivated")
        if self.errors:
            did.append(f"{len(self.errors)} error(s)")
        return (f"{self.target}: {self.accounts} account(s) read, {self.compared} resource(s) compared in "
                f"{self.seconds:.1f} s; found {what}" + (f"; {'; '.join(did)}" if did else ""))

    def lines(self) -> list[str]:
        if self.stopped is not None:
            return [f"targets.{self.target}: {self.stopped}",
                    f"{self.target}: reconcile stopped: the target could not be read (nothing was compared)"]
        out = [f"{self.target}: {len(self.planned)} operation(s) to bring it in line"]
        out += [f"  {kind} {rid}: {op.describe()}" for kind, rid, op in self.planned]
        out += [f"  {kind} {rid}: left alone ({why})" for kind, rid, why in self.skipped]
        out += [f"  account not managed by the bridge: {name}" for name in self.unmanaged]
        out += [f"  unmanaged account {name}: {op.describe()} (planned, not applied)"
                for name, op in self.deprovisioning]
        out += [f"  deactivated unmanaged account: {name}" for name in self.deactivated]
        out += [f"  error: {error}" for error in self.errors]
        if self.queued:
            out.append(f"  {self.queued} resource(s) queued for delivery")
        return out

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "stopped": self.stopped,
            "unreachable": self.unreachable,
            "accounts": self.accounts,
            "compared": self.compared,
            "seconds": round(self.seconds, 3),
            "found": dict(sorted(self.found().items())),
            "planned": [{"type": kind, "id": rid, "action": op.action, "kind": drift_kind(op),
                         "operation": op.describe()} for kind, rid, op in self.planned],
            "skipped": [{"type": kind, "id": rid, "reason": why} for kind, rid, why in self.skipped],
            "unmanaged": list(self.unmanaged),
            "deprovisioning": [{"account": name, "operation": op.describe()} for name, op in self.deprovisioning],
            "deactivated": list(self.deactivated),
            "errors": list(self.errors),
            "queued": self.queued,
        }


def reconcile(sync: Sync, *, targets: list[str] | None = None, dry_run: bool = True,
              deactivate_unmanaged: bool = False, progress: Progress | None = None) -> list[TargetReport]:
    """Reconcile the chosen targets (all enabled ones by default) in parallel; one report per target,
    in the configuration's order."""
    chosen = [t for name, t in sync.targets.items() if not targets or name in targets]
    if not chosen:
        return []
    store = StoreSnapshot(sync.records)
    say = progress or (lambda *_: None)

    def one(target: Target) -> TargetReport:
        return _reconcile_target(sync, target, store, dry_run=dry_run, deactivate=deactivate_unmanaged,
                                 say=lambda stage, done, total: say(target.name, stage, done, total))

    with ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="reconcile") as pool:
        return list(pool.map(one, chosen))


def _reconcile_target(sync: Sync, target: Target, store: StoreSnapshot, *, dry_run: bool, deactivate: bool,
                      say) -> TargetReport:
    started = time.perf_counter()
    report = TargetReport(target.name)
    try:
        records = store.for_target(target.name)
        wanted = {g for user in store.users.values() if not user.deleted
                  for g in desired_user(user, target.rules).groups}
        view = TargetView.read(target.client, wanted_groups=wanted, store_groups=store.live_group_names(),
                               rules=target.rules, tick=say)
        report.accounts = len(view.users)
        _compare(sync, target, view, records, report, dry_run=dry_run, say=say)
        if report.stopped is None:
            _unmanaged(sync, target, view, records, report, deactivate=deactivate, dry_run=dry_run)
    except AtlassianError as error:
        report.stopped, report.unreachable = str(error), isinstance(error, Unavailable)
    finally:
        report.seconds = time.perf_counter() - started
        say("done", report.compared, report.compared)
    return report


def _compare(sync: Sync, target: Target, view: TargetView, records: TargetRecords, report: TargetReport, *,
             dry_run: bool, say) -> None:
    planning = replace(target, client=view)
    needing: dict[str, list[str]] = {"User": [], "Group": []}
    resources = [("Group", gid) for gid in records.resource_ids("Group")] + \
        [("User", uid) for uid in records.resource_ids("User")]
    total = len(resources)
    for kind, resource_id in resources:
        prepare = sync.delivery.prepare_group if kind == "Group" else sync.delivery.prepare_user
        try:
            prepared = prepare(planning, resource_id, records)
        except Unavailable as error:  # a read the listing did not cover (what a leaver leads): the target is down
            report.stopped, report.unreachable = str(error), True
            return
        except AtlassianError as error:
            report.errors.append(f"{kind} {resource_id}: {error}")
            continue
        finally:
            report.compared += 1
            if report.compared % 500 == 0 or report.compared == total:
                say("compared", report.compared, total)
        if prepared is None:
            continue
        if prepared.plan.skipped or prepared.plan.refused:  # refused: a leaver with no successor
            report.skipped.append((kind, resource_id, prepared.plan.skipped or prepared.plan.refused))
        elif prepared.plan.operations or prepared.plan.awaiting:
            report.planned += [(kind, resource_id, op)
                               for op in (*prepared.plan.operations, *prepared.plan.awaiting)]
            needing[kind].append(resource_id)
    if not dry_run:
        report.queued = _queue(sync, target.name, needing)


def _unmanaged(sync: Sync, target: Target, view: TargetView, records: TargetRecords, report: TargetReport, *,
               deactivate: bool, dry_run: bool) -> None:
    managed = records.linked_names
    accounts = [a for a in view.users.values() if name_key(a.name) not in managed and _ours(a, target)]
    report.unmanaged = sorted(a.name for a in accounts if a.active is not False)
    if not deactivate:
        return
    capabilities = target.client.capabilities()
    for name in report.unmanaged:
        plan = plan_unmanaged(name, capabilities, target.rules)
        if dry_run:
            report.deprovisioning += [(name, op) for op in plan.operations]
            continue
        run = sync.delivery.executor.run(target, Subject("User", None), plan, AppliedUser(name),
                                         because="no identity provider user maps to it")
        if not run.ran:  # the target is in dry_run: the executor recorded the plan, called nothing
            report.deprovisioning += [(name, op) for op in plan.operations]
        elif run.outcome is not None:
            report.errors.append(f"deactivating {name}: {run.outcome.error}")
        else:
            report.deactivated.append(name)


def _ours(account, target: Target) -> bool:
    """Accounts reconciliation may report and deactivate: not protected, not the bridge's own service
    account, not read-only, and in the managed directory where the product tells (docs/architecture.md:
    other directories are reported by delivery and left alone)."""
    rules = target.rules
    if is_protected(account.name, rules) or account.mutable is False:
        return False
    if target.service_account and account.name.lower() == target.service_account.lower():
        return False
    return not (rules.directory and account.directory and account.directory != rules.directory)


def _queue(sync: Sync, target: str, needing: dict[str, list[str]]) -> int:
    if not any(needing.values()):
        return 0
    now = utcnow()
    with make_session_factory(sync.records.engine, write=True)() as session, session.begin():
        for kind, ids in needing.items():
            enqueue(session, kind, ids, [target], now)
    sync.worker.notify()
    return sum(len(ids) for ids in needing.values())
