"""Token rotation as docs/deployment.md describes it, on the production server (``gunicorn app:app``,
two worker processes) and the operator's command line: a second token for the same name, both work,
the old one revoked by id stops working on every worker within the bridge's re-read interval
(5 s, docs/architecture.md), and the audit log names the connection the same before and after."""

from __future__ import annotations

import json
import time

import requests
import sqlalchemy as sa

from scim_bridge.store.database import make_engine
from scim_bridge.store.models import AuditEntry, Base
from tests.e2e.provisioning_support import command_line
from tests.support.servers import running_gunicorn

CONFIGURED = "configured-token-for-probing-0123"
# Several times the 5 s re-read interval of stored tokens, for a loaded machine.
REVOCATION_BOUND = 30.0
# Each request on a new connection: gunicorn hands them to either worker.
REQUESTS_PER_CHECK = 16


def _statuses(root: str, token: str) -> set[int]:
    return {requests.get(f"{root}/scim/v2/Users?count=1", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).status_code for _ in range(REQUESTS_PER_CHECK)}


def _create_user(root: str, token: str, name: str) -> None:
    created = requests.post(f"{root}/scim/v2/Users", data=json.dumps({"userName": name}), timeout=30,
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    assert created.status_code == 201, created.text


def test_a_rotated_token_overlaps_and_the_old_one_stops_on_every_worker(tmp_path, database_url):
    config = {"database": {"url": database_url}, "logging": {"level": "WARNING"},
              "auth": {"tokens": [{"name": "probe", "value": CONFIGURED}]}}
    engine = make_engine(database_url)
    _drop_everything(engine)  # the migrations build the schema, as in production
    command_line(tmp_path, config, "db", "upgrade")
    old = command_line(tmp_path, config, "token", "create", "okta").strip()
    with running_gunicorn(tmp_path, config, CONFIGURED) as root:
        _create_user(root, old, "before@example.com")
        new = command_line(tmp_path, config, "token", "create", "okta", "--expires", "90d").strip()
        # Overlapping validity: once every worker has read it, both tokens work.
        deadline = time.monotonic() + REVOCATION_BOUND
        while _statuses(root, new) != {200} and time.monotonic() < deadline:
            time.sleep(0.5)  # the workers re-read stored tokens every 5 s
        assert _statuses(root, new) == {200} and _statuses(root, old) == {200}

        listed = command_line(tmp_path, config, "token", "list").splitlines()
        old_id = next(line.split("\t")[0] for line in listed if "\tokta\t" in line and "no expiry" in line)
        revoked = command_line(tmp_path, config, "token", "revoke", "--id", old_id)
        assert revoked == f"revoked token id {old_id} of okta\n"
        started = time.monotonic()
        while _statuses(root, old) != {401}:
            assert time.monotonic() - started < REVOCATION_BOUND, "a worker still accepts the revoked token"
            time.sleep(0.5)  # the workers re-read stored tokens every 5 s
        assert _statuses(root, old) == {401} and _statuses(root, new) == {200}
        _create_user(root, new, "after@example.com")
    with engine.connect() as conn:
        actors = dict(conn.execute(sa.select(AuditEntry.after["userName"].as_string(), AuditEntry.actor)
                                   .where(AuditEntry.scope == "scim", AuditEntry.resource_type == "User")).all())
    assert actors == {"before@example.com": "okta", "after@example.com": "okta"}
    _drop_everything(engine)
    engine.dispose()


def _drop_everything(engine) -> None:
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
