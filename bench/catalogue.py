"""Catalogue reads: GET /v1/kpis without and with a matching ETag."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.harness import Server


def bench_catalogue(server: Server, requests: int) -> dict[str, Any]:
    """``requests`` sequential reads of the first catalogue page, answered in full
    (``without_etag``) and as 304 Not Modified (``with_etag``): for each, requests per second
    and p95 in milliseconds. Raises ``AssertionError`` on another status."""
    out = {}
    with httpx.Client(base_url=server.base, timeout=30) as client:
        etag = client.get("/v1/kpis", params={"limit": 100}).headers["ETag"]
        for name, headers, expected in (
            ("without_etag", {}, 200),
            ("with_etag", {"If-None-Match": etag}, 304),
        ):
            samples = []
            started = time.perf_counter()
            for _ in range(requests):
                t = time.perf_counter()
                response = client.get("/v1/kpis", params={"limit": 100}, headers=headers)
                samples.append((time.perf_counter() - t) * 1000)
                assert response.status_code == expected, response.status_code
            total = time.perf_counter() - started
            samples.sort()
            out[name] = {
                "requests_per_second": requests / total,
                "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            }
    return out
