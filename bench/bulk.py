"""Benchmark 5: an initial load of users through one /Bulk request, against the same users sent as
single POST /Users requests.

Both go through the real app with the three targets configured and the worker off, so every user is
committed with its audit entry, name reservations and three outbox rows, as in production; only the
delivery is left out (benchmark 4 measures it). Runs of both kinds alternate, each on fresh user
names, so drift on the machine weighs on both alike. The ratio is the bulk's time over the single
requests': what committing in batches of ``store.bulk.BATCH_SIZE`` (and one HTTP request) saves over
one transaction and one request per user.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from bench.bridge import Bridge
from bench.measure import Measurement, Table, ratio
from scim_bridge.scim.bulk import BULK_REQUEST
from scim_bridge.store.bulk import BATCH_SIZE
from scim_bridge.store.models import OutboxRow


def _user(name: str) -> dict:
    return {"userName": f"{name}@example.com", "displayName": name.title(),
            "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}]}


def _names(prefix: str, users: int) -> list[str]:
    return [f"{prefix}-{k:05d}" for k in range(users)]


def _singles(bridge: Bridge, names: list[str]) -> float:
    started = time.perf_counter()
    for name in names:
        reply = bridge.scim.post("/Users", _user(name))
        if reply.status != 201:
            raise AssertionError(f"POST /Users: HTTP {reply.status} {reply.body}")
    return time.perf_counter() - started


def _bulk(bridge: Bridge, names: list[str]) -> float:
    body = {"schemas": [BULK_REQUEST],
            "Operations": [{"method": "POST", "path": "/Users", "bulkId": name, "data": _user(name)} for name in names]}
    started = time.perf_counter()
    reply = bridge.scim.post("/Bulk", body)
    took = time.perf_counter() - started
    if reply.status != 200:
        raise AssertionError(f"POST /Bulk: HTTP {reply.status} {reply.body}")
    failed = [r for r in reply.body["Operations"] if r["status"] != "201"]
    if failed or len(reply.body["Operations"]) != len(names):
        raise AssertionError(f"POST /Bulk: {len(failed)} operations failed, e.g. {failed[:2]}")
    return took


def _queued(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(OutboxRow)).scalar_one()


def bulk_table(database: str, bridge: Bridge, engine: sa.Engine, *, users: int, repeat: int) -> Table:
    targets = len(bridge.sync.targets)
    warm = max(users // 10, 5)
    _singles(bridge, _names("warm-single", warm))
    _bulk(bridge, _names("warm-bulk", warm))
    singles, bulks = [], []
    queued = _queued(engine)
    for run in range(repeat):  # interleaved, so that drift on the machine hits both alike
        singles.append(_singles(bridge, _names(f"single{run:02d}", users)) * 1000)
        bulks.append(_bulk(bridge, _names(f"bulk{run:02d}", users)) * 1000)
    expected = 2 * repeat * users * targets
    if _queued(engine) - queued != expected:
        raise AssertionError(f"{_queued(engine) - queued} outbox rows queued, expected {expected}")
    single = Measurement(f"{users} × POST /Users", "ms", tuple(singles))
    bulk = Measurement(f"POST /Bulk of {users} user creations", "ms", tuple(bulks))
    column = f"÷ {users} single POSTs"
    table = Table(f"5. Bulk load — {database}",
                  f"{users} new users committed with their outbox rows ({targets} targets, worker off), as one "
                  f"/Bulk request (committed {BATCH_SIZE} operations per transaction) or as {users} POST /Users. "
                  "Lower is better.", [column])
    table.add(bulk.name, bulk, {column: ratio(bulk, single)})
    table.add(single.name, single, {column: 1.0})
    return table
