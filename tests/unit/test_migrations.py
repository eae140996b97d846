"""The Alembic migrations build exactly the models' schema, and several processes starting at once
(gunicorn workers, instances sharing PostgreSQL) migrate once without tripping over each other."""

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from scim_bridge.store.database import make_engine
from scim_bridge.store.migrate import current_revision, head_revision, upgrade
from scim_bridge.store.models import Base

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_url(database_url):
    """An empty database (no tables at all), on SQLite and on PostgreSQL."""
    _drop_everything(database_url)
    yield database_url
    _drop_everything(database_url)


def _drop_everything(url):
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def test_migrations_match_the_models(empty_url):
    engine = make_engine(empty_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_processes_starting_together_migrate_once(empty_url):
    script = "import sys; from scim_bridge.store.database import make_engine; " \
             "from scim_bridge.store.migrate import upgrade; upgrade(make_engine(sys.argv[1]))"
    starts = [subprocess.Popen([sys.executable, "-c", script, empty_url], cwd=REPO, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    failures = [p.stderr.read() for p in starts if p.wait(timeout=120) != 0]
    assert failures == []
    assert current_revision(make_engine(empty_url)) == head_revision()


def test_upgrading_a_database_that_holds_tokens_keeps_them_and_lets_a_name_take_a_second(empty_url):
    from scim_bridge.auth import TokenVerifier, create_token, token_hash

    engine = make_engine(empty_url)
    upgrade(engine, "0003")  # one token per name, no expiry
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO api_tokens (name, sha256, created) VALUES (:n, :h, CURRENT_TIMESTAMP)"),
                     [{"n": "okta", "h": token_hash("okta-token-before-the-upgrade")},
                      {"n": "onelogin", "h": token_hash("onelogin-token-before-the-upgrade")}])
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    verifier = TokenVerifier.from_config((), engine)
    assert verifier.verify("Bearer okta-token-before-the-upgrade") == "okta"
    assert verifier.verify("Bearer onelogin-token-before-the-upgrade") == "onelogin"
    second = create_token(engine, "okta")
    assert TokenVerifier.from_config((), engine).verify(f"Bearer {second.value}") == "okta"
    engine.dispose()
