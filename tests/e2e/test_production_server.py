"""The production set-up of README "Running it for real" and docs/deployment.md: ``gunicorn app:app``
(gunicorn.conf.py: two workers of eight threads, on loopback) behind nginx with the shipped
``deploy/nginx/scim-bridge.conf``, each started as an operator starts it.

Slow clients must not starve it, and what nginx itself refuses (a body too large, a request line too
long, a request that is not HTTP) must be a SCIM error that leaves the next request working.

This module bounds the time of single requests: being answered promptly while slow clients hold
connections open is the behaviour under test, and the bound (1 s against a bare server's tens of
seconds) leaves room for a loaded machine.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from tests.support.servers import running_gunicorn, running_nginx

TOKEN = "production-test-token-0123456789"
SLOW_CLIENTS = 50
PROMPT_SECONDS = 1.0


def _config(tmp_path) -> dict:
    return {"database": {"url": f"sqlite:///{tmp_path / 'bridge.db'}"},
            "auth": {"tokens": [{"name": "okta", "value": TOKEN}]}, "logging": {"level": "WARNING"}}


@contextmanager
def production(tmp_path) -> Iterator[str]:
    with running_gunicorn(tmp_path, _config(tmp_path), TOKEN) as upstream, running_nginx(tmp_path, upstream) as root:
        yield root


class Trickle:
    """``count`` connections that each send a request's headers one byte a second and, when the
    server drops them, connect again: a steady number of slow clients holding connections open."""

    def __init__(self, root: str, count: int):
        host, port = root.split("//")[1].split(":")
        self.address = (host, int(port))
        self.count = count
        self.stop = threading.Event()
        self.open = 0
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self) -> None:
        request = b"GET /scim/v2/Users HTTP/1.1\r\nHost: bridge\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"
        while not self.stop.is_set():
            try:
                with socket.create_connection(self.address, timeout=5) as conn:
                    self._count(open_=1)
                    try:
                        for byte in request:
                            conn.sendall(bytes([byte]))
                            self._count(sent=1)
                            if self.stop.wait(1.0):
                                return
                    finally:
                        self._count(open_=-1)
            except OSError:
                self.stop.wait(0.2)  # dropped by the server: come back, as an attacker would

    def _count(self, open_: int = 0, sent: int = 0) -> None:
        with self._lock:
            self.open += open_
            self.bytes_sent += sent

    def __enter__(self) -> Trickle:
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 30
        while self.open < self.count and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for the connections to open, nothing else
        assert self.open == self.count, f"only {self.open} of {self.count} slow connections opened"
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def _ordinary_requests(root: str, count: int, timeout: float) -> list[float | str]:
    """``count`` SCIM requests, each on a new connection, as a list of seconds each took (or why it failed)."""
    timings: list[float | str] = []
    for i in range(count):
        started = time.monotonic()
        try:
            if i % 2:
                reply = requests.get(f"{root}/scim/v2/Users?count=5", timeout=timeout,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
            else:
                reply = requests.post(f"{root}/scim/v2/Users", timeout=timeout, data=json.dumps(
                    {"userName": f"user{i}-{time.monotonic_ns()}@example.com"}), headers={
                    "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"})
            timings.append(time.monotonic() - started if reply.ok else f"status {reply.status_code}")
        except requests.RequestException as exc:
            timings.append(f"{exc.__class__.__name__} after {time.monotonic() - started:.1f} s")
    return timings


def test_slow_clients_do_not_starve_the_production_set_up(tmp_path):
    with production(tmp_path) as root, Trickle(root, SLOW_CLIENTS) as slow:
        timings = _ordinary_requests(root, 8, timeout=10)
        still_open = slow.open
    assert all(isinstance(t, float) and t < PROMPT_SECONDS for t in timings), timings
    # The slow clients were there all along (nginx drops each after 10 s; they come back).
    assert still_open >= SLOW_CLIENTS * 0.8, still_open


def test_the_same_slow_clients_starve_gunicorn_without_the_proxy(tmp_path):
    """The hazard the proxy exists for (and proof that the test above can fail): each worker's 8
    threads. One worker here: with two, the second may still be loading the app while the first
    accepts every slow client, and then it answers (the hazard is the same, the test would not be)."""
    with running_gunicorn(tmp_path, _config(tmp_path), TOKEN, environ={"SCIM_BRIDGE_WORKERS": "1"}) as root, \
            Trickle(root, SLOW_CLIENTS):
        timings = _ordinary_requests(root, 1, timeout=5)
    assert not isinstance(timings[0], float), f"answered in {timings[0]:.2f} s while slow clients held every thread"


def _raw_exchange(root: str, data: bytes) -> tuple[str, dict[str, str], bytes, socket.socket]:
    host, port = root.split("//")[1].split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    conn.sendall(data)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        body += conn.recv(65536)
    return status, headers, body, conn


def _scim_error(status: str, headers: dict, body: bytes, code: int) -> dict:
    assert status.startswith(f"HTTP/1.1 {code} "), status
    assert headers["content-type"] == "application/scim+json", headers
    document = json.loads(body)
    assert document["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert document["status"] == str(code) and document["detail"]
    return document


def test_what_the_server_refuses_is_a_scim_error_and_the_next_request_works(tmp_path):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with production(tmp_path) as root, requests.Session() as http:
        http.headers.update(auth)
        # 413 on a keep-alive session: the next request of the same session is answered.
        too_large = http.post(f"{root}/scim/v2/Users", data=json.dumps({"userName": "big", "x": "a" * 2_000_000}),
                              headers={"Content-Type": "application/scim+json"}, timeout=30)
        assert too_large.status_code == 413 and too_large.headers["Content-Type"] == "application/scim+json"
        assert too_large.json()["status"] == "413" and "smaller request" in too_large.json()["detail"]
        assert http.get(f"{root}/scim/v2/ServiceProviderConfig", timeout=10).status_code == 200
        created = http.post(f"{root}/scim/v2/Users", data=json.dumps({"userName": "after-413@example.com"}),
                            headers={"Content-Type": "application/scim+json"}, timeout=30)
        assert created.status_code == 201, created.text

        # The same on one raw connection: the refusal says the connection closes, so no client reads
        # the rest of the refused body as its next answer.
        big = json.dumps({"userName": "raw", "x": "b" * 1_100_000}).encode()
        status, headers, body, conn = _raw_exchange(root, (
            f"POST /scim/v2/Users HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/scim+json\r\nContent-Length: {len(big)}\r\n\r\n").encode() + big[:4096])
        conn.close()
        _scim_error(status, headers, body, 413)
        assert headers["connection"] == "close"

        # 414: a request line longer than nginx's 8 KiB header buffers.
        long_filter = http.get(f"{root}/scim/v2/Users?filter=userName%20eq%20%22{'a' * 9000}%22", timeout=10)
        assert long_filter.status_code == 414 and long_filter.headers["Content-Type"] == "application/scim+json"
        assert ".search" in long_filter.json()["detail"]

        # 400: not HTTP at all, and a header line past the buffers.
        status, headers, body, conn = _raw_exchange(root, b"NOT HTTP AT ALL\r\n\r\n")
        conn.close()
        _scim_error(status, headers, body, 400)
        huge_header = http.get(f"{root}/scim/v2/Users", headers={"X-Big": "h" * 9000}, timeout=10)
        assert huge_header.status_code == 400 and huge_header.json()["status"] == "400"

        # The bridge's own errors pass through unchanged, and the session still works after all that.
        refused = http.get(f"{root}/scim/v2/Users", headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert http.get(f"{root}/scim/v2/Users?filter=userName%20eq%20%22after-413@example.com%22",
                        timeout=10).json()["totalResults"] == 1
        # /metrics is for this host: the loopback client reads it.
        assert "scim_bridge_requests" in http.get(f"{root}/metrics", timeout=10).text
