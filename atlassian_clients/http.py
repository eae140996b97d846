"""The one HTTP policy every Atlassian client goes through (docs/architecture.md decision 5).

A :class:`Transport` belongs to one configured target. It owns the pooled ``requests.Session``,
the credentials (basic auth, or a personal access token sent as ``Bearer``), connect and read
timeouts, the client-side rate limit, retries, and the mapping of answers to the error tree of
:mod:`atlassian_clients.base`.

Retries (tenacity): connection failures, timeouts, 429 and 502/503/504 are retried with jittered
exponential backoff ("full jitter"), or after exactly the product's ``Retry-After``, until the
operation's total deadline. Requests are retried only when repeating them is harmless. A request
that is not (creating a user) passes ``verify_after_ambiguous``: after an ambiguous failure -- the
request may have reached the product (read timeout, connection reset after sending, a 5xx from a
proxy) -- the policy asks that callable whether the effect is already there before sending again.
A failure before sending (connection refused, connect timeout) or a 429 is safe to repeat.

``sleep``, ``clock`` (monotonic) and ``wall_clock`` (epoch, for ``Retry-After`` dates) are injected
so that tests never wait. ``observe`` (optional) hears of every HTTP attempt sent: the target, the
operation (``"PUT /rest/api/admin/user/{name}"``: method and :func:`route`), and the seconds it took;
the bridge turns that into a latency histogram (docs/metrics.md) without this package knowing it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast
from urllib.parse import quote, urlencode

import requests
import tenacity
from requests.adapters import HTTPAdapter

from atlassian_clients.base import RateLimited, Unavailable, WrongEndpoint
from atlassian_clients.failures import FailureReader, ProductProfile, Transient, product_message
from atlassian_clients.ratelimit import TokenBucket

log = logging.getLogger(__name__)

# The Atlassian REST framework's XsrfResourceFilter refuses a POST a browser form could send (no
# content type, form, multipart, text/plain) with "403 XSRF check failed" unless this header is
# there (docs/products.md §1.3); Bitbucket's query-parameter-only creates and Jira's bodyless
# application-access call are such POSTs. It is sent with every write: harmless where not needed.
XSRF_HEADERS = {"X-Atlassian-Token": "no-check"}


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic with a user name and password (Bitbucket admin calls need this, BSERV-10482)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TokenAuth:
    """A personal access token sent as ``Authorization: Bearer`` (Jira 8.14+, Confluence 7.9+)."""

    token: str = field(repr=False)


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry and rate-limit settings of one target (``targets.<name>.http`` in
    ``config.yaml``, which builds this class: its defaults are the configuration's defaults).

    ``connect_timeout`` / ``read_timeout``: seconds per attempt. ``deadline``: seconds one
    operation may take with all its retries (and, for a create, the look-up after an ambiguous
    failure); past it the outbox retries the delivery later with its own backoff.
    ``backoff_initial`` / ``backoff_max``: the first window and the cap of the jittered
    exponential backoff between attempts within the deadline. ``rate`` (requests per second) and
    ``burst``: the client-side token bucket; the product's ``X-RateLimit-*`` headers can only
    slow it down. ``pool_size``: pooled connections to the target.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float = 20.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    rate: float = 10.0
    burst: int = 10
    pool_size: int = 10


# Path words that are never a name; a segment after "user(s)"/"group(s)" that is not one of these is a
# name put in the path with segment() (Confluence), and becomes "{name}" in a route.
_PATH_WORDS = frozenset({"user", "users", "group", "groups", "member", "list", "memberof", "search", "picker",
                         "application", "credentials", "rename", "enable", "disable", "admin", "direct",
                         "nested"})
_NAMED_AFTER = frozenset({"user", "users", "group", "groups"})

Observer = Callable[[str, str, float], None]  # (target, operation, seconds)


def route(path: str) -> str:
    """``path`` without its query and with the names in it replaced by ``{name}``: a label whose values
    are bounded by the REST calls the clients make, never by the accounts on a product."""
    parts = path.split("?", 1)[0].split("/")
    for i in range(1, len(parts)):
        if parts[i - 1] in _NAMED_AFTER and parts[i] and parts[i] not in _PATH_WORDS:
            parts[i] = "{name}"
    return "/".join(parts)


def segment(value: str) -> str:
    """A name as one URL path segment (a group called ``a/b`` must not become two segments)."""
    return quote(value, safe="")


class Transport:
    """HTTP to one target. Thread-safe; one instance per target, shared by that target's workers."""

    def __init__(
        self,
        target: str,
        base_url: str,
        auth: BasicAuth | TokenAuth,
        profile: ProductProfile,
        *,
        settings: HttpSettings | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        observe: Observer | None = None,
    ) -> None:
        self.target = target
        self._observe = observe
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.settings = settings or HttpSettings()
        self._auth: requests.auth.AuthBase = (
            requests.auth.HTTPBasicAuth(auth.username, auth.password)
            if isinstance(auth, BasicAuth)
            else _Bearer(auth.token)
        )
        self._session = session or self._pooled_session(self.settings.pool_size, self.base_url)
        self._defaults = dict(self._session.headers)  # fixed: requests would merge them on every call
        self._sleep = sleep
        self._clock = clock
        self._backoff = tenacity.wait_random_exponential(
            multiplier=self.settings.backoff_initial, max=self.settings.backoff_max
        )
        self.bucket = TokenBucket(self.settings.rate, self.settings.burst, clock=clock, sleep=sleep)
        self.failures = FailureReader(
            target, self.base_url, profile, read_timeout=self.settings.read_timeout, wall_clock=wall_clock
        )
        self._local = threading.local()
        # Built once: a Retrying costs more to build than the policy costs to run. The call's own
        # values (its deadline, what to log) travel in the call state; tenacity keeps its per-call
        # state per thread, and a nested call (a verification after an ambiguous failure) starts
        # its own before the outer one reads it again.
        self._retrying = tenacity.Retrying(
            sleep=self._sleep,
            # Only a Transient is retried, so only a Transient reaches the stop and _give_up; any
            # other error leaves at once.
            retry=tenacity.retry_if_exception_type(Transient),
            wait=self._wait,
            stop=self._stop,
            before_sleep=self._log_retry,
            retry_error_callback=self._give_up,
        )

    @staticmethod
    def _pooled_session(pool_size: int, base_url: str) -> requests.Session:
        session = requests.Session()
        # Retries are ours (below); urllib3's own would repeat POSTs behind our back.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # The environment's proxy and CA-bundle settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE),
        # read once for the target's one base URL: requests would read them again on every call,
        # about a third of its own time per call. Changing them takes a restart, as any setting does.
        settings = session.merge_environment_settings(base_url, {}, None, None, None)
        session.proxies, session.verify = settings["proxies"], settings["verify"]
        session.trust_env = False
        return session

    def close(self) -> None:
        self._session.close()

    # ----------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        verify_after_ambiguous: Callable[[], bool] | None = None,
    ) -> requests.Response | None:
        """Send one logical request; return the 2xx response or raise an ``AtlassianError``.

        ``path`` is absolute below ``base_url`` (``/rest/api/2/user``). Returns ``None`` only when
        ``verify_after_ambiguous`` reported, after an ambiguous failure, that the effect is there.
        """
        deadline = self._clock() + self.settings.deadline
        outer = getattr(self._local, "deadline", None)
        if outer is not None:
            deadline = min(deadline, outer)
        send_headers = {"Accept": "application/json"}
        if method != "GET":
            send_headers.update(XSRF_HEADERS)
        send_headers.update(headers or {})
        return self._retrying(self._attempt, _Call(method, path, self.base_url + path, params, json, send_headers,
                                                   deadline, verify_after_ambiguous))

    def read_json(self, response: requests.Response) -> Any:
        """The JSON body of a 2xx answer; anything else means we are not talking to the product."""
        try:
            return response.json()
        except ValueError:  # requests' JSONDecodeError is a ValueError
            raise WrongEndpoint(
                self.target,
                f"{response.request.method} {_path_only(response.url)} answered HTTP {response.status_code} "
                f"with {response.headers.get('Content-Type') or 'no content type'} instead of JSON: check that "
                f"the target's url {self.base_url!r} points at {self.profile.label} (with its context path)",
                status=response.status_code,
            ) from None

    # ----------------------------------------------------------------------------------------------

    def _attempt(self, call: _Call) -> requests.Response | None:
        try:
            return self._send(call.method, call.url, call.path, call.params, call.json, call.headers)
        except Transient as transient:
            if transient.ambiguous and call.verify is not None:
                if self._within(call.deadline, call.verify):
                    log.info("%s: %s %s took effect despite the failure", self.target, call.method, call.path)
                    return None
                log.info("%s: %s %s did not take effect; sending it again", self.target, call.method, call.path)
            raise

    def _within(self, deadline: float, call: Callable[[], bool]) -> bool:
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            return call()
        finally:
            self._local.deadline = previous

    def _send(self, method, url, path, params, json, headers) -> requests.Response:
        self.bucket.acquire()
        started = self._clock()
        try:
            response = self._session.send(
                self._prepare(method, url, params, json, headers),
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                allow_redirects=False,
                stream=False,
                verify=self._session.verify,
                proxies=self._session.proxies,
                cert=self._session.cert,
            )
        except requests.RequestException as exc:
            raise self.failures.for_exception(exc, method, path) from exc
        finally:
            if self._observe is not None:
                self._observe(self.target, f"{method} {route(path)}", self._clock() - started)
        self.bucket.observe(response.headers)
        if response.status_code < 300:
            return response
        raise self.failures.for_response(response, method, path)

    def _prepare(self, method, url, params, json, headers) -> requests.PreparedRequest:
        """The request ``Session.request`` would send, without its merging of the session's settings
        into each call (a third of requests' own time per call, most of it ``isinstance`` checks
        against a runtime protocol): they are fixed for the target's one base URL."""
        if params:
            # As requests encodes them: a None value is left out, a list repeats the parameter.
            query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
            url = f"{url}?{query}" if query else url
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, headers={**self._defaults, **headers}, json=json, auth=self._auth,
                         cookies=self._session.cookies)
        return prepared

    # ----------------------------------------------------------------------------------------------
    # tenacity parts

    def _wait(self, state: tenacity.RetryCallState) -> float:
        transient = _transient(state)
        return transient.retry_after if transient.retry_after is not None else self._backoff(state)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        return self._clock() + state.upcoming_sleep > _call(state).deadline

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        call = _call(state)
        log.warning(
            "%s: %s %s attempt %d failed (%s); retrying in %.1f s",
            self.target,
            call.method,
            call.path,
            state.attempt_number,
            _transient(state),
            state.upcoming_sleep,
        )

    def _give_up(self, state: tenacity.RetryCallState) -> None:
        exc = _transient(state)
        last = exc.error
        text = (
            f"gave up after {state.attempt_number} attempt(s) within the {self.settings.deadline:g} s deadline; "
            f"last: {last.message}"
        )
        if exc.retry_after is not None and state.upcoming_sleep > 0:
            text += f" (the product asked to wait {exc.retry_after:g} s more)"
        kind = RateLimited if isinstance(last, RateLimited) else Unavailable
        kwargs = {"retry_after": exc.retry_after} if kind is RateLimited else {}
        raise kind(last.target, text, status=last.status, product_message=last.product_message, **kwargs) from exc


class _Call(NamedTuple):
    """One logical request, as the retry policy sees it."""

    method: str
    path: str
    url: str
    params: Mapping[str, Any] | None
    json: Any
    headers: dict[str, str]
    deadline: float
    verify: Callable[[], bool] | None


def _call(state: tenacity.RetryCallState) -> _Call:
    return cast(_Call, state.args[0])


def _transient(state: tenacity.RetryCallState) -> Transient:
    """The failure tenacity is deciding about: always a Transient, the only kind it retries."""
    return cast(Transient, state.outcome.exception())  # type: ignore[union-attr]


def _path_only(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


__all__ = [
    "BasicAuth",
    "HttpSettings",
    "ProductProfile",
    "Observer",
    "TokenAuth",
    "Transport",
    "product_message",
    "route",
    "segment",
]
