"""python -m atlassian_clients.fakes --port 8990 [--host 127.0.0.1]

Serves fake Jira, Confluence, Bitbucket and Crowd under /jira, /confluence, /bitbucket and /crowd,
with the state dump and knobs under /_fake (see ``control.py``). Stop with Ctrl-C. Crowd's callers
are applications: the administrator name and password are also those of its application.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from atlassian_clients.fakes.server import PRODUCTS, start_fakes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m atlassian_clients.fakes",
        description="Serve fake Jira, Confluence, Bitbucket and Crowd under /jira, /confluence, /bitbucket and "
        "/crowd (state dump and knobs under /_fake).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8990, help="port to listen on; 0 picks a free one (default 8990)")
    parser.add_argument("--admin-user", default="admin",
                        help="administrator account of each product, and Crowd's application (default admin)")
    parser.add_argument(
        "--admin-password-env",
        default="FAKES_ADMIN_PASSWORD",
        help="environment variable holding the administrator password (default FAKES_ADMIN_PASSWORD; unset: admin)",
    )
    parser.add_argument(
        "--token-env",
        default="FAKES_ADMIN_TOKEN",
        help="environment variable holding a personal access token of the administrator, valid in Jira, "
        "Confluence and Bitbucket",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the failure-rate knob (default 0)")
    for product in PRODUCTS:
        parser.add_argument(f"--{product}-version", help=f"version the fake {product} reports and behaves as")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    token = os.environ.get(args.token_env)
    versions = {p: v for p in PRODUCTS if (v := getattr(args, f"{p}_version"))}
    fakes = start_fakes(
        args.host,
        args.port,
        admin_user=args.admin_user,
        admin_password=os.environ.get(args.admin_password_env, "admin"),
        tokens={p: token for p in PRODUCTS if p != "crowd"} if token else None,
        versions=versions,
        seed=args.seed,
        log_requests=True,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    for product in PRODUCTS:
        print(f"fake {product:<10} {fakes.base_url(product)}  (version {fakes.products.by_name()[product].version})")
    print(f"state dump      {fakes.url}/_fake/state")
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fakes.stop()


if __name__ == "__main__":
    main()
