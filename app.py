"""Entry point. ``gunicorn app:app`` in production; ``python app.py`` serves for development.

``python app.py --demo --port PORT`` needs no configuration: a throw-away SQLite database and the
bearer token from ``SCIM_BRIDGE_TOKEN`` (generated and printed when unset). Tools outside the test
suite rely on this command line: keep it stable.
"""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the scim-bridge development server.")
    parser.add_argument("--demo", action="store_true", help="throw-away database, token from SCIM_BRIDGE_TOKEN")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.demo:
        from scim_bridge.demo import run_demo

        return run_demo(args.host, args.port)
    from scim_bridge import create_app

    # SIGTERM (service managers, test harnesses) ends the development server like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    create_app().run(host=args.host, port=args.port, threaded=True)
    return 0


def __getattr__(name: str):
    # ``gunicorn app:app`` builds the app on first access, not when this module is merely imported.
    if name == "app":
        from scim_bridge import create_app

        value = create_app()
        globals()["app"] = value
        return value
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
