"""The production server as README "Running it for real" names it: ``gunicorn app:app`` with the
settings of ``gunicorn.conf.py`` (two worker processes), the configuration from SCIM_BRIDGE_CONFIG and
the schema created at start, by the workers starting together, on a database that has no table yet.
"""

from __future__ import annotations

import json

import pytest
import requests

from scim_bridge.store.database import make_engine
from scim_bridge.store.migrate import current_revision, head_revision
from tests.support.servers import gunicorn_refusing, running_gunicorn

TOKEN = "gunicorn-test-token-0123456789"


def test_gunicorn_serves_the_app_and_the_schema_is_created_at_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    config = {"database": {"url": url}, "auth": {"tokens": [{"name": "okta", "value": TOKEN}]}}
    with running_gunicorn(tmp_path, config, TOKEN) as root, requests.Session() as http:
        assert http.get(f"{root}/healthz", timeout=10).json() == {"status": "ok"}
        assert http.get(f"{root}/readyz", timeout=10).json()["database"] == "ok"
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        created = http.post(f"{root}/scim/v2/Users", data=json.dumps({"userName": "ann@example.com"}),
                            headers={"Content-Type": "application/scim+json"}, timeout=30)
        assert created.status_code == 201, created.text
        # Whichever worker answers, it reads the same store.
        for _ in range(4):
            found = http.get(f"{root}/scim/v2/Users/{created.json()['id']}", timeout=10)
            assert found.json()["userName"] == "ann@example.com"
        refused = http.get(f"{root}/scim/v2/Users", headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert refused.status_code == 401
    assert current_revision(make_engine(url)) == head_revision()


@pytest.mark.parametrize(("options", "key"), [({"frobnicate": 1}, "frobnicate"), ({"page_size": "many"}, "page_size")])
def test_gunicorn_refuses_a_bad_client_option_naming_it_before_any_worker_starts(tmp_path, options, key):
    config = {"database": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"},
              "targets": {"jira": {"type": "jira", "url": "https://jira.example.com", "token": "t",
                                   "options": options}}}
    refused = gunicorn_refusing(tmp_path, config)
    printed = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"targets.jira.options.{key}: " in printed
    assert "TypeError" not in printed and "Traceback" not in printed and "Booting worker" not in printed


def test_every_request_has_its_access_line_in_the_log_after_a_stop(tmp_path):
    """Access lines are gathered and written together (scim_bridge/logging.py): those of the last
    requests before a stop are written as the workers exit, not lost. Gathered for 10 s here, so that
    only the workers' exit can have written them."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    config = {"database": {"url": url}, "auth": {"tokens": [{"name": "okta", "value": TOKEN}]},
              "logging": {"access_batch_seconds": 10}}
    sent = []
    with running_gunicorn(tmp_path, config, TOKEN, name="access") as root, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        for k in range(25):
            request_id = f"access-test-{k}"
            http.get(f"{root}/scim/v2/Users", params={"filter": f'userName eq "u{k}"'},
                     headers={"X-Request-Id": request_id}, timeout=10).raise_for_status()
            sent.append(request_id)
    # Stopped by SIGTERM the moment the last answer arrived.
    logged = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()
              if line.startswith("{")]
    access = [entry["request_id"] for entry in logged if entry.get("logger") == "scim_bridge.access"]
    # Each of gunicorn's two workers writes its own lines: all of them, once each, in any order between workers.
    assert sorted(r for r in access if r.startswith("access-test-")) == sorted(sent)
