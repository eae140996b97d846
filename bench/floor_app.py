"""The do-nothing WSGI app of benchmark 10 (``bench/floor.py``): every request answered with the same
small SCIM list response, so that what the gunicorn worker spends on it is gunicorn's own work.

    gunicorn -w 1 --threads 4 bench.floor_app:app
"""

from __future__ import annotations

_BODY = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}'
_HEADERS = [("Content-Type", "application/scim+json"), ("Content-Length", str(len(_BODY)))]


def app(environ, start_response):
    start_response("200 OK", list(_HEADERS))
    return [_BODY]
