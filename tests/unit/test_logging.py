"""Logs are JSON lines, the clients' too, and never carry a secret or a traceback."""

import io
import json
import logging
import sys

from scim_bridge.logging import JsonFormatter, configure_logging


def test_bridge_and_client_loggers_write_json_lines_at_the_configured_level():
    configure_logging("WARNING", json_lines=True)
    stream = io.StringIO()
    handlers = [next(h for h in logging.getLogger(name).handlers if getattr(h, "_scim_bridge", False))
                for name in ("scim_bridge", "atlassian_clients")]
    previous = [h.setStream(stream) for h in handlers]
    try:
        logging.getLogger("atlassian_clients.http").warning("jira: GET /rest/api/2/user attempt %d failed", 1)
        logging.getLogger("scim_bridge.delivery").info("not shown at WARNING")
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)
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
