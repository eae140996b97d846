# gunicorn settings for `gunicorn app:app`. Values can be overridden on the command line.
import os

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
    from scim_bridge.config import load_config
    from scim_bridge.errors import ConfigError

    try:
        load_config()
    except ConfigError as exc:
        raise RuntimeError(str(exc)) from None
