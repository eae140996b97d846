"""Benchmark 10: what a request costs the gunicorn worker, and how much of that is gunicorn's own.

Three servers under benchmark 7's gunicorn settings and load generator (1 worker × 4 threads; 4
client threads with keep-alive connections), up at once and taking turns in rounds: a do-nothing
WSGI app (``bench/floor_app.py``), the bridge on SQLite and ``scim2-server``, each holding 1,000
users. For ``GET /ServiceProviderConfig`` (no store) and a ``userName eq`` look-up, the worker's
CPU time per request (user + system, ``/proc/<pid>/stat``) and its threads' context switches per
request (``/proc/<pid>/task/*/status``).

Why: one gunicorn worker runs one thread of Python at a time, so under this load its rate is about
one core over its CPU per request, and the look-up ratio of benchmark 7 is the ratio of the two
servers' CPU per look-up. The do-nothing app is the part no app can save; a look-up's switches
beyond ServiceProviderConfig's are the interpreter lock changing hands while the driver runs the
query (each release lets another request thread run, and the releasing thread waits to get it back).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import over_http
from bench.measure import Measurement, Table, process_cpu_seconds

FLOOR_APP = "do-nothing app"


@dataclass(frozen=True)
class Cost:
    cpu_ms: float  # worker CPU per request
    switches: float  # context switches per request, all the worker's threads
    rate: float


def _worker_pids(server: over_http.Server) -> list[str]:
    return Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()


def _worker_counters(server: over_http.Server) -> tuple[float, int]:
    """CPU seconds and context switches of gunicorn's worker so far."""
    cpu, switches = 0.0, 0
    for pid in _worker_pids(server):
        cpu += process_cpu_seconds(pid)
        for task in os.listdir(f"/proc/{pid}/task"):
            for line in Path(f"/proc/{pid}/task/{task}/status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
    return cpu, switches


def cost(server: over_http.Server, operation: Callable, seconds: float) -> Cost:
    cpu, switches = _worker_counters(server)
    burst = over_http.burst(server, operation, seconds)
    cpu_after, switches_after = _worker_counters(server)
    requests = burst.rate * seconds  # burst() times its own span; close enough for a per-request figure
    return Cost((cpu_after - cpu) / requests * 1000, (switches_after - switches) / requests, burst.rate)


def _configuration(server: over_http.Server, conn: over_http.Connection, rng) -> None:
    status, raw = conn.request("GET", f"{server.prefix}/ServiceProviderConfig")
    if status != 200:
        raise AssertionError(f"{server.name}: ServiceProviderConfig: HTTP {status} {raw[:300]!r}")


def _running_floor_app(workdir: Path):
    port = over_http._free_port()
    command = [over_http._gunicorn_binary(), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads",
               str(over_http.THREADS), "bench.floor_app:app"]
    return over_http._gunicorn(FLOOR_APP, command, over_http._environment(), port, "-", "/scim/v2", workdir)


OPERATIONS = {"ServiceProviderConfig": _configuration, "userName eq look-up": over_http._lookup}


def floor_table(number: int, *, rounds: int, seconds: float, say: Callable[[str], None]) -> Table:
    table = Table(
        f"{number}. What a request costs the gunicorn worker: a do-nothing app, scim-bridge (SQLite) and "
        "scim2-server, 1,000 users",
        f"gunicorn, 1 worker × 4 threads, the load generator of benchmark 7, {seconds:g} s per burst, {rounds} "
        "rounds, the servers taking turns. Worker CPU per request from /proc (user + system); ÷ do-nothing "
        "app: over the do-nothing app's CPU per request in the same round set; switches: context switches of "
        "all the worker's threads per request.",
        ["÷ do-nothing app", "switches per request"])
    found: dict[tuple[str, str], list[Cost]] = {}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scim-bridge-bench-floor-")))
        floor = stack.enter_context(_running_floor_app(workdir))
        bridge = stack.enter_context(over_http.running_bridge("sqlite", f"sqlite:///{workdir / 'bridge.db'}",
                                                              workdir))
        reference = stack.enter_context(over_http.running_reference(workdir))
        for server in (bridge, reference):
            over_http.load(server, over_http.SMALL)
        for label, operation in OPERATIONS.items():
            servers = [bridge, reference] if operation is over_http._lookup else [floor, bridge, reference]
            for server in servers:
                over_http.burst(server, operation, min(seconds, 2.0))  # warm-up
            for r in range(rounds):
                for server in servers[r % len(servers):] + servers[:r % len(servers)]:
                    found.setdefault((server.name, label), []).append(cost(server, operation, seconds))
            say(f"floor: {label} done")
    base = statistics.median(c.cpu_ms for c in found[(FLOOR_APP, "ServiceProviderConfig")])
    for (name, label), costs in found.items():
        measured = Measurement(f"{name}: {label}, worker CPU per request", "ms", tuple(c.cpu_ms for c in costs))
        table.add(measured.name, measured, {"÷ do-nothing app": measured.median / base,
                                            "switches per request": statistics.median(c.switches for c in costs)})
    rates = {key: statistics.median(c.rate for c in costs) for key, costs in found.items()}
    lookups = "userName eq look-up"
    ours, theirs = rates[(bridge.name, lookups)], rates[(over_http.REFERENCE, lookups)]
    ref_cpu = statistics.median(c.cpu_ms for c in found[(over_http.REFERENCE, lookups)])
    table.notes.append(
        f"Look-ups/s in these rounds: scim-bridge {ours:,.0f}, {over_http.REFERENCE} {theirs:,.0f} "
        f"({ours / theirs:.2f}×). Twice the reference's look-up rate asks for at most {ref_cpu / 2:.2f} ms of "
        f"worker CPU per look-up; the do-nothing app takes {base:.2f} ms.")
    return table
