import pytest

from scim_bridge.store.database import make_engine
from tests.e2e.provisioning_support import bridges, command_line


@pytest.fixture
def start(engine):
    """``start(rules=..., targets=..., worker=...)`` builds a live bridge on fresh fakes (``provisioning_support``)."""
    with bridges(engine) as start:
        yield start


@pytest.fixture
def migrated_start(tmp_path):
    """Live bridges (``provisioning_support``) on a SQLite database ``scim-bridge db upgrade`` built,
    as an operator's first run leaves it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    command_line(tmp_path, {"database": {"url": engine.url.render_as_string(hide_password=False)}}, "db", "upgrade",
                 in_process=True)
    with bridges(engine) as start:
        yield start
    engine.dispose()
