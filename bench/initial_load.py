"""Benchmark 9: an initial load into the three products under their rate limit.

The bridge runs as operators run it (gunicorn, 1 worker × 4 threads, a configuration file, its
worker thread on), each target's client limited to ``RATE`` calls per second (burst ``BURST``);
the fakes of Jira, Confluence and Bitbucket run in this process under cheroot (keep-alive), so
they take none of the bridge's CPU. ``users`` users and ``groups`` groups holding ``memberships``
members in all are sent by ``POST /Bulk`` (as many operations a request as the server's
``bulk.maxOperations`` and ``bulk.maxPayloadSize`` allow), as an identity provider's
first push or a migration script would; the clock runs from the first request until every outbox
row is delivered.

- ``÷ rate-limit floor``: the wall time over the least time the token bucket allows for the calls
  the busiest target received (targets deliver in parallel). Goal (issue 11): at most 1.1.
- **CPU per delivered user per product**: the gunicorn processes' CPU time (master and worker;
  ``/proc``, user + system) over users × products. Goal: at most 2 ms. It includes the SCIM side (the bulk requests).
- Calls per user on each product, from the fakes' exchange log: what the floor is made of.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import requests
import sqlalchemy as sa

from bench.fanout import KeepAliveFakes
from bench.measure import Measurement, Table, process_cpu_seconds
from scim_bridge.demo import demo_config
from scim_bridge.scim.bulk import BULK_REQUEST
from scim_bridge.store.models import OutboxRow
from tests.support.bridge import TOKEN
from tests.support.servers import running_gunicorn

RATE, BURST = 100.0, 10
PRODUCTS = ("jira", "confluence", "bitbucket")


def _gunicorn_cpu_seconds(marker: str) -> float:
    """User + system CPU of the gunicorn processes (master and worker) serving this run, found by the
    marker in their environment."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            if "gunicorn" not in command or marker.encode() not in environ:
                continue
            total += process_cpu_seconds(pid)
        except OSError:
            continue
    return total


def _requests(operations: list[dict], max_operations: int, max_bytes: int) -> list[list[dict]]:
    """The operations cut into requests as a client reading /ServiceProviderConfig cuts them: at most
    bulk.maxOperations each and at most bulk.maxPayloadSize bytes of JSON (a 413 otherwise)."""
    room = max_bytes - len(json.dumps({"schemas": [BULK_REQUEST], "Operations": []})) - 1024
    batches: list[list[dict]] = [[]]
    size = 0
    for operation in operations:
        length = len(json.dumps(operation)) + 2
        if batches[-1] and (len(batches[-1]) >= max_operations or size + length > room):
            batches.append([])
            size = 0
        batches[-1].append(operation)
        size += length
    return [batch for batch in batches if batch]


def _bulk(http: requests.Session, url: str, operations: list[dict]) -> dict[str, str]:
    """Send ``operations`` in as few requests as the server's bulk limits allow; returns each
    bulkId's new resource id."""
    limits = http.get(f"{url}/ServiceProviderConfig", timeout=60).json()["bulk"]
    made = {}
    for batch in _requests(operations, limits["maxOperations"], limits["maxPayloadSize"]):
        body = {"schemas": [BULK_REQUEST], "Operations": batch}
        reply = http.post(f"{url}/Bulk", json=body, timeout=600)
        answers = reply.json().get("Operations", []) if reply.status_code == 200 else []
        if reply.status_code != 200 or any(int(op["status"]) >= 300 for op in answers):
            raise AssertionError(f"POST /Bulk: HTTP {reply.status_code} {reply.text[:500]}")
        made.update({op["bulkId"]: op["location"].rsplit("/", 1)[1] for op in answers})
    return made


def initial_load_table(database: str, server, *, users: int, groups: int, per_user: int,
                       concurrency: int = 4) -> Table:
    """``concurrency``: the bridge's ``delivery.concurrency`` (deliveries in flight per target)."""
    with ExitStack() as stack:
        fakes = KeepAliveFakes()
        stack.callback(fakes.close)
        engine = stack.enter_context(server.fresh())
        config = demo_config(engine.url.render_as_string(hide_password=False), TOKEN, fakes.url)
        config["logging"] = {"level": "WARNING"}
        config["delivery"] = {"worker": True, "wait_seconds": 0, "concurrency": concurrency}
        config["server"] = {"max_body_bytes": 64 * 1024 * 1024}
        config["targets"] = {name: {**target, "http": {"rate": RATE, "burst": BURST, "deadline": 60}}
                             for name, target in config["targets"].items() if name in PRODUCTS}
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
        marker = f"bench-load-{os.getpid()}-{time.monotonic_ns()}"
        root = stack.enter_context(running_gunicorn(workdir, config, TOKEN, environ={
            "SCIM_BRIDGE_WORKERS": "1", "SCIM_BRIDGE_THREADS": "4", "SCIM_BRIDGE_BENCH_RUN": marker}))
        http = stack.enter_context(requests.Session())
        http.headers.update({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"})
        url = f"{root}/scim/v2"
        user_ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{k}",
                     "data": {"userName": f"load{k:05d}@example.com", "displayName": f"Load {k}",
                              "emails": [{"value": f"load{k:05d}@example.com", "primary": True}]}}
                    for k in range(users)]
        members = {g: [] for g in range(groups)}
        for k in range(users):
            for j in range(per_user):
                members[(k + j * 7) % groups].append(k)
        cpu_before, started = _gunicorn_cpu_seconds(marker), time.perf_counter()
        ids = _bulk(http, url, user_ops)
        _bulk(http, url, [{"method": "POST", "path": "/Groups", "bulkId": f"g{g}",
                           "data": {"displayName": f"Load team {g:03d}",
                                    "members": [{"value": ids[f"u{k}"]} for k in ks]}}
                          for g, ks in members.items()])
        with engine.connect() as conn:
            while conn.execute(sa.select(sa.func.count()).select_from(OutboxRow)).scalar():
                parked = conn.execute(sa.select(sa.func.count()).select_from(OutboxRow)
                                      .where(OutboxRow.state == "parked")).scalar()
                if parked:
                    raise AssertionError(f"{parked} deliveries parked during the load")
                conn.rollback()
                time.sleep(0.5)  # polling the store while the bridge delivers
        seconds = time.perf_counter() - started
        cpu = _gunicorn_cpu_seconds(marker) - cpu_before
        calls = Counter(e.product for e in fakes.exchanges())
        for product, fake in fakes.products.by_name().items():
            if product not in PRODUCTS:
                continue
            missing = [k for k in range(users) if fake.user(f"load{k:05d}") is None]
            if missing:
                raise AssertionError(f"{product}: {len(missing)} users not created, e.g. load{missing[0]:05d}")
    busiest = max(calls.values())
    floor = max(busiest - BURST, 0) / RATE
    table = Table(f"9. Initial load under the rate limit — {database}",
                  f"{users:,} users, {groups} groups, {users * per_user:,} memberships by POST /Bulk into Jira, "
                  f"Confluence and Bitbucket, each client limited to {RATE:g} calls/s (burst {BURST}); the bridge "
                  f"under gunicorn (1 worker × 4 threads, delivery.concurrency {concurrency}). Wall time from the "
                  "first request to the last delivery.",
                  ["÷ rate-limit floor"])
    table.add("initial load, wall time", Measurement("initial load", "s", (seconds,)),
              {"÷ rate-limit floor": seconds / floor if floor else None})
    table.add("bridge CPU per delivered user per product", Measurement("cpu", "ms", (cpu * 1000 / (users * 3),)))
    # The least a product needs: a create, an add per membership and one to the licence group per
    # user, and a create per group; the calls made above that are the bridge's own reads and checks.
    needed = users * (1 + per_user + 1) + groups
    table.notes.append(f"Rate-limit floor {floor:.1f} s for the busiest target's {busiest:,} calls; calls per user: "
                       + ", ".join(f"{p} {calls[p] / users:.2f}" for p in PRODUCTS) + ".")
    table.notes.append(f"The products need at least {needed:,} calls each ({1 + per_user + 1} per user and one per "
                       f"group; Bitbucket adds a user's groups in one call, so it needs fewer): wall time ÷ that floor "
                       f"{seconds / (max(needed - BURST, 0) / RATE):.2f}.")
    table.notes.append("Goals (issue 11): at most 1.1× the floor; at most 2 ms of CPU per delivered user per product.")
    return table
