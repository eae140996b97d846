"""Reconciliation: compare every managed account and group with the target's real state, show the
plan, and (unless it is a dry run) queue the resources whose plan is not empty, so the worker brings
them in line. Accounts on the target that no identity provider user maps to are listed, and
deactivated only when asked: a plan of typed operations run by the executor like any delivery, so a
target in ``dry_run`` records the plan and is never called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlassian_clients.base import AtlassianError
from scim_bridge.rules.model import AppliedUser
from scim_bridge.rules.names import is_protected
from scim_bridge.rules.operations import Operation
from scim_bridge.rules.users import plan_unmanaged
from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import utcnow
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.executor import Subject, Target
from scim_bridge.sync.service import Sync


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

    def lines(self) -> list[str]:
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


def reconcile(sync: Sync, *, targets: list[str] | None = None, dry_run: bool = True,
              deactivate_unmanaged: bool = False) -> list[TargetReport]:
    reports = []
    for name, target in sync.targets.items():
        if targets and name not in targets:
            continue
        report = TargetReport(name)
        needing: dict[str, list[str]] = {"User": [], "Group": []}
        for kind, prepare in (("Group", sync.delivery.prepare_group), ("User", sync.delivery.prepare_user)):
            for resource_id in sync.records.resource_ids(kind):
                try:
                    prepared = prepare(target, resource_id)
                except AtlassianError as error:
                    report.errors.append(f"{kind} {resource_id}: {error}")
                    continue
                if prepared is None:
                    continue
                if prepared.plan.skipped or prepared.plan.refused:  # refused: a leaver with no successor
                    report.skipped.append((kind, resource_id, prepared.plan.skipped or prepared.plan.refused))
                elif prepared.plan.operations:
                    report.planned += [(kind, resource_id, op) for op in prepared.plan.operations]
                    needing[kind].append(resource_id)
        _unmanaged(sync, target, report, deactivate=deactivate_unmanaged, dry_run=dry_run)
        if not dry_run:
            report.queued = _queue(sync, name, needing)
        reports.append(report)
    return reports


def _unmanaged(sync: Sync, target: Target, report: TargetReport, *, deactivate: bool, dry_run: bool) -> None:
    managed = sync.records.linked_user_names(target.name)
    try:
        accounts = [a for a in target.client.iter_users() if a.name.lower() not in managed and _ours(a, target)]
    except AtlassianError as error:
        report.errors.append(f"listing accounts: {error}")
        return
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
    now = utcnow()
    with make_session_factory(sync.records.engine, write=True)() as session, session.begin():
        for kind, ids in needing.items():
            enqueue(session, kind, ids, [target], now)
    sync.worker.notify()
    return sum(len(ids) for ids in needing.values())
