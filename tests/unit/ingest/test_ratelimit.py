"""Token buckets per key: the burst, the refill rate, Retry-After, fairness, and the size bound."""

from __future__ import annotations

import pytest

from ingest.intake.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(10, burst=5, clock=clock)
    assert [limiter.wait("a") for _ in range(5)] == [0.0] * 5
    assert limiter.wait("a") == pytest.approx(0.1)  # one token takes 1/10 s
    clock.now += 0.05
    assert limiter.wait("a") == pytest.approx(0.05)
    clock.now += 0.05
    assert limiter.wait("a") == 0.0
    clock.now += 10  # refills to the burst, never beyond
    assert [limiter.wait("a") for _ in range(6)].count(0.0) == 5


def test_one_noisy_key_does_not_starve_another() -> None:
    clock = Clock()
    limiter = RateLimiter(2, burst=2, clock=clock)
    refused = sum(limiter.wait("noisy") > 0 for _ in range(1000))
    assert refused == 998
    assert limiter.wait("quiet") == 0.0
    assert limiter.wait("quiet") == 0.0


def test_rate_zero_turns_it_off() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.wait("a") == 0.0 for _ in range(10_000))
    assert len(limiter) == 0


def test_default_burst_is_two_seconds_of_rate() -> None:
    assert RateLimiter(100).burst == 200
    assert RateLimiter(0.1).burst == 1.0


def test_size_bound_forgets_refilled_buckets_first() -> None:
    clock = Clock()
    limiter = RateLimiter(1, burst=1, max_keys=3, clock=clock)
    for key in ("a", "b", "c"):
        limiter.wait(key)
    clock.now += 5  # all three refilled
    limiter.wait("d")
    assert len(limiter) == 1
    for key in ("e", "f"):
        limiter.wait(key)
    limiter.wait("g")  # d, e, f all busy: everything is dropped rather than grow
    assert len(limiter) == 1
