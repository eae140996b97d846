"""The scheduled reconciliation (``reconcile.schedule``, docs/running.md): with two instances on one
database each period is reconciled once, not twice; what it found is on the console's Reconcile page;
drift is one alert. The bridge is live against the in-process fakes, on SQLite and on PostgreSQL
(the ``engine`` fixture); the schedules run on the test's clock, so a period passes when the test says.
"""

from __future__ import annotations

import re
import threading
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scim_bridge.config import validate_config
from scim_bridge.schedule import ReconcileSchedule, build_schedule
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import ReconcileRun
from scim_bridge.store.models import ReconcileSchedule as ScheduleRow
from scim_bridge.sync.setup import build_sync
from tests.conftest import postgres_schema
from tests.e2e.console_support import ConsoleClient
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, bridges, command_line
from tests.e2e.test_alerts import Clock, alerts_section
from tests.support.alert_sinks import body_of, smtp_sink, webhook_receiver
from tests.support.credentials import CONSOLE_PASSWORD

PERIOD = timedelta(hours=6)


class WallClock:
    """The schedules' clock (a datetime in UTC), moved by the test."""

    def __init__(self):
        self.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def drift_on_jira(bridge) -> str:
    """alice provisioned everywhere, then taken out of a group on Jira by hand: one user out of line."""
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.idp.create_group("Dev Team", alice)
    bridge.drain()
    bridge.jira.remove_member("Dev Team", "alice")
    bridge.jira.remove_member("jira-software-users", "alice")
    return alice


def scheduled_runs(engine) -> list[tuple[int, datetime]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(ReconcileRun.id, ReconcileRun.started).where(ReconcileRun.started_by == "schedule")
            .order_by(ReconcileRun.id))]


@pytest.fixture
def two_instances(start):
    """The bridge and a second instance beside it: its own engine (connection pool), its own delivery
    side and clients, the same database. Both schedules run on one clock."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False,
                   sections={"reconcile": {"schedule": "6h", "dry_run": True}})
    settings = validate_config(bridge.config)
    other_engine = make_engine(bridge.database_url)
    other_sync = build_sync(settings, other_engine)
    clock = WallClock()
    schedules = [build_schedule(settings, bridge.engine, bridge.sync, clock=clock, owner="instance-a"),
                 build_schedule(settings, other_engine, other_sync, clock=clock, owner="instance-b")]
    yield bridge, schedules, clock
    other_sync.stop()
    other_engine.dispose()


def test_two_instances_reconcile_each_period_once_not_twice(two_instances):
    bridge, schedules, clock = two_instances
    drift_on_jira(bridge)
    for period in range(4):
        # Both instances look at the same moment (their threads woke together): one claims the period.
        ready = threading.Barrier(len(schedules))
        ran: list = [None] * len(schedules)

        def look(i: int, ready=ready, ran=ran) -> None:
            ready.wait()
            ran[i] = schedules[i].run_if_due()

        threads = [threading.Thread(target=look, args=(i,)) for i in range(len(schedules))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert sum(run is not None for run in ran) == 1, f"period {period}: {ran}"
        # Later within the period, each looks again, one after the other: the period is taken.
        clock.advance(PERIOD / 2)
        assert [schedule.run_if_due() for schedule in schedules] == [None, None]
        clock.advance(PERIOD / 2)

    runs = scheduled_runs(bridge.engine)
    assert len(runs) == 4  # counted from the durable rows: four periods, four runs
    starts = [started for _, started in runs]
    assert all(later - earlier >= PERIOD for earlier, later in zip(starts, starts[1:], strict=False))
    with bridge.engine.connect() as conn:
        row = conn.execute(sa.select(ScheduleRow)).one()
    assert row.last_run_id == runs[-1][0] and row.owner in ("instance-a", "instance-b")
    # Each run saw the drift (a dry run repairs nothing): the plan names alice on Jira.
    run = schedules[0].runs.get(runs[-1][0])
    jira = next(report for report in run.reports if report["target"] == "jira")
    assert sorted(p["operation"] for p in jira["planned"]) == ["add alice to Dev Team",
                                                               "add alice to jira-software-users"]


def test_two_instances_with_their_own_threads_and_a_short_period_never_run_twice_in_one_period(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False,
                   sections={"reconcile": {"schedule": "1s", "dry_run": True}})
    settings = validate_config(bridge.config)
    other_engine = make_engine(bridge.database_url)
    other_sync = build_sync(settings, other_engine)
    schedules = [build_schedule(settings, bridge.engine, bridge.sync),
                 build_schedule(settings, other_engine, other_sync)]
    try:
        for schedule in schedules:
            schedule.start()
        # Wait for a few runs (generously bounded), however fast or slow the machine is.
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while len(scheduled_runs(bridge.engine)) < 3 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.1)
    finally:
        for schedule in schedules:
            schedule.stop()
        other_sync.stop()
        other_engine.dispose()
    with bridge.engine.connect() as conn:
        claimed = conn.execute(sa.select(ScheduleRow.last_started)).scalar_one()
    starts = [started for _, started in scheduled_runs(bridge.engine)]
    assert len(starts) >= 3
    # No period was reconciled twice: consecutive runs (each recorded at the moment its instance
    # claimed the period) are at least one period apart.
    assert all(later - earlier >= timedelta(seconds=1) for earlier, later in zip(starts, starts[1:], strict=False))
    assert claimed <= starts[-1]


@pytest.fixture
def sinks():
    with smtp_sink() as (port, mails), webhook_receiver() as (url, hooks):
        yield port, mails, url, hooks


def test_drift_found_by_the_schedule_is_one_alert_and_a_period_in_line_sends_none(start, sinks):
    port, mails, hook_url, hooks = sinks
    alerts_clock = Clock()
    sections = {**alerts_section(port, hook_url), "reconcile": {"schedule": "6h"}}
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, sections=sections,
                   alerts_clock=alerts_clock)
    alerts = bridge.app.extensions["scim_bridge_alerts"]
    clock = WallClock()
    schedule = build_schedule(validate_config(bridge.config), bridge.engine, bridge.sync, alerts=alerts,
                              clock=clock)
    drift_on_jira(bridge)

    run = schedule.run_if_due()
    assert run is not None and run.state == "done" and not run.dry_run
    alerts_clock.advance(30)  # the batch window passes
    alerts.pump()
    [hook] = hooks.wait_for(1)
    [mail] = mails.wait_for(1)
    assert hook["drift"] == [{"target": "jira", "operations": 2, "resources": 1, "queued": 1, "unmanaged": 0,
                              "dry_run": False, "run": run.id}]
    words = (f"Scheduled reconciliation {run.id} found jira out of line: 2 operation(s) for 1 user(s) and "
             "group(s) (1 resource(s) queued for delivery to repair it); 0 account(s) no identity provider "
             "user maps to.")
    assert words in hook["text"] and words in body_of(mail)
    assert f"https://bridge.example.com/admin/reconcile/{run.id}" in hook["text"]
    assert mail["Subject"] == "scim-bridge: jira out of line"

    # The worker repairs what the run queued; the next period finds every target in line: no alert.
    bridge.drain()
    assert set(bridge.jira.groups_of("alice")) == {"Dev Team", "jira-software-users"}
    clock.advance(PERIOD)
    again = schedule.run_if_due()
    assert again is not None and again.found == "in line"
    alerts_clock.advance(60)
    assert alerts.pump(force=True) is None
    assert len(hooks.items) == 1 and len(mails.items) == 1


def test_the_reconcile_page_shows_the_schedule_and_what_each_scheduled_run_found(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False,
                   sections={"reconcile": {"schedule": "6h", "dry_run": True},
                             "console": {"secure_cookies": False}})
    from scim_bridge.console.accounts import Accounts

    Accounts(bridge.engine).create("ada", CONSOLE_PASSWORD)
    drift_on_jira(bridge)
    clock = WallClock()
    schedule = build_schedule(validate_config(bridge.config), bridge.engine, bridge.sync, clock=clock)
    browser = ConsoleClient(bridge.app)
    browser.login()
    page = browser.get("/admin/reconcile").text
    assert "Reconciled as a dry run every 6h" in page and "No scheduled run yet." in page

    run = schedule.run_if_due()
    page = browser.get("/admin/reconcile").text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Last scheduled run: 2026-12-01 00:00" in text and f"#{run.id}" in text
    assert "next due 2026-12-01 06:00" in text
    assert re.search(rf"#{run.id} .* schedule dry run jira, confluence, bitbucket done 2 operation\(s\)", text)
    detail = browser.get(f"/admin/reconcile/{run.id}").text
    assert "add alice to Dev Team" in detail and "by schedule" in detail


def test_no_schedule_builds_nothing_and_a_bad_one_names_the_key():
    assert build_schedule(validate_config({}), None, object()) is None
    with pytest.raises(ValueError):
        ReconcileSchedule(None, None, validate_config({}).reconcile)
    with pytest.raises(Exception, match=r"reconcile\.schedule: give a number and a unit \(s, m, h or d\), "
                                        r"e\.g\. 30m, 6h or 1d"):
        validate_config({"reconcile": {"schedule": "every six hours"}})


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_start(request, tmp_path):
    """Live bridges on a database the migrations built (``scim-bridge worker`` upgrades the schema
    itself, which needs Alembic's record of it)."""
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'bridge.db'}" if request.param == "sqlite"
               else stack.enter_context(postgres_schema("sched")))
        command_line(tmp_path, {"database": {"url": url}}, "db", "upgrade", in_process=True)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        yield stack.enter_context(bridges(engine))


def test_the_worker_process_runs_the_schedule_when_due_and_a_second_one_finds_the_period_taken(migrated_start,
                                                                                                tmp_path):
    bridge = migrated_start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False,
                   sections={"reconcile": {"schedule": "6h"}})
    drift_on_jira(bridge)
    first = bridge.cli(tmp_path, "worker", "--once")  # a separate Python process each time
    [(run_id, _)] = scheduled_runs(bridge.engine)
    assert f"scheduled reconciliation {run_id} done: 2 operation(s), 1 queued\n" in first
    assert first.endswith("1 delivery(ies) attempted\n")  # what the run queued, repaired at once
    assert set(bridge.jira.groups_of("alice")) == {"Dev Team", "jira-software-users"}
    assert bridge.cli(tmp_path, "worker", "--once") == "0 delivery(ies) attempted\n"
    assert len(scheduled_runs(bridge.engine)) == 1
