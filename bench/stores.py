"""The databases a benchmark runs on: a throw-away SQLite file, or a fresh PostgreSQL schema that is
dropped afterwards. Either way the bridge's own migrations build the schema, as in production.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from scim_bridge.store import migrate
from scim_bridge.store.database import make_engine

DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@contextmanager
def _migrated(url: str) -> Iterator[sa.Engine]:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()


class SqliteServer:
    kind = "sqlite"

    def version(self) -> str:
        return sqlite3.sqlite_version

    @contextmanager
    def fresh(self) -> Iterator[sa.Engine]:
        workdir = Path(tempfile.mkdtemp(prefix="scim-bridge-bench-"))
        try:
            with _migrated(f"sqlite:///{workdir / 'bridge.db'}") as engine:
                yield engine
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class PostgresServer:
    kind = "postgresql"

    def __init__(self, url: str):
        self.url = url

    def unreachable(self) -> str | None:
        """None when the server answers, else why not (printed and recorded as the skip reason)."""
        engine = sa.create_engine(self.url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            return None
        except sa.exc.OperationalError as exc:
            shown = sa.engine.make_url(self.url).render_as_string(hide_password=True)
            return f"PostgreSQL not reachable at {shown} ({exc.orig.__class__.__name__})"
        finally:
            engine.dispose()

    def version(self) -> str:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql("show server_version").scalar_one()
        finally:
            engine.dispose()

    @contextmanager
    def fresh(self) -> Iterator[sa.Engine]:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(self.url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'create schema "{schema}"'))
        separator = "&" if "?" in self.url else "?"
        try:
            with _migrated(f"{self.url}{separator}options=-csearch_path%3D{schema}") as engine:
                yield engine
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'drop schema "{schema}" cascade'))
            admin.dispose()
