"""A PostgreSQL server of the test's own, to stop, freeze and restart: never the machine's service.

``initdb`` and ``pg_ctl`` (from ``/usr/lib/postgresql/*/bin`` or the PATH) make a cluster in a
temporary directory and run it on a free loopback port. PostgreSQL refuses to run as root, so when
the tests run as root (as CI does) the commands run as the ``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.servers import free_port

SERVER_USER = "postgres"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    def __init__(self, bin_dir: Path, root: Path, port: int):
        self.bin_dir, self.root, self.port = bin_dir, root, port
        self.data = root / "data"
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=check)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        # fsync off: only the server process dies in these tests, never the machine, so the WAL in the
        # page cache survives an immediate stop and crash recovery replays it.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                   "-c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")

    def stop_hard(self) -> None:
        """Like a crash: no checkpoint, clients cut off (recovery replays the WAL at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, WAL writer, ...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a process that has just ended
            if int(fields[1]) == postmaster:
                children.append(int(Path(stat).parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """As a hung host or a partition looks to clients: connections accepted, nothing answered."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running server on a free port; skips when the PostgreSQL server binaries are not installed."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("initdb is not installed (the PostgreSQL server package, e.g. postgresql on Debian)")
    root = Path(tempfile.mkdtemp(prefix="scim-bridge-pg-"))  # not under pytest's 0700 tmp: postgres reads it
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PostgresServer(bin_dir, root, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            server.thaw()
            server._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
