"""README "Trying it", played as written: the demo started without SCIM_BRIDGE_TOKEN makes a token
and prints it, the example user is created and found by a userName in other case, and appears as
``ann`` in each fake product's licence group, as the fakes' state at the printed URL shows. A user
without an e-mail address is kept by the bridge but not created in the products.
"""

from __future__ import annotations

import json
import sys
import time

import requests
import yaml

from tests.support.servers import _clean_environment, answers, free_port, running, running_demo

LICENCE = {"jira": "jira-software-users", "confluence": "confluence-users", "bitbucket": "stash-users"}
DELIVERY_SECONDS = 30
# The README's example body, as its curl command sends it.
ANN = {"userName": "ann@example.com", "name": {"givenName": "Ann", "familyName": "Lee"},
       "emails": [{"value": "ann@example.com", "primary": True}]}


def _accounts(state_url: str) -> dict[str, dict[str, dict]]:
    """Per product, the accounts the fakes hold by name."""
    state = requests.get(state_url, timeout=10).json()
    return {product: {user["name"]: user for user in state[product]["users"]} for product in LICENCE}


def _wait_until_delivered(scim_url: str) -> None:
    """Until /metrics reports no outbox row left (bounded by DELIVERY_SECONDS)."""
    metrics = scim_url.removesuffix("/scim/v2") + "/metrics"
    deadline = time.monotonic() + DELIVERY_SECONDS
    while True:
        rows = [line for line in requests.get(metrics, timeout=10).text.splitlines()
                if line.startswith("scim_bridge_outbox_rows{")]
        if not rows:
            return
        assert time.monotonic() < deadline, f"still queued after {DELIVERY_SECONDS} s: {rows}"
        time.sleep(0.2)  # polling while the demo's worker delivers


def test_the_readme_example_reaches_the_three_fake_products(tmp_path):
    with running_demo(tmp_path) as demo:
        assert "scim-bridge demo: bearer token " in demo.printed
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {demo.token}"
            created = http.post(f"{demo.url}/Users", data=json.dumps(ANN),
                                headers={"Content-Type": "application/scim+json"}, timeout=30)
            assert created.status_code == 201, created.text
            found = http.get(f"{demo.url}/Users", params={"filter": 'userName eq "ANN@example.com"'}, timeout=30)
            assert [r["id"] for r in found.json()["Resources"]] == [created.json()["id"]]
            no_email = http.post(f"{demo.url}/Users", data=json.dumps({"userName": "bo@example.com"}),
                                 headers={"Content-Type": "application/scim+json"}, timeout=30)
            assert no_email.status_code == 201, no_email.text
            _wait_until_delivered(demo.url)
            accounts = _accounts(demo.state_url)
            for product, licence in LICENCE.items():
                ann = accounts[product].get("ann")
                assert ann is not None, (product, sorted(accounts[product]))
                assert (ann["email"], ann["active"], licence in ann["groups"]) == ("ann@example.com", True, True)
                assert "bo" not in accounts[product], product


def test_the_development_server_starts_on_a_configuration_file(tmp_path):
    """``python app.py`` (README "Running it for real"): the file's database is created and migrated,
    and its token is the one that works."""
    token = "dev-token-0123456789abcdef"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"},
                                      "auth": {"tokens": [{"name": "dev", "value": token}]}}), encoding="utf-8")
    port = free_port()
    env = {**_clean_environment(), "SCIM_BRIDGE_CONFIG": str(config)}
    with running([sys.executable, "app.py", "--port", str(port)], env, tmp_path / "app.log") as process:
        url = f"http://127.0.0.1:{port}/scim/v2/ServiceProviderConfig"
        for _ in range(150):
            if answers(url, token) or process.poll() is not None:
                break
            time.sleep(0.1)  # waiting for the subprocess to bind its port
        assert answers(url, token), (tmp_path / "app.log").read_text()
        assert not answers(url, "not-the-token-0123456789")
    assert (tmp_path / "bridge.db").exists()
