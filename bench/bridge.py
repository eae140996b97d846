"""The bridge under measurement: the real Flask app on a benchmark store, driven in-process through
Flask's test client, with the fakes of the products and Crowd as its targets (the demo's wiring)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from werkzeug.test import TestResponse

from scim_bridge import create_app
from scim_bridge.demo import demo_config
from scim_bridge.store.repository import Repository
from scim_bridge.sync.service import Sync
from tests.support.bridge import TOKEN, ScimClient

# No client-side rate limit: the fakes answer in-process, and the figures must show the bridge's own
# cost, not a token bucket's. The direct-call baseline uses the same settings.
HTTP = {"rate": 100_000, "burst": 100_000, "pool_size": 16, "deadline": 10.0}
# A full PATCH of 50,000 members is ~2.5 MB of JSON, above the 1 MiB default body limit.
MAX_BODY_BYTES = 16 * 1024 * 1024


def bench_config(engine: sa.Engine, fakes_url: str, *, concurrency: int = 4) -> dict:
    """The demo's configuration, with the worker off: deliveries happen only when a benchmark drains."""
    config = demo_config(engine.url.render_as_string(hide_password=False), TOKEN, fakes_url)
    config["server"] = {"max_body_bytes": MAX_BODY_BYTES}
    config["delivery"] = {"worker": False, "wait_seconds": 0, "concurrency": concurrency}
    for target in config["targets"].values():
        target["http"] = dict(HTTP)
    return config


@dataclass
class Bridge:
    scim: ScimClient
    sync: Sync

    def read(self, path: str) -> TestResponse:
        """A GET whose body is left unparsed, so that the timing is the bridge's, not the client's."""
        return self.scim.http.get(f"/scim/v2{path}", headers={"Authorization": f"Bearer {TOKEN}"})


@contextmanager
def running_bridge(engine: sa.Engine, fakes_url: str) -> Iterator[Bridge]:
    app = create_app(bench_config(engine, fakes_url), store=Repository(engine))
    sync = app.extensions["scim_bridge"].sync
    try:
        yield Bridge(ScimClient(app, TOKEN), sync)
    finally:
        # drain() uses the worker's pools even though the loops never started; stop() shuts them down.
        sync.worker.stop()
