"""Reconciliation: compare every managed account and group with the target's real state, show the
plan, and (unless it is a dry run) queue the resources whose plan is not empty, so the worker brings
them in line. Accounts on the target that no identity provider user maps to are listed, and
deactivated only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlassian_clients.base import AtlassianError
from scim_bridge.rules.model import Operation
from scim_bridge.rules.names import is_protected
from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import utcnow
from scim_bridge.store.outbox import enqueue
from scim_bridge.sync.delivery import Target
from scim_bridge.sync.service import Sync


@dataclass
class TargetReport:
    target: str
    planned: list[tuple[str, str, Operation]] = field(default_factory=list)  # (type, SCIM id, operation)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (type, SCIM id, reason)
    unmanaged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queued: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.target}: {len(self.planned)} operation(s) to bring it in line"]
        out += [f"  {kind} {rid}: {op.describe()}" for kind, rid, op in self.planned]
        out += [f"  {kind} {rid}: left alone ({why})" for kind, rid, why in self.skipped]
        out += [f"  account not managed by the bridge: {name}" for name in self.unmanaged]
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
                if prepared.plan.skipped:
                    report.skipped.append((kind, resource_id, prepared.plan.skipped))
                elif prepared.plan.operations:
                    report.planned += [(kind, resource_id, op) for op in prepared.plan.operations]
                    needing[kind].append(resource_id)
        _unmanaged(sync, target, report, deactivate=deactivate_unmanaged and not dry_run)
        if not dry_run:
            report.queued = _queue(sync, name, needing)
        reports.append(report)
    return reports


def _unmanaged(sync: Sync, target: Target, report: TargetReport, *, deactivate: bool) -> None:
    managed = sync.records.linked_user_names(target.name)
    try:
        accounts = [a for a in target.client.iter_users() if a.name.lower() not in managed and _ours(a, target)]
    except AtlassianError as error:
        report.errors.append(f"listing accounts: {error}")
        return
    report.unmanaged = sorted(a.name for a in accounts if a.active is not False)
    if not deactivate:
        return
    capable = target.client.capabilities().can_deactivate
    for name in report.unmanaged:
        try:
            if capable:
                target.client.set_active(name, False)
            else:
                # Bitbucket: as delivery deprovisions (deactivate_with: remove_license), the licence
                # groups go as well as the direct permission, or the account keeps its licence.
                for group in target.rules.default_groups:
                    target.client.remove_member(group, name)
                target.client.revoke_licence(name)
        except AtlassianError as error:
            report.errors.append(f"deactivating {name}: {error}")
            continue
        report.deactivated.append(name)
        sync.records.audit(target.name, "deactivate_unmanaged", "User", None, outcome="applied",
                           detail=f"deactivate {name} (no identity provider user maps to it)")


def _ours(account, target: Target) -> bool:
    """Accounts reconciliation may report and deactivate: not protected, not the bridge's own service
    account, not read-only, and in the managed directory where the product tells (ARCHITECTURE: other
    directories are reported by delivery and left alone)."""
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
