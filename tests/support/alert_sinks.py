"""Where alerts land in tests: an SMTP sink and a webhook receiver, each on a loopback port in a
thread of the test process, keeping what they received in order.

The SMTP sink speaks just enough of RFC 5321 for ``smtplib`` (EHLO, AUTH PLAIN, MAIL, RCPT, DATA,
QUIT); it is written here with ``socketserver`` rather than taken from aiosmtpd, to add no
dependency for forty lines. Either can be told to fail, to show that a broken channel never
disturbs delivery.
"""

from __future__ import annotations

import base64
import email
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    items: list = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    failing: bool = False  # answer every attempt with an error
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item) -> None:
        with self.lock:
            self.items.append(item)

    def wait_for(self, count: int, seconds: float = 30.0) -> list:
        """What was received once it holds ``count`` items (or the deadline passed)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.items) >= count:
                    return list(self.items)
            time.sleep(0.05)
        with self.lock:
            return list(self.items)


class _SmtpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        box: Received = self.server.received  # type: ignore[attr-defined]
        box.attempts += 1
        if box.failing:
            self._say("421 service not available")
            return
        self._say("220 sink ESMTP")
        while line := self.rfile.readline():
            verb = line.decode("ascii", "replace").strip().split(" ", 1)
            command, argument = verb[0].upper(), (verb[1] if len(verb) > 1 else "")
            if command == "EHLO":
                self._say("250-sink", "250-AUTH PLAIN", "250 8BITMIME")
            elif command == "AUTH":
                _, _, encoded = argument.partition(" ")
                _, user, password = base64.b64decode(encoded).decode().split("\0")
                box.logins.append((user, password))
                self._say("235 accepted")
            elif command == "DATA":
                self._say("354 go on")
                box.add(email.message_from_bytes(self._data()))
                self._say("250 queued")
            elif command == "QUIT":
                self._say("221 bye")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                self._say("250 ok")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def _say(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def smtp_sink() -> Iterator[tuple[int, Received]]:
    """Yields (port, received): ``received.items`` are the mails as ``email.message.Message``."""
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    server.received = Received()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        box: Received = self.server.received  # type: ignore[attr-defined]
        box.attempts += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if box.failing:
            self.send_response(500)
        else:
            box.add(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    """Yields (url, received): ``received.items`` are the posted JSON bodies."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
    server.daemon_threads = True
    server.received = Received()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def body_of(mail: Message) -> str:
    return mail.get_payload(decode=True).decode()
