"""The demo started with its documented command line (``python app.py --demo --port PORT``), as a
subprocess, and stopped with SIGTERM the way a supervisor would.

Operators and outside tools start it exactly so, which is why the tests do too rather than call
``run_demo``. What the demo printed on start tells the SCIM base URL, the bearer token when it made
one, and where the fakes' state is.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import REPO_ROOT

STARTUP_SECONDS = 30
_STATE_LINE = re.compile(r"their state at (\S+)$", re.M)
_TOKEN_LINE = re.compile(r"^scim-bridge demo: bearer token (\S+)$", re.M)


@dataclass(frozen=True)
class Demo:
    url: str  # the SCIM base URL
    token: str
    state_url: str  # the fakes' state, as the demo printed it
    printed: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(process: subprocess.Popen, url: str, token: str | None, log: Path) -> Demo:
    """Poll until the demo has printed its start lines and answers; fail early if the process died."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited with status {process.returncode} before answering:\n{log.read_text()}")
        printed = log.read_text()
        state = _STATE_LINE.search(printed)
        made = _TOKEN_LINE.search(printed)
        if state and (token or made):
            demo = Demo(url, token or made.group(1), state.group(1), printed)
            try:
                reply = requests.get(f"{url}/ServiceProviderConfig",
                                     headers={"Authorization": f"Bearer {demo.token}"}, timeout=2)
                if reply.status_code == 200:
                    return demo
            except requests.ConnectionError:
                pass
        time.sleep(0.1)  # waiting for the subprocess to print and bind its port, nothing else
    pytest.fail(f"the demo did not answer on {url} within {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running_demo(tmp_path: Path, token: str | None = None) -> Iterator[Demo]:
    """The demo, with ``token`` in SCIM_BRIDGE_TOKEN (or none, so that it makes and prints one).
    On leaving: it must have exited 0 on SIGTERM and removed its throw-away store."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    if token:
        env["SCIM_BRIDGE_TOKEN"] = token
    scratch = tmp_path / "tmp"  # the demo's throw-away store goes here (tempfile honours TMPDIR)
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    log = tmp_path / "demo.log"
    # Its output goes to a file: an unread pipe fills up with request log lines and blocks the server.
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)],
                                   cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield _wait_until_up(process, f"http://127.0.0.1:{port}/scim/v2", token, log)
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
