"""Token buckets, one per key (a webhook at the intake, an API key on reads): pure, no I/O.

Each key earns `rate` tokens a second up to `burst`; a request takes one or waits.
One key's bucket running dry refuses only that key, so a noisy sender cannot starve
the others. Buckets live in one process: N intakes behind a load balancer allow N
times the rate, which is why the defaults are generous and the limit is a guard
against runaway senders, not a quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """Per-key token buckets; `rate <= 0` turns limiting off."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else 2 * rate)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, as of)

    def wait(self, key: str) -> float:
        """0.0 when a request for `key` may pass (its token is taken), else the seconds
        until one may: what Retry-After should say."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        tokens, since = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - since) * self.rate)
        if tokens >= 1.0 - 1e-9:  # float refill arithmetic
            self._remember(key, tokens - 1.0, now)
            return 0.0
        self._remember(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def _remember(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            self._forget_full(now)
        self._buckets[key] = (tokens, now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold no state worth keeping); if every
        bucket is busy, drop them all rather than grow without bound."""
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)
