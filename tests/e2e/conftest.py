import pytest

from tests.e2e.provisioning_support import bridges


@pytest.fixture
def start(engine):
    """``start(rules=..., targets=..., worker=...)`` builds a live bridge on fresh fakes (``provisioning_support``)."""
    with bridges(engine) as start:
        yield start
