"""scim2-tester (PyPI ``scim2-cli``) against the bridge started with the demo command.

The demo command line is the one operators and outside tools use (``python app.py --demo --port
PORT``, token from ``SCIM_BRIDGE_TOKEN``), so it is started exactly that way, as a subprocess, and
stopped with SIGTERM the way a supervisor would. Every check scim2-tester runs must be SUCCESS.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import REPO_ROOT

STARTUP_SECONDS = 30
# One line per check: "<STATUS> <title>", the reason indented below it (scim2_cli/test.py).
RESULT_LINE = re.compile(r"^([A-Z]+) (.+)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _scim2_executable() -> str:
    found = shutil.which("scim2", path=str(Path(sys.executable).parent)) or shutil.which("scim2")
    if found is None:
        pytest.skip("the scim2 command (PyPI scim2-cli, listed in requirements-dev.txt) is not installed")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(process: subprocess.Popen, url: str, token: str, log: Path) -> None:
    """Poll the discovery endpoint until the demo answers; fail early if the process died."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited with status {process.returncode} before answering:\n{log.read_text()}")
        try:
            reply = requests.get(f"{url}/ServiceProviderConfig", headers={"Authorization": f"Bearer {token}"},
                                 timeout=2)
            if reply.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)  # waiting for the subprocess to bind its port, nothing else
    pytest.fail(f"the demo did not answer on {url} within {STARTUP_SECONDS} s")


@pytest.fixture
def demo_bridge(tmp_path):
    """The demo started with its documented command line; yields (SCIM base URL, token)."""
    token = secrets.token_urlsafe(24)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    env["SCIM_BRIDGE_TOKEN"] = token
    scratch = tmp_path / "tmp"  # the demo's throw-away store goes here (tempfile honours TMPDIR)
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    log = tmp_path / "demo.log"
    # Its output goes to a file: an unread pipe fills up with request log lines and blocks the server.
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)],
                                   cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/scim/v2"
    try:
        _wait_until_up(process, url, token, log)
        yield url, token
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # SIGTERM ends the demo like Ctrl-C: it removes its throw-away store and exits 0.
    assert process.returncode == 0, f"the demo exited with status {process.returncode} on SIGTERM:\n{log.read_text()}"
    assert list(scratch.iterdir()) == [], "the demo left its throw-away store behind"


def parse_results(output: str) -> list[tuple[str, str, list[str]]]:
    """(status, check title, reason lines) for each check in the CLI's output.

    A reason is printed indented below its check, and its further lines (the patched and returned
    values) unindented, so every line up to the next check belongs to the last one.
    """
    results: list[tuple[str, str, list[str]]] = []
    for line in ANSI.sub("", output).splitlines():
        match = RESULT_LINE.match(line)
        if match:
            results.append((match.group(1), match.group(2), []))
        elif results and line.strip():
            results[-1][2].append(line.strip())
    return results


def test_every_scim2_tester_check_succeeds_against_the_demo(demo_bridge):
    scim2 = _scim2_executable()
    url, token = demo_bridge
    # The token goes through the environment, not the command line other users can read.
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}"}
    run = subprocess.run([scim2, "--url", url, "test"], env=env, capture_output=True, text=True, timeout=300)

    results = parse_results(run.stdout)
    failing = [f"{status} {title}" + "".join(f"\n    {r}" for r in reasons)
               for status, title, reasons in results if status != "SUCCESS"]
    assert results, f"scim2 printed no check results (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    assert not failing, f"{len(failing)} of {len(results)} scim2-tester checks did not succeed:\n" + "\n".join(failing)
    assert run.returncode == 0, run.stderr
    # The CRUD checks ran once per resource type the bridge advertises (Users and Groups).
    types = requests.get(f"{url}/ResourceTypes", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    for check in ("object_creation", "object_query", "object_replacement", "object_deletion"):
        assert sum(title == check for _status, title, _reasons in results) == types["totalResults"] == 2, check
