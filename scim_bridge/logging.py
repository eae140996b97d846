"""JSON-lines logs with a request id; secrets never reach them.

Handlers log facts (who, what, outcome), not request bodies: bodies carry passwords. The request id
comes from ``X-Request-Id`` when a proxy sets one, and is echoed in the response.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import select
import threading
import time
import uuid
import weakref

from flask import Flask, g, request

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


_ENCODER = json.JSONEncoder(default=str)  # built once: json.dumps with options builds one per call


class JsonFormatter(logging.Formatter):
    # The time up to the second, formatted once per second rather than on every line: (second, text).
    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        # Exception text is dropped on purpose: tracebacks can carry request data.
        if record.exc_info:
            entry["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return self.encode(entry)

    def timestamp(self, created: float) -> str:
        """UTC to the millisecond, truncated as ``LogRecord.msecs`` is."""
        second = int(created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{cached[1]}.{int((created - second) * 1000):03d}Z"

    @staticmethod
    def encode(entry: dict) -> str:
        return _ENCODER.encode(entry)


class LineHandler(logging.StreamHandler):
    """A stream handler that formats a record without holding the handler's lock and, when the stream
    has a file descriptor (stderr under gunicorn or a service manager), writes lines with
    ``os.write``. POSIX makes a write of up to PIPE_BUF bytes to a pipe atomic, and Linux a write to a
    file, so the lines of several processes on one stream do not interleave. A stream without a
    descriptor is written as ``StreamHandler`` does.

    Access lines (``write_soon``) are gathered and written together, whole lines of up to PIPE_BUF
    bytes a write, at most ``gather_seconds`` after the first of them (``logging.access_batch_seconds``;
    0 writes each at once): a write per request let the other request threads take the interpreter
    lock and switch back (1-1.5 fewer context switches per look-up in same-run comparisons; the rate
    moved within noise, bench/floor.py counts both). Any other line
    writes the gathered ones first, under the handler's lock, so the log keeps its order; so does
    ``flush``, which logging calls at exit. One handler serves all the bridge's loggers
    (``configure_logging``) for the same reason. A process killed outright loses at most its last
    ``gather_seconds`` of access lines."""

    def __init__(self, stream=None, gather_seconds: float = 0.1):
        super().__init__(stream)
        self.gather_seconds = gather_seconds
        self._gathered: list[bytes] = []
        self._gathered_bytes = 0
        self._due = threading.Event()  # set while gathered lines wait for the writer thread
        self._writer: threading.Thread | None = None
        self._write_fd = _write_all  # what writes to the descriptor (a test passes a recording one)
        _HANDLERS.add(self)

    def handle(self, record: logging.LogRecord) -> bool:
        passed = self.filter(record)
        if not passed:
            return False
        self.emit(passed if isinstance(passed, logging.LogRecord) else record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._descriptor() is None:
                with self.lock:
                    self._write_gathered()
                    super().emit(record)
                return
            self.write_line(self.format(record))
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's own policy: report on stderr, never raise
            self.handleError(record)

    def write_line(self, text: str) -> None:
        """Write one formatted line now, after any gathered ones (raises what the write raises)."""
        data = (text + self.terminator).encode("utf-8", "backslashreplace")
        with self.lock:
            self._gathered.append(data)
            self._write_gathered()

    def write_soon(self, text: str) -> None:
        """Gather one formatted line, written with others within ``gather_seconds`` (raises what a write
        it makes raises)."""
        if self.gather_seconds <= 0 or self._descriptor() is None:  # no write to spare: a stream in memory
            self.write_line(text)
            return
        data = (text + self.terminator).encode("utf-8", "backslashreplace")
        with self.lock:
            self._gathered.append(data)
            self._gathered_bytes += len(data)
            if self._gathered_bytes >= select.PIPE_BUF:
                self._write_gathered()
                return
        if not self._due.is_set():
            if self._writer is None:
                self._start_writer()
            self._due.set()

    def flush(self) -> None:
        self.write_gathered()
        super().flush()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not raise: logging.shutdown closes every handler
            self.write_gathered()
        super().close()

    def write_gathered(self) -> None:
        with self.lock:
            self._write_gathered()

    def _write_gathered(self) -> None:
        """Write what is gathered (under the lock): whole lines, up to PIPE_BUF bytes a write."""
        if not self._gathered:
            return
        lines, self._gathered, self._gathered_bytes = self._gathered, [], 0
        fd = self._descriptor()
        if fd is None:  # a stream without a descriptor (replaced by assignment): written as a stream
            for line in lines:
                self.stream.write(line.decode("utf-8"))
            self.stream.flush()
            return
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > select.PIPE_BUF:
                self._write_fd(fd, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._write_fd(fd, b"".join(chunk))

    def _start_writer(self) -> None:
        with self.lock:
            if self._writer is None:
                # The thread holds the handler weakly: a handler dropped (a test's, a replaced one) ends it.
                self._writer = threading.Thread(target=_write_later, args=(weakref.ref(self), self._due),
                                                name="log-writer", daemon=True)
                self._writer.start()

    def _after_fork(self) -> None:
        # The parent writes what it gathered; the child's writer thread did not survive the fork.
        self._gathered, self._gathered_bytes = [], 0
        self._due, self._writer = threading.Event(), None

    def _descriptor(self) -> int | None:
        try:
            return self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            return None


def _write_later(handler_ref: weakref.ref, due: threading.Event) -> None:
    """The writer thread of one handler: writes its gathered lines ``gather_seconds`` after the first."""
    while True:
        if not due.wait(timeout=60):
            if handler_ref() is None:
                return
            continue
        handler = handler_ref()
        if handler is None:
            return
        seconds = handler.gather_seconds
        del handler  # not held while sleeping
        time.sleep(seconds)
        due.clear()  # before writing: a line gathered meanwhile sets it again
        handler = handler_ref()
        if handler is None:
            return
        with contextlib.suppress(Exception):  # nowhere left to report it: the log is what failed
            handler.write_gathered()
        del handler


_HANDLERS: weakref.WeakSet[LineHandler] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for handler in list(_HANDLERS):
        handler._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


# The bridge's own loggers and those of its Atlassian clients (retries, rate limits) alike.
LOGGERS = ("scim_bridge", "atlassian_clients")


def configure_logging(level: str = "INFO", json_lines: bool = True, access_batch_seconds: float = 0.1) -> None:
    """Configure the bridge's loggers once per process; calling again only changes level, format and
    the access lines' batching. One handler serves them all, so that their lines keep their order."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    handler = next((h for logger in loggers for h in logger.handlers if getattr(h, "_scim_bridge", False)), None)
    if handler is None:
        handler = LineHandler()
        handler._scim_bridge = True
    for logger in loggers:
        logger.setLevel(level)
        if handler not in logger.handlers:
            logger.addHandler(handler)
            logger.propagate = False
    handler.gather_seconds = access_batch_seconds
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))


class _RequestIds:
    """Request ids unique to a process: a random prefix drawn once per process and a counter, 32 hex
    digits like a UUID's. A fresh ``uuid4`` per request costs a system call (``os.urandom``), which lets
    the other request threads take the interpreter lock each time."""

    def __init__(self):
        self.restart()
        os.register_at_fork(after_in_child=self.restart)  # a forked worker draws its own prefix

    def restart(self) -> None:
        self._prefix, self._counter = uuid.uuid4().hex[:20], itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) % 16**12:012x}"


_new_request_id = _RequestIds()


class AccessLog:
    """The access line, one per request. Where it would reach only the bridge's own handler (the
    logger set up by ``configure_logging``, nothing added to it or to the access logger), the line is
    formatted and written straight to that handler: logging's general path (a record of some twenty
    attributes, filters, the walk up the logger tree) was a tenth of a look-up's CPU in the app
    (profiled). Anywhere else (a handler or filter an operator or a test added, another format) the
    record goes through logging as any other, so what they see does not change; so does it under a
    record factory other than logging's own (one adding a trace id, as tracing instrumentation does).
    A tool that patches ``Logger.callHandlers`` itself does not see the direct line."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def write(self, request_id: str | None, method: str, path: str, status: int, duration_ms: float,
              actor: str | None) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        fields = {"request_id": request_id, "method": method, "path": path, "status": status,
                  "duration_ms": duration_ms, "actor": actor}
        handler = self._sole_handler()
        if handler is None:
            logger.handle(self._record(method, path, status, fields))
            return
        formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
        entry = {"time": formatter.timestamp(time.time()), "level": "INFO", "logger": logger.name,
                 "message": f"{method} {path} {status}", **fields}
        try:
            handler.write_soon(formatter.encode(entry))
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as LineHandler.emit: report on stderr, never fail the request
            handler.handleError(self._record(method, path, status, fields))

    def _record(self, method: str, path: str, status: int, fields: dict) -> logging.LogRecord:
        # Made here rather than by logger.info, which looks up the calling frame (file, line) for every
        # record: the access line never shows it.
        return self.logger.makeRecord(self.logger.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status),
                                      None, extra=fields)

    def _sole_handler(self) -> LineHandler | None:
        """The bridge's handler when the line would reach it and nothing else; checked on every line,
        as logging would, since handlers and filters can be added at any time."""
        logger = self.logger
        parent = logger.parent
        if logger.handlers or logger.filters or not logger.propagate or parent is None:
            return None
        if logging.getLogRecordFactory() is not logging.LogRecord:
            return None
        if parent.filters or parent.propagate or len(parent.handlers) != 1:
            return None
        handler = parent.handlers[0]
        if (type(handler) is not LineHandler or handler.filters or handler.level > logging.INFO
                or type(handler.formatter) is not JsonFormatter):
            return None
        return handler


def setup_request_logging(app: Flask) -> None:
    access = AccessLog(logging.getLogger("scim_bridge.access"))

    @app.before_request
    def _start():
        ctx = g._get_current_object()  # looked up once, as in _finish
        supplied = request.headers.get("X-Request-Id", "")
        ctx.request_id = supplied[:64] if supplied.isprintable() and supplied else _new_request_id()
        ctx.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        # The request and g looked up once: each use of Flask's proxies looks up the context again.
        req, ctx = request._get_current_object(), g._get_current_object()
        request_id = ctx.get("request_id")
        response.headers["X-Request-Id"] = "-" if request_id is None else request_id
        started = ctx.get("started")
        duration = 0.0 if started is None else round((time.perf_counter() - started) * 1000, 2)
        access.write(request_id, req.method, req.path, response.status_code, duration, ctx.get("actor"))
        return response
