"""The Flask skeleton each fake product's REST API is built on.

A request passes the layers a real Atlassian server puts in front of its REST resources, in their
order: the fault knobs (standing in for the network and the rate limiter), authentication (Seraph
in Jira and Confluence), the REST framework's XSRF filter, the access the route was registered with
(administrator for admin resources), then the resource itself under the product's lock.
Afterwards the mutating call is counted and the exchange recorded for contract checks.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from atlassian_clients.fakes.product import MUTATING_METHODS, Caller, FakeProduct

JSON_TYPE = "application/json;charset=UTF-8"


class Access(Enum):
    ANONYMOUS = "anonymous"
    USER = "user"
    ADMIN = "admin"


class ProductError(Exception):
    """Raised by a resource: answered in the product's own error shape."""

    def __init__(
        self, status: int, message: str = "", *, fields: dict[str, str] | None = None, exception: str | None = None
    ) -> None:
        super().__init__(message or "; ".join(fields.values() if fields else ()))
        self.status = status
        self.message = message
        self.fields = fields
        self.exception = exception


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as the client saw them."""

    product: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    injected: str | None
    # The product's own time on it, latency knobs included: what a benchmark subtracts from a
    # client's wall time to find the client's own cost.
    seconds: float = 0.0


class ExchangeLog:
    """Every exchange the fakes answer, kept when recording is on (contract checks in tests)."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._entries: list[Exchange] = []

    def record(self, exchange: Exchange) -> None:
        if self.enabled:
            with self._lock:
                self._entries.append(exchange)

    def entries(self) -> list[Exchange]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, content_type=JSON_TYPE, headers=headers)


def empty_response(status: int) -> Response:
    return Response(status=status)


def json_body() -> dict:
    """The request's JSON object; 415 without a JSON content type, 400 when unreadable."""
    if request.mimetype != "application/json":
        raise ProductError(415, "Unsupported Media Type: send Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ProductError(400, "The request body is not a JSON object")
    return body


def int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ProductError(400, f"Invalid value for query parameter {name}: {value!r}") from None


def bool_arg(name: str, default: bool) -> bool:
    value = request.args.get(name)
    return default if value in (None, "") else value.lower() == "true"


def expand_arg() -> frozenset[str]:
    """The names in the request's ``expand=a,b`` parameter."""
    return frozenset(part.strip() for part in request.args.get("expand", "").split(",") if part.strip())


def base_url() -> str:
    """The product's base URL as the client reached it, context path included."""
    return request.url_root.rstrip("/")


def seraph_failure_response() -> Response:
    """Jira's and Confluence's answer to wrong Basic credentials.

    Seraph refuses them before any REST resource, with Tomcat's HTML error page and the
    X-Seraph-LoginReason header (docs/products.md §1.2).
    """
    body = (
        "<html><head><title>HTTP Status 401 – Unauthorized</title></head><body>"
        "<p><b>Message</b> Basic Authentication Failure - Reason : AUTHENTICATED_FAILED</p></body></html>"
    )
    return Response(
        body, 401, content_type="text/html;charset=utf-8", headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}
    )


def caller() -> Caller:
    """The authenticated caller of the current request (resources that need one only)."""
    return g.caller


def _xsrf_exposed() -> bool:
    # XsrfResourceFilter: a POST whose content type a browser form could send (none, form,
    # multipart, text/plain) needs "X-Atlassian-Token: no-check" (docs/products.md §1.3).
    if request.method != "POST":
        return False
    if request.headers.get("X-Atlassian-Token", "").lower() in ("no-check", "nocheck"):
        return False
    return request.mimetype in ("", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


class ProductApi:
    """A product's Flask app; resources are added with :meth:`route`."""

    def __init__(self, product: FakeProduct, recorder: ExchangeLog | None = None) -> None:
        self.product = product
        self.recorder = recorder or ExchangeLog()
        self.app = Flask(f"fake_{product.name}")
        self._access: dict[str, Access] = {}
        self.app.before_request(self._before)
        self.app.after_request(self._after)
        self.app.register_error_handler(ProductError, self._product_error)
        self.app.register_error_handler(HTTPException, self._http_error)

    def route(self, rule: str, method: str, access: Access = Access.ADMIN) -> Callable:
        """Serve ``rule`` (relative to each REST root of the product) with the view it decorates."""

        def register(view: Callable[..., Response]) -> Callable[..., Response]:
            def locked(**kwargs: Any) -> Response:
                with self.product.lock:
                    response = view(**kwargs)
                g.handled = True
                return response

            for root in self.product.rest_roots:
                endpoint = f"{method} {root}{rule}"
                self.app.add_url_rule(root + rule, endpoint, locked, methods=[method])
                self._access[endpoint] = access
            return view

        return register

    # -- layers ----------------------------------------------------------------------------------

    def _before(self) -> Response | None:
        g.started = time.perf_counter()
        g.handled = False
        g.injected = None
        g.after_apply = None
        g.caller = None
        injection = self.product.knobs.decide(request.method, request.path)
        if injection is not None and injection.after_apply:
            g.after_apply = injection
        elif injection is not None and injection.status is not None:
            g.injected = injection.reason
            return self._injected_response(injection)
        if request.endpoint is None:
            return None  # routing failed: the 404 / 405 handler answers
        access = self._access[request.endpoint]
        with self.product.lock:  # the directory is read while resources may change it
            authenticated = self._authenticate()
        if isinstance(authenticated, Response):
            if access is Access.ANONYMOUS and "Authorization" not in request.headers:
                return None
            return authenticated
        g.caller = authenticated
        if _xsrf_exposed():
            return Response("XSRF check failed", status=403, content_type="text/plain;charset=UTF-8")
        if access is Access.ADMIN and not self._may_administer(authenticated):
            return self.product.forbidden_response(authenticated)
        return None

    def _may_administer(self, who: Caller) -> bool:
        return who.admin and (self.product.tokens_may_administer or not who.token)

    def _authenticate(self) -> Caller | Response:
        header = request.headers.get("Authorization", "")
        if not header:
            return self.product.anonymous_response()
        scheme, _, value = header.partition(" ")
        name, via_token = None, False
        if scheme.lower() == "bearer":
            name, via_token = self.product.tokens.get(value.strip()), True
        elif scheme.lower() == "basic":
            name, via_token = self._basic_user(value.strip())
        account = self.product.directory.user(name) if name else None
        if account is None or not account.active:
            return self.product.bad_credentials_response()
        return Caller(account.name, self.product.is_admin(account.name), via_token)

    def _basic_user(self, encoded: str) -> tuple[str | None, bool]:
        try:
            name, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        account = self.product.directory.user(name)
        if account is None:
            return None, False
        if account.password is not None and hmac.compare_digest(account.password, password):
            return account.name, False
        token_owner = self.product.tokens.get(password)
        if self.product.token_as_password and token_owner and token_owner.casefold() == name.casefold():
            return account.name, True
        return None, False

    def _injected_response(self, injection: Any) -> Response:
        response = self.product.error_response(injection.status, _injected_message(injection.status))
        response.headers.update(injection.headers)
        return response

    def _after(self, response: Response) -> Response:
        injection = g.get("after_apply")
        if g.get("handled") and injection is not None:
            self.product.knobs.pause(injection.delay)
            if injection.status is not None:
                applied = response.status_code < 300
                response = self._injected_response(injection)
                g.injected = "forced after apply"
                self._count(applied)
                return self._record(response)
        self._count(g.get("handled", False) and response.status_code < 300)
        return self._record(response)

    def _count(self, applied: bool) -> None:
        if request.method in MUTATING_METHODS:
            self.product.calls.note(request.method, self.product.canonical_path(request.path), applied=applied)

    def _record(self, response: Response) -> Response:
        if self.recorder.enabled:
            self.recorder.record(
                Exchange(
                    self.product.name,
                    request.method,
                    request.url,
                    dict(request.headers),
                    request.get_data(),
                    response.status_code,
                    dict(response.headers),
                    response.get_data(),
                    g.get("injected"),
                    time.perf_counter() - g.get("started", time.perf_counter()),
                )
            )
        return response

    def _product_error(self, error: ProductError) -> Response:
        return self.product.error_response(error.status, error.message, fields=error.fields, exception=error.exception)

    def _http_error(self, error: HTTPException) -> Response:
        status = error.code or 500
        if status == 404:
            # The REST framework's answer to a path no resource serves.
            return self.product.error_response(404, f"null for uri: {request.url}")
        return self.product.error_response(status, error.description or error.name)


def _injected_message(status: int) -> str:
    if status == 429:
        return "Rate limit exceeded. Retry after the number of seconds in the Retry-After header."
    return f"The server answered {status} (fault injected by the fake)"
