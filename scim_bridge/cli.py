"""The ``scim-bridge`` command line (also ``python -m scim_bridge.cli``)."""

from __future__ import annotations

import re
import sys
import time
from datetime import timedelta

import click
import sqlalchemy as sa

from scim_bridge.config import Settings, load_config
from scim_bridge.errors import ConfigError
from scim_bridge.store import migrate
from scim_bridge.store.database import engine_from_settings


@click.group()
@click.option("--config", "config_path", envvar="SCIM_BRIDGE_CONFIG", default=None,
              help="configuration file (default: config.yaml)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Operate a scim-bridge installation."""
    try:
        ctx.obj = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _engine(config: Settings) -> sa.Engine:
    return engine_from_settings(config.database)


@main.command("check-config")
@click.pass_obj
def check_config(config: Settings) -> None:
    """Validate the configuration, reach the database, and call each target with its credentials."""
    from atlassian_clients import AtlassianError
    from scim_bridge.sync.setup import build_targets

    engine = _engine(config)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise click.ClickException(f"database.url: cannot connect ({exc.__class__.__name__})") from None
    revision = migrate.current_revision(engine)
    click.echo(f"configuration: ok; database: reachable, schema revision {revision or 'none'} "
               f"(latest {migrate.head_revision()})")
    failed = []
    for name, target in build_targets(config).items():
        try:
            info = target.client.product_info()
        except AtlassianError as error:  # names the target and says what to fix
            click.echo(f"targets.{name}: {error}")
            failed.append(name)
            continue
        caps = info.capabilities
        can = [word for word, able in (("deactivate", caps.can_deactivate), ("rename users", caps.can_rename_user),
                                       ("find by e-mail", caps.can_find_by_email)) if able]
        abilities = ", ".join(can) or "none of deactivate, rename users, find by e-mail"
        version = info.version or "(version not reported)"  # Crowd tells an application none
        click.echo(f"targets.{name}: {info.product} {version}; can {abilities}")
    if failed:
        raise click.ClickException(f"cannot use target(s) {', '.join(failed)}: see above")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(config: Settings) -> None:
    """Create or upgrade the schema to the latest revision."""
    engine = _engine(config)
    migrate.upgrade(engine)
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


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@token.command("create")
@click.argument("name")
@click.option("--expires", callback=_duration, metavar="DURATION",
              help="the token stops working after this long, e.g. 30d (default: never)")
@click.pass_obj
def token_create(config: Settings, name: str, expires: timedelta | None) -> None:
    """Create a token for NAME and print its value (shown this once only).

    NAME may hold other tokens: they keep working until revoked (``token revoke --id``)."""
    from scim_bridge.auth import InvalidTokenName, create_token

    engine = _engine(config)
    migrate.upgrade(engine)
    try:
        issued = create_token(engine, name, expires)
    except InvalidTokenName as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued.value)
    until = f"expires {_when(issued.expires_at)}" if issued.expires_at else "no expiry"
    click.echo(f"token id {issued.id} for {issued.name} ({until}); the value above is shown this once", err=True)


@token.command("list")
@click.pass_obj
def token_list(config: Settings) -> None:
    """List tokens by name: stored ones with id, dates and state, and those of the configuration file
    (never a value or a hash)."""
    from scim_bridge.auth import list_tokens

    engine = _engine(config)
    migrate.upgrade(engine)
    for entry in list_tokens(engine, config.auth.tokens):
        if entry.source == "config":
            click.echo(f"-\t{entry.name}\tconfiguration file\t-\tno expiry\t{entry.state}")
            continue
        until = f"expires {_when(entry.expires_at)}" if entry.expires_at else "no expiry"
        click.echo(f"{entry.id}\t{entry.name}\tdatabase\tcreated {_when(entry.created)}\t{until}\t{entry.state}")


@token.command("revoke")
@click.argument("name", required=False)
@click.option("--id", "token_id", type=int, default=None, help="revoke only the stored token with this id")
@click.pass_obj
def token_revoke(config: Settings, name: str | None, token_id: int | None) -> None:
    """Revoke every token of NAME, or one token by --id (see ``token list``); running bridges
    stop accepting it within seconds."""
    from scim_bridge.auth import InvalidTokenName, revoke_token, revoke_token_id

    if (name is None) == (token_id is None):
        raise click.UsageError("give either a NAME (all its tokens) or --id ID (one token)")
    engine = _engine(config)
    migrate.upgrade(engine)
    if token_id is not None:
        revoked_name = revoke_token_id(engine, token_id)
        if revoked_name is None:
            raise click.ClickException(f"no active stored token with id {token_id} (see 'token list')")
        click.echo(f"revoked token id {token_id} of {revoked_name}")
        return
    try:
        count = revoke_token(engine, name)
    except InvalidTokenName as exc:
        raise click.ClickException(str(exc)) from None
    configured = any(t.name == name for t in config.auth.tokens)
    if configured:
        click.echo(f"{name} also has a token in the configuration file: remove it there (auth.tokens)", err=True)
    if not count and not configured:
        raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"revoked {count} token(s) of {name}")


@main.group()
def admin() -> None:
    """Administrator accounts of the console under /admin (it opens once one exists)."""


def _accounts(config: Settings):
    from scim_bridge.console.accounts import Accounts

    engine = _engine(config)
    migrate.upgrade(engine)
    return Accounts(engine)


def _account_call(call):
    """``call()``, with a name or password the accounts refuse reported as the command's error."""
    from scim_bridge.console.accounts import AccountError

    try:
        return call()
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@admin.command("create")
@click.argument("name")
@click.password_option("--password", prompt="Password", confirmation_prompt="Repeat the password",
                       help="prompted for (twice) when left out")
@click.pass_obj
def admin_create(config: Settings, name: str, password: str) -> None:
    """Create the administrator NAME; the password is asked for twice and kept only as a hash."""
    _account_call(lambda: _accounts(config).create(name, password))
    click.echo(f"administrator {name} created")


@admin.command("password")
@click.argument("name")
@click.password_option("--password", prompt="New password", confirmation_prompt="Repeat the password",
                       help="prompted for (twice) when left out")
@click.pass_obj
def admin_password(config: Settings, name: str, password: str) -> None:
    """Set a new password for the administrator NAME."""
    if not _account_call(lambda: _accounts(config).set_password(name, password)):
        raise click.ClickException(f"no administrator named {name!r}")
    click.echo(f"password of {name} changed")


@admin.command("list")
@click.pass_obj
def admin_list(config: Settings) -> None:
    """List administrators (names and dates)."""
    for account in _accounts(config).list():
        last = f"{account.last_login:%Y-%m-%d %H:%M} UTC" if account.last_login else "never"
        click.echo(f"{account.name}\tcreated {account.created:%Y-%m-%d %H:%M} UTC\tlast sign-in {last}")


@admin.command("delete")
@click.argument("name")
@click.pass_obj
def admin_delete(config: Settings, name: str) -> None:
    """Delete the administrator NAME; their open sessions end at their next request."""
    if not _accounts(config).delete(name):
        raise click.ClickException(f"no administrator named {name!r}")
    click.echo(f"administrator {name} deleted")


@main.command("status")
@click.pass_obj
def status(config: Settings) -> None:
    """Outbox depth by target and state, parked rows and why (a defect names its error id), and links
    that failed, were skipped or only planned."""
    from scim_bridge.store.models import Link, OutboxRow

    engine = _engine(config)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(OutboxRow.target, OutboxRow.state, sa.func.count(), sa.func.min(OutboxRow.due_at))
                            .group_by(OutboxRow.target, OutboxRow.state).order_by(OutboxRow.target)).all()
        click.echo("outbox:" if rows else "outbox: empty")
        for target, state, count, due in rows:
            click.echo(f"  {target}\t{state}\t{count} row(s)\tnext due {due:%Y-%m-%d %H:%M:%S}")
        parked = conn.execute(sa.select(OutboxRow.target, OutboxRow.resource_type, OutboxRow.resource_id,
                                        OutboxRow.attempts, OutboxRow.last_error)
                              .where(OutboxRow.state == "parked").order_by(OutboxRow.target, OutboxRow.id)).all()
        for target, kind, resource_id, attempts, why in parked:
            # A defect's message carries the error id its log lines name (sync/failure_policy.py).
            click.echo(f"  {target}\t{kind} {resource_id}\tparked after {attempts} attempt(s): {why}")
        problems = conn.execute(sa.select(Link.target, Link.resource_type, Link.resource_id, Link.remote_name,
                                          Link.status, sa.func.coalesce(Link.last_error, Link.reason))
                                .where(Link.status.in_(["failed", "skipped", "planned"]))
                                .order_by(Link.target, Link.status)).all()
        for target, kind, resource_id, name, state, why in problems:
            click.echo(f"{target}\t{kind} {resource_id} ({name})\t{state}: {why}")


@main.command("retry")
@click.option("--target", default=None, help="only this target")
@click.pass_obj
def retry(config: Settings, target: str | None) -> None:
    """Queue parked deliveries (refused by a target) again."""
    from scim_bridge.sync.outbox import Outbox

    count = Outbox(_engine(config), owner="cli").requeue_parked(target)
    click.echo(f"{count} parked row(s) queued again")


@main.command("audit")
@click.option("--limit", default=50, show_default=True)
@click.option("--resource", default=None, help="only entries about this SCIM id")
@click.option("--outcome", default=None, help="applied, refused, failed, planned or skipped")
@click.pass_obj
def audit(config: Settings, limit: int, resource: str | None, outcome: str | None) -> None:
    """The newest audit entries (a dry run's plan is the entries with outcome 'planned')."""
    from scim_bridge.store.models import AuditEntry

    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if resource:
        query = query.where(AuditEntry.resource_id == resource)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    with _engine(config).connect() as conn:
        for entry in reversed(conn.execute(query).all()):
            subject = f"{entry.resource_type or '-'} {entry.resource_id or '-'}"
            click.echo(f"{entry.at:%Y-%m-%d %H:%M:%S}\t{entry.actor}\t{entry.scope}\t{entry.action}\t"
                       f"{subject}\t{entry.outcome}\t{entry.detail or ''}")


@main.command("reconcile")
@click.option("--dry-run", is_flag=True, help="show the plan, change nothing")
@click.option("--target", "targets", multiple=True, help="only this target (repeatable)")
@click.option("--deactivate-unmanaged", is_flag=True,
              help="also deactivate accounts no identity provider user maps to (protected ones excepted)")
@click.pass_obj
def reconcile_command(config: Settings, dry_run: bool, targets: tuple[str, ...], deactivate_unmanaged: bool) -> None:
    """Compare the targets with the store, print the plan, and apply it unless --dry-run."""
    from scim_bridge.sync.reconcile import reconcile
    from scim_bridge.sync.setup import build_sync

    sync = build_sync(config, _engine(config))
    if sync is None:
        raise click.ClickException("no enabled target in the configuration: nothing to reconcile")
    unknown = set(targets) - set(sync.targets)
    if unknown:
        raise click.ClickException(f"no enabled target named {', '.join(sorted(unknown))}")
    try:
        reports = reconcile(sync, targets=list(targets) or None, dry_run=dry_run,
                            deactivate_unmanaged=deactivate_unmanaged)
        for report in reports:
            for line in report.lines():
                click.echo(line)
        if not dry_run:
            click.echo(f"{sync.worker.drain()} delivery(ies) made")
    finally:
        sync.stop()


@main.command("worker")
@click.option("--once", is_flag=True, help="deliver what is due now, then exit")
@click.pass_obj
def worker(config: Settings, once: bool) -> None:
    """Run the delivery worker as its own process (set delivery.worker: false for the app then)."""
    from scim_bridge.alerts import build_alerts
    from scim_bridge.sync.setup import build_sync

    engine = _engine(config)
    migrate.upgrade(engine)
    alerts = build_alerts(config)  # this process delivers, so it is the one that alerts
    sync = build_sync(config, engine, observer=alerts)
    if sync is None:
        raise click.ClickException("no enabled target in the configuration: nothing to deliver to")
    if once:
        click.echo(f"{sync.worker.drain()} delivery(ies) attempted")
        if alerts is not None:
            alerts.stop()  # sends what this run batched
        return
    sync.start()
    if alerts is not None:
        alerts.start()
    click.echo(f"delivering to {', '.join(sync.targets)}; Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sync.stop()
        if alerts is not None:
            alerts.stop()


@main.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
def demo(host: str, port: int) -> None:
    """Serve the zero-configuration demo (as ``python app.py --demo``)."""
    from scim_bridge.demo import run_demo

    sys.exit(run_demo(host, port))


if __name__ == "__main__":
    main()
