"""Benchmark 4: delivery throughput to the fake products, against calling their clients directly.

Users are created through SCIM with the worker off, then ``sync.worker.drain()`` delivers them to
fakes of Jira, Confluence, Bitbucket and Crowd served in-process over loopback HTTP; only the drain is
timed. The baseline makes the calls a new user needs with the same clients and the same fakes --
``create_user``, ``add_member`` to the licence group -- with the same parallelism as
``drain()`` (the worker's pool of ``concurrency`` per target, one target after another). The ratio
is the bridge's throughput over the raw REST calls': the price of the outbox, the records, the
planning and the audit log.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from atlassian_clients import BasicAuth, HttpSettings, build_client
from atlassian_clients.base import DirectoryClient
from atlassian_clients.fakes import PRODUCTS, RunningFakes
from bench.bridge import HTTP, Bridge
from bench.measure import Measurement, Table, ratio
from scim_bridge.demo import LICENCE_GROUPS

CONCURRENCY = 4  # delivery.concurrency, the default


@dataclass
class Batch:
    seconds: float
    calls: int


def _users(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{k:04d}" for k in range(n)]


def _check_provisioned(fakes: RunningFakes, names: list[str]) -> None:
    for product, fake in fakes.products.by_name().items():
        licence = LICENCE_GROUPS[product][0]
        missing = [n for n in names if fake.user(n) is None or licence not in fake.groups_of(n)]
        if missing:
            raise AssertionError(f"{product}: {len(missing)} users not provisioned, e.g. {missing[:3]}")


def _through_bridge(bridge: Bridge, fakes: RunningFakes, names: list[str], post_ms: list[float]) -> Batch:
    for name in names:
        started = time.perf_counter()
        reply = bridge.scim.post("/Users", {"userName": f"{name}@example.com", "displayName": name.title(),
                                            "emails": [{"value": f"{name}@example.com", "type": "work",
                                                        "primary": True}]})
        post_ms.append((time.perf_counter() - started) * 1000)
        if reply.status != 201:
            raise AssertionError(f"POST /Users: HTTP {reply.status} {reply.body}")
    calls = len(fakes.exchanges())
    started = time.perf_counter()
    handled = bridge.sync.worker.drain()
    seconds = time.perf_counter() - started
    if handled != len(PRODUCTS) * len(names):
        raise AssertionError(f"drain() handled {handled} rows, expected {len(PRODUCTS) * len(names)}")
    _check_provisioned(fakes, names)
    return Batch(seconds, len(fakes.exchanges()) - calls)


def direct_clients(fakes: RunningFakes) -> dict[str, DirectoryClient]:
    return {product: build_client(product, product, fakes.base_url(product), BasicAuth("admin", "admin"),
                                  http=HttpSettings(**HTTP)) for product in PRODUCTS}


def _direct(clients: dict[str, DirectoryClient], fakes: RunningFakes, names: list[str]) -> Batch:
    calls = len(fakes.exchanges())
    started = time.perf_counter()
    for product, client in clients.items():
        licence = LICENCE_GROUPS[product][0]

        def provision(name: str, client=client, licence=licence) -> None:
            # What a new user needs: the create (which settles "name taken" itself) and the licence group.
            client.create_user(name, name.title(), f"{name}@example.com")
            client.add_member(licence, name)

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(provision, names))
    seconds = time.perf_counter() - started
    _check_provisioned(fakes, names)
    return Batch(seconds, len(fakes.exchanges()) - calls)


def delivery_table(database: str, bridge: Bridge, fakes: RunningFakes, *, users: int, repeat: int) -> Table:
    """``fakes`` must record exchanges (``start_fakes(record=True)``): the calls made are counted."""
    clients = direct_clients(fakes)
    warm = max(users // 10, 5)
    post_ms: list[float] = []
    _through_bridge(bridge, fakes, _users("warm-bridge", warm), [])
    _direct(clients, fakes, _users("warm-direct", warm))
    bridged, direct = [], []
    for run in range(repeat):  # interleaved, so that drift on the machine hits both alike
        bridged.append(_through_bridge(bridge, fakes, _users(f"bridge{run:02d}", users), post_ms))
        direct.append(_direct(clients, fakes, _users(f"direct{run:02d}", users)))
    deliveries = len(PRODUCTS) * users

    def rate(name: str, batches: list[Batch]) -> Measurement:
        return Measurement(name, "deliveries/s", tuple(deliveries / b.seconds for b in batches),
                           higher_is_better=True)

    through = rate(f"bridge: drain() of {users} new users × {len(PRODUCTS)} targets", bridged)
    raw = rate("direct: create_user + add_member per user and target", direct)
    column = "÷ direct client calls"
    table = Table(f"4. Delivery throughput — {database}",
                  f"{users} users created through SCIM, then delivered to the fakes of {', '.join(PRODUCTS)} "
                  f"(concurrency {CONCURRENCY} per target, as drain() runs). Higher is better; the ratio is the "
                  "share of the raw REST throughput the bridge keeps.", [column])
    table.add(through.name, through, {column: ratio(through, raw)})
    table.add(raw.name, raw, {column: 1.0})
    table.add("POST /Users before the drain (commit + 3 deliveries queued)", Measurement("POST /Users", "ms",
                                                                                          tuple(post_ms)))
    per = {name: sum(b.calls for b in batches) / (deliveries * len(batches))
           for name, batches in (("bridge", bridged), ("direct", direct))}
    table.notes.append(f"REST calls per delivery (user × target): bridge {per['bridge']:.2f}, "
                       f"direct {per['direct']:.2f}.")
    return table
