"""Per-key rate limiting: a token bucket per API key, in this process.

Several worker processes each keep their own buckets; a deployment with many workers sets the
rate per worker accordingly (or moves the buckets to PostgreSQL when that is outgrown).
"""

from __future__ import annotations

import math
import threading
import time

from kpi_api.errors import KpiApiError


class RateLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key``; raise 429 with Retry-After when there is none."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise KpiApiError(
                    "Too many requests for this API key; slow down.",
                    code="rate_limited",
                    status=429,
                    headers={"Retry-After": str(max(1, wait))},
                )
            self._buckets[key] = (tokens - 1.0, now)
