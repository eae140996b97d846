"""The zero-configuration demo: a throw-away store, a bearer token, and fakes of Jira, Confluence,
Bitbucket and Crowd started in-process as the targets, all on loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile

from werkzeug.serving import make_server

from atlassian_clients.fakes import PRODUCTS, start_fakes
from scim_bridge import create_app
from scim_bridge.auth import new_token_value

# The licence-granting groups the fakes start with, as an administrator would list them; in Crowd,
# which licenses no one, the group a connected Jira maps (docs/products.md §5.11).
LICENCE_GROUPS = {"jira": ["jira-software-users"], "confluence": ["confluence-users"], "bitbucket": ["stash-users"],
                  "crowd": ["jira-software-users"]}


def demo_config(database_url: str, token: str, fakes_url: str | None = None) -> dict:
    config = {
        "database": {"url": database_url},
        "auth": {"tokens": [{"name": "demo", "value": token}]},
        "logging": {"level": "WARNING", "json": True},
    }
    if fakes_url:
        config["rules"] = {"username": {"regex": "(.*)@.*", "replacement": "$1"}}
        config["targets"] = {
            product: {
                "type": product,
                "url": f"{fakes_url}/{product}",
                "username": "admin",
                "password": "admin",
                "rules": {"default_groups": LICENCE_GROUPS[product]},
                "http": {"rate": 200, "burst": 50},
            }
            for product in PRODUCTS
        }
    return config


def run_demo(host: str, port: int) -> int:
    token = os.environ.get("SCIM_BRIDGE_TOKEN")
    generated = not token
    token = token or new_token_value()
    workdir = tempfile.mkdtemp(prefix="scim-bridge-demo-")
    fakes = start_fakes(host="127.0.0.1", port=0)
    try:
        app = create_app(demo_config(f"sqlite:///{workdir}/demo.db", token, fakes.url))
        server = make_server(host, port, app, threaded=True)
        print(f"scim-bridge demo: SCIM base URL http://{host}:{server.server_port}/scim/v2", flush=True)
        if generated:
            print(f"scim-bridge demo: bearer token {token}", flush=True)
        else:
            print("scim-bridge demo: bearer token taken from SCIM_BRIDGE_TOKEN", flush=True)
        print(f"scim-bridge demo: fake Jira, Confluence, Bitbucket and Crowd at {fakes.url} (admin/admin); "
              f"their state at {fakes.url}/_fake/state", flush=True)
        # SIGTERM (how test harnesses stop the demo) ends it like Ctrl-C, so the store is removed.
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        return 0
    finally:
        fakes.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_demo("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
