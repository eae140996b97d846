"""The bridge in-process on a store fixture, with one target ``jira`` served by an in-memory client
(``memory_client.MemoryDirectory``) passed in through ``create_app(..., clients=...)``.

The worker thread does not run: ``settle()`` runs every due delivery synchronously, again until
nothing is pending (retries come due after a backoff of hundredths of a second), so a test's
assertions never depend on thread timing.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from scim_bridge import create_app
from scim_bridge.store.models import AuditEntry, Link, OutboxRow
from scim_bridge.store.repository import Repository
from tests.support.bridge import TOKEN, ScimClient
from tests.support.idp_requests import CORE_GROUP, CORE_USER
from tests.support.memory_client import MemoryDirectory


def memory_config(rules: dict | None = None, target_rules: dict | None = None, **delivery) -> dict:
    return {
        "auth": {"tokens": [{"name": "idp", "value": TOKEN}]},
        "logging": {"level": "ERROR"},
        "rules": rules or {},
        "delivery": {"worker": False, "wait_seconds": 0, "backoff_initial": 0.01, "backoff_max": 0.02, **delivery},
        "targets": {"jira": {"type": "jira", "url": "http://127.0.0.1:9/jira", "username": "bridge",
                             "password": "unused", "rules": target_rules or {}}},
    }


class MemoryBridge:
    def __init__(self, engine: sa.Engine, client: MemoryDirectory | None = None, *, rules: dict | None = None,
                 target_rules: dict | None = None, **delivery):
        self.engine = engine
        self.client = client or MemoryDirectory()
        self.config = memory_config(rules, target_rules, **delivery)
        self.app = create_app(self.config, store=Repository(engine), clients={"jira": self.client})
        self.scim = ScimClient(self.app)

    @property
    def sync(self):
        return self.app.extensions["scim_bridge"].sync

    def stop(self) -> None:
        self.sync.stop()

    # -- SCIM side --------------------------------------------------------------------------------

    def create_user(self, user_name: str, display_name: str | None = None, *, active: bool = True) -> str:
        body = {"schemas": [CORE_USER], "userName": user_name, "displayName": display_name or user_name,
                "active": active, "emails": [{"value": f"{user_name}@example.com", "type": "work", "primary": True}]}
        reply = self.scim.post("/Users", body)
        assert reply.status == 201, reply.body
        return reply.body["id"]

    def create_group(self, display_name: str, *members: str) -> str:
        body = {"schemas": [CORE_GROUP], "displayName": display_name, "members": [{"value": m} for m in members]}
        reply = self.scim.post("/Groups", body)
        assert reply.status == 201, reply.body
        return reply.body["id"]

    def add_members(self, group_id: str, *members: str) -> None:
        reply = self.scim.patch(f"/Groups/{group_id}", [{"op": "add", "path": "members",
                                                         "value": [{"value": m} for m in members]}])
        assert reply.status == 204, reply.body

    def change_user(self, user_id: str, **attributes) -> None:
        reply = self.scim.patch(f"/Users/{user_id}", [{"op": "replace", "value": attributes}])
        assert reply.status == 200, reply.body

    # -- delivery ---------------------------------------------------------------------------------

    def settle(self, timeout: float = 60.0) -> None:
        """Deliver until no row is pending (parked rows stay); fails past ``timeout`` (generous)."""
        deadline = time.monotonic() + timeout
        while True:
            self.sync.worker.drain()
            if not [row for row in self.outbox() if row.state == "pending"]:
                return
            assert time.monotonic() < deadline, f"still pending: {self.outbox()}"
            time.sleep(0.01)  # the next retry comes due after a backoff of hundredths of a second

    def outbox(self) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(OutboxRow).order_by(OutboxRow.id)).all()

    def link(self, resource_type: str, resource_id: str):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(Link).where(Link.resource_type == resource_type,
                                                      Link.resource_id == resource_id)).one_or_none()

    def audit(self, *, scope: str = "jira", outcome: str | None = None):
        query = sa.select(AuditEntry).where(AuditEntry.scope == scope).order_by(AuditEntry.id)
        if outcome is not None:
            query = query.where(AuditEntry.outcome == outcome)
        with self.engine.connect() as conn:
            return conn.execute(query).all()
