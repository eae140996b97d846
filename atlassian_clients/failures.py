"""How a failed exchange with an Atlassian product becomes an error of the tree in ``base``.

Messages name the target, what failed and what to fix; they carry the product's own words
(``product_message``) but never a query string (Bitbucket's create carries a password there),
a credential or a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from atlassian_clients.base import (
    AuthFailed,
    Conflict,
    LicenceLimit,
    NotFound,
    PermissionDenied,
    RateLimited,
    Rejected,
    Unavailable,
    WrongEndpoint,
)
from atlassian_clients.ratelimit import retry_after_seconds

RETRIED_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class ProductProfile:
    """What the policy needs to know about a product: its name in messages and how to fix a 403."""

    label: str
    permission_hint: str


def product_message(body: Any) -> str | None:
    """The product's own words from its error body, whichever product sent it.

    Jira ``{"errorMessages":[..],"errors":{field: msg}}``; Confluence ``{"statusCode","message",..}``;
    Bitbucket ``{"errors":[{"message"}]}``; Crowd ``{"reason","message"}`` (docs/products.md §1.8).
    """
    if not isinstance(body, dict):
        return None
    parts: list[str] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    if isinstance(body.get("errorMessages"), list):
        parts += [str(m) for m in body["errorMessages"] if m]
    if isinstance(errors, dict):
        parts += [f"{key}: {value}" for key, value in errors.items()]
    if not parts and body.get("message"):
        parts.append(str(body["message"]))
    return "; ".join(parts) or None


def _is_product_error_body(body: Any) -> bool:
    return isinstance(body, dict) and bool({"errorMessages", "errors", "statusCode", "message", "reason"} & body.keys())


class Transient(Exception):
    """An attempt failed in a way worth repeating; ``ambiguous`` if the product may have acted."""

    def __init__(self, error: Unavailable, *, ambiguous: bool, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous
        self.retry_after = retry_after


class FailureReader:
    """Reads failures of one target's exchanges."""

    def __init__(
        self,
        target: str,
        base_url: str,
        profile: ProductProfile,
        *,
        read_timeout: float,
        wall_clock: Callable[[], float],
    ) -> None:
        self.target = target
        self.base_url = base_url
        self.profile = profile
        self.read_timeout = read_timeout
        self._wall_clock = wall_clock

    def for_exception(self, exc: requests.RequestException, method: str, path: str) -> Exception:
        """The error for a request that got no answer; ``Transient`` when trying again may help."""
        where = f"{method} {self.base_url}{path}"
        if isinstance(exc, requests.exceptions.SSLError):
            return WrongEndpoint(
                self.target,
                f"TLS failed for {where} ({type(exc).__name__}): check the target's url (scheme, host name) "
                "and the CA bundle",
            )
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return WrongEndpoint(self.target, f"the target's url {self.base_url!r} is not a valid http(s) URL")
        # Messages name the exception class only: requests' own text carries the query string.
        if isinstance(exc, requests.exceptions.ConnectTimeout) or _never_sent(exc):
            reason = "connect timed out" if isinstance(exc, requests.exceptions.Timeout) else "could not connect"
            error = Unavailable(
                self.target, f"{reason} for {where}: check the target's url and that {self.profile.label} is up"
            )
            return Transient(error, ambiguous=False)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            reason = f"no answer within {self.read_timeout:g} s"
        else:
            reason = f"connection failed after sending ({type(exc).__name__})"
        return Transient(Unavailable(self.target, f"{reason} for {where}"), ambiguous=True)

    def for_response(self, response: requests.Response, method: str, path: str) -> Exception:
        """The error for a non-2xx answer; ``Transient`` when trying again may help."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        said = product_message(body)
        where = f"{method} {path}"
        label = self.profile.label
        if status in RETRIED_STATUSES:
            retry_after = retry_after_seconds(response.headers, wall_clock=self._wall_clock)
            if status == 429:
                error: Unavailable = RateLimited(
                    self.target,
                    f"{label} rate-limited {where} (HTTP 429)",
                    status=status,
                    product_message=said,
                    retry_after=retry_after,
                )
            else:
                error = Unavailable(
                    self.target, f"{label} answered HTTP {status} to {where}", status=status, product_message=said
                )
            # 429 is refused before the product acts; a 5xx from a proxy may come after it did.
            return Transient(error, ambiguous=status != 429, retry_after=retry_after)
        if status == 403 and said and "basic auth" in said.lower():
            # Jira 8.16+ / 11 can block basic auth: "Basic Authentication has been disabled on this instance."
            return AuthFailed(
                self.target,
                f"{label} has basic authentication disabled (HTTP 403): configure a personal "
                "access token for this target, or allow-list the bridge's account",
                status=status,
                product_message=said,
            )
        if status == 403 and response.text.strip() == "XSRF check failed":
            # The REST framework's XSRF filter (docs/products.md §1.3): something between us strips X-Atlassian-Token.
            return Rejected(
                self.target,
                f"{label} refused {where} as cross-site (HTTP 403 XSRF check failed): a proxy in front of "
                f"{label} drops the X-Atlassian-Token header; let it through",
                status=status,
            )
        if status == 403 or (status == 401 and _not_permitted(body)):
            return PermissionDenied(
                self.target,
                f"{label} denied {where} (HTTP {status}): {self.profile.permission_hint}",
                status=status,
                product_message=said,
            )
        if status == 401:
            return AuthFailed(
                self.target,
                f"{label} refused the credentials (HTTP 401) for {where}: check the user name "
                f"and password, or the personal access token, configured for this target",
                status=status,
                product_message=said,
            )
        if status == 402:
            return LicenceLimit(
                self.target, f"{label} has no licence left (HTTP 402) for {where}", status=status, product_message=said
            )
        if status == 404 and not _is_product_error_body(body):
            return WrongEndpoint(
                self.target,
                f"{self.base_url}{path} is not a {label} REST resource (HTTP 404 without a "
                f"{label} error body): check the target's url, including the context path such as /jira",
                status=status,
            )
        if status == 404:
            return NotFound(self.target, f"{label}: not found ({where})", status=status, product_message=said)
        if status == 409:
            return Conflict(self.target, f"{label} refused {where} (HTTP 409)", status=status, product_message=said)
        if status >= 500:
            return Unavailable(
                self.target, f"{label} failed {where} (HTTP {status})", status=status, product_message=said
            )
        if 300 <= status < 400:
            return WrongEndpoint(
                self.target,
                f"{label} redirected {where} (HTTP {status}) to {response.headers.get('Location')}: "
                "set the target's url to the address it redirects to",
                status=status,
            )
        return Rejected(self.target, f"{label} refused {where} (HTTP {status})", status=status, product_message=said)


def _not_permitted(body: Any) -> bool:
    """Bitbucket answers 401, not 403, when the caller lacks a permission (its spec's 401 texts:
    "the currently authenticated user has insufficient permissions"); its exception says which."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and str(e.get("exceptionName", "")).endswith("AuthorisationException") for e in errors
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when requests failed before any byte reached the product (refused, DNS failure)."""
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    inner = exc.args[0] if exc.args else None
    return isinstance(inner, MaxRetryError) and isinstance(inner.reason, NewConnectionError)
