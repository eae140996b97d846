"""The ``scim-bridge`` command line (also ``python -m scim_bridge.cli``).

Every failure ends in one place, ``_Cli.invoke``: a one- or two-line message naming what to fix and
one of the exit codes of ``EXIT_CODES`` (docs/cli.md), never a traceback. The configuration is read
only when a command runs (``pass_config``), so ``--help`` works with a broken one.
"""

from __future__ import annotations

import csv
import functools
import getpass
import json
import os
import re
import signal
import sys
import tempfile
import threading
import traceback
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import sqlalchemy as sa

from scim_bridge.config import Settings, load_config
from scim_bridge.errors import ConfigError
from scim_bridge.store import migrate
from scim_bridge.store.database import engine_from_settings

OK, PROBLEMS, USAGE, DATABASE, TARGET, DEFECT = 0, 1, 2, 3, 4, 5
EXIT_CODES = {
    OK: "ok",
    PROBLEMS: "the command ran and found problems (a target refused check-config, reconcile errors, "
              "nothing to revoke)",
    USAGE: "usage or configuration error (the message names the option or the configuration key)",
    DATABASE: "database unreachable or its schema not migrated (run `scim-bridge db upgrade`)",
    TARGET: "a target unreachable",
    DEFECT: "unexpected error: the message gives an error id, the details are in the CLI's log file",
}
_EPILOG = "Exit codes:\n\n" + "\n\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())


class CliError(click.ClickException):
    """A failure the operator fixes: printed as ``error: MESSAGE``, exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = PROBLEMS):
        super().__init__(message)
        self.exit_code = exit_code


class _Cli(click.Group):
    """The CLI's one error boundary: the bridge's exceptions become a message and an exit code."""

    def invoke(self, ctx: click.Context):
        from atlassian_clients import AtlassianError

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ConfigError as exc:
            raise CliError(f"configuration: {exc}", USAGE) from None
        except AtlassianError as exc:
            raise CliError(str(exc), TARGET) from None
        except sa.exc.SQLAlchemyError as exc:
            raise CliError(f"database: {_database_reason(exc)}", DATABASE) from None
        except Exception as exc:  # a defect: the operator gets an id to quote, the log the rest
            error_id = uuid.uuid4().hex[:12]
            log = _error_log()
            try:
                with open(log, "a", encoding="utf-8") as out:
                    out.write(f"{datetime.now(UTC).isoformat()} error id {error_id}: {' '.join(sys.argv)}\n")
                    out.write("".join(traceback.format_exception(exc)))
                where = f"details in {log}"
            except OSError as unwritable:
                where = f"the details could not be written to {log} ({unwritable.strerror}; set SCIM_BRIDGE_CLI_LOG)"
            raise CliError(f"unexpected error ({exc.__class__.__name__}), error id {error_id}; {where}",
                           DEFECT) from None


def _error_log() -> Path:
    return Path(os.environ.get("SCIM_BRIDGE_CLI_LOG") or Path(tempfile.gettempdir()) / "scim-bridge-cli.log")


@click.group(cls=_Cli, epilog=_EPILOG)
@click.option("--config", "config_path", envvar="SCIM_BRIDGE_CONFIG", default=None,
              help="configuration file (default: config.yaml)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Operate a scim-bridge installation."""
    ctx.obj = {"config_path": config_path}


def pass_config(command):
    """Passes the validated configuration, read when the command runs (not for ``--help``)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        state = click.get_current_context().find_root().obj
        if "settings" not in state:
            state["settings"] = load_config(state["config_path"])
        return command(state["settings"], *args, **kwargs)

    return run


def _database_reason(exc: BaseException) -> str:
    """The driver's own first line ('database "x" does not exist', 'Connection refused'), not the
    wrapper's class name: it is what says what to fix. Driver messages carry no password."""
    inner = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip() and not line.startswith("(Background")]
    return lines[0] if lines else inner.__class__.__name__


def _engine(config: Settings, *, schema: str = "current") -> sa.Engine:
    """An engine known to reach the database. ``schema``: "current" (refuse an old or missing schema,
    naming ``db upgrade``), "upgrade" (bring it to the latest revision) or "any"."""
    url = config.database.url
    shown = sa.make_url(url).render_as_string(hide_password=True)
    folder = _sqlite_folder(url)
    if folder is not None and not folder.is_dir():
        raise CliError(f"database.url: cannot open {shown}: the directory {folder} does not exist "
                       "(create it or change database.url)", DATABASE)
    engine = engine_from_settings(config.database)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise CliError(f"database.url: cannot connect to {shown}: {_database_reason(exc)}", DATABASE) from None
    if schema == "upgrade":
        migrate.upgrade(engine)
    elif schema == "current":
        revision, head = migrate.current_revision(engine), migrate.head_revision()
        # No revision but the tables present: a schema built from the models (tests, tools) is current.
        created = revision is not None or sa.inspect(engine).has_table("outbox")
        if not created or revision not in (None, head):
            found = f"at revision {revision}" if revision else "not created"
            raise CliError(f"database {shown}: schema {found}, latest is {head}: run `scim-bridge db upgrade`",
                           DATABASE)
    return engine


def _sqlite_folder(url: str) -> Path | None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().absolute().parent


def _when(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with its ``Z``: never a time without a zone."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # the store keeps UTC (store/models.py UTCDateTime)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_JSON = click.option("--json", "as_json", is_flag=True, help="print one JSON document, for scripts")


def _print_json(document) -> None:
    click.echo(json.dumps(document, indent=2, sort_keys=True))


def _probe(targets) -> tuple[list[str], list[str], list[str]]:
    """Calls each target's product_info: (lines to print, names refused, names unreachable)."""
    from scim_bridge.checks import probe_targets

    found, refused, unreachable = probe_targets(targets)
    return [f"{f.where}: {f.message}" for f in found], refused, unreachable


def _refuse_failed_targets(refused: list[str], unreachable: list[str]) -> None:
    if unreachable:
        raise CliError(f"cannot reach target(s) {', '.join(unreachable)}: see above (check each one's url "
                       "and that the product is up)", TARGET)
    if refused:
        raise CliError(f"cannot use target(s) {', '.join(refused)}: see above", PROBLEMS)


@main.command("check-config")
@pass_config
def check_config(config: Settings) -> None:
    """Validate the configuration, reach the database, call each target with its credentials, and
    check that provisioning would work: a bearer token, a target, and on each target the groups,
    Jira applications and user directory the rules name."""
    from scim_bridge.checks import PROBLEM, check_all, has_records, record_check
    from scim_bridge.store.models import utcnow
    from scim_bridge.sync.setup import build_targets

    engine = _engine(config, schema="any")
    revision = migrate.current_revision(engine)
    click.echo(f"configuration: ok; database: reachable, schema revision {revision or 'none'} "
               f"(latest {migrate.head_revision()})")
    started = utcnow()
    checked = check_all(config, build_targets(config), engine)
    for finding in checked.reached:
        click.echo(f"{finding.where}: {finding.message}")
    for finding in checked.findings:
        click.echo(finding.line())
    if has_records(engine):  # the console's Configuration page shows the latest run, from here or there
        record_check(engine, f"command line ({_os_user()})", started, checked)
    _refuse_failed_targets(checked.refused, checked.unreachable)
    problems = sum(f.level == PROBLEM for f in checked.findings)
    if problems:
        raise CliError(f"check-config found {problems} problem(s): see the 'problem:' lines above", PROBLEMS)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"uid {os.getuid()}"


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_config
def db_upgrade(config: Settings) -> None:
    """Create or upgrade the schema to the latest revision."""
    engine = _engine(config, schema="upgrade")
    click.echo(f"schema at revision {migrate.current_revision(engine)}")


@main.group()
def token() -> None:
    """Bearer tokens: several per name at once, so a token is rotated without an outage."""


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _duration(_ctx, _param, text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter(f"{text!r}: give a positive number and a unit, e.g. 90m, 12h, 30d or 4w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@token.command("create")
@click.argument("name")
@click.option("--expires", callback=_duration, metavar="DURATION",
              help="the token stops working after this long, e.g. 30d (default: never)")
@pass_config
def token_create(config: Settings, name: str, expires: timedelta | None) -> None:
    """Create a token for NAME and print its value (shown this once only).

    NAME may hold other tokens: they keep working until revoked (``token revoke --id``)."""
    from scim_bridge.auth import InvalidTokenName, create_token

    engine = _engine(config, schema="upgrade")
    try:
        issued = create_token(engine, name, expires)
    except InvalidTokenName as exc:
        raise CliError(str(exc)) from None
    click.echo(issued.value)
    until = f"expires {_when(issued.expires_at)}" if issued.expires_at else "no expiry"
    click.echo(f"token id {issued.id} for {issued.name} ({until}); the value above is shown this once", err=True)


@token.command("list")
@_JSON
@pass_config
def token_list(config: Settings, as_json: bool) -> None:
    """List tokens by name: stored ones with id, dates and state, and those of the configuration file
    (never a value or a hash)."""
    from scim_bridge.auth import list_tokens

    engine = _engine(config, schema="upgrade")
    entries = list_tokens(engine, config.auth.tokens)
    if as_json:
        _print_json([{"id": e.id, "name": e.name, "source": e.source, "created": _when(e.created),
                      "expires": _when(e.expires_at), "state": e.state} for e in entries])
        return
    for entry in entries:
        if entry.source == "config":
            click.echo(f"-\t{entry.name}\tconfiguration file\t-\tno expiry\t{entry.state}")
            continue
        until = f"expires {_when(entry.expires_at)}" if entry.expires_at else "no expiry"
        click.echo(f"{entry.id}\t{entry.name}\tdatabase\tcreated {_when(entry.created)}\t{until}\t{entry.state}")


@token.command("revoke")
@click.argument("name", required=False)
@click.option("--id", "token_id", type=int, default=None, help="revoke only the stored token with this id")
@pass_config
def token_revoke(config: Settings, name: str | None, token_id: int | None) -> None:
    """Revoke every token of NAME, or one token by --id (see ``token list``); running bridges
    stop accepting it within seconds."""
    from scim_bridge.auth import InvalidTokenName, revoke_token, revoke_token_id

    if (name is None) == (token_id is None):
        raise click.UsageError("give either a NAME (all its tokens) or --id ID (one token)")
    engine = _engine(config, schema="upgrade")
    if token_id is not None:
        revoked_name = revoke_token_id(engine, token_id)
        if revoked_name is None:
            raise CliError(f"no active stored token with id {token_id} (see 'token list')")
        click.echo(f"revoked token id {token_id} of {revoked_name}")
        return
    try:
        count = revoke_token(engine, name)
    except InvalidTokenName as exc:
        raise CliError(str(exc)) from None
    configured = any(t.name == name for t in config.auth.tokens)
    if configured:
        click.echo(f"{name} also has a token in the configuration file: remove it there (auth.tokens)", err=True)
    if not count and not configured:
        raise CliError(f"no active token named {name!r}")
    click.echo(f"revoked {count} token(s) of {name}")


@main.group()
def admin() -> None:
    """Administrator accounts of the console under /admin (it opens once one exists)."""


def _accounts(config: Settings):
    from scim_bridge.console.accounts import Accounts

    return Accounts(_engine(config, schema="upgrade"))


def _account_call(call):
    """``call()``, with a name or password the accounts refuse reported as the command's error."""
    from scim_bridge.console.accounts import AccountError

    try:
        return call()
    except AccountError as exc:
        raise CliError(str(exc)) from None


@admin.command("create")
@click.argument("name")
@click.password_option("--password", prompt="Password", confirmation_prompt="Repeat the password",
                       help="prompted for (twice) when left out")
@pass_config
def admin_create(config: Settings, name: str, password: str) -> None:
    """Create the administrator NAME; the password is asked for twice and kept only as a hash."""
    _account_call(lambda: _accounts(config).create(name, password))
    click.echo(f"administrator {name} created")


@admin.command("password")
@click.argument("name")
@click.password_option("--password", prompt="New password", confirmation_prompt="Repeat the password",
                       help="prompted for (twice) when left out")
@pass_config
def admin_password(config: Settings, name: str, password: str) -> None:
    """Set a new password for the administrator NAME."""
    if not _account_call(lambda: _accounts(config).set_password(name, password)):
        raise CliError(f"no administrator named {name!r}")
    click.echo(f"password of {name} changed")


@admin.command("list")
@_JSON
@pass_config
def admin_list(config: Settings, as_json: bool) -> None:
    """List administrators (names and dates)."""
    accounts = _accounts(config).list()
    if as_json:
        _print_json([{"name": a.name, "created": _when(a.created), "last_login": _when(a.last_login)}
                     for a in accounts])
        return
    for account in accounts:
        last = _when(account.last_login) or "never"
        click.echo(f"{account.name}\tcreated {_when(account.created)}\tlast sign-in {last}")


@admin.command("delete")
@click.argument("name")
@pass_config
def admin_delete(config: Settings, name: str) -> None:
    """Delete the administrator NAME; their open sessions end at their next request."""
    if not _accounts(config).delete(name):
        raise CliError(f"no administrator named {name!r}")
    click.echo(f"administrator {name} deleted")


@main.command("status")
@_JSON
@pass_config
def status(config: Settings, as_json: bool) -> None:
    """Outbox depth by target and state, parked rows and why (a defect names its error id), and links
    that failed, were skipped or only planned. Users are shown by userName, groups by displayName.
    Licence seats: the count last read from each target that tells it, and the creates parked
    because the licence was full (docs/architecture.md, "Licence seats")."""
    from scim_bridge.rules.seats import parked_for_seats
    from scim_bridge.store.models import Link, OutboxRow, TargetSeats
    from scim_bridge.store.names import resource_names

    with _engine(config).connect() as conn:
        depth = conn.execute(sa.select(OutboxRow.target, OutboxRow.state, sa.func.count(),
                                       sa.func.min(OutboxRow.due_at))
                             .group_by(OutboxRow.target, OutboxRow.state).order_by(OutboxRow.target)).all()
        parked = conn.execute(sa.select(OutboxRow.target, OutboxRow.resource_type, OutboxRow.resource_id,
                                        OutboxRow.attempts, OutboxRow.last_error)
                              .where(OutboxRow.state == "parked").order_by(OutboxRow.target, OutboxRow.id)).all()
        problems = conn.execute(sa.select(Link.target, Link.resource_type, Link.resource_id, Link.remote_name,
                                          Link.status, sa.func.coalesce(Link.last_error, Link.reason))
                                .where(Link.status.in_(["failed", "skipped", "planned"]))
                                .order_by(Link.target, Link.status)).all()
        names = resource_names(conn, [(row[1], row[2]) for row in (*parked, *problems)])
        seats = conn.execute(sa.select(TargetSeats.target, TargetSeats.used, TargetSeats.total, TargetSeats.licence,
                                       TargetSeats.read_at).order_by(TargetSeats.target)).all()
    waiting = Counter(t for t, _k, _rid, _a, why in parked if parked_for_seats(why))
    if as_json:
        _print_json({
            "outbox": [{"target": t, "state": st, "rows": n, "next_due": _when(due)} for t, st, n, due in depth],
            "parked": [{"target": t, "type": k, "id": rid, "name": names.get((k, rid)), "attempts": a, "error": why}
                       for t, k, rid, a, why in parked],
            "links": [{"target": t, "type": k, "id": rid, "name": names.get((k, rid)), "applied_name": applied,
                       "status": st, "why": why} for t, k, rid, applied, st, why in problems],
            "seats": [{"target": t, "used": used, "total": total, "unlimited": total is None, "licence": licence,
                       "read_at": _when(at), "parked_for_seats": waiting.get(t, 0)}
                      for t, used, total, licence, at in seats],
        })
        return
    click.echo("outbox:" if depth else "outbox: empty")
    for target, state, count, due in depth:
        click.echo(f"  {target}\t{state}\t{count} row(s)\tnext due {_when(due)}")
    for target, kind, resource_id, attempts, why in parked:
        # A defect's message carries the error id its log lines name (sync/failure_policy.py).
        click.echo(f"  {target}\t{kind} {names.get((kind, resource_id), resource_id)}\t"
                   f"parked after {attempts} attempt(s): {why}")
    for target, kind, resource_id, applied, state, why in problems:
        click.echo(f"{target}\t{kind} {names.get((kind, resource_id), resource_id)} ({applied or '-'})\t{state}: {why}")
    limited = [row for row in seats if row.total is not None]
    if limited:
        click.echo("licence seats:")
    for target, used, total, licence, at in limited:
        held = f"; {waiting[target]} create(s) parked until a seat frees up" if waiting.get(target) else ""
        click.echo(f"  {target}\t{used} of {total} seats used ({licence or 'licence'}), read {_when(at)}{held}")


@main.command("retry")
@click.option("--target", default=None, help="only this target")
@pass_config
def retry(config: Settings, target: str | None) -> None:
    """Queue parked deliveries (refused by a target) again."""
    from scim_bridge.sync.outbox import Outbox

    count = Outbox(_engine(config), owner="cli").requeue_parked(target)
    click.echo(f"{count} parked row(s) queued again")


_AUDIT_FORMATS = ("table", "jsonl", "csv")
_AUDIT_COLUMNS = ("at", "asked_by", "target", "action", "outcome", "type", "id", "name", "account", "detail",
                  "actor", "before", "after")


def _moment(option: str, text: str | None, now: datetime) -> datetime | None:
    """``--since`` / ``--until``: ISO 8601 with its zone, or a time ago (``90m``, ``2h``, ``7d``, ``4w``)."""
    if text is None:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"{option} {text!r}: give an ISO 8601 time with its zone (2026-01-31T09:00:00Z, "
                       "2026-01-31T10:00:00+01:00) or a time ago (90m, 2h, 7d, 4w)", USAGE) from None
    if moment.tzinfo is None:
        raise CliError(f"{option} {text!r}: the time has no zone; add one (Z for UTC, or +01:00)", USAGE)
    return moment.astimezone(UTC)


def _audit_document(row) -> dict:
    """One entry for scripts: who asked, what was decided, what the product answered (docs/cli.md)."""
    return {"at": _when(row.at), "asked_by": row.asked_by, "target": row.target, "scope": row.target or "scim",
            "action": row.action, "outcome": row.outcome, "type": row.resource_type, "id": row.resource_id,
            "name": row.name, "account": row.account, "detail": row.detail, "actor": row.actor,
            "before": row.before, "after": row.after}


@main.command("audit")
@click.option("--user", default=None, metavar="USERNAME", help="entries about this user (SCIM userName or id)")
@click.option("--group", default=None, metavar="DISPLAYNAME", help="entries about this group (displayName or id)")
@click.option("--resource", default=None, metavar="USER-OR-GROUP",
              help="entries about this user (userName or SCIM id) or group (displayName or SCIM id)")
@click.option("--account", default=None, metavar="NAME",
              help="entries about the user or group with this name on a target (the Atlassian username)")
@click.option("--target", default=None, metavar="NAME", help="only what was done on this target")
@click.option("--outcome", "outcomes", multiple=True, metavar="OUTCOME",
              help="applied, refused, failed, planned or skipped (repeatable)")
@click.option("--since", default=None, metavar="TIME",
              help="from this time on: ISO 8601 with a zone (2026-01-31T09:00:00Z) or a time ago (2h, 7d)")
@click.option("--until", default=None, metavar="TIME", help="before this time (the same forms as --since)")
@click.option("--limit", default=None, type=click.IntRange(min=1),
              help="only the newest N that match [default: 50 for the table and --json; all for --format]")
@click.option("--format", "output_format", default="table", type=click.Choice(_AUDIT_FORMATS),
              help="table (default), jsonl (one JSON object a line) or csv (a header line, then one entry a line)")
@click.option("--output", default=None, type=click.Path(dir_okay=False, writable=True),
              help="write to this file instead of stdout")
@_JSON
@pass_config
def audit(config: Settings, user, group, resource, account, target, outcomes, since, until, limit,
          output_format: str, output: str | None, as_json: bool) -> None:
    """Audit entries that match, oldest first: who asked (token name), what was decided, what the product answered.

    Exports (--format jsonl|csv) stream every matching entry; the table and --json show the newest 50
    unless --limit says otherwise. A filter that names nothing the store knows is an error (exit 2)."""
    from scim_bridge.store.audit import AuditFilter, AuditFilterError, audit_rows

    if as_json and output_format != "table":
        raise CliError("give either --json or --format, not both", USAGE)
    now = datetime.now(UTC)
    exported = as_json or output_format != "table"
    query = AuditFilter(user=user, group=group, resource=resource, account=account, target=target,
                        outcomes=tuple(outcomes), since=_moment("--since", since, now),
                        until=_moment("--until", until, now),
                        newest=limit if limit is not None else (None if output_format != "table" else 50))
    with _engine(config).connect() as conn:
        try:
            rows = audit_rows(conn, query, tuple(config.targets))
        except AuditFilterError as exc:
            raise CliError(str(exc), USAGE) from None
        try:
            out = open(output, "w", encoding="utf-8", newline="") if output else None  # noqa: SIM115
        except OSError as exc:
            raise CliError(f"--output {output}: {exc.strerror}", USAGE) from None
        try:
            count = _write_audit(rows, out or sys.stdout,
                                 "json" if as_json else output_format)
        finally:
            if out is not None:
                out.close()
    if output:
        click.echo(f"{count} audit entry(ies) written to {output}", err=True)
    elif not count and not exported:
        click.echo("no audit entry matches", err=True)


def _write_audit(rows, out, output_format: str) -> int:
    count = 0
    if output_format == "csv":
        writer = csv.writer(out)
        writer.writerow(_AUDIT_COLUMNS)
        for row in rows:
            count += 1
            document = _audit_document(row)
            writer.writerow([json.dumps(document[c], sort_keys=True) if c in ("before", "after") and document[c]
                             is not None else ("" if document[c] is None else document[c]) for c in _AUDIT_COLUMNS])
    elif output_format == "jsonl":
        for row in rows:
            count += 1
            out.write(json.dumps(_audit_document(row), sort_keys=True) + "\n")
    elif output_format == "json":  # one array, written entry by entry
        out.write("[")
        for count, row in enumerate(rows, 1):
            out.write(("\n  " if count == 1 else ",\n  ") + json.dumps(_audit_document(row), sort_keys=True))
        out.write("\n]\n" if count else "]\n")
    else:
        for row in rows:
            count += 1
            out.write(f"{_when(row.at)}\t{row.asked_by or '-'}\t{row.target or 'scim'}\t{row.action}\t"
                      f"{row.resource_type or '-'} {row.name or row.resource_id or '-'}\t{row.account or '-'}\t"
                      f"{row.outcome}\t{row.detail or ''}\n")
    out.flush()
    return count


@main.command("reconcile")
@click.option("--dry-run", is_flag=True, help="show the plan, change nothing")
@click.option("--target", "targets", multiple=True, help="only this target (repeatable)")
@click.option("--deactivate-unmanaged", is_flag=True,
              help="also deactivate accounts no identity provider user maps to (protected ones excepted)")
@click.option("--json", "as_json", is_flag=True, help="print the reports as JSON (progress still goes to stderr)")
@pass_config
def reconcile_command(config: Settings, dry_run: bool, targets: tuple[str, ...], deactivate_unmanaged: bool,
                      as_json: bool) -> None:
    """Compare the targets with the store, print the plan, and apply it unless --dry-run.

    Targets are read in parallel, page by page; progress goes to stderr (a bar in a terminal,
    plain lines otherwise). A target that cannot be read stops alone, named with the cause."""
    from scim_bridge.progress import progress_display
    from scim_bridge.sync.reconcile import reconcile
    from scim_bridge.sync.setup import build_sync

    sync = build_sync(config, _engine(config))
    if sync is None:
        raise CliError("no enabled target in the configuration (targets:): nothing to reconcile", USAGE)
    unknown = set(targets) - set(sync.targets)
    if unknown:
        raise CliError(f"--target: no enabled target named {', '.join(sorted(unknown))}", USAGE)
    chosen = [name for name in sync.targets if not targets or name in targets]
    delivered = None
    try:
        with progress_display(chosen, sys.stderr) as progress:
            reports = reconcile(sync, targets=chosen, dry_run=dry_run, deactivate_unmanaged=deactivate_unmanaged,
                                progress=progress)
        readable = [r.target for r in reports if r.stopped is None]
        if not dry_run and readable:
            delivered = sync.worker.drain(targets=readable)
    finally:
        sync.stop()
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "targets": [r.as_dict() for r in reports],
                               "deliveries": delivered}, indent=2))
    else:
        for report in reports:
            for line in report.lines():
                click.echo(line)
        if delivered is not None:
            click.echo(f"{delivered} delivery(ies) made")
        click.echo("summary:")
        for report in reports:
            click.echo(f"  {report.summary()}")
    unreachable = [r.target for r in reports if r.stopped is not None and r.unreachable]
    refused = [r.target for r in reports if r.stopped is not None and not r.unreachable]
    if unreachable or refused:
        _refuse_failed_targets(refused, unreachable)
    failed = [report.target for report in reports if report.errors]
    if failed:
        raise CliError(f"reconcile met errors on {', '.join(failed)}: see the 'error:' lines above", PROBLEMS)


@main.command("worker")
@click.option("--once", is_flag=True, help="deliver what is due now, then exit")
@click.option("--stop-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="on SIGTERM or SIGINT, how long the deliveries in flight may take to finish before their "
                   "claims are released for another worker")
@click.option("--metrics-port", default=None, type=click.IntRange(1, 65535), metavar="PORT",
              help="serve this worker's /metrics (deliveries, retries, product calls, the queue) on this port")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="the address --metrics-port binds")
@pass_config
def worker(config: Settings, once: bool, stop_timeout: float, metrics_port: int | None, metrics_host: str) -> None:
    """Run the delivery worker as its own process (set delivery.worker: false for the app then).

    SIGTERM or SIGINT (Ctrl-C) stops it: it claims nothing more, lets the deliveries in flight finish
    for up to --stop-timeout seconds, releases the claims of any still running (another worker takes
    them at once), and exits 0."""
    from scim_bridge.alerts import build_alerts
    from scim_bridge.console.runs import period
    from scim_bridge.metrics import Metrics, serve_metrics
    from scim_bridge.schedule import build_schedule
    from scim_bridge.sync.setup import build_sync

    engine = _engine(config, schema="upgrade")
    alerts = build_alerts(config)  # this process delivers, so it is the one that alerts
    # Counted here, where deliveries settle; served by --metrics-port (docs/metrics.md).
    metrics = Metrics(engine, multiproc_dir="") if metrics_port is not None else None
    sync = build_sync(config, engine, metrics=metrics, observer=alerts)
    if sync is None:
        raise CliError("no enabled target in the configuration (targets:): nothing to deliver to", USAGE)
    schedule = build_schedule(config, engine, sync, alerts=alerts)
    server = None
    if metrics is not None and not once:
        try:
            server = serve_metrics(metrics, metrics_host, metrics_port, _metrics_verifier(config, engine))
        except OSError as exc:
            raise CliError(f"--metrics-port {metrics_port}: cannot listen on {metrics_host}:{metrics_port} "
                           f"({exc.strerror})", USAGE) from None
    if once:
        click.echo(f"{sync.worker.drain()} delivery(ies) attempted")
        run = schedule.run_if_due() if schedule is not None else None
        if run is not None:  # reconcile.schedule was due: run it as the thread would
            click.echo(f"scheduled reconciliation {run.id} {run.state}: {run.found}")
            click.echo(f"{sync.worker.drain()} delivery(ies) attempted")
        if alerts is not None:
            alerts.stop()  # sends what this run batched
        return
    stopping = threading.Event()
    received: list[str] = []

    def on_signal(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    sync.start()
    if alerts is not None:
        alerts.start()
    if schedule is not None:
        schedule.start()
    every = f"; reconciling every {period(config.reconcile.schedule)}" if schedule is not None else ""
    served = f"; metrics at http://{metrics_host}:{metrics_port}/metrics" if server is not None else ""
    click.echo(f"delivering to {', '.join(sync.targets)}{every}{served}; SIGTERM or Ctrl-C stops")
    while not stopping.wait(1.0):
        pass
    click.echo(f"{received[0]}: claiming nothing more; finishing the deliveries in flight "
               f"(at most {stop_timeout:g} s)", err=True)
    if schedule is not None:
        schedule.stop()
    released = sync.worker.shutdown(stop_timeout)
    sync.running = False
    if server is not None:
        server.shutdown()
    if alerts is not None:
        alerts.stop()
    if released:
        click.echo(f"released {len(released)} delivery(ies) still in flight; another worker takes them at once",
                   err=True)
    click.echo("stopped", err=True)
    if released:
        # Their threads may be waiting on a product: exit now rather than wait for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(OK)


def _metrics_verifier(config: Settings, engine: sa.Engine):
    """``metrics.access`` for the worker's own /metrics, as the app applies it."""
    from scim_bridge.auth import TokenVerifier, metrics_verifier

    return metrics_verifier(config.metrics, TokenVerifier.from_config(config.auth.tokens, engine))


@main.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
def demo(host: str, port: int) -> None:
    """Serve the zero-configuration demo (as ``python app.py --demo``)."""
    from scim_bridge.demo import run_demo

    sys.exit(run_demo(host, port))


if __name__ == "__main__":
    main()
