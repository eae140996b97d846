"""The operator's command line as README "Running it for real" describes it: tokens created once and
stored as SHA-256 hashes, the schema upgraded on its own, the queue shown by ``status`` (and by
``/metrics``), and the worker run as its own process.

The database is a SQLite file built by the bridge's own migrations, as the commands find it in
production (``token create`` and ``worker`` upgrade the schema themselves).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from scim_bridge.store.database import make_engine
from scim_bridge.store.migrate import current_revision, head_revision
from tests.e2e.provisioning_support import (
    EMAIL_LOCAL_PART,
    LICENCE,
    LICENCE_GROUPS,
    PRODUCTS,
    command_line,
)
from tests.support.bridge import ScimClient, bridge_app


@pytest.fixture
def database(tmp_path):
    """A SQLite file no table exists in yet, and the configuration that names it."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    return url, {"database": {"url": url}}


def test_db_upgrade_builds_the_schema_on_its_own(tmp_path, database):
    url, config = database
    assert command_line(tmp_path, config, "db", "upgrade", in_process=True) == f"schema at revision {head_revision()}\n"
    assert current_revision(make_engine(url)) == head_revision()
    # Run again, it finds the schema current.
    assert command_line(tmp_path, config, "db", "upgrade", in_process=True) == f"schema at revision {head_revision()}\n"


def test_a_token_is_printed_once_stored_as_its_sha256_and_revoked_at_once(tmp_path, database):
    url, config = database
    value = command_line(tmp_path, config, "token", "create", "onelogin")  # stdout: the value alone
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\n", value)  # 32 random bytes, URL-safe
    value = value.strip()
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.execute(sa.text("select * from api_tokens"))]
    assert len(stored) == 1 and not any(value in str(column) for column in stored[0])
    assert hashlib.sha256(value.encode()).hexdigest() in stored[0]
    assert ScimClient(bridge_app(engine), token=value).get("/Users").status == 200

    listed = command_line(tmp_path, config, "token", "list", in_process=True)
    assert re.fullmatch(r"1\tonelogin\tdatabase\tcreated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\tno expiry\tactive\n", listed)
    assert value not in listed

    revoked = command_line(tmp_path, config, "token", "revoke", "onelogin", in_process=True)
    assert revoked == "revoked 1 token(s) of onelogin\n"
    assert command_line(tmp_path, config, "token", "list", in_process=True).endswith("\trevoked\n")
    # A bridge that reads the stored tokens now refuses it.
    assert ScimClient(bridge_app(engine), token=value).get("/Users").status == 401
    assert "no active token named 'onelogin'" in command_line(tmp_path, config, "token", "revoke", "onelogin",
                                                               in_process=True, status=1)
    # The revoked name takes a new token.
    renewed = command_line(tmp_path, config, "token", "create", "onelogin").strip()
    assert ScimClient(bridge_app(engine), token=renewed).get("/Users").status == 200


def test_tokens_rotate_by_id_expire_and_the_list_shows_configured_ones_without_their_value(tmp_path, database):
    url, config = database
    configured = "configured-okta-token-0123456789"
    config = {**config, "auth": {"tokens": [{"name": "okta", "value": configured}]}}
    first = command_line(tmp_path, config, "token", "create", "onelogin", in_process=True)
    value_line, note = first.splitlines()
    assert re.fullmatch(r"token id 1 for onelogin \(no expiry\); the value above is shown this once", note)
    second = command_line(tmp_path, config, "token", "create", "onelogin", "--expires", "30d").strip()
    engine = make_engine(url)
    for value in (value_line, second):  # overlapping validity: both work
        assert ScimClient(bridge_app(engine), token=value).get("/Users").status == 200

    listed = command_line(tmp_path, config, "token", "list", in_process=True).splitlines()
    assert listed[0] == "-\tokta\tconfiguration file\t-\tno expiry\tactive"
    assert re.fullmatch(r"1\tonelogin\tdatabase\tcreated \S+Z\tno expiry\tactive", listed[1])
    expiry = re.fullmatch(r"2\tonelogin\tdatabase\tcreated \S+Z\texpires (\S+)\tactive", listed[2])
    assert expiry, listed
    days = (datetime.fromisoformat(expiry.group(1)) - datetime.now(UTC)).days  # ISO 8601 with its zone
    assert days in (29, 30)
    assert not any(secret in "\n".join(listed) for secret in (configured, value_line, second,
                                                                hashlib.sha256(configured.encode()).hexdigest()))

    assert command_line(tmp_path, config, "token", "revoke", "--id", "1", in_process=True) == \
        "revoked token id 1 of onelogin\n"
    assert ScimClient(bridge_app(engine), token=value_line).get("/Users").status == 401
    assert ScimClient(bridge_app(engine), token=second).get("/Users").status == 200
    assert "no active stored token with id 1" in command_line(tmp_path, config, "token", "revoke", "--id", "1",
                                                              in_process=True, status=1)
    # A configured name is not in the database: the operator is told where it lives.
    told = command_line(tmp_path, config, "token", "revoke", "okta", in_process=True)
    assert "remove it there (auth.tokens)" in told and "revoked 0 token(s) of okta" in told


@pytest.mark.parametrize("args, status, message", [
    (["token", "create", ""], 1, "token name '' is not valid"),
    (["token", "create", "two words"], 1, "token name 'two words' is not valid"),
    (["token", "create", "x" * 65], 1, "is not valid: use 1 to 64 letters"),
    (["token", "revoke", "a/b"], 1, "token name 'a/b' is not valid"),
    (["token", "create", "okta", "--expires", "30"], 2, "give a positive number and a unit, e.g. 90m"),
    (["token", "create", "okta", "--expires", "0d"], 2, "give a positive number and a unit"),
    (["token", "revoke"], 2, "give either a NAME (all its tokens) or --id ID"),
    (["token", "revoke", "okta", "--id", "3"], 2, "give either a NAME (all its tokens) or --id ID"),
])
def test_token_commands_refuse_bad_names_durations_and_arguments(tmp_path, database, args, status, message):
    url, config = database
    command_line(tmp_path, config, "db", "upgrade", in_process=True)
    assert message in command_line(tmp_path, config, *args, in_process=True, status=status)
    with make_engine(url).connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_tokens")).scalar() == 0


@pytest.fixture
def start(migrated_start):
    return migrated_start


ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def _without_due_times(printed: str) -> set[str]:
    return {re.sub(r"\tnext due \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", "", line) for line in printed.splitlines()}


def test_status_and_metrics_show_queued_and_parked_deliveries_and_failed_links(start, tmp_path):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    assert bridge.cli(tmp_path, "status", in_process=True) == "outbox: empty\n"
    bridge.jira.knobs.force_error("POST", "/rest/api/2/user", 400)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    bridge.drain()  # Confluence and Bitbucket take alice; Jira refuses her
    bob = bridge.idp.create_user("bob@example.com", "Bob Jones")  # queued, not delivered yet
    error = bridge.links("User", alice)["jira"].error
    assert error and bridge.links("User", bob)["jira"].status == "pending"
    assert _without_due_times(bridge.cli(tmp_path, "status", in_process=True)) == {
        "outbox:",
        "  bitbucket\tpending\t1 row(s)",
        "  confluence\tpending\t1 row(s)",
        "  jira\tparked\t1 row(s)",
        "  jira\tpending\t1 row(s)",
        f"  jira\tUser alice@example.com\tparked after 1 attempt(s): {error}",
        f"jira\tUser alice@example.com (alice)\tfailed: {error}",
    }
    # For scripts: one JSON document naming each user by userName and SCIM id, times with their zone.
    document = json.loads(bridge.cli(tmp_path, "status", "--json", in_process=True))
    assert [(p["target"], p["name"], p["id"], p["error"]) for p in document["parked"]] == \
        [("jira", "alice@example.com", alice, error)]
    assert [(link["target"], link["name"], link["applied_name"], link["status"]) for link in document["links"]] == \
        [("jira", "alice@example.com", "alice", "failed")]
    assert len(document["outbox"]) == 4 and all(re.fullmatch(ISO_UTC, row["next_due"]) for row in document["outbox"])
    # The audit log by userName (or SCIM id): alice's entries, each with a zoned time and her userName.
    printed = bridge.cli(tmp_path, "audit", "--resource", "alice@example.com", in_process=True).splitlines()
    assert printed and all(re.match(ISO_UTC[:-1] + r"\t", line) and "\tUser alice@example.com\t" in line
                           for line in printed), printed
    entries = json.loads(bridge.cli(tmp_path, "audit", "--json", "--resource", alice, in_process=True))
    assert len(entries) == len(printed) and {(e["id"], e["name"]) for e in entries} == {(alice, "alice@example.com")}
    assert "refused" in {e["outcome"] for e in entries} and all(re.fullmatch(ISO_UTC, e["at"]) for e in entries)
    # /metrics reports the same queue: depth by target and state, age of the oldest pending row.
    metrics = bridge.app.test_client().get("/metrics").data.decode().splitlines()
    assert {line for line in metrics if line.startswith("scim_bridge_outbox_rows{")} == {
        'scim_bridge_outbox_rows{state="pending",target="bitbucket"} 1.0',
        'scim_bridge_outbox_rows{state="pending",target="confluence"} 1.0',
        'scim_bridge_outbox_rows{state="parked",target="jira"} 1.0',
        'scim_bridge_outbox_rows{state="pending",target="jira"} 1.0',
    }
    ages = dict(re.fullmatch(r'scim_bridge_outbox_oldest_seconds\{target="(\w+)"\} (\S+)', line).groups()
                for line in metrics if line.startswith("scim_bridge_outbox_oldest_seconds{"))
    assert set(ages) == set(PRODUCTS) and all(float(age) >= 0 for age in ages.values())


def test_the_worker_runs_as_its_own_process(start, tmp_path):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    assert all(bridge.fake(p).user("alice") is None for p in PRODUCTS)  # the app itself delivers nothing
    # A separate Python process, as `scim-bridge worker` runs next to an app with delivery.worker: false.
    assert bridge.cli(tmp_path, "worker", "--once") == "3 delivery(ies) attempted\n"
    assert bridge.outbox() == []
    assert {p: bridge.links("User", alice)[p].status for p in PRODUCTS} == dict.fromkeys(PRODUCTS, "ok")
    for product in PRODUCTS:
        assert bridge.state(product)[1][LICENCE[product]] == {"alice"}, product


def test_check_config_reaches_the_database_and_every_target(tmp_path, database):
    from atlassian_clients.fakes import start_fakes

    url, config = database
    with start_fakes() as fakes:
        targets = {product: {"type": product, "url": fakes.base_url(product), "username": "admin",
                             "password": "admin"} for product in (*PRODUCTS, "crowd")}
        config = {**config, "auth": {"tokens": [{"name": "okta", "value": "a-configured-token-0123456789"}]}}
        printed = command_line(tmp_path, {**config, "targets": targets}, "check-config", in_process=True)
        assert "database: reachable" in printed
        assert f"targets.jira: jira {fakes.jira.version}; can deactivate, rename users, find by e-mail\n" in printed
        assert f"targets.confluence: confluence {fakes.confluence.version}; can deactivate\n" in printed
        assert f"targets.bitbucket: bitbucket {fakes.bitbucket.version}; can rename users, find by e-mail\n" in printed
        # Crowd tells an application no version (docs/products.md §5.1); its credentials were still tried.
        assert "targets.crowd: crowd (version not reported); can deactivate, rename users, find by e-mail\n" in printed
        wrong = {**targets, "jira": {**targets["jira"], "password": "wrong"}}
        refused = command_line(tmp_path, {**config, "targets": wrong}, "check-config", in_process=True, status=1)
        assert "targets.jira: target 'jira'" in refused and "cannot use target(s) jira" in refused
