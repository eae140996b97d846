"""Run every benchmark on SQLite and PostgreSQL and record the results in bench/results/.

    .venv/bin/python -m bench.run [--quick] [--postgres URL | --sqlite-only] [--only NAME ...]

PostgreSQL gets a fresh schema per store, dropped afterwards; when the server does not answer, its
half of the run is skipped with the reason printed and recorded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from atlassian_clients.fakes import start_fakes
from bench.bridge import running_bridge
from bench.bulk import bulk_table
from bench.dataset import Scale, load
from bench.delivery import delivery_table
from bench.fanout import fanout_table
from bench.floor import floor_table
from bench.initial_load import initial_load_table
from bench.lookups import lookup_table, measure_lookups
from bench.membership import membership_table
from bench.memory import memory_table
from bench.over_http import HttpPlan, http_table, postgres_schema
from bench.reconcile import ReconcileScale, reconcile_table
from bench.report import Run
from bench.stores import DEFAULT_POSTGRES, PostgresServer, SqliteServer

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass(frozen=True)
class Plan:
    mode: str
    large: Scale
    small: Scale
    request_runs: int
    request_warmup: int
    replace_runs: int
    replace_budget: float  # seconds; a full replace slower than this is not repeated
    memory_runs: int
    delivery_users: int
    delivery_runs: int
    bulk_users: int
    bulk_runs: int
    fanout_users: int
    load_users: int
    load_groups: int
    http: HttpPlan
    reconcile: ReconcileScale
    load_concurrency: int = 4  # delivery.concurrency of benchmark 9's bridge

    def describe(self) -> str:
        return (f"{self.large.label} with a {self.large.members:,}-member group, baseline {self.small.label}; "
                f"{self.request_runs} runs per request, {self.delivery_users} users per delivery run")


SMALL = Scale(users=1_000, members=500, groups=200)
DEFAULT = Plan("default", Scale(users=100_000, members=50_000, groups=20_000), SMALL, request_runs=30,
               request_warmup=3, replace_runs=5, replace_budget=30.0, memory_runs=3, delivery_users=300,
               delivery_runs=3, bulk_users=1000, bulk_runs=3, fanout_users=100, load_users=10_000, load_groups=500,
               http=HttpPlan(users=100_000, rounds=5, seconds=4.0, warmup=1.0),
               reconcile=ReconcileScale(users=10_000, groups=500, drift=20))
QUICK = Plan("quick", Scale(users=10_000, members=5_000, groups=2_000), SMALL, request_runs=10, request_warmup=2,
             replace_runs=2, replace_budget=10.0, memory_runs=2, delivery_users=50, delivery_runs=2,
             bulk_users=200, bulk_runs=1, fanout_users=30, load_users=1_000, load_groups=50,
             http=HttpPlan(users=5_000, rounds=2, seconds=2.0, warmup=0.5),
             reconcile=ReconcileScale(users=1_000, groups=50, drift=5))


class Progress:
    def __init__(self):
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)


BENCHMARKS = ("lookups", "memory", "membership", "delivery", "bulk", "fanout", "http", "reconcile", "initial",
              "floor")
ACROSS = {"http", "floor"}  # these run every server at once, not database by database
LOADED = {"lookups", "memory", "membership"}  # these share the stores loaded directly (not through SCIM)


def bench_database(server, plan: Plan, fakes_url: str, run: Run, say: Progress,
                   only: frozenset[str] = frozenset(BENCHMARKS)) -> None:
    database = DATABASE_LABELS[server.kind]
    if only & LOADED:
        bench_loaded(server, database, plan, fakes_url, run, say, only)
    if "delivery" in only:
        say(f"{database}: delivery throughput")
        with start_fakes(record=True) as fakes, server.fresh() as engine, running_bridge(engine, fakes.url) as bridge:
            run.tables.append(delivery_table(database, bridge, fakes, users=plan.delivery_users,
                                             repeat=plan.delivery_runs))
    if "bulk" in only:
        say(f"{database}: /Bulk of {plan.bulk_users} users against single POSTs")
        with server.fresh() as engine, running_bridge(engine, fakes_url) as bridge:
            run.tables.append(bulk_table(database, bridge, engine, users=plan.bulk_users, repeat=plan.bulk_runs))
    if "fanout" in only:
        say(f"{database}: fan-out of {plan.fanout_users} writes to products answering in 20 ms")
        run.tables.append(fanout_table(database, server, users=plan.fanout_users))
    if "initial" in only:
        say(f"{database}: initial load of {plan.load_users:,} users and {plan.load_groups} groups under the rate limit")
        run.tables.append(initial_load_table(database, server, users=plan.load_users, groups=plan.load_groups,
                                             per_user=5, concurrency=plan.load_concurrency))
    if "reconcile" in only:
        scale = plan.reconcile
        with start_fakes() as fakes, server.fresh() as engine:
            run.tables.append(reconcile_table(database, engine, fakes, users=scale.users, groups=scale.groups,
                                              per_kind=scale.drift, say=say))


def bench_loaded(server, database: str, plan: Plan, fakes_url: str, run: Run, say: Progress,
               only: frozenset[str]) -> None:
    with server.fresh() as small_engine, server.fresh() as engine:
        say(f"{database}: loading {plan.small.label} and {plan.large.label}")
        load(small_engine, plan.small)
        started = time.perf_counter()
        load(engine, plan.large)
        loaded = time.perf_counter() - started
        with running_bridge(small_engine, fakes_url) as small, running_bridge(engine, fakes_url) as bridge:
            if "lookups" in only:
                say(f"{database}: look-ups")
                measured = measure_lookups([(plan.large, bridge), (plan.small, small)], repeat=plan.request_runs,
                                           warmup=plan.request_warmup)
                lookups = lookup_table(database, plan.large, plan.small, measured)
                lookups.notes.append(f"Bulk-loading {plan.large.label} (not through SCIM) took {loaded:.1f} s.")
                run.tables.append(lookups)
            if "memory" in only:
                say(f"{database}: memory of the big group read")
                run.tables.append(memory_table(database, bridge, plan.large, repeat=plan.memory_runs))
            if "membership" in only:
                say(f"{database}: membership changes")
                run.tables.append(membership_table(database, bridge, engine, plan.large, repeat=plan.request_runs,
                                                   warmup=plan.request_warmup, replace_repeat=plan.replace_runs,
                                                   replace_budget=plan.replace_budget))


def bench_http(servers, plan: HttpPlan, run: Run, say: Progress) -> None:
    """Benchmark 7 spans both databases: every server is up at once and they take turns."""
    with ExitStack() as stack:
        databases = {}
        for server in servers:
            if server.kind == "sqlite":
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scim-bridge-bench-")))
                databases["SQLite"] = f"sqlite:///{workdir / 'bridge.db'}"
            else:
                databases["PostgreSQL"] = stack.enter_context(postgres_schema(server.url))
        say(f"over HTTP: {', '.join(databases)} and scim2-server, up to {plan.users:,} users")
        run.tables.append(http_table(7, databases, plan, say))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller, shorter run (a smoke test of the harness)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--postgres", default=DEFAULT_POSTGRES, metavar="URL",
                       help=f"PostgreSQL server to benchmark (default {DEFAULT_POSTGRES})")
    which.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--output", type=Path, default=RESULTS, help="directory for the results files")
    parser.add_argument("--http-users", type=int, default=None, metavar="N",
                        help="the large user count of the http benchmark (default 100,000; 5,000 with --quick)")
    parser.add_argument("--http-rounds", type=int, default=None, metavar="N", help="rounds of the http benchmark")
    parser.add_argument("--load-concurrency", type=int, default=None, metavar="N",
                        help="delivery.concurrency of the initial-load benchmark's bridge (default 4)")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else DEFAULT
    only = frozenset(args.only or BENCHMARKS)
    say = Progress()
    http = plan.http
    if args.http_users or args.http_rounds:
        http = replace(http, users=args.http_users or http.users, rounds=args.http_rounds or http.rounds)
    if args.load_concurrency:
        plan = replace(plan, load_concurrency=args.load_concurrency)
    scales = plan.describe() if only - ACROSS else (
        f"over HTTP: up to {http.users:,} users, {http.rounds} rounds of {http.seconds:g} s bursts"
        if "http" in only else f"over HTTP: 1,000 users, {http.rounds} rounds of {http.seconds:g} s bursts")
    run = Run(plan.mode, scales, only=sorted(only) if args.only else None)
    servers = [SqliteServer()]
    versions = {"sqlite": servers[0].version()}
    if args.sqlite_only:
        run.skipped.append("PostgreSQL (--sqlite-only)")
    else:
        postgres = PostgresServer(args.postgres)
        reason = postgres.unreachable()
        if reason:
            say(f"skipping PostgreSQL: {reason}")
            run.skipped.append(reason)
        else:
            servers.append(postgres)
            versions["postgresql"] = postgres.version()
    run.describe_machine(versions)
    if only - ACROSS:
        with start_fakes() as fakes:
            for server in servers:
                bench_database(server, plan, fakes.url, run, say, only)
    if "http" in only:
        bench_http(servers, http, run, say)
    if "floor" in only:
        say("floor: a do-nothing app, scim-bridge (SQLite) and scim2-server under gunicorn")
        run.tables.append(floor_table(10, rounds=http.rounds, seconds=http.seconds, say=say))
    run.tables.sort(key=lambda table: int(table.title.split(".", 1)[0]))
    run.finish(time.perf_counter() - say.started)
    markdown, data = run.write(args.output)
    say(f"results written to {markdown} and {data.name}")
    print(markdown.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
