"""Fault injection for the fakes: latency, a seeded failure rate, 429s, and forced errors.

Every decision is reproducible: the failure rate draws from a ``random.Random`` seeded by the
caller, and the 429s and forced errors are counted down one request at a time.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.utils import format_datetime

RetryAfter = int | float | str | dt.datetime


def retry_after_value(value: RetryAfter) -> str:
    """A Retry-After header value: delay seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    if isinstance(value, dt.datetime):
        return format_datetime(value.astimezone(dt.UTC), usegmt=True)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


@dataclass
class ForcedError:
    """Answer ``status`` to the next ``count`` calls of ``method`` on paths matching ``path``.

    ``path`` is a shell-style pattern over the path inside the product (``/rest/api/2/user*``);
    ``method`` may be ``*``. With ``after_apply`` the product performs the call first and only
    then answers the error: the ambiguous failure a client must not blindly retry. ``delay`` holds
    the answer back that many seconds (after the call is applied, with ``after_apply``), so a
    client whose read timeout is shorter sees a timeout; ``status=None`` with a delay answers
    normally, late.
    """

    method: str
    path: str
    status: int | None
    count: int = 1
    after_apply: bool = False
    delay: float = 0.0
    retry_after: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method.upper() in (method.upper(), "*") and fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class Injection:
    """What the knobs decided for one request."""

    status: int | None
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    after_apply: bool = False
    delay: float = 0.0


class Knobs:
    """The fault knobs of one fake product; safe to turn from any thread while it serves."""

    # The token-bucket figures reported in X-RateLimit-* with each 429 (docs/products.md §1.4).
    RATE_LIMIT_HEADERS = {"X-RateLimit-Limit": "60", "X-RateLimit-Interval-Seconds": "1", "X-RateLimit-FillRate": "5"}

    def __init__(self, *, seed: int = 0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._lock = threading.Lock()
        self._sleep = sleep
        self.latency = 0.0
        self.failure_rate = 0.0
        self.failure_status = 503
        self.seed = seed
        self._random = random.Random(seed)
        self.throttled = 0
        self.retry_after = "1"
        self.forced: list[ForcedError] = []

    def set_latency(self, seconds: float) -> None:
        """Hold every answer back ``seconds``."""
        with self._lock:
            self.latency = max(float(seconds), 0.0)

    def set_failure_rate(self, rate: float, *, seed: int | None = None, status: int = 503) -> None:
        """Answer ``status`` to a random share ``rate`` of requests, drawn from a generator seeded with ``seed``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("failure rate must be between 0 and 1")
        with self._lock:
            self.failure_rate = float(rate)
            self.failure_status = status
            if seed is not None:
                self.seed = seed
            self._random = random.Random(self.seed)

    def throttle(self, times: int = 1, retry_after: RetryAfter = 1) -> None:
        """Answer the next ``times`` requests 429 with ``Retry-After`` (seconds, or a datetime as an HTTP date)."""
        with self._lock:
            self.throttled = max(int(times), 0)
            self.retry_after = retry_after_value(retry_after)

    def force_error(
        self,
        method: str,
        path: str,
        status: int | None,
        *,
        count: int = 1,
        after_apply: bool = False,
        delay: float = 0.0,
        retry_after: RetryAfter | None = None,
    ) -> ForcedError:
        """Queue a :class:`ForcedError`; the first queued one that matches a request fires."""
        forced = ForcedError(
            method,
            path,
            status,
            count,
            after_apply,
            delay,
            None if retry_after is None else retry_after_value(retry_after),
        )
        with self._lock:
            self.forced.append(forced)
        return forced

    def clear(self) -> None:
        """Turn every knob back off."""
        with self._lock:
            self.latency = 0.0
            self.failure_rate = 0.0
            self.failure_status = 503
            self._random = random.Random(self.seed)
            self.throttled = 0
            self.forced.clear()

    def decide(self, method: str, path: str) -> Injection | None:
        """Sleep for the latency knobs, then say whether and how this request meets a fault.

        The delay of an ``after_apply`` injection is left to the caller, which sleeps it with
        :meth:`pause` once the call is applied.
        """
        with self._lock:
            delay = self.latency
            injection = self._take_injection()
            forced = next((f for f in self.forced if f.matches(method, path)), None) if injection is None else None
            if forced is not None:
                forced.count -= 1
                headers = {"Retry-After": forced.retry_after} if forced.retry_after else {}
                injection = Injection(forced.status, "forced", headers, forced.after_apply, forced.delay)
                if not forced.after_apply:
                    delay += forced.delay
        self.pause(delay)
        return injection

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def _take_injection(self) -> Injection | None:
        """A throttled or failure-rate answer, which meets any request."""
        if self.throttled:
            self.throttled -= 1
            headers = {"Retry-After": self.retry_after, "X-RateLimit-Remaining": "0", **self.RATE_LIMIT_HEADERS}
            return Injection(429, "throttled", headers)
        if self.failure_rate and self._random.random() < self.failure_rate:
            return Injection(self.failure_status, "failure rate")
        return None

    def describe(self) -> dict:
        with self._lock:
            return {
                "latency": self.latency,
                "failureRate": self.failure_rate,
                "failureStatus": self.failure_status,
                "seed": self.seed,
                "throttled": self.throttled,
                "retryAfter": self.retry_after,
                "forced": [asdict(f) for f in self.forced if f.count > 0],
            }
