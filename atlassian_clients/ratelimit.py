"""Client-side pacing for one target, and reading the products' rate-limit answers.

Jira, Confluence and Bitbucket Data Center rate-limit REST callers with a token bucket and answer
429 when it is empty. Their headers (Jira "Adjusting your code for rate limiting", Confluence
"_RateLimiting_HttpHeaders"): ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``,
``X-RateLimit-Interval-Seconds``, ``X-RateLimit-FillRate`` and ``Retry-After``. The bridge keeps its
own bucket per target so that it stays under the product's limiter instead of bouncing off it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime


class TokenBucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` tokens per second.

    ``clock`` (monotonic seconds) and ``sleep`` are injected so tests never wait. Thread-safe: the
    delivery pool of one target shares one bucket.
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.configured_rate = rate
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is there; returns the seconds slept."""
        with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < 1:
                waited = (1 - self._tokens) / self.rate
                self._sleep(waited)
                self._refill()
                # A clock that did not move with the sleep (a frozen test clock) must not starve us.
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1
            return waited

    def observe(self, headers: Mapping[str, str]) -> None:
        """Follow the product's own bucket: slow down to its fill rate, stop when it says 0 remain."""
        server_rate = _server_rate(headers)
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        with self._lock:
            if server_rate:
                self.rate = min(self.configured_rate, server_rate)
            if remaining is not None and remaining < 1:
                self._refill()
                self._tokens = min(self._tokens, 0.0)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now


def retry_after_seconds(headers: Mapping[str, str], *, wall_clock: Callable[[], float]) -> float | None:
    """How long the product asks us to wait, or ``None`` when it does not say.

    ``Retry-After`` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date is measured
    against the response's own ``Date`` header when present, so a skewed local clock does not turn
    "in 30 seconds" into "in an hour"; otherwise against ``wall_clock`` (epoch seconds). Without
    ``Retry-After``, the time the product's bucket needs for one token
    (``X-RateLimit-Interval-Seconds / X-RateLimit-FillRate``) is the hint.
    """
    value = (headers.get("Retry-After") or "").strip()
    if value:
        seconds = _number(value)
        if seconds is not None:
            return max(0.0, seconds)
        target = _epoch(value)
        if target is not None:
            now = _epoch(headers.get("Date") or "")
            return max(0.0, target - (wall_clock() if now is None else now))
    server_rate = _server_rate(headers)
    return 1 / server_rate if server_rate else None


def _server_rate(headers: Mapping[str, str]) -> float | None:
    """Tokens per second the product's bucket refills at, from its ``X-RateLimit-*`` headers."""
    fill = _number(headers.get("X-RateLimit-FillRate"))
    interval = _number(headers.get("X-RateLimit-Interval-Seconds"))
    return fill / interval if fill and interval else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _epoch(http_date: str) -> float | None:
    try:
        return parsedate_to_datetime(http_date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
