"""At-least-once delivery across an outage and a restart (issue: "What must be shown" 3).

Jira answers 503 to everything, then refuses connections altogether, while 1,000 SCIM changes are
made; the bridge is restarted half-way with rows pending. When Jira returns, every change is
applied, none twice (counted at the fake), none lost; Confluence and Bitbucket, up throughout,
agree. The expected state is kept by the test itself, from the changes it makes.
"""

from __future__ import annotations

import random
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from atlassian_clients.fakes import create_products, start_fakes
from scim_bridge import create_app
from scim_bridge.store.models import OutboxRow
from scim_bridge.store.repository import Repository
from tests.support.bridge import ScimClient, wait_until_delivered
from tests.support.provisioned import Model, actual, bridge_config

pytestmark = pytest.mark.slow


def bridge(engine, urls: dict[str, str]):
    # Requests do not wait: the point is what the worker does later.
    config = bridge_config(urls, {"wait_seconds": 0, "poll_seconds": 0.05, "backoff_initial": 0.05,
                                  "backoff_max": 0.5, "concurrency": 4})
    return create_app(config, store=Repository(engine))


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
