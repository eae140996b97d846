"""``scim-bridge worker`` as a process of its own: the metrics of its deliveries (``--metrics-port``),
and its stop on SIGTERM (systemd's, docs/running.md) while a delivery is in flight: it claims nothing
more, lets the delivery finish within ``--stop-timeout`` (delivered exactly once) or releases its
claim so it is claimable at once, not after the lease; it exits 0 either way and nothing is lost.

The worker runs against a fake Jira that holds the account's create back. Time bounds are generous:
they only keep a broken shutdown from hanging the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
import sqlalchemy as sa
import yaml

from scim_bridge.store.models import OutboxRow, utcnow
from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE_GROUPS, REPO
from tests.support.servers import free_port

CREATE = "/rest/api/2/user"
METRICS_TOKEN = "worker-metrics-token-0123456789abcdef"


@pytest.fixture
def start(migrated_start):
    return migrated_start


def _worker(bridge, tmp_path, *args: str) -> subprocess.Popen:
    file = tmp_path / "worker-config.yaml"
    file.write_text(yaml.safe_dump(bridge.config), encoding="utf-8")
    env = {**os.environ, "SCIM_BRIDGE_CONFIG": str(file), "SCIM_BRIDGE_DATABASE_URL": "", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "scim_bridge.cli", "worker", *args], cwd=REPO, env=env,
                            stdout=(tmp_path / "worker.out").open("w"), stderr=(tmp_path / "worker.err").open("w"))


def _until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def _stop(process: subprocess.Popen, tmp_path) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    err = (tmp_path / "worker.err").read_text(encoding="utf-8")
    assert code == 0, err
    assert "Traceback" not in err
    return err


def _rows(bridge) -> list:
    with bridge.engine.connect() as conn:
        return conn.execute(sa.select(OutboxRow.state, OutboxRow.claimed_by, OutboxRow.lease_until, OutboxRow.due_at,
                                      OutboxRow.attempts)).all()


def test_sigterm_lets_the_delivery_in_flight_finish_and_it_is_made_once(start, tmp_path):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, products=("jira",))
    held = bridge.jira.knobs.force_error("POST", CREATE, None, delay=3.0)  # answered normally, 3 s late
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    worker = _worker(bridge, tmp_path, "--stop-timeout", "30")
    _until(lambda: held.count == 0)  # Jira holds the create: the delivery is in flight
    err = _stop(worker, tmp_path)
    assert "SIGTERM: claiming nothing more" in err and "released" not in err
    assert _rows(bridge) == []
    assert bridge.links("User", alice)["jira"].status == "ok"
    assert bridge.jira.user("alice") is not None
    assert bridge.jira.calls.snapshot()[f"POST {CREATE}"] == {"received": 1, "applied": 1}


def test_sigterm_releases_a_delivery_that_outlasts_the_stop_timeout_claimable_at_once(start, tmp_path):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, products=("jira",))
    held = bridge.jira.knobs.force_error("POST", CREATE, None, delay=10.0)
    alice = bridge.idp.create_user("alice@example.com", "Alice Smith")
    worker = _worker(bridge, tmp_path, "--stop-timeout", "0.5")
    _until(lambda: held.count == 0)
    err = _stop(worker, tmp_path)
    assert "released 1 delivery(ies) still in flight" in err
    # The row is back in the queue, unclaimed and due: any worker takes it now, not after its 120 s lease.
    [(state, owner, lease, due, attempts)] = _rows(bridge)
    assert (state, owner, lease, attempts) == ("pending", None, None, 0) and due <= utcnow()
    assert bridge.cli(tmp_path, "worker", "--once") == "1 delivery(ies) attempted\n"
    assert _rows(bridge) == []
    assert bridge.links("User", alice)["jira"].status == "ok" and bridge.jira.user("alice") is not None


def test_sigint_stops_an_idle_worker_at_once(start, tmp_path):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, products=("jira",))
    worker = _worker(bridge, tmp_path)
    _until(lambda: "delivering to jira" in (tmp_path / "worker.out").read_text(encoding="utf-8"))
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=60) == 0
    assert (tmp_path / "worker.err").read_text(encoding="utf-8").splitlines() == [
        "SIGINT: claiming nothing more; finishing the deliveries in flight (at most 30 s)", "stopped"]


def test_the_worker_serves_its_own_delivery_metrics_under_metrics_access(start, tmp_path):
    """docs/metrics.md, "A worker of its own": the deliveries this process makes reach Prometheus."""
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS, worker=False, products=("jira", "confluence"),
                   sections={"metrics": {"access": "token", "token": METRICS_TOKEN}})
    bridge.jira.knobs.force_error("POST", CREATE, 400)  # Jira refuses alice; Confluence takes her
    bridge.idp.create_user("alice@example.com", "Alice Smith")
    port = free_port()
    worker = _worker(bridge, tmp_path, "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        _until(lambda: _rows(bridge) and _rows(bridge)[0][0] == "parked" and len(_rows(bridge)) == 1)

        def scrape() -> dict[str, float]:
            answer = requests.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
            assert answer.status_code == 200
            return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in answer.text.splitlines()
                    if line and not line.startswith("#")}

        _until(lambda: 'scim_bridge_deliveries_total{result="refused",target="jira"}' in scrape())
        values = scrape()
        assert {k: v for k, v in values.items() if k.startswith("scim_bridge_deliveries_total")} == {
            'scim_bridge_deliveries_total{result="applied",target="confluence"}': 1.0,
            'scim_bridge_deliveries_total{result="refused",target="jira"}': 1.0,
        }
        assert values['scim_bridge_outbox_rows{state="parked",target="jira"}'] == 1.0
        assert values['scim_bridge_product_call_seconds_count{operation="POST /rest/api/2/user",target="jira"}'] >= 1
        assert requests.get(url, timeout=10).status_code == 401  # metrics.access: token
        assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    finally:
        _stop(worker, tmp_path)
