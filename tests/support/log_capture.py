"""Every log line of a test run, kept for the scan for credentials at the end of the session.

``RunLog`` is a handler on the bridge's and its clients' loggers (they do not propagate to the root
logger, see scim_bridge/logging.py), formatting records as the bridge writes them; ``register_file``
adds the output file of a bridge started as its own process (tests/support/servers.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from scim_bridge.logging import LOGGERS, JsonFormatter
from tests.support.credentials import leaks

_FILES: list[Path] = []


def register_file(path: Path) -> None:
    _FILES.append(path)


class RunLog(logging.Handler):
    def __init__(self):
        super().__init__(logging.NOTSET)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that does not format is kept by its message
            self.lines.append(str(record.msg))

    def attach(self) -> RunLog:
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def detach(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self)


@dataclass
class Scan:
    lines: int
    files: int
    findings: list[tuple[str, str, list[str]]]  # (where, line, what leaked)


def scan(run_log: RunLog) -> Scan:
    findings = [("log record", line, found) for line in run_log.lines if (found := leaks(line))]
    files = [path for path in _FILES if path.exists()]
    lines = len(run_log.lines)
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            lines += 1
            if found := leaks(line):
                findings.append((str(path), line, found))
    return Scan(lines, len(files), findings)
