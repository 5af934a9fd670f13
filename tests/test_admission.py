"""A place in line: fair slots per worker, short answered waits, pools sized to match.

``limits.FairLine`` and ``limits.ConcurrencyLimit`` in process; the database waits left over
(no pooled connection, SQLite's write lock) through the app on both backends. The real server
under a burst is ``tests/test_load.py``.
"""

from __future__ import annotations

import time

import anyio
import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from kpi_api.config import Settings
from kpi_api.db import POOL_SPARE, make_engine
from kpi_api.main import create_app
from kpi_api.web.limits import ConcurrencyLimit, FairLine
from kpi_api.web.runtime import THREAD_SPARE

A, B = ("key", b"a"), ("key", b"b")
PROBLEM = "application/problem+json"


def test_a_freed_slot_goes_to_the_client_with_fewest_in_flight():
    async def main() -> list[object]:
        line = FairLine(slots=2, per_client=2)
        served: list[object] = []

        async def ask(client: tuple[str, bytes], name: str) -> None:
            await line.acquire(client)
            served.append(name)

        await line.acquire(A)
        await line.acquire(A)
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, A, "A's third")  # first in line
            await anyio.sleep(0.01)
            tg.start_soon(ask, B, "B's first")
            await anyio.sleep(0.01)
            assert served == [] and len(line.waiting) == 2
            line.release(A)
            await anyio.sleep(0.01)
            assert served == ["B's first"]  # B has none in flight, A has one
            line.release(A)
        return served

    assert anyio.run(main) == ["B's first", "A's third"]


def test_one_client_gets_at_most_its_share_and_others_go_ahead():
    async def main() -> None:
        line = FairLine(slots=4, per_client=2)
        await line.acquire(A)
        await line.acquire(A)
        assert not line.has_room_for(A) and line.has_room_for(B)
        with anyio.move_on_after(0.05) as waited:
            await line.acquire(A)  # a free slot, but not for A
        assert waited.cancelled_caught
        assert line.waiting == [] and line.free == 2  # the cancelled wait holds nothing
        await line.acquire(B)
        assert line.free == 1 and line.in_flight[B] == 1

    anyio.run(main)


class Gate:
    """An app that holds every request until opened."""

    def __init__(self) -> None:
        self.inside = 0
        self.open = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        if scope["path"] != "/health":
            await self.open.wait()
        await PlainTextResponse("ok")(scope, receive, send)


async def call(app, path: str = "/v1/kpis", key: bytes | None = None) -> tuple[int, dict, bytes]:
    headers = [(b"authorization", b"Bearer " + key)] if key else []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("192.0.2.1", 4000),
        "server": ("test", 80),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers_out, b"".join(m.get("body", b"") for m in sent[1:])


def test_a_request_that_waits_too_long_is_503_with_retry_after_and_health_never_waits():
    async def main() -> None:
        gate = Gate()
        limit = ConcurrencyLimit(gate, max_concurrent=1, per_client=1, max_queued=10, timeout=0.2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, limit)
            await anyio.sleep(0.01)
            assert gate.inside == 1
            started = time.monotonic()
            status, headers, body = await call(limit, key=b"kpi_other")
            assert 0.2 <= time.monotonic() - started < 2
            assert status == 503 and headers["retry-after"] == "1"
            assert headers["content-type"] == PROBLEM and b'"code":"server_busy"' in body
            with anyio.fail_after(1):  # liveness is not in line
                status, _, _ = await call(limit, "/health")
            assert status == 200
            gate.open.set()

    anyio.run(main)


def test_a_full_line_answers_503_at_once():
    async def main() -> None:
        gate = Gate()
        limit = ConcurrencyLimit(gate, max_concurrent=1, per_client=1, max_queued=1, timeout=30)
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, limit)  # served
            tg.start_soon(call, limit, "/v1/kpis", b"kpi_b")  # waits
            await anyio.sleep(0.01)
            assert gate.inside == 1 and len(limit.line.waiting) == 1
            with anyio.fail_after(1):
                status, headers, _ = await call(limit, key=b"kpi_c")
            assert status == 503 and headers["retry-after"] == "1"
            gate.open.set()
        assert gate.inside == 2  # the one that waited was served

    anyio.run(main)


def test_pools_are_sized_for_the_admitted_requests(database):
    settings = Settings(database_url=database.url, max_concurrent_requests=5)
    engine = make_engine(database.url, settings)
    try:
        assert engine.pool.size() == 5 and engine.pool._max_overflow == POOL_SPARE
        with TestClient(create_app(settings, engine=engine)) as client:
            threads = client.portal.call(
                lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
            )
        assert threads == 5 + THREAD_SPARE
    finally:
        engine.dispose()


def test_no_connection_in_time_is_503_database_busy(database):
    settings = Settings(
        database_url=database.url, max_concurrent_requests=1, database_timeout_seconds=0.2
    )
    engine = make_engine(database.url, settings)
    held = [engine.connect() for _ in range(1 + POOL_SPARE)]  # every pooled connection
    try:
        with TestClient(create_app(settings, engine=engine)) as client:
            started = time.monotonic()
            response = client.get("/v1/life-domains")
            assert time.monotonic() - started < 5
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "database_busy"
    finally:
        for connection in held:
            connection.close()
        engine.dispose()


def test_a_write_that_cannot_get_sqlites_write_lock_in_time_is_503(database):
    if database.backend != "sqlite":
        pytest.skip("SQLite's single writer lock")
    settings = Settings(database_url=database.url, database_timeout_seconds=0.2)
    engine = make_engine(database.url, settings)
    try:
        with database.engine.connect() as writer:
            writer.execution_options(sqlite_begin="IMMEDIATE").begin()  # holds the write lock
            with TestClient(create_app(settings, engine=engine)) as client:
                started = time.monotonic()
                response = client.post("/v1/submissions", json={"measurements": []})
                assert time.monotonic() - started < 5
            writer.rollback()
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "database_busy"
        assert response.headers["retry-after"] == "1"
    finally:
        engine.dispose()
