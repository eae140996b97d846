"""/metrics from ``gunicorn app:app`` with two workers (docs/metrics.md): whichever worker answers a
scrape, the counters are the whole server's, not that worker's share.

The products (Jira, Confluence, Bitbucket) are the fakes, served on loopback by this
process; the bridge runs as users start it (``gunicorn.conf.py``), its two workers each delivering.
A known number of SCIM requests and of deliveries is made, one refused by Jira and one retried after
Confluence refused the bridge's credentials once; then several scrapes must all show exactly those
numbers.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from atlassian_clients.fakes import start_fakes
from tests.e2e.provisioning_support import PRODUCTS, Idp, bridge_config
from tests.support.bridge import TOKEN
from tests.support.servers import running_gunicorn

USERS = 8
READS_PER_USER = 3
SCRAPES = 8
SETTLE_SECONDS = 120  # generous: a loaded 2-core machine


def _samples(root: str) -> dict[tuple[str, frozenset], float]:
    text = requests.get(f"{root}/metrics", timeout=30).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _settled(root: str) -> dict:
    """Scrape until no outbox row is pending (the parked one stays)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        samples = _samples(root)
        pending = sum(v for (name, labels), v in samples.items()
                      if name == "scim_bridge_outbox_rows" and ("state", "pending") in labels)
        if pending == 0 and _value(samples, "scim_bridge_outbox_rows", target="jira", state="parked") == 1:
            return samples
        time.sleep(0.5)  # polling the bridge's own progress, bounded by the deadline above
    pytest.fail(f"deliveries did not settle within {SETTLE_SECONDS} s")


def test_two_workers_report_the_whole_servers_requests_and_deliveries(tmp_path, database_url):
    fakes = start_fakes()
    try:
        # One refusal (Jira answers the first create 400: parked) and one retry (Confluence answers
        # the first create 401: the bridge's credentials, retried with backoff).
        fakes.jira.knobs.force_error("POST", "/rest/api/2/user", 400)
        fakes.confluence.knobs.force_error("POST", "/rest/api/admin/user", 401)
        config = bridge_config(fakes.url, database_url, rules=None, targets=None, worker=True)
        scratch = tmp_path / "tmp"  # where gunicorn.conf.py makes its metrics directory
        scratch.mkdir()
        with running_gunicorn(tmp_path, config, TOKEN, environ={"SCIM_BRIDGE_WORKERS": "2",
                                                                "TMPDIR": str(scratch)}) as root:
            idp = Idp(f"{root}/scim/v2")
            ids = [idp.create_user(f"user{n}@example.com", f"User {n}") for n in range(USERS)]

            def read(user_id: str) -> int:
                # A connection of its own each time, so that the workers share the requests.
                return requests.get(f"{root}/scim/v2/Users/{user_id}", timeout=30,
                                    headers={"Authorization": f"Bearer {TOKEN}"}).status_code

            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(read, ids * READS_PER_USER)) == {200}
            _settled(root)
            scrapes = [_samples(root) for _ in range(SCRAPES)]
            # gunicorn.conf.py's directory, where each worker keeps counters in files of its own.
            counter_files = {f.name for f in scratch.glob("*/counter_*.db")}
    finally:
        fakes.stop()

    for samples in scrapes:
        requests_total = "scim_bridge_requests_total"
        assert _value(samples, requests_total, route="/scim/v2/Users", method="POST", status="201") == USERS
        assert _value(samples, requests_total, route="/scim/v2/Users/<resource_id>", method="GET",
                      status="200") == USERS * READS_PER_USER
        deliveries = {(dict(labels)["target"], dict(labels)["result"]): value
                      for (name, labels), value in samples.items() if name == "scim_bridge_deliveries_total"}
        assert {key: value for key, value in deliveries.items() if value} == {
            ("jira", "applied"): USERS - 1, ("jira", "refused"): 1,
            ("confluence", "applied"): USERS, ("confluence", "retry"): 1,
            ("bitbucket", "applied"): USERS,
        }
        retries = {dict(labels)["target"]: value for (name, labels), value in samples.items()
                   if name == "scim_bridge_delivery_retries_total" and value}
        assert retries == {"confluence": 1}
        # Every product was called, and each Jira create (the refused one too) was timed once.
        for product in PRODUCTS:
            assert any(name == "scim_bridge_product_call_seconds_count" and ("target", product) in labels
                       and value > 0 for (name, labels), value in samples.items())
        assert _value(samples, "scim_bridge_product_call_seconds_count", target="jira",
                      operation="POST /rest/api/2/user") == USERS
    # Both workers counted, so the numbers above are sums; and the directory went with the server.
    assert len(counter_files) == 2, counter_files
    assert list(scratch.iterdir()) == [], "gunicorn left its metrics directory behind"
