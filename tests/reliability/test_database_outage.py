"""The bridge's database stopped hard, frozen and restarted while an identity provider keeps provisioning.

Meanwhile every SCIM request is answered 503 with Retry-After (identity providers retry those) and
/readyz 503, each within the client's timeout instead of hanging; after recovery every change the
bridge acknowledged (201/200) reaches the Atlassian fakes, none lost. Changes answered 503 may or may
not have been stored, so each user is changed at most once after it is created and the check
accepts either outcome for those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import requests

from atlassian_clients.fakes import start_fakes
from scim_bridge import create_app
from scim_bridge.store.database import make_engine
from tests.e2e.provisioning_support import PRODUCTS, bridge_config
from tests.support.bridge import serve, wait_until_delivered
from tests.support.credentials import TOKEN
from tests.support.idp_requests import PATCH_OP
from tests.support.postgres_server import postgres_server

pytestmark = pytest.mark.slow

# Every answer, 503 included, within this (generous: the bounds configured below add up to ~5 s).
ANSWER_SECONDS = 20
# The bridge's bounds on the database, small so that the test is quick.
TIMEOUTS = {"connect_timeout": 1, "statement_timeout": 2, "pool_timeout": 2}


@dataclass
class Provisioning:
    """An identity provider's changes and which of them the bridge acknowledged."""

    base_url: str
    root_url: str
    session: requests.Session = field(default_factory=requests.Session)
    created: dict[str, str] = field(default_factory=dict)  # acknowledged: userName -> id
    display: dict[str, str] = field(default_factory=dict)  # acknowledged: userName -> display name
    maybe: dict[str, str] = field(default_factory=dict)  # answered 503: userName -> display name it asked
    refused: int = 0

    def __post_init__(self):
        self.session.headers.update({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"})

    def _send(self, method: str, path: str, body: dict) -> requests.Response:
        return self.session.request(method, self.base_url + path, data=json.dumps(body), timeout=ANSWER_SECONDS)

    def create(self, name: str, *, down: bool = False) -> None:
        reply = self._send("POST", "/Users", {"userName": name, "displayName": f"{name} v1",
                                              "emails": [{"value": f"{name}@example.com", "primary": True}]})
        if self._acknowledged(reply, 201, down):
            self.created[name] = reply.json()["id"]
            self.display[name] = f"{name} v1"
        else:
            self.maybe[name] = f"{name} v1"

    def rename(self, name: str, *, down: bool = False) -> None:
        """The one change a user gets after its creation."""
        reply = self._send("PATCH", f"/Users/{self.created[name]}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": f"{name} v2"}]})
        if self._acknowledged(reply, 200, down):
            self.display[name] = f"{name} v2"
        else:
            self.maybe[name] = f"{name} v2"

    def _acknowledged(self, reply: requests.Response, status: int, down: bool) -> bool:
        if not down:
            assert reply.status_code == status, reply.text
            return True
        assert reply.status_code == 503, reply.text
        assert int(reply.headers["Retry-After"]) > 0
        assert reply.json()["status"] == "503" and "retry" in reply.json()["detail"]
        self.refused += 1
        return False

    def ready(self) -> int:
        return requests.get(f"{self.root_url}/readyz", timeout=ANSWER_SECONDS).status_code

    def wait_ready(self) -> None:
        for _ in range(60):  # the server restarting or thawing, crash recovery included
            if self.ready() == 200:
                return
        pytest.fail("/readyz did not answer 200 after the database came back")


def test_database_stopped_frozen_and_restarted_loses_no_acknowledged_change():
    with postgres_server() as database:
        fakes = start_fakes()
        config = bridge_config(fakes.url, database.url, rules=None, targets=None, worker=True)
        config["database"].update(TIMEOUTS)
        config["delivery"].update(wait_seconds=1.0, lease_seconds=5, poll_seconds=0.2)
        app = create_app(config)  # its own engine, with the bounds above, as in production
        sync = app.extensions["scim_bridge"].sync
        try:
            with serve(app) as base_url:
                idp = Provisioning(base_url, base_url.removesuffix("/scim/v2"))
                for i in range(6):
                    idp.create(f"before-{i}")

                database.stop_hard()
                assert idp.ready() == 503
                idp.create("during-stop", down=True)
                idp.rename("before-0", down=True)
                database.start()
                idp.wait_ready()
                for i in range(6):
                    idp.create(f"after-stop-{i}")
                idp.rename("before-1")

                database.freeze()
                assert idp.ready() == 503
                idp.create("during-freeze", down=True)
                idp.rename("before-2", down=True)
                assert idp.ready() == 503
                database.thaw()
                idp.wait_ready()
                for i in range(6):
                    idp.create(f"after-freeze-{i}")
                idp.rename("before-3")
                idp.rename("after-stop-0")

                wait_until_delivered(make_engine(database.url), PRODUCTS, timeout=120)
        finally:
            sync.stop()
            fakes.stop()

    assert idp.refused == 4  # two changes in each outage, each answered 503
    products = fakes.products.by_name()
    for product in PRODUCTS:
        held = {name: account.display_name for name in [*idp.display, *idp.maybe]
                if (account := products[product].user(name)) is not None}
        for name, display in idp.display.items():  # acknowledged: there, as last acknowledged
            if name in idp.maybe:
                assert held.get(name) in (display, idp.maybe[name]), (product, name)
            else:
                assert held.get(name) == display, (product, name, held.get(name))
        for name, display in idp.maybe.items():  # answered 503: stored or not, never anything else
            assert held.get(name) in (None, display, idp.display.get(name)), (product, name)
