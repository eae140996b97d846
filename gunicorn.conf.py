# gunicorn settings for `gunicorn app:app`. Values can be overridden on the command line.
import os
import shutil
import tempfile

bind = os.environ.get("SCIM_BRIDGE_BIND", "127.0.0.1:8000")
# Threads rather than many processes: SCIM requests wait on the database and on delivery.
workers = int(os.environ.get("SCIM_BRIDGE_WORKERS", "2"))
threads = int(os.environ.get("SCIM_BRIDGE_THREADS", "8"))
# Entra expects an answer within 60 seconds; delivery.wait_seconds stays well below this.
timeout = 60
accesslog = None  # the bridge writes its own JSON access log with request ids


def on_starting(server):
    """Validate the configuration once, in the master, before any worker starts: a bad setting stops
    gunicorn with one message naming the key (gunicorn prints a RuntimeError's text and exits 1)
    instead of every worker failing to boot with a traceback."""
    _multiprocess_metrics()
    from scim_bridge.config import load_config
    from scim_bridge.errors import ConfigError

    try:
        load_config()
    except ConfigError as exc:
        on_exit(server)  # gunicorn stops here without calling it
        raise RuntimeError(str(exc)) from None


def _multiprocess_metrics() -> None:
    """Give this server a fresh private directory for prometheus-client's multiprocess mode, so that
    /metrics sums every worker's counters (docs/metrics.md). Set before anything imports
    prometheus_client (the app, or anything on_starting imports, may), since it reads the variable then;
    the workers inherit it. Removed again on exit (``on_exit``)."""
    global _metrics_dir
    _metrics_dir = tempfile.mkdtemp(prefix="scim-bridge-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


_metrics_dir = None


def child_exit(server, worker):
    """A worker is gone: its live gauges no longer count (its counters do, and stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir is not None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
