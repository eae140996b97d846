"""The scheduled reconciliation (``reconcile.schedule``, docs/running.md "Scheduled reconciliation").

Every process that delivers (the app with ``delivery.worker: true``, or ``scim-bridge worker``) runs a
:class:`ReconcileSchedule` thread, and with several of them (gunicorn workers, instances on one
PostgreSQL database) each period is still reconciled once: an instance *claims* the period in one
short transaction that reads and writes the durable row of ``reconcile_schedule`` — under
``pg_try_advisory_xact_lock`` on PostgreSQL (an instance that does not get the lock leaves the period
to the one that has it), under SQLite's write lock (``BEGIN IMMEDIATE``) on SQLite. The row's
``last_started`` is committed before the lock is let go, so whoever looks next finds the period taken.

The run itself is the console's (``console/runs.py`` ``ReconcileRuns.run_now``, through
``sync.reconcile.reconcile``): recorded in ``console_reconcile_runs`` with ``started_by`` "schedule",
shown on the console's Reconcile page; drift it found is told to the alerts (``Alerts.drift``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

import sqlalchemy as sa

from scim_bridge.alerts.events import Drift
from scim_bridge.config import ReconcileSettings
from scim_bridge.console.runs import ReconcileRuns, RunBusy, RunView
from scim_bridge.store.database import describe, make_session_factory
from scim_bridge.store.models import ReconcileSchedule as ScheduleRow
from scim_bridge.store.models import utcnow

log = logging.getLogger("scim_bridge.schedule")

NAME = "reconcile"
STARTED_BY = "schedule"
CHECK_SECONDS = 30.0  # how often an idle thread looks whether a period is due (at most)
# The advisory lock's key: one per schema, so installations (or tests) sharing a database do not
# hold each other up.
_LOCK = sa.text("select pg_try_advisory_xact_lock(hashtext('scim-bridge reconcile schedule ' || current_schema()))")


def drift_of(run: RunView) -> list[Drift]:
    """Per target, what the run found out of line (operations planned for managed users and groups);
    nothing for a target that was in line."""
    found = []
    for report in run.reports:
        planned = report.get("planned") or []
        if planned:
            resources = len({(p["type"], p["id"]) for p in planned})
            found.append(Drift(report["target"], operations=len(planned), resources=resources,
                               queued=report.get("queued", 0), unmanaged=len(report.get("unmanaged") or []),
                               dry_run=run.dry_run, run_id=run.id))
    return found


class ReconcileSchedule:
    def __init__(self, engine: sa.Engine, sync, settings: ReconcileSettings, *, alerts=None, clock=utcnow,
                 owner: str | None = None):
        if settings.schedule is None:
            raise ValueError("reconcile.schedule is not set")
        self.engine = engine
        self.settings = settings
        self.every = timedelta(seconds=settings.schedule)
        self.alerts = alerts
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.runs = ReconcileRuns(engine, sync, clock)
        self._write = make_session_factory(engine, write=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one period ----------------------------------------------------------------------------------

    def claim(self) -> datetime | None:
        """Take the current period if it is due and no other instance has: the moment it was taken
        (run it now), else None."""
        now = self.clock()
        try:
            with self._write() as session, session.begin():
                if self.engine.dialect.name == "postgresql" and not session.scalar(_LOCK):
                    return None  # another instance is claiming right now: the period is its
                row = session.get(ScheduleRow, NAME)
                if row is not None and now < row.last_started + self.every:
                    return None
                if row is None:
                    session.add(ScheduleRow(name=NAME, last_started=now, owner=self.owner))
                else:
                    row.last_started, row.owner, row.last_run_id = now, self.owner, None
        except sa.exc.IntegrityError:  # SQLite: two processes made the first row at once; one won
            return None
        return now

    def run_if_due(self) -> RunView | None:
        """Reconcile if this period is due and this instance claimed it: the finished run, else None."""
        claimed = self.claim()
        if claimed is None:
            return None
        try:
            run = self.runs.run_now(STARTED_BY, self.runs.targets, dry_run=self.settings.dry_run,
                                    deactivate_unmanaged=self.settings.deactivate_unmanaged, at=claimed)
        except RunBusy as busy:  # one started from the console is running: it reconciles this period
            log.info("scheduled reconciliation skipped: reconciliation %s is running", busy.args[0])
            return None
        with self._write() as session, session.begin():
            session.execute(sa.update(ScheduleRow).where(ScheduleRow.name == NAME, ScheduleRow.owner == self.owner)
                            .values(last_run_id=run.id))
        drift = drift_of(run)
        log.info("scheduled reconciliation %s %s: %s", run.id, run.state,
                 "; ".join(f"{d.target}: {d.operations} operation(s) for {d.resources} resource(s)" for d in drift)
                 or "every target in line")
        if drift and self.alerts is not None:
            self.alerts.drift(drift)
        return run

    # -- the thread ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="reconcile-schedule", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        pause = min(self.every.total_seconds(), CHECK_SECONDS)
        while not self._stop.is_set():
            try:
                self.run_if_due()
            except sa.exc.SQLAlchemyError as exc:  # the database is away: look again next time
                log.warning("scheduled reconciliation: database unavailable (%s)", describe(exc))
            except Exception as exc:  # noqa: BLE001 - the thread must outlive one bad run
                log.error("scheduled reconciliation failed: %s", exc.__class__.__name__)
            self._stop.wait(pause)


def build_schedule(config, engine: sa.Engine, sync, *, alerts=None, **options) -> ReconcileSchedule | None:
    """The schedule of ``config.reconcile``; None when no schedule is set or nothing is delivered."""
    if config.reconcile.schedule is None or sync is None:
        return None
    return ReconcileSchedule(engine, sync, config.reconcile, alerts=alerts, **options)
