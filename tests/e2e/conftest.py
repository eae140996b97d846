import pytest

from tests.support.bridge import ScimClient, bridge_app


@pytest.fixture
def app(engine):
    return bridge_app(engine)


@pytest.fixture
def scim(app):
    return ScimClient(app)
