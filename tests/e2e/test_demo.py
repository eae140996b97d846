"""README "Trying it": its shell block, pasted into bash as written, creates the example user and finds
it by a userName in other case. Started without SCIM_BRIDGE_TOKEN, the demo makes a token and prints
it; the example user appears as ``ann`` in each fake product's licence group, as the fakes' state at
the printed URL shows. A user without an e-mail address is kept by the bridge but not created in the
products.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml

from tests.support import REPO_ROOT
from tests.support.servers import (
    STARTUP_SECONDS,
    _clean_environment,
    answers,
    free_port,
    running,
    running_demo,
)

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


def _readme_block(heading: str) -> str:
    """The first ``sh`` fenced block of the README section ``heading``."""
    section = (REPO_ROOT / "README.md").read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert block, f"no sh block under {heading!r} in README.md"
    return block.group(1)


def _json_documents(text: str) -> list:
    """Every JSON object in ``text`` (what curl printed, between the lines the demo printed)."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        try:
            document, at = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        documents.append(document)
    return documents


def _stop_group(group: int) -> None:
    """SIGTERM to the process group the pasted block ran in (the demo it left in the background),
    then wait for it to be gone."""
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)  # waiting for the demo to remove its store and exit
    os.killpg(group, signal.SIGKILL)
    pytest.fail("the demo did not end within 30 s of SIGTERM")


def test_the_readme_trying_it_block_works_pasted_as_is(tmp_path):
    """The block runs in a shell from a checkout with ``.venv``: no step may race the demo's start."""
    block = _readme_block("## Trying it")
    assert "--port 8000 &" in block, "the demo is to start in the background"
    # Only the port changes: other test runs on this machine may hold 8000.
    script = block.replace("8000", str(free_port()))
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("app.py", "scim_bridge", "atlassian_clients"):
        (checkout / name).symlink_to(REPO_ROOT / name)
    venv_python = checkout / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    venv_python.chmod(0o755)
    scratch = tmp_path / "tmp"  # the demo's throw-away store goes here (tempfile honours TMPDIR)
    scratch.mkdir()
    env = {**_clean_environment(), "TMPDIR": str(scratch)}
    printed = tmp_path / "printed.txt"
    # Output to a file: the demo left in the background keeps a pipe open after the shell exits.
    with printed.open("w") as sink:
        shell = subprocess.Popen(["bash", "-c", script], cwd=checkout, env=env, stdout=sink,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        shell.wait(timeout=STARTUP_SECONDS + 60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the block did not finish:\n{printed.read_text()}")
    finally:
        _stop_group(shell.pid)
    output = printed.read_text()
    assert shell.returncode == 0, output
    documents = _json_documents(output)
    created = [d for d in documents if d.get("userName") == "ann@example.com" and "id" in d]
    listed = [d for d in documents if "Resources" in d]
    assert len(created) == 1 and len(listed) == 1, output
    assert [r["id"] for r in listed[0]["Resources"]] == [created[0]["id"]], output
    assert list(scratch.iterdir()) == [], "the demo left its throw-away store behind"


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
