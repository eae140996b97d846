"""Serving the fakes on one port: /jira, /confluence, /bitbucket, /crowd and /_fake.

with start_fakes() as fakes:                 # threaded werkzeug server on a free port
    fakes.jira.add_user("alice", "Alice", "alice@example.com")
    client_base = fakes.base_url("jira")     # http://127.0.0.1:<port>/jira
    ...
    assert fakes.jira.calls.applied("POST", "/rest/api/2/user") == 1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from atlassian_clients.fakes.bitbucket import FakeBitbucket
from atlassian_clients.fakes.bitbucket_api import create_bitbucket_app
from atlassian_clients.fakes.confluence import FakeConfluence
from atlassian_clients.fakes.confluence_api import create_confluence_app
from atlassian_clients.fakes.control import create_control_app
from atlassian_clients.fakes.crowd import FakeCrowd
from atlassian_clients.fakes.crowd_api import create_crowd_app
from atlassian_clients.fakes.jira import FakeJira
from atlassian_clients.fakes.jira_api import create_jira_app
from atlassian_clients.fakes.rest import Exchange, ExchangeLog

# Crowd serves the other three where a site keeps its users there (docs/products.md §5.1).
PRODUCTS = ("jira", "confluence", "bitbucket", "crowd")


@dataclass(frozen=True)
class FakeProducts:
    jira: FakeJira
    confluence: FakeConfluence
    bitbucket: FakeBitbucket
    crowd: FakeCrowd

    def by_name(self) -> dict[str, Any]:
        return {"jira": self.jira, "confluence": self.confluence, "bitbucket": self.bitbucket, "crowd": self.crowd}


def create_products(
    *,
    admin_user: str = "admin",
    admin_password: str = "admin",
    tokens: Mapping[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
    seed: int = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> FakeProducts:
    """Fresh fakes, each with the admin account (and its personal access token, when given); in
    Crowd the admin name and password are also those of the application that calls it."""
    tokens, versions = tokens or {}, versions or {}

    def options(name: str) -> dict[str, Any]:
        return {
            "admin_user": admin_user,
            "admin_password": admin_password,
            "admin_token": tokens.get(name),
            "version": versions.get(name),
            "seed": seed,
            "sleep": sleep,
        }

    return FakeProducts(
        FakeJira(**options("jira")),
        FakeConfluence(**options("confluence")),
        FakeBitbucket(**options("bitbucket")),
        FakeCrowd(**options("crowd")),
    )


def create_wsgi_app(products: FakeProducts, recorder: ExchangeLog | None = None) -> DispatcherMiddleware:
    """One WSGI app serving each product under its context path, and /_fake at the root."""
    recorder = recorder or ExchangeLog()
    return DispatcherMiddleware(
        create_control_app(products.by_name()),
        {
            "/jira": create_jira_app(products.jira, recorder),
            "/confluence": create_confluence_app(products.confluence, recorder),
            "/bitbucket": create_bitbucket_app(products.bitbucket, recorder),
            "/crowd": create_crowd_app(products.crowd, recorder),
        },
    )


class RunningFakes:
    """The fakes served by a background thread; stop with :meth:`stop` or a ``with`` block."""

    def __init__(self, server: BaseWSGIServer, products: FakeProducts, recorder: ExchangeLog) -> None:
        self._server = server
        self.products = products
        self.recorder = recorder
        self.url = f"http://{_url_host(server.host)}:{server.port}"
        # A short poll interval lets stop() return at once instead of after up to half a second.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="atlassian-fakes", daemon=True
        )
        self._thread.start()

    @property
    def jira(self) -> FakeJira:
        return self.products.jira

    @property
    def confluence(self) -> FakeConfluence:
        return self.products.confluence

    @property
    def bitbucket(self) -> FakeBitbucket:
        return self.products.bitbucket

    @property
    def crowd(self) -> FakeCrowd:
        return self.products.crowd

    def base_url(self, product: str) -> str:
        """The product's base URL, context path included: what a client's ``base_url`` is set to."""
        if product not in PRODUCTS:
            raise ValueError(f"unknown product {product!r}; expected one of {PRODUCTS}")
        return f"{self.url}/{product}"

    def exchanges(self, product: str | None = None) -> list[Exchange]:
        """Recorded exchanges (``start_fakes(record=True)``), optionally of one product."""
        return [e for e in self.recorder.entries() if product in (None, e.product)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningFakes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Tests and the demo run thousands of calls; the access log is opt-in."""


def start_fakes(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    record: bool = False,
    log_requests: bool = False,
    products: FakeProducts | None = None,
    **product_options: Any,
) -> RunningFakes:
    """Serve fresh fakes (or ``products``) on ``host:port`` (0 = a free port) in a background thread.

    ``product_options`` go to :func:`create_products`: ``admin_user``, ``admin_password``,
    ``tokens`` ({"jira": "<pat>", ...}), ``versions`` ({"jira": "9.12.0", ...}), ``seed``, ``sleep``.
    With ``record=True`` every exchange is kept for :meth:`RunningFakes.exchanges`; with
    ``log_requests=True`` werkzeug prints an access log line per request.
    """
    products = products or create_products(**product_options)
    recorder = ExchangeLog(enabled=record)
    handler = WSGIRequestHandler if log_requests else _QuietRequestHandler
    server = make_server(host, port, create_wsgi_app(products, recorder), threaded=True, request_handler=handler)
    return RunningFakes(server, products, recorder)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
