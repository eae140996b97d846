"""``scim-bridge audit`` as an administrator questions it (docs/cli.md, "audit"): by SCIM userName,
Atlassian username, group, target, outcome and time; exported as JSON lines and CSV, each row naming
the token that asked, what was decided and what the product answered; a filter that names nothing
is an error with exit code 2, never an empty answer.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from scim_bridge.store.database import make_engine
from scim_bridge.store.models import AuditEntry
from tests.conftest import postgres_schema
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, PRODUCTS, bridges, command_line

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LONG_AGO = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)  # the first entries are moved back to then


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(request, tmp_path_factory):
    """alice (refused by Jira), bob (deleted since), the group devs with alice; the SCIM entries of
    alice's creation moved back to LONG_AGO. On SQLite and on PostgreSQL (JSON and row-value SQL)."""
    tmp_path = tmp_path_factory.mktemp("audit")
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'bridge.db'}" if request.param == "sqlite"
               else stack.enter_context(postgres_schema("audit")))
        yield from _history(tmp_path, make_engine(url))


def _history(tmp_path, engine):
    command_line(tmp_path, {"database": {"url": engine.url.render_as_string(hide_password=False)}}, "db", "upgrade",
                 in_process=True)
    with bridges(engine) as start:
        bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
        bridge.jira.knobs.force_error("POST", "/rest/api/2/user", 400)
        alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
        with engine.begin() as conn:
            conn.execute(sa.update(AuditEntry).where(AuditEntry.resource_id == alice).values(at=LONG_AGO))
        bridge.drain()
        bob = bridge.idp.create_user("bob@example.com", "Bob Jones")
        devs = bridge.idp.create_group("devs", alice)
        bridge.drain()
        bridge.idp.delete(f"/Users/{bob}")
        bridge.drain()
        yield bridge, tmp_path, {"alice": alice, "bob": bob, "devs": devs}
    engine.dispose()


def _jsonl(bridge, tmp_path, *args: str) -> list[dict]:
    printed = bridge.cli(tmp_path, "audit", "--format", "jsonl", *args, in_process=True)
    return [json.loads(line) for line in printed.splitlines()]


def _bad(bridge, tmp_path, *args: str) -> str:
    printed = command_line(tmp_path, bridge.config, "audit", *args, in_process=True, status=2)
    assert len(printed.strip().splitlines()) == 1 and printed.startswith("Error: "), printed
    assert "Traceback" not in printed
    return printed.strip()


def test_every_row_says_who_asked_what_was_decided_and_what_the_product_answered(history):
    bridge, tmp_path, ids = history
    rows = _jsonl(bridge, tmp_path)
    assert rows and all(row["asked_by"] == "idp" for row in rows)  # the token's name, delivery entries too
    assert all(re.fullmatch(ISO_UTC, row["at"]) for row in rows)
    refused = [row for row in rows if row["outcome"] == "refused"]
    assert [(r["target"], r["name"], r["account"]) for r in refused] == [("jira", "alice@example.com", "alice")]
    assert "create user alice" in refused[0]["detail"] and "400" in refused[0]["detail"]  # the product's answer
    created = [r for r in rows if r["target"] == "confluence" and r["action"] == "create_user"]
    assert {(r["name"], r["account"], r["outcome"]) for r in created} == \
        {("alice@example.com", "alice", "applied"), ("bob@example.com", "bob", "applied")}
    assert all(r["after"]["name"] == r["account"] for r in created)
    scim = [r for r in rows if r["target"] is None]
    assert {(r["action"], r["type"], r["name"]) for r in scim} == {
        ("create", "User", "alice@example.com"), ("create", "User", "bob@example.com"),
        ("create", "Group", "devs"), ("delete", "User", "bob@example.com")}


def test_filters_by_user_account_group_target_and_outcome(history):
    bridge, tmp_path, ids = history
    everything = _jsonl(bridge, tmp_path)

    def expect(rows, predicate):
        wanted = [row for row in everything if predicate(row)]
        assert wanted and rows == wanted

    by_user = _jsonl(bridge, tmp_path, "--user", "ALICE@example.com")  # userName, case-insensitively
    expect(by_user, lambda r: r["id"] == ids["alice"])
    assert _jsonl(bridge, tmp_path, "--user", ids["alice"]) == by_user  # or the SCIM id
    # A deleted user is still found by the userName its entries recorded.
    expect(_jsonl(bridge, tmp_path, "--user", "bob@example.com"), lambda r: r["id"] == ids["bob"])
    expect(_jsonl(bridge, tmp_path, "--account", "alice"), lambda r: r["id"] == ids["alice"])
    expect(_jsonl(bridge, tmp_path, "--account", "bob", "--target", "bitbucket"),
           lambda r: r["id"] == ids["bob"] and r["target"] == "bitbucket")
    expect(_jsonl(bridge, tmp_path, "--group", "devs"), lambda r: r["id"] == ids["devs"])
    expect(_jsonl(bridge, tmp_path, "--target", "jira"), lambda r: r["target"] == "jira")
    expect(_jsonl(bridge, tmp_path, "--outcome", "refused"), lambda r: r["outcome"] == "refused")
    expect(_jsonl(bridge, tmp_path, "--outcome", "refused", "--outcome", "applied"),
           lambda r: r["outcome"] in ("refused", "applied"))
    expect(_jsonl(bridge, tmp_path, "--user", "alice@example.com", "--target", "confluence"),
           lambda r: r["id"] == ids["alice"] and r["target"] == "confluence")


def test_filters_by_time_with_a_zone_or_a_time_ago(history):
    bridge, tmp_path, ids = history
    everything = _jsonl(bridge, tmp_path)
    old = [row for row in everything if row["at"] == "2026-01-01T09:00:00Z"]
    assert old and all(row["id"] == ids["alice"] and row["target"] is None for row in old)
    assert _jsonl(bridge, tmp_path, "--until", "2026-01-01T09:00:01Z") == old
    # The same instant written in another zone.
    assert _jsonl(bridge, tmp_path, "--since", "2026-01-01T10:00:00+01:00", "--until", "2026-01-01T10:00:01+01:00") \
        == old
    recent = [row for row in everything if row not in old]
    assert _jsonl(bridge, tmp_path, "--since", "2h") == recent  # a time ago
    assert _jsonl(bridge, tmp_path, "--since", "2026-01-02T00:00:00Z", "--user", "alice@example.com") == \
        [row for row in recent if row["id"] == ids["alice"]]


def test_exports_as_csv_and_json_lines_to_stdout_or_a_file(history):
    bridge, tmp_path, ids = history
    rows = _jsonl(bridge, tmp_path)
    table = list(csv.DictReader(io.StringIO(bridge.cli(tmp_path, "audit", "--format", "csv", in_process=True))))
    assert [(r["at"], r["asked_by"], r["target"], r["action"], r["outcome"], r["name"], r["account"], r["detail"])
            for r in table] == \
        [(r["at"], r["asked_by"], r["target"] or "", r["action"], r["outcome"], r["name"], r["account"] or "",
          r["detail"] or "") for r in rows]
    assert [json.loads(r["after"]) if r["after"] else None for r in table] == [r["after"] for r in rows]

    out = tmp_path / "audit.csv"
    note = bridge.cli(tmp_path, "audit", "--format", "csv", "--output", str(out), "--target", "jira", in_process=True)
    jira = [r for r in rows if r["target"] == "jira"]
    assert note == f"{len(jira)} audit entry(ies) written to {out}\n"
    with out.open(newline="", encoding="utf-8") as written:
        assert [r["action"] for r in csv.DictReader(written)] == [r["action"] for r in jira]
    out = tmp_path / "audit.jsonl"
    bridge.cli(tmp_path, "audit", "--format", "jsonl", "--output", str(out), in_process=True)
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == rows
    # The table and --json show the newest 50 unless --limit says otherwise; exports have no limit.
    assert json.loads(bridge.cli(tmp_path, "audit", "--json", "--limit", "3", in_process=True)) == rows[-3:]
    printed = bridge.cli(tmp_path, "audit", "--user", "alice@example.com", in_process=True).splitlines()
    assert len(printed) == sum(r["id"] == ids["alice"] for r in rows)
    assert all(re.match(ISO_UTC + r"\tidp\t", line) and "\tUser alice@example.com\t" in line for line in printed)


@pytest.mark.parametrize(("args", "message"), [
    (("--user", "nobody@example.com"), "--user 'nobody@example.com': no user with that userName or SCIM id"),
    (("--group", "nobody"), "--group 'nobody': no group with that displayName or SCIM id"),
    (("--account", "nobody"), "--account 'nobody': no user or group has that name on any target"),
    (("--account", "alice", "--target", "bitbucket"), None),  # alice has that name there: not an error
    (("--target", "jria"), "--target 'jria': no such target (configured: bitbucket, confluence, jira)"),
    (("--outcome", "refuse"), "--outcome 'refuse': one of applied, refused, failed, planned, skipped"),
    (("--since", "2026-01-01T09:00:00"), "--since '2026-01-01T09:00:00': the time has no zone"),
    (("--since", "yesterday"), "--since 'yesterday': give an ISO 8601 time with its zone"),
    (("--until", "7days"), "--until '7days': give an ISO 8601 time with its zone"),
    (("--since", "1d", "--until", "2d"), "is not before --until"),
    (("--json", "--format", "csv"), "give either --json or --format, not both"),
])
def test_a_bad_filter_is_a_one_line_error_with_exit_code_2_and_writes_no_file(history, args, message):
    bridge, tmp_path, ids = history
    out = tmp_path / "refused.csv"
    if message is None:
        assert _jsonl(bridge, tmp_path, *args)
        return
    assert message in _bad(bridge, tmp_path, *args, "--format", "csv", "--output", str(out)) \
        if "--json" not in args else message in _bad(bridge, tmp_path, *args)
    assert not out.exists()


def test_a_filter_that_matches_nothing_now_says_so_on_stderr(history):
    bridge, tmp_path, ids = history
    printed = bridge.cli(tmp_path, "audit", "--user", "alice@example.com", "--since", "2030-01-01T00:00:00Z",
                         in_process=True)
    assert printed == "no audit entry matches\n"
    assert set(PRODUCTS) <= {row["target"] for row in _jsonl(bridge, tmp_path)}


def test_an_export_streams_the_log_rather_than_holding_it(tmp_path):
    """20,000 entries of 1 kB each (20 MB of detail) leave in constant memory: Python's peak stays a
    fraction of what the log holds."""
    url = f"sqlite:///{tmp_path / 'big.db'}"
    config = {"database": {"url": url}}
    command_line(tmp_path, config, "db", "upgrade", in_process=True)
    engine = make_engine(url)
    detail = "x" * 1000
    with engine.begin() as conn:
        for user in range(200):
            conn.execute(sa.insert(AuditEntry), [
                {"at": LONG_AGO, "actor": "idp" if n == 0 else "delivery", "scope": "scim" if n == 0 else "jira",
                 "action": "create" if n == 0 else "update_user", "resource_type": "User",
                 "resource_id": f"user-{user:04}", "outcome": "applied", "detail": detail,
                 "after": {"userName": f"u{user}@example.com"} if n == 0 else {"name": f"u{user}"}}
                for n in range(100)])
    engine.dispose()
    out = tmp_path / "all.csv"
    tracemalloc.start()
    try:
        command_line(tmp_path, config, "audit", "--format", "csv", "--output", str(out), in_process=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with out.open(newline="", encoding="utf-8") as written:
        rows = list(csv.DictReader(written))
    assert len(rows) == 20_000 and {r["asked_by"] for r in rows} == {"idp"}
    assert rows[-1]["name"] == "u199@example.com" and rows[-1]["account"] == "u199"
    assert peak < 20_000_000 / 4, peak
