"""Benchmark 7: the bridge over HTTP as its users run it, against PyPI's ``scim2-server``.

Each server runs under gunicorn with 1 worker × 4 threads on loopback: the bridge exactly as
documented (``gunicorn app:app`` with ``gunicorn.conf.py`` and a configuration file; no targets, so a
create is the durable write alone), one instance per database, and the reference
(``bench/reference.py``, in memory). All of them are up at once and take turns in rounds, so drift
on the machine weighs on each alike. The load generator is the same for all: 4 threads, each with
one keep-alive HTTP/1.1 connection (``http.client``), sending the next request when the previous
answer is in.

1. Each server is loaded with 1,000 users through ``POST /Bulk`` (1,000 operations a request, the
   documented fast path of an initial load), then ``userName eq`` look-ups of random loaded users
   are measured for a few seconds per round.
2. The rest of the users up to the large count are loaded the same way; the load is timed.
3. Look-ups at the large count, then creates (``POST /Users`` of fresh users), in rounds.
4. Each server's worker RSS is read from ``/proc`` at the end.

Every answer is checked (the look-up found its one user, the create answered 201): timing errors
would mislead.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
import yaml

from bench.measure import Measurement, Table
from scim_bridge.scim.bulk import BULK_REQUEST

REPO = Path(__file__).resolve().parents[1]
BULK_SIZE = 1000  # both servers' bulk.maxOperations
THREADS = 4
SMALL = 1_000
STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def user_name(k: int) -> str:
    return f"user{k:07d}@example.com"


def user(name: str) -> dict:
    local = name.split("@")[0]
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
            "displayName": local.title(), "name": {"givenName": local, "familyName": "Bench"},
            "emails": [{"value": name, "type": "work", "primary": True}], "active": True}


class Connection:
    """One keep-alive connection; reconnects once when the server closed it between requests."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json",
                        "Content-Type": "application/scim+json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                reply = self.conn.getresponse()
                return reply.status, reply.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Server:
    name: str
    port: int
    token: str
    prefix: str  # the SCIM base path
    process: subprocess.Popen
    loaded: int = 0
    created: itertools.count = field(default_factory=lambda: itertools.count())

    def connect(self) -> Connection:
        return Connection(self.port, self.token)

    def worker_rss_mib(self) -> float:
        """Resident memory of gunicorn's one worker (the master's child), in MiB."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        total = 0
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024


@contextmanager
def _gunicorn(name: str, command: list[str], env: dict[str, str], port: int, token: str, prefix: str,
              workdir: Path) -> Iterator[Server]:
    log = workdir / f"{name.replace(' ', '-')}.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = Server(name, port, token, prefix, process)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                conn = server.connect()
                status, _ = conn.request("GET", f"{prefix}/ServiceProviderConfig")
                conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIM_BRIDGE_", "PROMETHEUS_"))}
    env.update(extra)
    return env


def _gunicorn_binary() -> str:
    return str(Path(sys.executable).with_name("gunicorn"))


@contextmanager
def running_bridge(label: str, database_url: str, workdir: Path) -> Iterator[Server]:
    """``gunicorn app:app`` with the shipped gunicorn.conf.py and a configuration file, as an operator
    starts it, with 1 worker × 4 threads; no targets."""
    token = secrets.token_urlsafe(24)
    port = _free_port()
    config = {
        "database": {"url": database_url},
        "auth": {"tokens": [{"name": "bench", "value": "${SCIM_BRIDGE_BENCH_TOKEN}"}]},
        "targets": {},
    }
    file = workdir / f"{label}-config.yaml"
    file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = _environment(SCIM_BRIDGE_CONFIG=str(file), SCIM_BRIDGE_BIND=f"127.0.0.1:{port}", SCIM_BRIDGE_WORKERS="1",
                       SCIM_BRIDGE_THREADS=str(THREADS), SCIM_BRIDGE_BENCH_TOKEN=token)
    command = [_gunicorn_binary(), "-c", "gunicorn.conf.py", "app:app"]
    with _gunicorn(f"scim-bridge {label}", command, env, port, token, "/scim/v2", workdir) as server:
        yield server


@contextmanager
def running_reference(workdir: Path) -> Iterator[Server]:
    token = secrets.token_urlsafe(24)
    port = _free_port()
    env = _environment(SCIM2_SERVER_TOKEN=token)
    command = [_gunicorn_binary(), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(THREADS),
               "--timeout", "120", "bench.reference:app"]
    with _gunicorn("scim2-server", command, env, port, token, "/v2", workdir) as server:
        yield server


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards; yields the URL whose connections use it."""
    schema = f"bench_http_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def load(server: Server, upto: int) -> float:
    """POSTs /Bulk requests of BULK_SIZE users until ``upto`` are loaded; returns the seconds taken."""
    conn = server.connect()
    started = time.perf_counter()
    try:
        while server.loaded < upto:
            names = [user_name(k) for k in range(server.loaded, min(server.loaded + BULK_SIZE, upto))]
            body = {"schemas": [BULK_REQUEST], "failOnErrors": 1,
                    "Operations": [{"method": "POST", "path": "/Users", "bulkId": f"b{k}", "data": user(name)}
                                   for k, name in enumerate(names)]}
            status, raw = conn.request("POST", f"{server.prefix}/Bulk", body)
            if status != 200:
                raise AssertionError(f"{server.name}: POST /Bulk: HTTP {status} {raw[:500]!r}")
            results = json.loads(raw)["Operations"]
            failed = [r for r in results if str(r["status"]) != "201"]
            if failed or len(results) != len(names):
                raise AssertionError(f"{server.name}: POST /Bulk: {len(failed)} failed, e.g. {failed[:2]}")
            server.loaded += len(names)
    finally:
        conn.close()
    return time.perf_counter() - started


def _lookup(server: Server, conn: Connection, rng: random.Random) -> None:
    name = user_name(rng.randrange(server.loaded))
    expression = f'userName eq "{name}"'
    path = f"{server.prefix}/Users?filter={quote(expression)}"
    status, raw = conn.request("GET", path)
    if status != 200:
        raise AssertionError(f"{server.name}: lookup: HTTP {status} {raw[:300]!r}")
    found = json.loads(raw)
    if found.get("totalResults") != 1 or found["Resources"][0]["userName"] != name:
        raise AssertionError(f"{server.name}: lookup of {name} found {raw[:300]!r}")


def _create(server: Server, conn: Connection, rng: random.Random) -> None:
    name = f"new{next(server.created):07d}-{server.port}@example.com"
    status, raw = conn.request("POST", f"{server.prefix}/Users", user(name))
    if status != 201:
        raise AssertionError(f"{server.name}: create: HTTP {status} {raw[:300]!r}")


@dataclass
class Burst:
    rate: float  # requests per second over the burst
    latencies: list[float]  # ms


def burst(server: Server, operation: Callable[[Server, Connection, random.Random], None], seconds: float) -> Burst:
    """THREADS clients, each on its own keep-alive connection, for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    connections = [server.connect() for _ in range(THREADS)]
    for conn in connections:  # open the connections before the clock starts
        conn.request("GET", f"{server.prefix}/ServiceProviderConfig")
    start = threading.Barrier(THREADS + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        rng = random.Random(index * 7919 + server.port)
        mine = latencies[index]
        conn = connections[index]
        start.wait()
        try:
            while True:
                began = time.perf_counter()
                if began >= stop_at[0]:
                    return
                operation(server, conn, rng)
                mine.append((time.perf_counter() - began) * 1000)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - began
    for conn in connections:
        conn.close()
    if errors:
        raise errors[0]
    every = [x for mine in latencies for x in mine]
    return Burst(len(every) / took, every)


def rounds(servers: list[Server], operation, *, repeat: int, seconds: float, warmup: float,
           say: Callable[[str], None], what: str) -> dict[str, list[Burst]]:
    """Each server in turn, ``repeat`` times (the order rotating each round), after a warm-up burst."""
    for server in servers:
        burst(server, operation, warmup)
    found: dict[str, list[Burst]] = {server.name: [] for server in servers}
    for r in range(repeat):
        turn = servers[r % len(servers):] + servers[:r % len(servers)]
        for server in turn:
            found[server.name].append(burst(server, operation, seconds))
        say(f"{what}, round {r + 1}/{repeat}: " + ", ".join(
            f"{name} {bursts[-1].rate:,.0f}/s" for name, bursts in found.items()))
    return found


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _latency(name: str, bursts: list[Burst], q: float, label: str) -> Measurement:
    """The ``q`` percentile of create latency, one sample per round."""
    return Measurement(f"{name}: create latency {label}", "ms", tuple(_percentile(b.latencies, q) for b in bursts))


def _rates(name: str, bursts: list[Burst], note: str = "") -> Measurement:
    return Measurement(name, "req/s", tuple(b.rate for b in bursts), higher_is_better=True, note=note)


@dataclass(frozen=True)
class HttpPlan:
    users: int  # the large count
    rounds: int
    seconds: float  # per burst
    warmup: float


REFERENCE = "scim2-server"


def http_table(number: int, databases: dict[str, str], plan: HttpPlan, say: Callable[[str], None]) -> Table:
    """``databases``: label (SQLite, PostgreSQL) -> SQLAlchemy URL of a fresh, empty store."""
    workdir = Path(tempfile.mkdtemp(prefix="scim-bridge-bench-http-"))
    large = plan.users
    table = Table(
        f"{number}. Over HTTP, as run: scim-bridge ({', '.join(databases)}) against scim2-server "
        f"{_reference_version()}, {SMALL:,} and {large:,} users",
        "gunicorn, 1 worker × 4 threads, each server in turn; load generator: 4 threads with keep-alive "
        f"connections on loopback, {plan.seconds:g} s per burst, {plan.rounds} rounds. "
        f"Ratios: ÷ {REFERENCE} is the same figure of the reference in this run (above 1 is better for "
        "rates, below 1 for latency and memory); ÷ at 1,000 is the look-up rate at the large count over "
        "the one at 1,000 users (1.0: flat).",
        [f"÷ {REFERENCE}", "÷ at 1,000"])
    try:
        with ExitStack() as stack:
            servers = [stack.enter_context(running_bridge(label.lower(), url, workdir))
                       for label, url in databases.items()]
            servers.append(stack.enter_context(running_reference(workdir)))
            labels = [server.name for server in servers]
            for server in servers:
                load(server, SMALL)
            small = rounds(servers, _lookup, repeat=plan.rounds, seconds=plan.seconds, warmup=plan.warmup, say=say,
                           what=f"look-ups at {SMALL:,}")
            loads = {}
            for server in servers:
                say(f"{server.name}: loading up to {large:,} users by /Bulk")
                loads[server.name] = load(server, large)
                say(f"{server.name}: {large - SMALL:,} users in {loads[server.name]:.1f} s")
            big = rounds(servers, _lookup, repeat=plan.rounds, seconds=plan.seconds, warmup=plan.warmup, say=say,
                         what=f"look-ups at {large:,}")
            creates = rounds(servers, _create, repeat=plan.rounds, seconds=plan.seconds, warmup=plan.warmup,
                             say=say, what=f"creates at {large:,}")
            rss = {server.name: server.worker_rss_mib() for server in servers}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def versus(name: str, value: float, reference: float) -> dict[str, float | None]:
        return {} if name == REFERENCE else {f"÷ {REFERENCE}": value / reference}

    ref_small = statistics.median(b.rate for b in small[REFERENCE])
    ref_big = statistics.median(b.rate for b in big[REFERENCE])
    ref_create = statistics.median(b.rate for b in creates[REFERENCE])
    for name in labels:
        lookups_small = _rates(f"{name}: userName eq at {SMALL:,}", small[name])
        table.add(lookups_small.name, lookups_small, versus(name, lookups_small.median, ref_small))
        lookups_big = _rates(f"{name}: userName eq at {large:,}", big[name])
        table.add(lookups_big.name, lookups_big, {**versus(name, lookups_big.median, ref_big),
                                                  "÷ at 1,000": lookups_big.median / lookups_small.median})
    for name in labels:
        made = _rates(f"{name}: creates", creates[name])
        table.add(made.name, made, versus(name, made.median, ref_create))
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            measured = _latency(name, creates[name], q, label)
            reference = _latency(REFERENCE, creates[REFERENCE], q, label)
            table.add(measured.name, measured, versus(name, measured.median, reference.median))
        latency = [x for b in creates[name] for x in b.latencies]
        table.notes.append(f"{name}: create latency over every request of every round: p50 "
                           f"{_percentile(latency, 0.5):.1f} ms, p99 {_percentile(latency, 0.99):.1f} ms "
                           f"(p99 ÷ p50 {_percentile(latency, 0.99) / _percentile(latency, 0.5):.2f}).")
    for name in labels:
        took = Measurement(f"{name}: loading {large - SMALL:,} users by /Bulk", "ms", (loads[name] * 1000,))
        table.add(took.name, took, versus(name, loads[name], loads[REFERENCE]))
    for name in labels:
        memory = Measurement(f"{name}: worker RSS at the end", "MiB", (rss[name],))
        table.add(memory.name, memory, versus(name, rss[name], rss[REFERENCE]))
    return table


def _reference_version() -> str:
    from importlib.metadata import version

    return version("scim2-server")
