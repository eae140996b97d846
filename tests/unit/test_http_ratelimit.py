"""Client-side rate limit (token bucket) and the reading of the products' rate-limit headers."""

from __future__ import annotations

import pytest

from atlassian_clients.ratelimit import TokenBucket, retry_after_seconds
from tests.client_harness import FakeClock

WALL = 1_792_567_680.0  # Wed, 21 Oct 2026 07:28:00 GMT


def bucket(clock: FakeClock, rate: float = 2.0, burst: int = 2) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


def test_a_burst_goes_through_then_requests_are_paced_at_the_rate():
    clock = FakeClock()
    limiter = bucket(clock)

    waits = [limiter.acquire() for _ in range(4)]

    assert waits == [0.0, 0.0, 0.5, 0.5]
    assert clock.sleeps == [0.5, 0.5]


def test_idle_time_refills_up_to_the_burst_only():
    clock = FakeClock()
    limiter = bucket(clock)
    limiter.acquire(), limiter.acquire()

    clock.now += 60
    waits = [limiter.acquire() for _ in range(3)]

    assert waits == [0.0, 0.0, 0.5]


def test_the_products_headers_slow_the_bucket_down_but_never_speed_it_up():
    clock = FakeClock()
    limiter = bucket(clock, rate=10.0, burst=1)

    limiter.observe({"X-RateLimit-FillRate": "1", "X-RateLimit-Interval-Seconds": "4"})
    assert limiter.rate == 0.25
    limiter.observe({"X-RateLimit-FillRate": "100", "X-RateLimit-Interval-Seconds": "1"})
    assert limiter.rate == 10.0


def test_remaining_zero_empties_the_bucket():
    clock = FakeClock()
    limiter = bucket(clock, rate=1.0, burst=5)

    limiter.observe({"X-RateLimit-Remaining": "0"})

    assert limiter.acquire() == 1.0


def test_a_frozen_clock_cannot_starve_a_caller():
    clock = FakeClock()
    limiter = TokenBucket(1.0, 1, clock=clock, sleep=lambda seconds: None)
    limiter.acquire()

    assert limiter.acquire() == 1.0  # slept (in vain) once, then proceeds


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:45 GMT"}, 45.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:45 GMT", "Date": "Wed, 21 Oct 2026 07:28:40 GMT"}, 5.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:27:00 GMT"}, 0.0),
        ({"X-RateLimit-FillRate": "5", "X-RateLimit-Interval-Seconds": "60"}, 12.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    from requests.structures import CaseInsensitiveDict

    assert retry_after_seconds(CaseInsensitiveDict(headers), wall_clock=lambda: WALL) == expected


def test_a_bucket_needs_a_positive_rate_and_burst():
    with pytest.raises(ValueError):
        TokenBucket(0, 1, clock=FakeClock(), sleep=FakeClock().sleep)
