"""The ``scim-bridge`` command line (also ``python -m scim_bridge.cli``)."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from scim_bridge.config import load_config
from scim_bridge.errors import ConfigError
from scim_bridge.store import migrate
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import ApiToken


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


def _engine(config: dict) -> sa.Engine:
    return make_engine(config["database"]["url"])


@main.command("check-config")
@click.pass_obj
def check_config(config: dict) -> None:
    """Validate the configuration file and reach the database."""
    engine = _engine(config)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise click.ClickException(f"database.url: cannot connect ({exc.__class__.__name__})") from None
    revision = migrate.current_revision(engine)
    click.echo(f"configuration: ok; database: reachable, schema revision {revision or 'none'} "
               f"(latest {migrate.head_revision()})")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(config: dict) -> None:
    """Create or upgrade the schema to the latest revision."""
    engine = _engine(config)
    migrate.upgrade(engine)
    click.echo(f"schema at revision {migrate.current_revision(engine)}")


@main.group()
def token() -> None:
    """Bearer tokens kept in the database."""


@token.command("create")
@click.argument("name")
@click.pass_obj
def token_create(config: dict, name: str) -> None:
    """Create a token NAME and print its value (shown this once only)."""
    from scim_bridge.auth import create_token

    engine = _engine(config)
    migrate.upgrade(engine)
    try:
        value = create_token(engine, name)
    except sa.exc.IntegrityError:
        raise click.ClickException(f"a token named {name!r} exists already: revoke it or pick another name") from None
    click.echo(value)


@token.command("list")
@click.pass_obj
def token_list(config: dict) -> None:
    """List stored tokens (names and dates, never values)."""
    with _engine(config).connect() as conn:
        for name, created, revoked in conn.execute(
            sa.select(ApiToken.name, ApiToken.created, ApiToken.revoked_at).order_by(ApiToken.name)
        ):
            click.echo(f"{name}\tcreated {created:%Y-%m-%d %H:%M}\t{'revoked' if revoked else 'active'}")


@token.command("revoke")
@click.argument("name")
@click.pass_obj
def token_revoke(config: dict, name: str) -> None:
    """Revoke the token NAME at once."""
    from scim_bridge.auth import revoke_token

    if not revoke_token(_engine(config), name):
        raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"revoked {name}")


@main.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
def demo(host: str, port: int) -> None:
    """Serve the zero-configuration demo (as ``python app.py --demo``)."""
    from scim_bridge.demo import run_demo

    sys.exit(run_demo(host, port))


if __name__ == "__main__":
    main()
