"""JSON-lines logs with a request id; secrets never reach them.

Handlers log facts (who, what, outcome), not request bodies: bodies carry passwords. The request id
comes from ``X-Request-Id`` when a proxy sets one, and is echoed in the response.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from flask import Flask, g, request

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        # Exception text is dropped on purpose: tracebacks can carry request data.
        if record.exc_info:
            entry["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


# The bridge's own loggers and those of its Atlassian clients (retries, rate limits) alike.
LOGGERS = ("scim_bridge", "atlassian_clients")


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Configure the bridge's loggers once per process; calling again only changes level and format."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(getattr(h, "_scim_bridge", False) for h in logger.handlers):
            handler = logging.StreamHandler()
            handler._scim_bridge = True
            logger.addHandler(handler)
            logger.propagate = False
        for handler in logger.handlers:
            if getattr(handler, "_scim_bridge", False):
                handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
                    "%(asctime)s %(levelname)s %(name)s %(message)s"))


def setup_request_logging(app: Flask) -> None:
    access = logging.getLogger("scim_bridge.access")

    @app.before_request
    def _start():
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied[:64] if supplied.isprintable() and supplied else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        access.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                "actor": g.get("actor"),
            },
        )
        return response
