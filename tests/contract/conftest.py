"""Fixtures of the client contract tests: ``responses`` plays the product, a fake clock keeps time."""

from __future__ import annotations

import pytest
import responses

from atlassian_clients import BasicAuth, HttpSettings, build_client
from tests.client_harness import SERVICE_PASSWORD, SERVICE_USER, FakeClock, RecordingSession

BASE_URLS = {
    "jira": "http://atlassian.test/jira",
    "confluence": "http://atlassian.test/confluence",
    "bitbucket": "http://atlassian.test/bitbucket",
}


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client_for(clock):
    """``client_for(product, **options)`` -> ``(client, session)``, the session checked at teardown.

    Every request it sends, and every answer ``responses`` gives it, must fit the product's
    OpenAPI document.
    """
    sessions: list[RecordingSession] = []

    def make(product: str, **options):
        session = RecordingSession(product)
        sessions.append(session)
        settings = options.pop("http", HttpSettings(deadline=30, rate=1000, burst=1000))
        client = build_client(
            f"{product}-test", product, BASE_URLS[product], BasicAuth(SERVICE_USER, SERVICE_PASSWORD),
            http=settings, session=session, sleep=clock.sleep, clock=clock, wall_clock=clock.wall, **options,
        )
        return client, session

    yield make
    for session in sessions:
        session.check_against_openapi()
