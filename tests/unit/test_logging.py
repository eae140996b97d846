"""Logs are JSON lines with a request id, the clients' too, and never carry a secret or a traceback."""

import io
import json
import logging
import os
import select
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from scim_bridge.logging import AccessLog, JsonFormatter, LineHandler, configure_logging
from tests.support.bridge import TOKEN, ScimClient, bridge_app


@contextmanager
def written() -> Iterator[io.StringIO]:
    """What the bridge's and its clients' log handlers write, for the duration of the block."""
    stream = io.StringIO()
    handlers = list(dict.fromkeys(next(h for h in logging.getLogger(name).handlers if getattr(h, "_scim_bridge", False))
                                  for name in ("scim_bridge", "atlassian_clients")))
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


@contextmanager
def bridge_like_loggers(path) -> Iterator[tuple[logging.Logger, logging.Logger]]:
    """A parent logger with one bridge handler writing to a file (by descriptor, as under gunicorn)
    and its child access logger, set up as configure_logging sets up the bridge's."""
    parent, child = logging.getLogger("access-test"), logging.getLogger("access-test.access")
    with open(path, "w", encoding="utf-8") as stream:
        handler = LineHandler(stream)
        handler.setFormatter(JsonFormatter())
        parent.addHandler(handler)
        parent.setLevel(logging.INFO)
        parent.propagate = False
        try:
            yield parent, child
        finally:
            parent.removeHandler(handler)
            for each in list(child.handlers):
                child.removeHandler(each)
            for each in list(child.filters):
                child.removeFilter(each)


def without_time(line: str) -> dict:
    entry = json.loads(line)
    entry.pop("time")
    return entry


def test_the_access_line_is_the_same_whether_written_directly_or_through_logging(tmp_path):
    with bridge_like_loggers(tmp_path / "bridge.log") as (parent, access_logger):
        handler, emitted = parent.handlers[0], []
        handler.emit = lambda record: emitted.append(record) or LineHandler.emit(handler, record)
        access = AccessLog(access_logger)
        access.write("r-1", "GET", "/scim/v2/Users", 200, 1.25, "idp")
        assert emitted == []  # nothing else listens: written directly, no record made
        access_logger.addFilter(lambda record: True)  # a filter: only logging's own path applies it
        access.write("r-1", "GET", "/scim/v2/Users", 200, 1.25, "idp")
        assert len(emitted) == 1
    direct, through_logging = (tmp_path / "bridge.log").read_text(encoding="utf-8").splitlines()
    assert without_time(direct) == without_time(through_logging) == {
        "level": "INFO", "logger": "access-test.access", "message": "GET /scim/v2/Users 200",
        "request_id": "r-1", "method": "GET", "path": "/scim/v2/Users", "status": 200, "duration_ms": 1.25,
        "actor": "idp"}
    assert list(json.loads(direct)) == list(json.loads(through_logging))  # the same keys in the same order


def test_a_handler_added_to_the_access_logger_still_gets_every_line(tmp_path):
    class Kept(logging.Handler):
        def __init__(self):
            super().__init__()
            self.records = []

        def emit(self, record):
            self.records.append(record)

    kept = Kept()
    with bridge_like_loggers(tmp_path / "bridge.log") as (_, access_logger):
        access_logger.addHandler(kept)
        AccessLog(access_logger).write("r-2", "POST", "/scim/v2/Users", 201, 3.0, None)
    assert [(r.getMessage(), r.request_id, r.status) for r in kept.records] == [("POST /scim/v2/Users 201", "r-2", 201)]
    assert without_time((tmp_path / "bridge.log").read_text(encoding="utf-8"))["request_id"] == "r-2"


def test_the_time_is_utc_to_the_millisecond_as_logging_has_it():
    formatter = JsonFormatter()
    for _ in range(50):
        record = logging.LogRecord("scim_bridge.x", logging.INFO, __file__, 1, "m", (), None)
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        assert json.loads(formatter.format(record))["time"] == formatter.timestamp(record.created) == expected
    assert formatter.timestamp(1_765_000_001.5) == "2025-12-06T05:46:41.500Z"
    assert formatter.timestamp(1_765_000_001.9999) == "2025-12-06T05:46:41.999Z"  # truncated, not rounded up


def test_a_record_factory_of_the_operators_still_shapes_the_access_line(tmp_path):
    """Tracing instrumentation adds its ids to every record through the record factory."""
    plain = logging.getLogRecordFactory()

    def with_trace_id(*args, **kwargs):
        record = plain(*args, **kwargs)
        record.trace_id = "4bf92f3577b34da6"
        return record

    logging.setLogRecordFactory(with_trace_id)
    try:
        with bridge_like_loggers(tmp_path / "bridge.log") as (_, access_logger):
            AccessLog(access_logger).write("r-3", "GET", "/scim/v2/Groups", 200, 0.5, "idp")
    finally:
        logging.setLogRecordFactory(plain)
    line = json.loads((tmp_path / "bridge.log").read_text(encoding="utf-8"))
    assert (line["request_id"], line["trace_id"]) == ("r-3", "4bf92f3577b34da6")


@contextmanager
def gathering_handler(path, seconds: float) -> Iterator[LineHandler]:
    """A bridge handler writing by descriptor to ``path``, its access lines gathered for ``seconds``."""
    with open(path, "w", encoding="utf-8") as stream:
        handler = LineHandler(stream, gather_seconds=seconds)
        handler.setFormatter(JsonFormatter())
        yield handler


def test_access_lines_are_gathered_and_a_flush_writes_them_in_order(tmp_path):
    path = tmp_path / "bridge.log"
    with gathering_handler(path, seconds=3600) as handler:
        for k in range(3):
            handler.write_soon(f'{{"n": {k}}}')
        assert path.read_text(encoding="utf-8") == ""  # gathered, not yet written
        handler.flush()  # as logging.shutdown does at exit
        assert path.read_text(encoding="utf-8").splitlines() == ['{"n": 0}', '{"n": 1}', '{"n": 2}']


def test_any_other_line_writes_the_gathered_ones_before_itself(tmp_path):
    path = tmp_path / "bridge.log"
    with gathering_handler(path, seconds=3600) as handler:
        handler.write_soon('{"access": 1}')
        handler.emit(logging.LogRecord("scim_bridge.sync", logging.WARNING, __file__, 1, "stopped waiting", (), None))
        lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line).get("access", json.loads(line).get("message")) for line in lines] == [1, "stopped waiting"]


def test_a_pipe_buffer_of_gathered_lines_is_written_at_once_in_whole_lines(tmp_path):
    path = tmp_path / "bridge.log"
    line = '{"path": "/scim/v2/Users", "pad": "' + "x" * 180 + '"}'
    writes = []
    with gathering_handler(path, seconds=3600) as handler:
        written_by = handler._write_fd
        handler._write_fd = lambda fd, data: writes.append(data) or written_by(fd, data)
        count = 0
        while not writes:
            handler.write_soon(line)
            count += 1
            assert count < 100, "gathered lines were never written"
        for _ in range(30):  # and more, written by a flush
            handler.write_soon(line)
        handler.flush()
        text = path.read_text(encoding="utf-8")
    # Written once they reached PIPE_BUF bytes; every write whole lines of at most PIPE_BUF bytes.
    assert len(writes[0]) >= select.PIPE_BUF - len(line) - 1 and len(writes) >= 3
    assert all(len(data) <= select.PIPE_BUF and data.endswith(b"\n") for data in writes)
    assert text.splitlines() == [line] * (count + 30)


def test_a_batch_of_zero_seconds_writes_each_access_line_at_once(tmp_path):
    path = tmp_path / "bridge.log"
    with gathering_handler(path, seconds=0) as handler:
        handler.write_soon('{"n": 1}')
        assert path.read_text(encoding="utf-8") == '{"n": 1}\n'


def test_a_warning_of_the_clients_comes_after_the_access_line_before_it(tmp_path):
    """One handler for the bridge's and its clients' loggers: their lines keep their order."""
    configure_logging("INFO", json_lines=True, access_batch_seconds=3600)
    handler = next(h for h in logging.getLogger("atlassian_clients").handlers if getattr(h, "_scim_bridge", False))
    with open(tmp_path / "bridge.log", "w", encoding="utf-8") as stream:
        previous = handler.setStream(stream)
        try:
            AccessLog(logging.getLogger("scim_bridge.access")).write("r-9", "GET", "/scim/v2/Users", 200, 1.0, "idp")
            logging.getLogger("atlassian_clients.http").warning("jira: GET /rest/api/2/user attempt 1 failed")
        finally:
            handler.setStream(previous)
            configure_logging("INFO", json_lines=True)
    lines = [json.loads(line) for line in (tmp_path / "bridge.log").read_text(encoding="utf-8").splitlines()]
    assert [entry["logger"] for entry in lines] == ["scim_bridge.access", "atlassian_clients.http"]


def test_the_writer_thread_writes_gathered_lines_without_a_flush(tmp_path):
    path = tmp_path / "bridge.log"
    with gathering_handler(path, seconds=0.05) as handler:
        handler.write_soon('{"n": 1}')
        deadline = time.monotonic() + 30  # generous: the writer waits 0.05 s
        while not path.read_text(encoding="utf-8") and time.monotonic() < deadline:
            time.sleep(0.02)
        handler.write_soon('{"n": 2}')  # a second round of the same writer
        while len(path.read_text(encoding="utf-8").splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.read_text(encoding="utf-8").splitlines() == ['{"n": 1}', '{"n": 2}']


def test_a_forked_child_does_not_write_its_parents_gathered_lines_again(tmp_path):
    path = tmp_path / "bridge.log"
    with gathering_handler(path, seconds=3600) as handler:
        handler.write_soon('{"from": "parent"}')
        child = os.fork()
        if child == 0:  # a gunicorn worker forked from the master
            try:
                handler.write_soon('{"from": "child"}')
                handler.flush()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        handler.flush()
        lines = sorted(path.read_text(encoding="utf-8").splitlines())
    assert lines == ['{"from": "child"}', '{"from": "parent"}']
