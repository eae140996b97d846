"""The zero-configuration demo: a throw-away store and a bearer token, served on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile

from werkzeug.serving import make_server

from scim_bridge import create_app
from scim_bridge.auth import new_token_value


def demo_config(database_url: str, token: str) -> dict:
    return {
        "database": {"url": database_url},
        "auth": {"tokens": [{"name": "demo", "value": token}]},
        "logging": {"level": "WARNING", "json": True},
    }


def run_demo(host: str, port: int) -> int:
    token = os.environ.get("SCIM_BRIDGE_TOKEN")
    generated = not token
    token = token or new_token_value()
    workdir = tempfile.mkdtemp(prefix="scim-bridge-demo-")
    try:
        app = create_app(demo_config(f"sqlite:///{workdir}/demo.db", token))
        server = make_server(host, port, app, threaded=True)
        print(f"scim-bridge demo: SCIM base URL http://{host}:{server.server_port}/scim/v2", flush=True)
        if generated:
            print(f"scim-bridge demo: bearer token {token}", flush=True)
        else:
            print("scim-bridge demo: bearer token taken from SCIM_BRIDGE_TOKEN", flush=True)
        # SIGTERM (how test harnesses stop the demo) ends it like Ctrl-C, so the store is removed.
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_demo("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
