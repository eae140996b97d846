"""Running the bridge for tests: in-process on a store fixture, or live on a loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from scim_bridge import create_app
from scim_bridge.store.models import OutboxRow
from scim_bridge.store.repository import Repository
from tests.support.credentials import TOKEN
from tests.support.idp_requests import PATCH_OP


def bridge_app(engine, **config):
    settings = {"auth": {"tokens": [{"name": "idp", "value": TOKEN}]}, "logging": {"level": "WARNING"}}
    settings.update(config)
    return create_app(settings, store=Repository(engine))


@dataclass
class Reply:
    status: int
    body: dict | None
    headers: dict


class ScimClient:
    """A SCIM client over Flask's test client: bodies as dicts, the bearer token sent by default."""

    def __init__(self, app, token: str = TOKEN):
        self.app = app
        self.http = app.test_client()
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        headers=None,
        raw: bytes | str | None = None,
        content_type="application/scim+json",
    ) -> Reply:
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None or raw is not None:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.http.open(f"/scim/v2{path}", method=method, data=data, headers=sent)
        parsed = json.loads(response.data) if response.data else None
        return Reply(response.status_code, parsed, dict(response.headers))

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path, operations, **kw):
        return self.call("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations}, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields the SCIM base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll lets shutdown() return at once instead of after up to half a second (werkzeug's
    # default), test after test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/scim/v2"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_until_delivered(engine, targets: tuple[str, ...], timeout: float = 30.0) -> None:
    """Until the outbox holds no row for ``targets``, while the worker delivers and retries; a row
    parked (refused by a target) fails at once, since no waiting will deliver it."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            left = conn.execute(sa.select(OutboxRow.target, OutboxRow.state, OutboxRow.last_error)
                                .where(OutboxRow.target.in_(targets))).all()
        if not left:
            return
        parked = [row for row in left if row.state == "parked"]
        if parked:
            pytest.fail(f"parked rows: {parked[:5]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{len(left)} rows still pending after {timeout} s, e.g. {left[:3]}")
        time.sleep(0.1)  # polling the outbox while the worker delivers
