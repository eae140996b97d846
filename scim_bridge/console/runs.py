"""Reconciliation started from the console: run in a background thread through
``sync.reconcile.reconcile`` (as ``scim-bridge reconcile`` does: the targets in parallel, each read in
pages), its progress and reports kept in the database so whichever worker serves the next request
can show them. check-config's checks started from the Configuration page run the same way
(:class:`ConfigChecks`)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scim_bridge.checks import check_all, close_check, latest_check, open_check
from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import ReconcileRun, ReconcileSchedule, utcnow
from scim_bridge.store.names import resource_names
from scim_bridge.sync.reconcile import reconcile

log = logging.getLogger("scim_bridge.console")

# A run whose thread has not reported for this long died with its process (a restart, a crash).
STALE_AFTER = timedelta(minutes=30)

# How the plan's operations are grouped in the console's table (rules/operations.py Operation.action).
CREATE = {"create_user", "link_user", "create_group"}
DEACTIVATE = {"delete_user", "delete_group", "revoke_licence"}


class RunBusy(Exception):
    """Another reconciliation is running."""


@dataclass
class RunView:
    id: int
    started: datetime
    finished: datetime | None
    started_by: str
    dry_run: bool
    deactivate_unmanaged: bool
    targets: list[str]
    state: str  # running | done | failed | interrupted
    done_targets: int
    reports: list[dict]
    error: str | None

    @property
    def found(self) -> str:
        """What the run found out of line, in a few words (the Reconcile page's list)."""
        operations = sum(len(r.get("planned") or []) for r in self.reports)
        unmanaged = sum(len(r.get("unmanaged") or []) for r in self.reports)
        errors = sum(len(r.get("errors") or []) for r in self.reports)
        if not self.reports:
            return "–"
        parts = [f"{operations} operation(s)" if operations else "in line"]
        if not self.dry_run and operations:
            parts[0] += f", {sum(r.get('queued', 0) for r in self.reports)} queued"
        if unmanaged:
            parts.append(f"{unmanaged} unmanaged")
        if errors:
            parts.append(f"{errors} error(s)")
        return "; ".join(parts)


def column_of(kind: str, active: bool | None) -> str:
    if kind in CREATE:
        return "create"
    if kind in DEACTIVATE or (kind == "set_active" and active is False):
        return "deactivate"
    return "update"


def report_data(report, names: dict[tuple[str, str], str]) -> dict:
    """A ``TargetReport`` as plain data for the database and the templates."""
    planned = []
    for kind, resource_id, op in report.planned:
        planned.append({"type": kind, "id": resource_id, "name": names.get((kind, resource_id)),
                        "column": column_of(op.action, getattr(op, "active", None)), "operation": op.describe()})
    return {
        "target": report.target,
        "planned": planned,
        "skipped": [{"type": k, "id": rid, "name": names.get((k, rid)), "reason": why}
                    for k, rid, why in report.skipped],
        "unmanaged": list(report.unmanaged),
        # What deactivating the unmanaged accounts would do (a dry run asked to deactivate them).
        "deprovisioning": _by_name(report.deprovisioning),
        "deactivated": list(report.deactivated),
        "errors": list(report.errors),
        "queued": report.queued,
        # The target could not be read (down, or refusing the bridge): nothing was compared.
        "stopped": report.stopped,
        "summary": report.summary(),
    }


def _by_name(operations) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for name, op in operations:
        out.setdefault(name, []).append(op.describe())
    return {name: "; ".join(described) for name, described in out.items()}


@dataclass
class ScheduleView:
    every: str | None  # "6h"; None: no schedule
    dry_run: bool
    deactivate_unmanaged: bool
    last: datetime | None
    last_run: int | None
    next: datetime | None


def schedule_view(engine: sa.Engine, settings) -> ScheduleView:
    """``reconcile.schedule`` and its durable last run (scim_bridge/schedule.py), for the Reconcile page."""
    every = settings.schedule
    last = last_run = None
    if every is not None:
        with make_session_factory(engine)() as session:
            row = session.get(ReconcileSchedule, "reconcile")
            if row is not None:
                last, last_run = row.last_started, row.last_run_id
    return ScheduleView(period(every) if every else None, settings.dry_run, settings.deactivate_unmanaged, last,
                        last_run, last + timedelta(seconds=every) if last is not None and every else None)


def period(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class ReconcileRuns:
    def __init__(self, engine: sa.Engine, sync, clock=utcnow):
        self.engine = engine
        self.sync = sync
        self.clock = clock
        self._read = make_session_factory(engine)
        self._write = make_session_factory(engine, write=True)

    @property
    def targets(self) -> list[str]:
        return list(self.sync.targets) if self.sync is not None else []

    def start(self, by: str, targets: list[str], *, dry_run: bool, deactivate_unmanaged: bool) -> int:
        """Open a run and carry it out on a thread of its own; its id, for the page that follows it."""
        run_id = self._open(by, targets, dry_run=dry_run, deactivate_unmanaged=deactivate_unmanaged)
        thread = threading.Thread(target=self._run, args=(run_id, targets, dry_run, deactivate_unmanaged),
                                  name=f"console-reconcile-{run_id}", daemon=True)
        thread.start()
        return run_id

    def run_now(self, by: str, targets: list[str], *, dry_run: bool, deactivate_unmanaged: bool,
                at: datetime | None = None) -> RunView:
        """Open a run (started ``at``, default now) and carry it out on the caller's thread (the
        scheduled reconciliation); the finished run, as the Reconcile page shows it."""
        run_id = self._open(by, targets, dry_run=dry_run, deactivate_unmanaged=deactivate_unmanaged, at=at)
        self._run(run_id, targets, dry_run, deactivate_unmanaged)
        return self.get(run_id)

    def _open(self, by: str, targets: list[str], *, dry_run: bool, deactivate_unmanaged: bool,
              at: datetime | None = None) -> int:
        now = at or self.clock()
        with self._write() as session, session.begin():
            running = session.scalar(sa.select(ReconcileRun.id).where(
                ReconcileRun.state == "running", ReconcileRun.updated > now - STALE_AFTER).limit(1))
            if running is not None:
                raise RunBusy(running)
            run = ReconcileRun(started=now, updated=now, started_by=by, dry_run=dry_run,
                               deactivate_unmanaged=deactivate_unmanaged, targets=targets, state="running",
                               done_targets=0, result=[])
            session.add(run)
            session.flush()
            run_id = run.id
        log.info("reconciliation %s started by %s (%s) for %s", run_id, by, "dry run" if dry_run else "apply",
                 ", ".join(targets), extra={"admin": by})
        return run_id

    def _run(self, run_id: int, targets: list[str], dry_run: bool, deactivate_unmanaged: bool) -> None:
        reports: list[dict] = []
        finished: set[str] = set()

        def progress(target: str, stage: str, done: int, total: int | None) -> None:
            if stage == "done":
                finished.add(target)
                self._update(run_id, done_targets=len(finished))

        try:
            for report in reconcile(self.sync, targets=targets, dry_run=dry_run,
                                    deactivate_unmanaged=deactivate_unmanaged, progress=progress):
                keys = [(k, rid) for k, rid, _ in (*report.planned, *report.skipped)]
                with self._read() as session:
                    names = resource_names(session, keys)
                reports.append(report_data(report, names))
            self._update(run_id, done_targets=len(reports), result=list(reports), state="done",
                         finished=self.clock())
        except Exception as exc:  # noqa: BLE001 - shown to the administrator, never a traceback
            log.error("reconciliation %s failed: %s", run_id, exc.__class__.__name__)
            self._update(run_id, state="failed", finished=self.clock(),
                         error=f"{exc.__class__.__name__}: {str(exc)[:500]}")

    def _update(self, run_id: int, **values) -> None:
        with self._write() as session, session.begin():
            session.execute(sa.update(ReconcileRun).where(ReconcileRun.id == run_id)
                            .values(updated=self.clock(), **values))

    def get(self, run_id: int) -> RunView | None:
        with self._read() as session:
            row = session.get(ReconcileRun, run_id)
            return self._view(row) if row is not None else None

    def recent(self, limit: int = 10) -> list[RunView]:
        with self._read() as session:
            return [self._view(row) for row in session.scalars(
                sa.select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(limit))]

    def _view(self, row: ReconcileRun) -> RunView:
        state = row.state
        if state == "running" and row.updated <= self.clock() - STALE_AFTER:
            state = "interrupted"
        return RunView(row.id, row.started, row.finished, row.started_by, row.dry_run, row.deactivate_unmanaged,
                       list(row.targets or []), state, row.done_targets, list(row.result or []), row.error)



class ConfigChecks:
    """check-config's checks started from the Configuration page: ``checks.check_all`` (the command's
    own) on a thread of their own, kept in ``config_checks`` so any worker shows the latest result."""

    # How long the form's request waits for the checks before the page shows them running.
    WAIT_SECONDS = 15.0

    def __init__(self, engine: sa.Engine, settings, sync):
        self.engine, self.settings, self.sync = engine, settings, sync

    def start(self, by: str, wait: float | None = None) -> int:
        """Open a record and run the checks; return once they finish or ``wait`` seconds have passed.
        :class:`checks.ChecksBusy` when a run is not finished yet."""
        check_id = open_check(self.engine, by)
        log.info("configuration checks %s started by %s", check_id, by, extra={"admin": by})
        thread = threading.Thread(target=self._run, args=(check_id,), name=f"console-checks-{check_id}", daemon=True)
        thread.start()
        thread.join(self.WAIT_SECONDS if wait is None else wait)
        return check_id

    def _run(self, check_id: int) -> None:
        targets = self.sync.targets if self.sync is not None else {}
        try:
            checked = check_all(self.settings, targets, self.engine)
        except Exception as exc:  # noqa: BLE001 - shown to the administrator, never a traceback
            log.error("configuration checks %s failed: %s", check_id, exc.__class__.__name__)
            close_check(self.engine, check_id, error=f"{exc.__class__.__name__}: {str(exc)[:500]}")
            return
        close_check(self.engine, check_id, checked)

    def latest(self):
        return latest_check(self.engine)
