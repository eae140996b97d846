"""Test doubles for the Atlassian clients: a clock that never waits, and a session that records.

``RecordingSession`` is a real ``requests.Session`` (so ``responses`` and real loopback HTTP both
work through it) that keeps every request the client sent and every answer it got, and checks all
of them against the product's OpenAPI document (``tests/support/openapi_contract.py``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from atlassian_clients import BasicAuth, HttpSettings, build_client
from tests.support.openapi_contract import validate_prepared_request, validate_requests_response

SERVICE_USER, SERVICE_PASSWORD = "svc-bridge", "s3cret-pw"
BASE_URLS = {
    "jira": "http://atlassian.test/jira",
    "confluence": "http://atlassian.test/confluence",
    "bitbucket": "http://atlassian.test/bitbucket",
    "crowd": "http://atlassian.test/crowd",
}
BASIC = "Basic " + base64.b64encode(f"{SERVICE_USER}:{SERVICE_PASSWORD}".encode()).decode()
# The headers whose presence and value the contract tests pin down exactly (None = must be absent).
PINNED_HEADERS = ("Accept", "Content-Type", "Authorization", "X-Atlassian-Token", "X-ExperimentalApi")
READ = {
    "Accept": "application/json",
    "Content-Type": None,
    "Authorization": BASIC,
    "X-Atlassian-Token": None,
    "X-ExperimentalApi": None,
}
# Every write carries the XSRF opt-out (the REST framework's XsrfResourceFilter, docs/products.md §1.3).
BODYLESS_WRITE = {**READ, "X-Atlassian-Token": "no-check"}
WRITE = {**BODYLESS_WRITE, "Content-Type": "application/json"}


def refused(url: str) -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left the machine."""
    return requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, "Connection refused")))


class FakeClock:
    """Monotonic and wall clock in one; ``sleep`` advances it and remembers how long it was asked."""

    def __init__(self, start: float = 1_000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall - start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"asked to sleep {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Sent:
    """One request as the product would see it."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str | None] = field(default_factory=dict)


class RecordingSession(requests.Session):
    """A session that records what went over it, for assertions and for the OpenAPI check."""

    def __init__(self, product: str) -> None:
        super().__init__()
        self.product = product
        self.exchanges: list[tuple[requests.PreparedRequest, requests.Response | None]] = []
        self.send_options: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.send_options.append({k: kwargs.get(k) for k in ("timeout", "allow_redirects")})
        index = len(self.exchanges)
        self.exchanges.append((request, None))
        response = super().send(request, **kwargs)
        self.exchanges[index] = (request, response)
        return response

    def sent(self, *, headers: bool = False) -> list[Sent]:
        """What was sent, in order; ``headers=True`` includes the pinned headers."""
        return [describe(request, with_headers=headers) for request, _ in self.exchanges]

    def check_against_openapi(self) -> None:
        """Every request, and every answer that arrived, fits the product's OpenAPI document."""
        for request, response in self.exchanges:
            validate_prepared_request(self.product, request)
            if response is not None:
                validate_requests_response(self.product, response)


def describe(request: requests.PreparedRequest, *, with_headers: bool = False) -> Sent:
    parts = urlsplit(request.url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    body = request.body
    if isinstance(body, bytes):
        body = body.decode()
    if body:
        body = json.loads(body)
    pinned = {name: request.headers.get(name) for name in PINNED_HEADERS} if with_headers else {}
    return Sent(request.method, parts.path, query, body or None, pinned)


class ClientFactory:
    """``factory(product, **options)`` -> ``(client, session)``: a client on a recording session.

    ``check_all()`` (called at fixture teardown) holds every exchange against the product's
    OpenAPI document; ``checked=False`` exempts a session that deliberately talks to a wrong URL.
    """

    def __init__(self, clock: FakeClock, base_urls: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.base_urls = base_urls or BASE_URLS
        self._checked: list[RecordingSession] = []

    def __call__(self, product: str, *, checked: bool = True, base_url: str | None = None, **options: Any):
        session = RecordingSession(product)
        if checked:
            self._checked.append(session)
        options.setdefault("http", HttpSettings(deadline=30, rate=1000, burst=1000))
        options.setdefault("auth", BasicAuth(SERVICE_USER, SERVICE_PASSWORD))
        auth = options.pop("auth")
        client = build_client(
            f"{product}-test",
            product,
            base_url or self.base_urls[product],
            auth,
            session=session,
            sleep=self.clock.sleep,
            clock=self.clock,
            wall_clock=self.clock.wall,
            **options,
        )
        return client, session

    def check_all(self) -> None:
        for session in self._checked:
            session.check_against_openapi()


# Fixtures, imported by the conftest and test modules that use them.


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client_for(clock):
    """``client_for(product, **options)`` -> ``(client, session)``; every exchange is held against
    the product's OpenAPI document at teardown."""
    factory = ClientFactory(clock)
    yield factory
    factory.check_all()
