"""At-least-once delivery, exactly-once effects, across a SIGKILL of the bridge mid-delivery.

The bridge runs as operators run it (``python app.py`` on a configuration file, in its own process)
against fakes of the three products served by the test. 300 users and 20 groups they share are
written while Jira answers 503 to everything; the bridge is killed with SIGKILL while it is still
delivering to Confluence and Bitbucket, and started again on the same database. More changes follow
(profiles, deactivations, memberships), then Jira comes back. At the end each product holds exactly
what the identity provider asked for (the expected state is kept by the test from what it sent),
and the products' call logs show no user or group created twice.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
import yaml

from atlassian_clients.fakes import create_products, start_fakes
from scim_bridge.store.database import make_engine
from scim_bridge.store.models import Base, OutboxRow
from tests.support.bridge import TOKEN
from tests.support.idp_requests import PATCH_OP
from tests.support.provisioned import Model, NoneOrInactive, actual, bridge_config
from tests.support.servers import _clean_environment, answers, free_port, running

pytestmark = pytest.mark.slow

USERS, GROUPS = 300, 20
STARTUP_SECONDS = 60
# Where each product takes a create, and where the created name is in the request.
CREATES = {
    "jira": {"/rest/api/2/user": ("user", "body", "name"), "/rest/api/2/group": ("group", "body", "name")},
    "confluence": {"/rest/api/admin/user": ("user", "body", "userName"),
                   "/rest/api/admin/group": ("group", "body", "name")},
    "bitbucket": {"/rest/api/1.0/admin/users": ("user", "query", "name"),
                  "/rest/api/latest/admin/users": ("user", "query", "name"),
                  "/rest/api/1.0/admin/groups": ("group", "query", "name"),
                  "/rest/api/latest/admin/groups": ("group", "query", "name")},
}


class DuplicateGroupCreates(AssertionError):
    """A group created twice: only a SCIM group's own delivery creates it (docs/architecture.md)."""


def creates(exchanges, product: str) -> Counter:
    """(kind, lower-cased name) of every create the product itself answered, whatever the answer:
    an account or group created once has no business being created again, even if the product
    refuses the second try. The 503s Jira's outage injected never reached the product."""
    counted = Counter()
    for exchange in exchanges:
        parts = urlsplit(exchange.url)
        path = parts.path.removeprefix(f"/{product}")
        if exchange.method != "POST" or path not in CREATES[product] or exchange.injected:
            continue
        kind, where, field = CREATES[product][path]
        name = json.loads(exchange.request_body).get(field) if where == "body" else \
            parse_qs(parts.query).get(field, [None])[0]
        counted[kind, str(name).lower()] += 1
    return counted


class Scim:
    """The identity provider's side: SCIM over HTTP to the bridge's process."""

    def __init__(self, url: str):
        self.url, self.http = url, requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"})

    def send(self, method: str, path: str, body: dict, expected: int) -> dict | None:
        reply = self.http.request(method, f"{self.url}{path}", json=body, timeout=30)
        assert reply.status_code == expected, (method, path, reply.status_code, reply.text)
        return reply.json() if reply.content else None

    def patch(self, path: str, operations: list[dict], expected: int) -> None:
        self.send("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations}, expected)


@contextmanager
def bridge_process(config_file, port: int, log, *, status: int = 0):
    """``python app.py`` on ``config_file``; yields the process once its SCIM side answers."""
    env = {**_clean_environment(), "SCIM_BRIDGE_CONFIG": str(config_file)}
    with running([sys.executable, "app.py", "--port", str(port)], env, log, status=status) as process:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not answers(f"http://127.0.0.1:{port}/scim/v2/ServiceProviderConfig", TOKEN):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)  # waiting for the subprocess to migrate and bind its port
        yield process


def wait_for(condition, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)  # polling the fakes' state or the outbox while the bridge works


def outbox_rows(engine, *targets: str) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(OutboxRow.target, OutboxRow.state, OutboxRow.last_error)
                            .where(OutboxRow.target.in_(targets))).all()


def delivered(engine, *targets: str) -> bool:
    rows = outbox_rows(engine, *targets)
    assert not [row for row in rows if row.state == "parked"], rows[:5]  # a refusal: no waiting helps
    return not rows


@pytest.fixture
def empty_database(database_url):
    """The bridge migrates its own database on start; nothing of other tests' schemas may be there."""
    engine = make_engine(database_url)

    def drop():
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))

    drop()
    yield database_url, engine
    drop()
    engine.dispose()


def test_a_bridge_killed_mid_delivery_and_restarted_applies_every_change_once(empty_database, tmp_path):
    url, engine = empty_database
    products = create_products()
    fakes = start_fakes(products=products, record=True)
    # Confluence and Bitbucket take their time, so that the kill lands in the middle of delivering.
    for fake in (products.confluence, products.bitbucket):
        fake.knobs.set_latency(0.02)
    products.jira.knobs.set_failure_rate(1.0, status=503)  # Jira is down until after the restart
    port = free_port()
    config = bridge_config({product: fakes.base_url(product) for product in ("jira", "confluence", "bitbucket")},
                           # The shortest lease there is: the restarted bridge takes over the dead
                           # one's claims soon after it starts.
                           {"wait_seconds": 0, "poll_seconds": 0.2, "backoff_initial": 0.1, "backoff_max": 1.0,
                            "concurrency": 4, "lease_seconds": 5})
    config["database"] = {"url": url}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    scim = Scim(f"http://127.0.0.1:{port}/scim/v2")
    rng, model = random.Random(11), Model()
    try:
        with bridge_process(config_file, port, tmp_path / "first.log", status=-signal.SIGKILL) as first:
            for g in range(GROUPS):
                gid = scim.send("POST", "/Groups", {"displayName": f"Team {g:02d}"}, 201)["id"]
                model.groups[gid], model.members[gid] = f"Team {g:02d}", set()

            def create(i: int) -> str:
                address = f"user{i:03d}@example.com"
                return scim.send("POST", "/Users", {"userName": address, "displayName": f"User {i}",
                                                    "emails": [{"value": address, "primary": True}]}, 201)["id"]

            with ThreadPoolExecutor(4) as idp:  # as identity providers do, a few requests at a time
                for i, uid in enumerate(idp.map(create, range(USERS))):
                    model.users[uid] = {"name": f"user{i:03d}", "display": f"User {i}", "active": True,
                                        "deleted": False}
            for uid in model.users:
                for gid in rng.sample(list(model.groups), rng.randint(1, 3)):  # users share groups
                    model.members[gid].add(uid)
            for gid, ids in model.members.items():
                members = sorted(ids)
                for start in range(0, len(members), 25):
                    scim.patch(f"/Groups/{gid}", [{"op": "add", "path": "members",
                                                   "value": [{"value": u} for u in members[start:start + 25]]}], 204)
            names = [user["name"] for user in model.users.values()]
            wait_for(lambda: sum(products.confluence.user(n) is not None for n in names) >= USERS // 3,
                     "a third of the users on Confluence")
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
        for fake in (products.confluence, products.bitbucket):
            fake.knobs.set_latency(0)
        # The kill landed mid-delivery: the products that are up still had deliveries to make.
        assert outbox_rows(engine, "confluence", "bitbucket"), "all delivered before the kill: nothing was tested"

        with bridge_process(config_file, port, tmp_path / "second.log"):
            wait_for(lambda: delivered(engine, "confluence", "bitbucket"), "Confluence and Bitbucket caught up")
            assert products.jira.user("user000") is None  # Jira has seen nothing so far
            users = list(model.users)
            for uid in rng.sample(users, 30):
                display = f"Renamed {model.users[uid]['name']}"
                scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "displayName", "value": display}], 200)
                model.users[uid]["display"] = display
            for uid in rng.sample(users, 10):
                scim.patch(f"/Users/{uid}", [{"op": "replace", "value": {"active": False}}], 200)
                model.users[uid]["active"] = False
            for gid in rng.sample(list(model.groups), 5):
                leaving = sorted(model.members[gid])[:3]
                joining = rng.sample(sorted(set(users) - model.members[gid]), 3)
                scim.patch(f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{u}"]'} for u in leaving] +
                           [{"op": "add", "path": "members", "value": [{"value": u} for u in joining]}], 204)
                model.members[gid] -= set(leaving)
                model.members[gid] |= set(joining)
            products.jira.knobs.clear()  # Jira is back
            wait_for(lambda: delivered(engine, "jira", "confluence", "bitbucket"), "every delivery made")

        wrong, repeated = {}, {}
        for product in ("jira", "confluence", "bitbucket"):
            fake = products.by_name()[product]
            # Jira was down until the end: it sees the final state (no account for a user deactivated
            # by then, or an inactive one if its create was in flight); the others took every user
            # while it was new and active.
            expected = model.expected(product, reached_early=product != "jira")
            found = actual(fake, expected)
            wrong[product] = [(n, expected[n], found[n]) for n in expected if found[n] != expected[n]]
            missing = {name.lower() for name in model.groups.values()} - {g.lower() for g in fake.directory.groups()}
            wrong[product] += [("group", name, None) for name in sorted(missing)]
            created = creates(fakes.exchanges(product), product)
            # The call log is read right: it shows a create of every account the product holds, and
            # of no other (a user deactivated during Jira's outage may hold an inactive one).
            assert {name for kind, name in created if kind == "user"} == \
                {name for name, account in found.items() if account is not None}, product
            assert {name for name, account in expected.items()
                    if account is not None and not isinstance(account, NoneOrInactive)} <= \
                {name for name, account in found.items() if account is not None}, product
            repeated[product] = sorted(key for key, n in created.items() if n > 1)
        assert wrong == {"jira": [], "confluence": [], "bitbucket": []}  # a change lost or misapplied
        assert {p: [k for k in keys if k[0] == "user"] for p, keys in repeated.items()} == \
            {"jira": [], "confluence": [], "bitbucket": []}
        twice = {p: [k for k in keys if k[0] == "group"] for p, keys in repeated.items()}
        if any(twice.values()):
            raise DuplicateGroupCreates(f"groups created more than once: {twice}")
    finally:
        fakes.stop()
