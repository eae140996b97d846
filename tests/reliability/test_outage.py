"""At-least-once delivery across an outage and a restart (issue: "What must be shown" 3).

Jira answers 503 to everything, then refuses connections altogether, while 1,000 SCIM changes are
made; the bridge is restarted half-way with rows pending. When Jira returns, every change is
applied, none twice (counted at the fake), none lost; Confluence and Bitbucket, up throughout,
agree. The expected state is kept by the test itself, from the changes it makes.
"""

from __future__ import annotations

import random
from collections import Counter
from unittest.mock import ANY
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from atlassian_clients.fakes import create_products, start_fakes
from scim_bridge import create_app
from scim_bridge.store.models import OutboxRow
from scim_bridge.store.repository import Repository
from tests.support.bridge import TOKEN, ScimClient, wait_until_delivered

pytestmark = pytest.mark.slow

LICENCE = {"jira": "jira-software-users", "confluence": "confluence-users", "bitbucket": "stash-users"}


def bridge(engine, urls: dict[str, str]):
    config = {
        "auth": {"tokens": [{"name": "idp", "value": TOKEN}]},
        "logging": {"level": "ERROR"},
        "rules": {"username": {"regex": "(.*)@.*", "replacement": "$1"}},
        # Requests do not wait: the point is what the worker does later.
        "delivery": {"wait_seconds": 0, "poll_seconds": 0.05, "backoff_initial": 0.05, "backoff_max": 0.5,
                     "concurrency": 4},
        "targets": {
            product: {"type": product, "url": url, "username": "admin", "password": "admin",
                      "rules": {"default_groups": [LICENCE[product]]},
                      "http": {"deadline": 0.5, "connect_timeout": 0.5, "read_timeout": 2, "rate": 1000,
                               "burst": 100}}
            for product, url in urls.items()
        },
    }
    return create_app(config, store=Repository(engine))


class Model:
    """What the identity provider's changes should amount to on a target."""

    def __init__(self):
        self.users: dict[str, dict] = {}  # scim id -> {"name", "display", "active", "deleted"}
        self.groups: dict[str, str] = {}  # scim id -> display name
        self.members: dict[str, set[str]] = {}  # group id -> user ids

    def expected(self, product: str, *, reached_early: bool) -> dict[str, tuple | None]:
        """Per username: (display name, active flag, groups), or None for no account at all.

        ``reached_early``: the target took each user while it was new and active. Otherwise it sees
        only the final state, and the bridge creates no account for a user already inactive or
        deleted then.
        """
        out = {}
        for uid, user in self.users.items():
            if not reached_early and (user["deleted"] or not user["active"]):
                out[user["name"]] = None
                continue
            groups = {self.groups[g] for g, ids in self.members.items() if uid in ids}
            if product == "confluence":
                groups = {g.lower() for g in groups}
            active = user["active"] and not user["deleted"]
            if active:
                groups.add(LICENCE[product])
            # Bitbucket cannot deactivate: removing the licence is how the bridge deprovisions.
            flag = True if product == "bitbucket" else active
            # A deleted account is only deactivated: its profile stays as last delivered, which
            # depends on how the deletion raced the earlier updates.
            display = ANY if user["deleted"] else user["display"]
            out[user["name"]] = (display, flag, frozenset(groups))
        return out


def actual(fake, names) -> dict[str, tuple | None]:
    out = {}
    for name in names:
        account = fake.user(name)
        out[name] = account and (account.display_name, account.active, frozenset(fake.groups_of(name)))
    return out


def queued(engine, target: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(OutboxRow).where(OutboxRow.target == target))


def successful_calls(fakes, product):
    """(method, path, sorted query) of every 2xx mutating call the product answered."""
    calls = Counter()
    for exchange in fakes.exchanges(product):
        if exchange.method in ("POST", "PUT", "DELETE") and 200 <= exchange.status < 300:
            parts = urlsplit(exchange.url)
            query = tuple(sorted((k, tuple(v)) for k, v in parse_qs(parts.query).items()))
            calls[exchange.method, parts.path, query, exchange.request_body] += 1
    return calls


def test_a_thousand_changes_through_an_outage_and_a_restart(engine):
    products = create_products()
    jira_server = start_fakes(products=products, record=True)
    others = start_fakes(products=products, record=True)
    jira_port = int(jira_server.url.rsplit(":", 1)[1])
    urls = {"jira": f"{jira_server.url}/jira", "confluence": f"{others.url}/confluence",
            "bitbucket": f"{others.url}/bitbucket"}
    rng = random.Random(7)
    model = Model()
    app = bridge(engine, urls)
    scim = ScimClient(app)
    changes = 0
    products.jira.knobs.set_failure_rate(1.0, status=503)

    def change(reply, *ok):
        nonlocal changes
        assert reply.status in ok, reply.body
        changes += 1
        return reply

    try:
        for i in range(150):
            uid = change(scim.post("/Users", {"userName": f"user{i:03d}@example.com", "displayName": f"User {i}",
                                              "emails": [{"value": f"user{i:03d}@example.com", "primary": True}]}),
                         201).body["id"]
            model.users[uid] = {"name": f"user{i:03d}", "display": f"User {i}", "active": True, "deleted": False}
        for g in range(10):
            gid = change(scim.post("/Groups", {"displayName": f"Team {g}"}), 201).body["id"]
            model.groups[gid], model.members[gid] = f"Team {g}", set()
        user_ids, group_ids = list(model.users), list(model.groups)
        # The targets that are up take every user while it is new and active.
        wait_until_delivered(engine, ("confluence", "bitbucket"), timeout=240)
        while changes < 1000:
            if changes == 500:
                jira_server.stop()  # from 503s to refused connections
            if changes == 700:
                assert queued(engine, "jira") > 0  # the restart happens with Jira's changes still queued
                app.extensions["scim_bridge"].sync.stop()  # a restart with rows pending
                app = bridge(engine, urls)
                scim = ScimClient(app)
            roll = rng.random()
            uid, gid = rng.choice(user_ids), rng.choice(group_ids)
            user = model.users[uid]
            if user["deleted"]:
                continue
            if roll < 0.35:
                change(scim.patch(f"/Groups/{gid}", [{"op": "add", "path": "members", "value": [{"value": uid}]}]),
                       204)
                model.members[gid].add(uid)
            elif roll < 0.5:
                change(scim.patch(f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{uid}"]'}]), 204)
                model.members[gid].discard(uid)
            elif roll < 0.75:
                display = f"User {uid[:4]} v{changes}"
                change(scim.patch(f"/Users/{uid}", [{"op": "replace", "path": "displayName", "value": display}]), 200)
                user["display"] = display
            elif roll < 0.9:
                active = not user["active"]
                change(scim.patch(f"/Users/{uid}", [{"op": "replace", "value": {"active": active}}]), 200)
                user["active"] = active
            elif roll < 0.92:
                change(scim.delete(f"/Users/{uid}"), 204)
                user["deleted"] = True
                for ids in model.members.values():
                    ids.discard(uid)
            else:
                gid2 = rng.choice(group_ids)
                change(scim.patch(f"/Groups/{gid2}", [{"op": "add", "path": "members", "value": [{"value": uid}]}]),
                       204)
                model.members[gid2].add(uid)
        assert changes == 1000
        assert products.jira.user("user000") is None  # nothing reached Jira during the outage
        jira_server = start_fakes(port=jira_port, products=products, record=True)
        products.jira.knobs.clear()
        wait_until_delivered(engine, ("jira", "confluence", "bitbucket"), timeout=240)

        for product in ("jira", "confluence", "bitbucket"):
            fake = products.by_name()[product]
            expected = model.expected(product, reached_early=product != "jira")
            assert actual(fake, expected) == expected, product
        # None twice: Jira saw every change only after the outage, so each account was created
        # once and each membership added once, whatever the IdP did in between.
        repeated = {k: n for k, n in successful_calls(jira_server, "jira").items() if n > 1}
        assert not repeated, list(repeated.items())[:5]
        live = sum(u["active"] and not u["deleted"] for u in model.users.values())
        assert products.jira.calls.applied("POST", "/rest/api/2/user") == live
    finally:
        app.extensions["scim_bridge"].sync.stop()
        jira_server.stop()
        others.stop()
