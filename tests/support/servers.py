"""The bridge as its users start it, in a subprocess: the demo by its documented command line
(``python app.py --demo --port PORT``) and the production server (``gunicorn app:app`` behind nginx
with ``deploy/nginx/scim-bridge.conf``), each stopped with SIGTERM the way a supervisor would.

Operators and outside tools start them exactly so, which is why the tests do too rather than call
``run_demo`` or ``create_app``. What the demo printed on start tells the SCIM base URL, the bearer
token when it made one, and where the fakes' state is.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import requests
import yaml

from tests.support import REPO_ROOT
from tests.support.log_capture import register_file

STARTUP_SECONDS = 30
_STATE_LINE = re.compile(r"their state at (\S+)$", re.M)
_TOKEN_LINE = re.compile(r"^scim-bridge demo: bearer token (\S+)$", re.M)
Ready = TypeVar("Ready")


@dataclass(frozen=True)
class Demo:
    url: str  # the SCIM base URL
    token: str
    state_url: str  # the fakes' state, as the demo printed it
    printed: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str, token: str) -> bool:
    try:
        return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        # Not answering yet (a loaded machine may take a while to serve the first request): poll again.
        return False


def wait_until(process: subprocess.Popen, log: Path, ready: Callable[[str], Ready | None]) -> Ready:
    """Poll ``ready`` with what the process printed until it gives a value; fail early if the process died."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with status {process.returncode} before answering:\n{log.read_text()}")
        value = ready(log.read_text())
        if value is not None:
            return value
        time.sleep(0.1)  # waiting for the subprocess to print and bind its port, nothing else
    pytest.fail(f"{process.args} did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path, *, status: int = 0) -> Iterator[subprocess.Popen]:
    """``command`` from the repository root; on leaving, SIGTERM must end it with status 0 (or it
    must have ended with ``status``: ``-signal.SIGKILL`` for a test that killed it)."""
    # Its output goes to a file: an unread pipe fills up with request log lines and blocks the server.
    register_file(log)  # scanned for credentials at the end of the run
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == status, \
        f"{command} exited with status {process.returncode} on SIGTERM:\n{log.read_text()}"


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}


@contextmanager
def running_demo(tmp_path: Path, token: str | None = None) -> Iterator[Demo]:
    """The demo, with ``token`` in SCIM_BRIDGE_TOKEN (or none, so that it makes and prints one).
    On leaving: it must have exited 0 on SIGTERM and removed its throw-away store."""
    port = free_port()
    env = _clean_environment()
    if token:
        env["SCIM_BRIDGE_TOKEN"] = token
    scratch = tmp_path / "tmp"  # the demo's throw-away store goes here (tempfile honours TMPDIR)
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    url = f"http://127.0.0.1:{port}/scim/v2"

    def started(printed: str) -> Demo | None:
        state, made = _STATE_LINE.search(printed), _TOKEN_LINE.search(printed)
        if not state or not (token or made):
            return None
        demo = Demo(url, token or made.group(1), state.group(1), printed)
        return demo if answers(f"{url}/ServiceProviderConfig", demo.token) else None

    log = tmp_path / "demo.log"
    with running([sys.executable, "app.py", "--demo", "--port", str(port)], env, log) as process:
        yield wait_until(process, log, started)
    # SIGTERM ends the demo like Ctrl-C: it removes its throw-away store.
    assert list(scratch.iterdir()) == [], "the demo left its throw-away store behind"


def _gunicorn(tmp_path: Path, config: dict, port: int, name: str = "gunicorn",
              environ: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    # Several gunicorns in one test each need their own configuration file (and log).
    file = tmp_path / f"{name}-config.yaml"
    file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**_clean_environment(), **(environ or {}), "SCIM_BRIDGE_CONFIG": str(file),
           "SCIM_BRIDGE_BIND": f"127.0.0.1:{port}"}
    return [str(Path(sys.executable).with_name("gunicorn")), "app:app"], env


@contextmanager
def running_gunicorn(tmp_path: Path, config: dict, token: str, *, name: str = "gunicorn",
                     environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """``gunicorn app:app`` with ``gunicorn.conf.py`` and ``config`` as SCIM_BRIDGE_CONFIG, on a free
    loopback port (``environ``: more variables, e.g. SCIM_BRIDGE_WORKERS); yields the server's root URL
    once the SCIM side answers with ``token``."""
    port = free_port()
    command, env = _gunicorn(tmp_path, config, port, name, environ)
    root = f"http://127.0.0.1:{port}"
    log = tmp_path / f"{name}.log"
    probe = f"{root}/scim/v2/ServiceProviderConfig"
    with running(command, env, log) as process:
        yield wait_until(process, log, lambda _printed: root if answers(probe, token) else None)


def gunicorn_refusing(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    """``gunicorn app:app`` on a configuration it must refuse: its exit and what it printed."""
    command, env = _gunicorn(tmp_path, config, free_port())
    try:
        return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=STARTUP_SECONDS)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"gunicorn started on a configuration it should refuse:\n{exc.stdout}{exc.stderr}")


NGINX_SITE = REPO_ROOT / "deploy" / "nginx" / "scim-bridge.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@contextmanager
def running_nginx(tmp_path: Path, upstream: str) -> Iterator[str]:
    """nginx with the shipped site file ``deploy/nginx/scim-bridge.conf`` as an operator installs it
    (inside nginx's http block), changed only where it listens and where gunicorn is (``upstream``,
    a root URL); yields nginx's root URL. Skips when nginx is not installed (.ci/run installs it)."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does it)")
    port = free_port()
    site = NGINX_SITE.read_text(encoding="utf-8")
    rendered, listens = re.subn(r"^    listen 80;$", f"    listen 127.0.0.1:{port};", site, flags=re.M)
    rendered, servers = re.subn(r"^    server 127\.0\.0\.1:8000;$", f"    server {upstream.split('//')[1]};",
                                rendered, flags=re.M)
    assert (listens, servers) == (1, 1), "deploy/nginx/scim-bridge.conf: listen 80 / server 127.0.0.1:8000 moved"
    home = tmp_path / "nginx"
    home.mkdir()
    (home / "scim-bridge.conf").write_text(rendered, encoding="utf-8")
    temp = " ".join(f"{kind}_temp_path {home / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root nginx's workers would run as nobody, who cannot enter pytest's private temp directory.
    user = "user root;" if os.geteuid() == 0 else ""
    (home / "nginx.conf").write_text(
        f"{user} worker_processes 1; daemon off; pid {home / 'nginx.pid'}; error_log {home / 'error.log'};\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; {temp} include {home / 'scim-bridge.conf'}; }}\n", encoding="utf-8")
    root = f"http://127.0.0.1:{port}"
    log = tmp_path / "nginx.log"
    command = [binary, "-p", str(home), "-c", str(home / "nginx.conf"), "-e", str(home / "error.log")]
    with running(command, _clean_environment(), log) as process:
        yield wait_until(process, log, lambda _printed: root if _listening(port) else None)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
