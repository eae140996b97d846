"""Provisioning end to end: the bridge live on one loopback port, the Atlassian fakes on another,
and an identity provider talking SCIM to the bridge over real HTTP (``requests``).

``bridges(engine)`` yields ``start(rules=..., targets=..., worker=..., products=...)``, which builds
one bridge whose targets ``jira``, ``confluence`` and ``bitbucket`` (and ``crowd`` with
``products=WITH_CROWD``) point at fresh fakes; every bridge started is stopped when the ``with``
block ends. Two ways to know that a change has reached the targets:

* ``worker=True`` (the default): the worker thread runs and a SCIM write waits up to
  ``delivery.wait_seconds`` (10 here) for the first delivery attempt of what it queued, as in
  production. In the happy path the response therefore means "delivered": tests that play an identity
  provider's sequence assert the fakes right after each response, which is the behaviour an
  administrator relies on.
* ``worker=False``: nothing is delivered until the test calls ``drain()``, which runs every due
  outbox row synchronously. Tests of settings and dry runs use it, so that what they assert never
  depends on how the worker threads interleave.

The state helpers read the fakes (``accounts``, ``groups``) and the bridge's store (``links``,
``audit``, ``outbox``) as plain data, so tests compare whole states exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from atlassian_clients.fakes import RunningFakes, start_fakes
from scim_bridge import create_app
from scim_bridge.alerts import build_alerts
from scim_bridge.cli import main as cli_main
from scim_bridge.config import validate_config
from scim_bridge.store.models import AuditEntry, Link, OutboxRow
from scim_bridge.store.repository import Repository
from tests.support.bridge import TOKEN, Reply, serve
from tests.support.idp_requests import CORE_GROUP, CORE_USER, LIST_RESPONSE, PATCH_OP

REPO = Path(__file__).resolve().parents[2]

# The targets a bridge provisions unless a test names others; the identity providers' sequences add
# Crowd, the directory the three may share (docs/products.md §5.1).
PRODUCTS = ("jira", "confluence", "bitbucket")
WITH_CROWD = (*PRODUCTS, "crowd")
# The licence-granting group of each fake, as an administrator lists it in default_groups; Crowd
# licenses no one, so its default group is the one a connected Jira maps (docs/products.md §5.11).
LICENCE = {"jira": "jira-software-users", "confluence": "confluence-users", "bitbucket": "stash-users",
           "crowd": "jira-software-users"}
# miniOrange's example: demouser@gmail.com becomes demouser.
EMAIL_LOCAL_PART = {"username": {"regex": "(.*)@.*", "replacement": "$1"}}
LICENCE_GROUPS = {product: {"default_groups": [group]} for product, group in LICENCE.items()}
# Groups a fresh fake has, without their administrator member.
SEEDED_GROUPS = {
    "jira": {"jira-administrators": frozenset(), "jira-software-users": frozenset()},
    "confluence": {"confluence-administrators": frozenset(), "confluence-users": frozenset()},
    "bitbucket": {"stash-users": frozenset()},
    "crowd": {"crowd-administrators": frozenset()},
}
# Mutating calls of one attempt stop retrying within a second; the outbox backs off in tenths.
HTTP = {"deadline": 1.0, "connect_timeout": 1.0, "read_timeout": 5.0, "rate": 1000, "burst": 1000}
DELIVERY = {"wait_seconds": 10.0, "poll_seconds": 1.0, "backoff_initial": 0.05, "backoff_max": 0.5}


def bridge_config(fakes_url: str, database_url: str, *, rules: dict | None, targets: dict | None,
                  worker: bool, products: tuple[str, ...] = PRODUCTS) -> dict:
    """``rules`` is the global ``rules:`` section; ``targets`` maps a product to its ``rules:`` override."""
    return {
        "database": {"url": database_url},
        "auth": {"tokens": [{"name": "idp", "value": TOKEN}]},
        "logging": {"level": "ERROR"},
        "rules": rules or {},
        "delivery": {**DELIVERY, "worker": worker},
        "targets": {
            product: {"type": product, "url": f"{fakes_url}/{product}", "username": "admin", "password": "admin",
                      "rules": (targets or {}).get(product, {}), "http": HTTP}
            for product in products
        },
    }


class Idp:
    """An identity provider's SCIM client: real HTTP, the bearer token, bodies as dicts."""

    def __init__(self, base_url: str, token: str = TOKEN):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None) -> Reply:
        headers = {"Content-Type": "application/scim+json"} if body is not None else {}
        data = json.dumps(body) if body is not None else None
        response = self.session.request(method, self.base_url + path, data=data, headers=headers, timeout=30)
        parsed = response.json() if response.content else None
        return Reply(response.status_code, parsed, dict(response.headers))

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def post(self, path: str, body: dict) -> Reply:
        return self.call("POST", path, body)

    def put(self, path: str, body: dict) -> Reply:
        return self.call("PUT", path, body)

    def patch(self, path: str, operations: list[dict]) -> Reply:
        return self.call("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations})

    def delete(self, path: str) -> Reply:
        return self.call("DELETE", path)

    def ok(self, reply: Reply, status: int) -> dict | None:
        assert reply.status == status, (reply.status, reply.body)
        return reply.body

    # Plain RFC 7643 shapes, for tests about settings rather than about one IdP's dialect.

    def create_user(self, user_name: str, display_name: str, email: str | None = None) -> str:
        body = {"schemas": [CORE_USER], "userName": user_name, "displayName": display_name,
                "emails": [{"value": email or user_name, "type": "work", "primary": True}]}
        return self.ok(self.post("/Users", body), 201)["id"]

    def create_group(self, display_name: str, *members: str) -> str:
        body = {"schemas": [CORE_GROUP], "displayName": display_name, "members": [{"value": m} for m in members]}
        return self.ok(self.post("/Groups", body), 201)["id"]

    def change_user(self, user_id: str, **attributes) -> dict:
        """Replace top-level attributes (``active``, ``displayName``, ``userName``, ...)."""
        return self.ok(self.patch(f"/Users/{user_id}", [{"op": "replace", "value": attributes}]), 200)

    def found(self, path: str) -> list[str]:
        """The ids a filter or list request answers (always 200, never 404)."""
        body = self.ok(self.get(path), 200)
        assert body["schemas"] == [LIST_RESPONSE]
        return [resource["id"] for resource in body["Resources"]]


# -- what the fakes hold ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    display: str
    email: str
    active: bool = True
    groups: frozenset[str] = frozenset()
    licensed: bool | None = None  # Bitbucket: the LICENSED_USER permission, direct or through a group


def account(display: str, email: str, *groups: str, active: bool = True, licensed: bool | None = None) -> Account:
    return Account(display, email, active, frozenset(groups), licensed)


def accounts(fake) -> dict[str, Account]:
    """Every account on a fake but its administrator."""
    dump = fake.dump()
    licensed = set(dump.get("licensedUsers", ()))
    return {
        user["name"]: Account(user["displayName"], user["email"], user["active"], frozenset(user["groups"]),
                              user["name"] in licensed if fake.name == "bitbucket" else None)
        for user in dump["users"] if user["name"] != fake.admin_user
    }


def groups(fake) -> dict[str, frozenset[str]]:
    """Every group on a fake with its members, leaving its administrator out."""
    return {group["name"]: frozenset(m for m in group["members"] if m != fake.admin_user)
            for group in fake.dump()["groups"]}


def with_seeded(product: str, groups_: dict[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """The groups a fresh ``product`` fake has, overlaid with ``groups_``."""
    return {**SEEDED_GROUPS[product], **{name: frozenset(members) for name, members in groups_.items()}}


# -- what the bridge holds -------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkState:
    status: str
    reserved: str | None  # the name reserved at SCIM write time
    name: str | None  # the name the bridge last applied on the target
    reason: str | None
    error: str | None


@dataclass(frozen=True)
class AuditRow:
    scope: str
    action: str
    resource_id: str | None
    outcome: str
    detail: str | None


@dataclass(frozen=True)
class OutboxState:
    resource_type: str
    resource_id: str
    target: str
    state: str
    last_error: str | None


@dataclass
class Bridge:
    engine: sa.Engine
    app: object
    fakes: RunningFakes
    idp: Idp
    database_url: str
    config: dict  # the bridge's configuration, as the command line reads it
    products: tuple[str, ...] = PRODUCTS  # the fakes it provisions

    @property
    def sync(self):
        return self.app.extensions["scim_bridge"].sync

    @property
    def jira(self):
        return self.fakes.jira

    @property
    def confluence(self):
        return self.fakes.confluence

    @property
    def bitbucket(self):
        return self.fakes.bitbucket

    @property
    def crowd(self):
        return self.fakes.crowd

    def fake(self, product: str):
        return self.fakes.products.by_name()[product]

    def drain(self) -> int:
        return self.sync.worker.drain()

    def settle(self, *keys: tuple[str, str]) -> None:
        """Wake the worker and wait (bounded by wait_seconds) for the first attempt on ``keys``."""
        self.sync.changed(list(keys))

    def links(self, resource_type: str, resource_id: str) -> dict[str, LinkState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(Link).where(Link.resource_type == resource_type,
                                                      Link.resource_id == resource_id)).all()
        return {row.target: LinkState(row.status, row.remote_name, (row.applied or {}).get("name"), row.reason,
                                      row.last_error) for row in rows}

    def audit(self, *, scope: str | None = None, outcome: str | None = None,
              resource_id: str | None = None) -> list[AuditRow]:
        query = sa.select(AuditEntry).order_by(AuditEntry.id)
        for column, value in ((AuditEntry.scope, scope), (AuditEntry.outcome, outcome),
                              (AuditEntry.resource_id, resource_id)):
            if value is not None:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            return [AuditRow(r.scope, r.action, r.resource_id, r.outcome, r.detail) for r in conn.execute(query)]

    def target_audit(self, resource_id: str | None = None, **filters) -> set[tuple[str, str, str]]:
        """(target, outcome, what) of the delivery entries: what the bridge did, refused or planned."""
        return {(row.scope, row.outcome, row.detail) for row in self.audit(resource_id=resource_id, **filters)
                if row.scope != "scim"}

    def outbox(self) -> list[OutboxState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(OutboxRow).order_by(OutboxRow.target, OutboxRow.id)).all()
        return [OutboxState(r.resource_type, r.resource_id, r.target, r.state, r.last_error) for r in rows]

    def state(self, product: str) -> tuple[dict[str, Account], dict[str, frozenset[str]]]:
        fake = self.fake(product)
        return accounts(fake), groups(fake)

    def mutating_calls(self) -> dict[str, dict]:
        """Per product, every mutating call it received (applied or not)."""
        return {product: self.fake(product).calls.snapshot() for product in self.products}

    def cli(self, tmp_path: Path, *args: str, in_process: bool = False) -> str:
        """The command line with this bridge's configuration (its database and targets)."""
        return command_line(tmp_path, self.config, *args, in_process=in_process)


def command_line(tmp_path: Path, config: dict, *args: str, in_process: bool = False, status: int = 0) -> str:
    """``python -m scim_bridge.cli ARGS`` with ``config`` as its configuration file; checks the exit
    status and returns what the command printed. ``in_process`` runs the same command through click's
    runner (which saves starting Python, and mixes in what went to stderr)."""
    file = tmp_path / "cli-config.yaml"
    file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {"SCIM_BRIDGE_CONFIG": str(file), "SCIM_BRIDGE_DATABASE_URL": ""}
    if in_process:
        result = CliRunner().invoke(cli_main, list(args), env=env)
        assert result.exit_code == status, result.output
        return result.output
    done = subprocess.run([sys.executable, "-m", "scim_bridge.cli", *args], cwd=REPO,
                          env={**os.environ, **env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == status, done.stderr
    return done.stdout if status == 0 else done.stderr


@contextmanager
def bridges(engine: sa.Engine) -> Iterator:
    """Yields ``start(rules=None, targets=None, worker=True, products=PRODUCTS) -> Bridge``; stops all on exit."""
    with ExitStack() as stack:

        def start(*, rules: dict | None = None, targets: dict | None = None, worker: bool = True,
                  products: tuple[str, ...] = PRODUCTS, sections: dict | None = None,
                  alerts_clock=None, fake_products=None) -> Bridge:
            """``sections``: more of the configuration (e.g. ``alerts``, ``server``); ``alerts_clock``
            gives the alerts that configuration builds the test's clock; ``fake_products`` are the
            fakes to serve (``create_products(...)``), fresh ones by default."""
            fakes = start_fakes(products=fake_products)
            stack.callback(fakes.stop)
            url = engine.url.render_as_string(hide_password=False)
            config = {**bridge_config(fakes.url, url, rules=rules, targets=targets, worker=worker, products=products),
                      **(sections or {})}
            alerts = None
            if alerts_clock is not None:
                alerts = build_alerts(validate_config(config), clock=alerts_clock, retry_pause=0.0)
                stack.callback(alerts.stop)
            app = create_app(config, store=Repository(engine), alerts=alerts)
            sync = app.extensions["scim_bridge"].sync
            # Also when it never started: drain() runs the worker's pools, which stop() shuts down.
            stack.callback(sync.worker.stop)
            stack.callback(sync.stop)
            base = stack.enter_context(serve(app))
            return Bridge(engine, app, fakes, Idp(base), url, config, products)

        yield start


def with_crowd(expected: dict[str, tuple[dict[str, Account], dict[str, Iterable[str]]]]) -> dict:
    """``expected`` with Crowd holding what Jira holds: Crowd renames and deactivates as Jira does
    and its default group is Jira's licence group (``LICENCE``), so an identity provider's sequence
    leaves the one directory as it leaves Jira (docs/products.md §5)."""
    return {**expected, "crowd": expected["jira"]}


def assert_fakes(bridge: Bridge, expected: dict[str, tuple[dict[str, Account], dict[str, Iterable[str]]]]) -> None:
    """Each named fake holds exactly these accounts and, besides the groups a fresh fake has, these groups."""
    problems = []
    for product, (users, groups_) in expected.items():
        held_users, held_groups = bridge.state(product)
        problems += _differences(f"{product} account", held_users, users)
        problems += _differences(f"{product} group", held_groups, with_seeded(product, groups_))
    # Helpers outside test modules get no assertion rewriting: say what differs.
    assert not problems, "\n".join(problems)


def _differences(what: str, held: dict, wanted: dict) -> list[str]:
    return [f"{what} {key!r}: holds {held.get(key, '(nothing)')}, expected {wanted.get(key, '(nothing)')}"
            for key in sorted(set(held) | set(wanted)) if held.get(key) != wanted.get(key)]
