"""Fixtures shared by the whole suite: the two databases the store runs on, and the bridge on them."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from hypothesis import settings

from scim_bridge.store.models import Base
from tests.support.log_capture import RunLog, scan

# Property-based tests: reproducible runs in CI ("ci", the default); "explore" searches further and
# remembers failing examples in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None, max_examples=60, print_blob=True)
settings.register_profile("explore", max_examples=1000)
settings.load_profile(os.environ.get("SCIM_BRIDGE_HYPOTHESIS_PROFILE", "ci"))

POSTGRES_URL = os.environ.get("SCIM_BRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not (shown in the skip)."""
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except sa.exc.OperationalError as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({exc.orig.__class__.__name__})"


@contextmanager
def postgres_schema(prefix: str = "t"):
    """A URL to a new PostgreSQL schema of its own (skips when PostgreSQL does not answer), dropped on exit."""
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema_url():
    """A URL to a fresh PostgreSQL schema of its own, dropped after the session."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each store test runs on SQLite (a file, as in production) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def engine(database_url):
    """An engine on an empty schema of the bridge's tables."""
    from scim_bridge.store.database import make_engine

    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def app(engine):
    """The bridge's Flask app on ``engine``, with the test bearer token and no targets."""
    from tests.support.bridge import bridge_app

    return bridge_app(engine)


@pytest.fixture
def scim(app):
    """A SCIM client of ``app`` (Flask's test client, the bearer token sent)."""
    from tests.support.bridge import ScimClient

    return ScimClient(app)


# -- no credential in any log line of the run ---------------------------------------------------------

_RUN_LOG = RunLog()


def pytest_configure(config):
    _RUN_LOG.attach()


def pytest_sessionfinish(session, exitstatus):
    """Fails the run if any log line of it, in-process or from a bridge started as a process, holds a
    token, an Authorization header or a password the tests used (tests/support/credentials.py)."""
    _RUN_LOG.detach()
    result = scan(_RUN_LOG)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"log scan: {result.lines} lines ({result.files} process logs), "
                            f"{len(result.findings)} with a credential")
    if result.findings:
        for where, line, found in result.findings[:20]:
            if reporter is not None:
                reporter.write_line(f"  credential in {where}: {found}: {line[:300]}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
