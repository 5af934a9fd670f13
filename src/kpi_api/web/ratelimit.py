"""Per-key rate limiting: a token bucket per API key, in this process.

Several worker processes each keep their own buckets; a deployment with many workers sets the
rate per worker accordingly (or moves the buckets to PostgreSQL when that is outgrown).
"""

from __future__ import annotations

import math
import threading
import time

from kpi_api.errors import KpiApiError
from kpi_api.messages import Message

RATE_LIMITED = Message(
    "rate_limited",
    "Too many requests for this API key; slow down.",
    "Te veel verzoeken met deze API-sleutel; verlaag het tempo.",
)


class RateLimiter:
    """A token bucket per API key: ``per_minute`` tokens a minute, up to ``burst`` at once (0 per
    minute: no limit)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key``. Raises KpiApiError (429 ``rate_limited``) with Retry-After in
        whole seconds (at least 1) when there is none."""
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
                    RATE_LIMITED,
                    status=429,
                    headers={"Retry-After": str(max(1, wait))},
                )
            self._buckets[key] = (tokens - 1.0, now)
