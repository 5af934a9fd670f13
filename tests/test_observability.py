"""Request ids, structured logs without secrets, and per-key rate limiting."""

from __future__ import annotations

import json
import logging

from kpi_api.web.observability import JsonFormatter
from kpi_api.web.ratelimit import RateLimiter


def test_every_response_has_a_request_id(client):
    response = client.get("/health")
    generated = response.headers["X-Request-ID"]
    assert len(generated) == 32
    echoed = client.get("/v1/kpis", headers={"X-Request-ID": "vendor-trace-42"})
    assert echoed.headers["X-Request-ID"] == "vendor-trace-42"
    hostile = client.get("/health", headers={"X-Request-ID": "a b\r\nX-Evil: 1"})
    assert hostile.headers["X-Request-ID"] != "a b\r\nX-Evil: 1"
    assert "X-Evil" not in hostile.headers
    assert client.get("/v1/nope").headers["X-Request-ID"]


def test_request_logs_hold_no_keys_and_no_query_strings(client, publisher, caplog):
    secret = publisher["Authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.INFO, logger="kpi_api"):
        client.get("/v1/kpis", params={"q": "Jan Jansen, Dorpsstraat 1"}, headers=publisher)
        client.get("/v1/kpis", headers={"Authorization": "Bearer kpi_wrongwrongwrongwrong"})
    records = [r for r in caplog.records if r.name == "kpi_api.access"]
    assert len(records) == 2
    fields = records[0].fields
    assert fields["path"] == "/v1/kpis" and fields["status"] == 200
    assert fields["role"] == "publisher" and fields["api_key_id"]
    assert records[1].fields["status"] == 401
    rendered = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for forbidden in (secret, "kpi_wrongwrong", "Jansen", "Dorpsstraat"):
        assert forbidden not in rendered
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] and line["duration_ms"] >= 0 and line["method"] == "GET"


def test_rate_limit_per_key(client, app, publisher, analyst):
    app.state.rate_limiter = RateLimiter(per_minute=60, burst=3)
    for _ in range(3):
        assert client.get("/v1/kpis", headers=publisher).status_code == 200
    limited = client.get("/v1/kpis", headers=publisher)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another key has its own bucket.
    assert client.get("/v1/kpis", headers=analyst).status_code == 200


def test_limiter_refills_over_time(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("kpi_api.web.ratelimit.time.monotonic", lambda: clock[0])
    limiter = RateLimiter(per_minute=60, burst=1)
    limiter.check("k")
    try:
        limiter.check("k")
    except Exception as exc:
        assert exc.headers["Retry-After"] == "1"
    else:
        raise AssertionError("expected a 429")
    clock[0] += 1.0
    limiter.check("k")
