"""The admin console in tests: an app with the console served over plain HTTP on loopback, an
administrator account, and a browser-less client that signs in and posts forms with their CSRF token."""

from __future__ import annotations

import re

from scim_bridge.console.accounts import Accounts
from tests.support.bridge import bridge_app
from tests.support.credentials import CONSOLE_PASSWORD

ADMIN = "ada"
# Plain HTTP on loopback, as in development: the cookie cannot be Secure there.
CONSOLE = {"secure_cookies": False}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_app(engine, *, admin: bool = True, **config):
    app = bridge_app(engine, console={**CONSOLE, **config.pop("console", {})}, **config)
    if admin:
        Accounts(engine).create(ADMIN, CONSOLE_PASSWORD)
    return app


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page holds no form with a CSRF token"
    return found.group(1)


class ConsoleClient:
    """Flask's test client as a browser would use the console: cookies kept, tokens sent with forms."""

    def __init__(self, app, address: str = "127.0.0.1"):
        self.http = app.test_client()
        self.http.environ_base["REMOTE_ADDR"] = address

    def get(self, path: str, **kw):
        return self.http.get(path, **kw)

    def token(self) -> str:
        return csrf_token(self.http.get("/admin/login").text)

    def login(self, name: str = ADMIN, password: str = CONSOLE_PASSWORD):
        return self.http.post("/admin/login", data={"name": name, "password": password, "csrf_token": self.token()})

    def post(self, path: str, data: dict | None = None, *, page: str = "/admin/configuration", **kw):
        """Post ``data`` with the CSRF token of ``page`` (a signed-in page holds one in its forms)."""
        token = csrf_token(self.http.get(page).text)
        return self.http.post(path, data={**(data or {}), "csrf_token": token}, **kw)
