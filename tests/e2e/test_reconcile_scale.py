"""Reconciliation of a provisioned estate: every target read in pages and compared in bulk, in
parallel. Drift made by hand on each product (memberships removed, e-mail addresses changed,
accounts deactivated, accounts added that no identity provider user maps to) is listed exactly by a
dry run, repaired exactly by a real run, and a second run finds nothing. A target that is down ends
its own reconciliation at once, named with the cause, and the others go on.

The same drift at 10,000 users and 500 groups is the benchmark ``python -m bench.run --only reconcile``.
"""

from __future__ import annotations

import json

import pytest

from scim_bridge.sync.reconcile import reconcile
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, WITH_CROWD
from tests.support.drift import inject_drift, seed_in_line

USERS, GROUPS, PER_KIND = 300, 20, 4


@pytest.fixture
def estate(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, products=WITH_CROWD)
    fakes = {name: bridge.fake(name) for name in WITH_CROWD}
    seeded = seed_in_line(bridge.engine, bridge.sync, fakes, users=USERS, groups=GROUPS)
    return bridge, fakes, seeded


def _found(reports):
    return {r.target: ({(rid, op.describe()) for _, rid, op in r.planned}, set(r.unmanaged)) for r in reports}


def test_an_estate_in_line_has_no_drift(estate):
    bridge, _, _ = estate
    reports = reconcile(bridge.sync, dry_run=True)
    assert {r.target: (r.planned, r.unmanaged, r.skipped, r.errors, r.stopped) for r in reports} == \
        {name: ([], [], [], [], None) for name in WITH_CROWD}
    assert {r.target: r.compared for r in reports} == {name: USERS + GROUPS for name in WITH_CROWD}


def test_drift_is_listed_exactly_repaired_exactly_and_a_second_run_finds_nothing(estate):
    bridge, fakes, seeded = estate
    expected = inject_drift(bridge.sync, fakes, seeded, per_kind=PER_KIND)
    before = bridge.mutating_calls()

    dry = reconcile(bridge.sync, dry_run=True, deactivate_unmanaged=True)
    assert _found(dry) == {t: (e.planned, e.unmanaged) for t, e in expected.items()}
    assert {r.target: dict(r.found()) for r in dry} == {t: dict(e.kinds) for t, e in expected.items()}
    assert bridge.mutating_calls() == before  # a dry run changes nothing

    real = reconcile(bridge.sync, dry_run=False, deactivate_unmanaged=True)
    assert _found(real) == _found(dry)
    assert {r.target: r.queued for r in real} == {t: len({rid for rid, _ in e.planned}) for t, e in expected.items()}
    assert {r.target: set(r.deactivated) for r in real} == {t: e.unmanaged for t, e in expected.items()}
    bridge.drain()

    again = {r.target: r for r in reconcile(bridge.sync, dry_run=True)}
    assert {t: (r.planned, r.errors, r.stopped) for t, r in again.items()} == \
        {t: ([], [], None) for t in WITH_CROWD}
    # Bitbucket has no deactivate call (docs/products.md §4.10): its unmanaged accounts stay, unlicensed.
    assert {t: r.unmanaged for t, r in again.items()} == \
        {"jira": [], "confluence": [], "crowd": [], "bitbucket": sorted(expected["bitbucket"].unmanaged)}
    for name in expected["bitbucket"].unmanaged:
        assert not bridge.bitbucket.is_licensed(name) and "stash-users" not in bridge.bitbucket.groups_of(name)
    for name in expected["jira"].unmanaged:
        assert bridge.jira.user(name).active is False


def test_a_target_that_is_down_stops_at_once_with_its_name_and_cause_and_the_others_go_on(estate):
    bridge, fakes, seeded = estate
    expected = inject_drift(bridge.sync, fakes, seeded, per_kind=1)
    forced = bridge.jira.knobs.force_error("*", "*", 503, count=100_000)

    reports = {r.target: r for r in reconcile(bridge.sync, dry_run=True)}

    calls = 100_000 - forced.count
    # One read, retried within the HTTP policy's deadline (1 s here, backoff from 0.05 s): a handful
    # of attempts, never one per stored resource (320 here).
    assert 1 <= calls <= 40, calls
    jira = reports["jira"]
    assert jira.stopped is not None and jira.unreachable
    assert "target 'jira'" in jira.stopped and "503" in jira.stopped
    assert jira.planned == [] and jira.compared == 0
    assert jira.lines()[-1] == "jira: reconcile stopped: the target could not be read (nothing was compared)"
    assert jira.summary().startswith("jira: not reconciled, the target could not be read: target 'jira'")
    for name in ("confluence", "bitbucket", "crowd"):
        assert _found([reports[name]])[name] == (expected[name].planned, expected[name].unmanaged)


def test_the_command_line_prints_progress_a_summary_and_json(estate, tmp_path):
    bridge, fakes, seeded = estate
    expected = inject_drift(bridge.sync, fakes, seeded, per_kind=2)
    printed = bridge.cli(tmp_path, "reconcile", "--dry-run", "--target", "jira", in_process=True)
    assert "jira: reading accounts: " in printed and "jira: comparing: 320 of 320" in printed
    assert "summary:" in printed
    assert (f"jira: {USERS + 2 + 1} account(s) read, {USERS + GROUPS} resource(s) compared in" in printed)
    assert ("found 2 account deactivated on the target, 2 account not managed by the bridge, "
            "2 membership missing, 2 profile changed (name or e-mail)") in printed

    out = bridge.cli(tmp_path, "reconcile", "--dry-run", "--json", in_process=True)
    document = json.loads(out[out.index("{"):])
    by_target = {t["target"]: t for t in document["targets"]}
    assert set(by_target) == set(WITH_CROWD) and document["dry_run"] is True
    assert {(p["id"], p["operation"]) for p in by_target["jira"]["planned"]} == expected["jira"].planned
    assert by_target["jira"]["found"]["membership missing"] == 2 and by_target["jira"]["stopped"] is None
