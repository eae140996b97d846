"""Schema migrations with Alembic, run on the bridge's own engine (``scim-bridge db upgrade``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from scim_bridge.store.database import unbounded

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# Several processes start at once (gunicorn workers, instances sharing PostgreSQL): the first to take
# the lock migrates, the others wait and then find the schema current.
_MIGRATION_LOCK = 0x5C1B_0001


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    with engine.execution_options(write=True).begin() as connection:  # SQLite: BEGIN IMMEDIATE
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        with unbounded(connection):  # building an index on a large store may take minutes
            command.upgrade(_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head()


def revision(engine: sa.Engine, message: str) -> None:
    """Autogenerate a new migration from the models (a development command)."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
