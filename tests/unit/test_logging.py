"""Logs are JSON lines with a request id, the clients' too, and never carry a secret or a traceback."""

import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from scim_bridge.logging import JsonFormatter, configure_logging
from tests.support.bridge import TOKEN, ScimClient, bridge_app


@contextmanager
def written() -> Iterator[io.StringIO]:
    """What the bridge's and its clients' log handlers write, for the duration of the block."""
    stream = io.StringIO()
    handlers = [next(h for h in logging.getLogger(name).handlers if getattr(h, "_scim_bridge", False))
                for name in ("scim_bridge", "atlassian_clients")]
    previous = [h.setStream(stream) for h in handlers]
    try:
        yield stream
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def test_bridge_and_client_loggers_write_json_lines_at_the_configured_level():
    configure_logging("WARNING", json_lines=True)
    with written() as stream:
        logging.getLogger("atlassian_clients.http").warning("jira: GET /rest/api/2/user attempt %d failed", 1)
        logging.getLogger("scim_bridge.delivery").info("not shown at WARNING")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["logger"], e["level"], e["message"]) for e in lines] == [
        ("atlassian_clients.http", "WARNING", "jira: GET /rest/api/2/user attempt 1 failed")]


def test_an_exception_is_named_without_its_traceback():
    try:
        raise ValueError("password=hunter2 in a message")
    except ValueError:
        record = logging.LogRecord("scim_bridge.x", logging.ERROR, __file__, 1, "failed", (), exc_info=True)
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["error"] == "ValueError"
    assert "hunter2" not in json.dumps(entry) and "Traceback" not in json.dumps(entry)


def test_a_request_is_logged_with_its_request_id_and_without_the_token_or_the_password(engine):
    app = bridge_app(engine, logging={"level": "INFO"})
    scim = ScimClient(app)
    with written() as stream:
        created = scim.post("/Users", {"userName": "ann@example.com", "password": "Secr3t!pass"})
        proxied = scim.get("/Users", headers={"X-Request-Id": "from-the-proxy-42"})
    text = stream.getvalue()
    assert TOKEN not in text and "Secr3t" not in text
    access = [entry for entry in map(json.loads, text.splitlines()) if entry["logger"] == "scim_bridge.access"]
    assert [(e["request_id"], e["method"], e["path"], e["status"], e["actor"]) for e in access] == [
        (created.headers["X-Request-Id"], "POST", "/scim/v2/Users", 201, "idp"),
        ("from-the-proxy-42", "GET", "/scim/v2/Users", 200, "idp"),
    ]
    assert proxied.headers["X-Request-Id"] == "from-the-proxy-42"
