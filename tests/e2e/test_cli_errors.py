"""The command line as a new administrator meets it (docs/cli.md): on a fresh database, with a wrong
configuration, with the database or a target out of reach. Every failure is a short message naming
what to fix and an exit code of ``EXIT_CODES``; no traceback ever, on stdout or stderr.

Each command runs as its own Python process (``python -m scim_bridge.cli``), as an operator runs it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from scim_bridge.cli import DATABASE, DEFECT, PROBLEMS, TARGET, USAGE, _Cli
from scim_bridge.store.migrate import head_revision
from tests.conftest import POSTGRES_URL, _postgres_reachable, postgres_schema

REPO = Path(__file__).resolve().parents[2]

# Every command that reads the database, with the arguments it needs.
DATABASE_COMMANDS = [
    ["status"], ["status", "--json"], ["audit"], ["audit", "--json"], ["token", "list"], ["token", "list", "--json"],
    ["token", "create", "okta"], ["token", "revoke", "okta"], ["db", "upgrade"], ["check-config"], ["retry"],
    ["worker", "--once"], ["reconcile", "--dry-run"],
]


def run(tmp_path: Path, config: dict | str | None, *args: str, env: dict | None = None):
    """(exit code, stdout, stderr) of ``scim-bridge ARGS``; asserts no traceback reached either."""
    file = tmp_path / "cli-config.yaml"
    if config is not None:
        file.write_text(config if isinstance(config, str) else yaml.safe_dump(config), encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(REPO), "SCIM_BRIDGE_CONFIG": str(file),
                   "SCIM_BRIDGE_DATABASE_URL": "", "SCIM_BRIDGE_CLI_LOG": str(tmp_path / "cli.log"), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "scim_bridge.cli", *args], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream and 'File "' not in stream, stream
    return done.returncode, done.stdout, done.stderr


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """A database no table exists in yet: a new SQLite file, or a new PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bridge.db'}"
        return
    with postgres_schema("cli") as url:
        yield url


# --- --help -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", ["targets: [unclosed", None])  # not YAML; no file at all
@pytest.mark.parametrize("args", [["--help"], ["status", "--help"], ["token", "list", "--help"]])
def test_help_works_without_a_valid_configuration(tmp_path, config, args):
    code, out, err = run(tmp_path, config, *args)
    assert code == 0, err
    assert "Usage:" in out
    if args == ["--help"]:
        assert "Exit codes:" in out and "3  database unreachable or its schema not migrated" in out


# --- a fresh database --------------------------------------------------------------------------------

def test_every_command_on_a_fresh_database(tmp_path, fresh_url):
    config = {"database": {"url": fresh_url}}
    for args in (["status"], ["audit"], ["retry"], ["reconcile", "--dry-run"]):
        code, out, err = run(tmp_path, config, *args)
        assert code == DATABASE, (args, out, err)
        assert "schema not created" in err and "run `scim-bridge db upgrade`" in err, args
        assert len(err.strip().splitlines()) <= 2, err
    code, out, err = run(tmp_path, config, "check-config")
    # No token and no target: the first is a problem (every identity provider would be refused), the
    # second a warning.
    assert (code, out) == (PROBLEMS, f"configuration: ok; database: reachable, schema revision none (latest "
                                     f"{head_revision()})\n"
                                     "problem: auth.tokens: no bearer token is configured or stored, so every "
                                     "identity provider request is refused (401): run `scim-bridge token create "
                                     "NAME` or add one to auth.tokens\n"
                                     "warning: targets: no enabled target: the bridge keeps what identity "
                                     "providers send and provisions no product (add one under targets:)\n"), err
    assert err == "Error: check-config found 1 problem(s): see the 'problem:' lines above\n"
    # token list upgrades the schema itself (as token create and worker do): the list is empty.
    assert run(tmp_path, config, "token", "list") == (0, "", "")
    assert run(tmp_path, config, "token", "list", "--json")[:2] == (0, "[]\n")
    assert run(tmp_path, config, "db", "upgrade")[:2] == (0, f"schema at revision {head_revision()}\n")
    assert run(tmp_path, config, "status")[:2] == (0, "outbox: empty\n")
    assert json.loads(run(tmp_path, config, "status", "--json")[1]) == {"outbox": [], "parked": [], "links": [],
                                                                          "seats": []}
    assert run(tmp_path, config, "audit")[:2] == (0, "")
    assert json.loads(run(tmp_path, config, "audit", "--json")[1]) == []
    assert run(tmp_path, config, "retry")[:2] == (0, "0 parked row(s) queued again\n")
    code, _, err = run(tmp_path, config, "token", "revoke", "okta")
    assert (code, err) == (PROBLEMS, "Error: no active token named 'okta'\n")
    for args in (["worker", "--once"], ["reconcile", "--dry-run"]):
        code, _, err = run(tmp_path, config, *args)
        assert code == USAGE and "no enabled target in the configuration (targets:)" in err, (args, err)


@pytest.mark.parametrize("args, message", [
    (["audit", "--outcome", "applyed"], "--outcome 'applyed': one of applied, refused, failed, planned, skipped"),
    (["audit", "--resource", "nobody@example.com"], "--resource 'nobody@example.com': no user (userName or id)"),
    (["audit", "--limit", "0"], "0 is not in the range x>=1"),
    (["status", "--jsn"], "No such option '--jsn'. Did you mean '--json'?"),
])
def test_a_bad_audit_filter_or_option_is_a_usage_error_not_an_empty_listing(tmp_path, args, message):
    config = {"database": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"}}
    run(tmp_path, config, "db", "upgrade")
    code, out, err = run(tmp_path, config, *args)
    assert (code, out) == (USAGE, "") and message in err, err


# --- a wrong configuration ---------------------------------------------------------------------------

def test_every_missing_environment_variable_is_named_at_once(tmp_path):
    config = {"database": {"url": "${DB_URL}"},
              "targets": {"jira": {"type": "jira", "url": "${JIRA_URL}", "username": "admin",
                                   "password": "${JIRA_PASSWORD}"}}}
    for args in (["status"], ["check-config"], ["token", "list"]):
        code, out, err = run(tmp_path, config, *args)
        assert (code, out) == (USAGE, ""), err
        for named in ("database.url: environment variable DB_URL is not set",
                      "targets.jira.url: environment variable JIRA_URL is not set",
                      "targets.jira.password: environment variable JIRA_PASSWORD is not set"):
            assert named in err, err
        assert len(err.strip().splitlines()) <= 2, err


@pytest.mark.parametrize("config, message", [
    ({"databse": {"url": "sqlite://"}}, "databse: unknown key"),
    ("targets: [unclosed", "not valid YAML"),
    (None, "configuration file not found"),
])
def test_a_wrong_configuration_names_the_key_and_exits_2(tmp_path, config, message):
    code, out, err = run(tmp_path, config, "status")
    assert (code, out) == (USAGE, "") and message in err, err


# --- the database out of reach -----------------------------------------------------------------------

@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_a_postgresql_server_on_a_closed_port(tmp_path, args):
    url = f"postgresql+psycopg2://bridge:s3cret-pw@127.0.0.1:{closed_port()}/scim"
    code, out, err = run(tmp_path, {"database": {"url": url}}, *args)
    assert (code, out) == (DATABASE, ""), err
    assert "database.url: cannot connect to postgresql+psycopg2://bridge:***@127.0.0.1:" in err
    assert "Connection refused" in err and "s3cret-pw" not in err
    assert len(err.strip().splitlines()) <= 2, err


def test_a_postgresql_database_that_does_not_exist_is_named(tmp_path):
    if _postgres_reachable():
        pytest.skip(_postgres_reachable())
    url = sa.make_url(POSTGRES_URL).set(database="no_such_database").render_as_string(hide_password=False)
    code, _, err = run(tmp_path, {"database": {"url": url}}, "status")
    assert code == DATABASE and 'database "no_such_database" does not exist' in err, err


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_a_sqlite_file_in_a_missing_directory(tmp_path, args):
    missing = tmp_path / "no-such-directory"
    code, out, err = run(tmp_path, {"database": {"url": f"sqlite:///{missing / 'bridge.db'}"}}, *args)
    assert (code, out) == (DATABASE, ""), err
    assert f"the directory {missing} does not exist (create it or change database.url)" in err
    assert not missing.exists()


# --- a target out of reach ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["check-config"], ["reconcile"], ["reconcile", "--dry-run"]], ids=" ".join)
def test_a_target_on_a_closed_loopback_port(tmp_path, args):
    port = closed_port()
    config = {"database": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"},
              "targets": {"jira": {"type": "jira", "url": f"http://127.0.0.1:{port}/jira", "username": "admin",
                                   "password": "admin", "http": {"deadline": 2}}}}
    run(tmp_path, config, "db", "upgrade")
    code, out, err = run(tmp_path, config, *args)
    assert code == TARGET, (out, err)
    assert "targets.jira: target 'jira': " in err + out and f"127.0.0.1:{port}" in err + out
    assert "check the target's url and that Jira is up" in err + out
    assert "cannot reach target(s) jira" in err


# --- the boundary itself -----------------------------------------------------------------------------

def test_an_unexpected_error_prints_an_error_id_and_logs_the_rest(tmp_path):
    @click.group(cls=_Cli)
    def cli():
        pass

    @cli.command()
    def broken():
        raise RuntimeError("a defect")

    log = tmp_path / "cli.log"
    result = CliRunner().invoke(cli, ["broken"], env={"SCIM_BRIDGE_CLI_LOG": str(log)})
    assert result.exit_code == DEFECT
    error_id = result.stderr.split("error id ")[1].split(";")[0]
    assert "Traceback" not in result.output and f"details in {log}" in result.stderr
    logged = log.read_text()
    assert f"error id {error_id}" in logged and "RuntimeError: a defect" in logged and "Traceback" in logged
