"""Two bridge instances on one PostgreSQL database (docs/deployment.md, "Several instances"), each a
separate ``python app.py`` process with its delivery worker, the fakes in a third process
(``python -m atlassian_clients.fakes``). 2,000 SCIM changes are spread over both; one instance is
killed with SIGKILL midway, its claims left to lapse. The fakes' call counts must show every change
applied once: no create sent twice, no mutating call repeated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
import yaml

from scim_bridge.store.database import make_engine
from scim_bridge.store.models import Base, OutboxRow
from tests.support import REPO_ROOT
from tests.support.servers import free_port, running, wait_until

pytestmark = pytest.mark.slow

TOKEN = "two-instances-token-0123456789"
CHANGES = 2000
DELIVERED_WITHIN = 120  # seconds for the survivor to deliver everything, a loaded machine included


def _drop_everything(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def _environment(config_file) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    return {**env, "SCIM_BRIDGE_CONFIG": str(config_file)}


def _answers(url: str) -> bool:
    try:
        return requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False


class Instance:
    """``python app.py --port PORT``, killed with SIGKILL or stopped with SIGTERM."""

    def __init__(self, tmp_path, name: str, config_file):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/scim/v2"
        self.log = tmp_path / f"{name}.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)], cwd=REPO_ROOT,
                                            env=_environment(config_file), stdout=output, stderr=subprocess.STDOUT)
        wait_until(self.process, self.log, lambda _: True if _answers(f"{self.url}/ServiceProviderConfig") else None)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_two_instances_deliver_every_change_once_when_one_is_killed_midway(tmp_path, postgres_schema_url):
    _drop_everything(postgres_schema_url)
    fakes_port = free_port()
    fakes_log = tmp_path / "fakes.log"
    fakes_url = f"http://127.0.0.1:{fakes_port}"
    with running([sys.executable, "-m", "atlassian_clients.fakes", "--port", str(fakes_port)],
                 {**os.environ}, fakes_log) as fakes:
        wait_until(fakes, fakes_log, lambda _: True if _fakes_answer(fakes_url) else None)
        config = {
            "database": {"url": postgres_schema_url},
            "auth": {"tokens": [{"name": "idp", "value": TOKEN}]},
            "logging": {"level": "WARNING"},
            # Writes answer at once; a dead instance's claims lapse after 5 s.
            "delivery": {"wait_seconds": 0, "lease_seconds": 5, "poll_seconds": 0.1, "concurrency": 4,
                         "backoff_initial": 0.1, "backoff_max": 1},
            "targets": {"jira": {"type": "jira", "url": f"{fakes_url}/jira", "username": "admin",
                                 "password": "admin", "http": {"rate": 1000, "burst": 200}}},
        }
        config_file = tmp_path / "config.yaml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        first = Instance(tmp_path, "first", config_file)
        second = Instance(tmp_path, "second", config_file)
        try:
            accepted = _provision(first, second)
            assert first.process.returncode == -signal.SIGKILL
            assert len(accepted) == CHANGES
            _wait_until_delivered(postgres_schema_url)
        finally:
            first.stop()
            second.stop()
        state = requests.get(f"{fakes_url}/_fake/state/jira", timeout=30).json()
        calls = requests.get(f"{fakes_url}/_fake/calls", timeout=30).json()["jira"]
    created = {user["name"] for user in state["users"]} if isinstance(state["users"], list) else set(state["users"])
    assert accepted <= created, f"{len(accepted - created)} changes never applied"
    creates = calls["POST /rest/api/2/user"]
    # Every change applied once: as many creates received as applied as users, and no other
    # mutating call refused as a repeat.
    assert creates == {"received": CHANGES, "applied": CHANGES}, creates
    assert {path: c for path, c in calls.items() if c["received"] != c["applied"]} == {}
    _drop_everything(postgres_schema_url)


def _fakes_answer(url: str) -> bool:
    try:
        return requests.get(f"{url}/_fake/", timeout=2).ok
    except (requests.ConnectionError, requests.Timeout):
        return False


def _provision(first: Instance, second: Instance) -> set[str]:
    """CHANGES user creates over both instances; SIGKILL ``first`` after half. A create that died
    with the instance is sent to the survivor, where 409 means the first had committed it."""
    accepted: set[str] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def create(n: int) -> None:
        name = f"user{n:05d}"
        body = json.dumps({"userName": name, "emails": [{"value": f"{name}@example.com", "primary": True}]})
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
        instance = first if n % 2 and not killed.is_set() else second
        for attempt in range(2):
            try:
                reply = requests.post(f"{instance.url}/Users", data=body, headers=headers, timeout=60)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                # The killed one: refused or reset, or killed between the answer's headers and its body.
                instance = second
                continue
            assert reply.status_code == 201 or (attempt and reply.status_code == 409), reply.text
            with lock:
                accepted.add(name)
                if len(accepted) == CHANGES // 2 and not killed.is_set():
                    os.kill(first.process.pid, signal.SIGKILL)
                    first.process.wait()
                    killed.set()
            return
        pytest.fail(f"{name}: no instance answered")

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(create, n) for n in range(CHANGES)]:
            future.result()
    return accepted


def _wait_until_delivered(url: str) -> None:
    engine = make_engine(url)
    deadline = time.monotonic() + DELIVERED_WITHIN
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(sa.select(OutboxRow.state, sa.func.count()).group_by(OutboxRow.state)).all()
            if not left:
                return
            assert "parked" not in dict(left), left
            assert time.monotonic() < deadline, f"not delivered within {DELIVERED_WITHIN} s: {left}"
            time.sleep(0.5)  # polling the shared outbox while the survivor delivers
    finally:
        engine.dispose()
