"""Tolerant resource paths: ``/users`` is ``/Users``, and ``/Users/`` is ``/Users``.

Identity providers spell the endpoints their own way (Microsoft's SCIM validator asks for
``/users`` and ``/Users/?filter=...``; SCIM 1.1 clients for ``/ServiceProviderConfigs``), and the
routes are case-sensitive. Rather than register every spelling, the path is put in canonical form
before routing; the endpoint names come from the routes themselves, so a new endpoint needs nothing
here.
"""

from __future__ import annotations

from flask import Flask

# SCIM 1.1 named the document in the plural.
ALIASES = {"serviceproviderconfigs": "ServiceProviderConfig"}


class CanonicalPaths:
    """WSGI middleware in front of the Flask app, rewriting ``PATH_INFO`` under ``prefix``."""

    def __init__(self, app: Flask, prefix: str):
        self.app = app
        self.wsgi_app = app.wsgi_app
        self.prefix = prefix
        self._names: dict[str, str] | None = None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.prefix + "/"):
            environ["PATH_INFO"] = self.prefix + self.canonical(path[len(self.prefix):])
        return self.wsgi_app(environ, start_response)

    def canonical(self, rest: str) -> str:
        """``rest`` starts with "/": its trailing slash dropped, its first segment spelled as routed."""
        if len(rest) > 1 and rest.endswith("/"):
            rest = rest[:-1]
        first, sep, tail = rest[1:].partition("/")
        first = self.names().get(first.lower(), first)
        return f"/{first}{sep}{tail}"

    def names(self) -> dict[str, str]:
        if self._names is None:
            routed = {rule.rule[len(self.prefix) + 1:].split("/")[0]
                      for rule in self.app.url_map.iter_rules() if rule.rule.startswith(self.prefix + "/")}
            self._names = {**ALIASES, **{name.lower(): name for name in routed if "<" not in name}}
        return self._names
