"""Request body limits: 413 before a large body reaches a route, and nothing stored."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from kpi_api.config import Settings
from kpi_api.db import get_session
from kpi_api.main import create_app
from kpi_api.web.limits import BodySizeLimit
from tests.submissions.conftest import row


def test_a_body_over_the_limit_is_413_and_stores_nothing(database, db, world):
    app = create_app(
        Settings(database_url=database.url, max_body_bytes=2048), engine=database.engine
    )

    def session():
        yield db
        db.commit()

    app.dependency_overrides[get_session] = session
    with TestClient(app, raise_server_exceptions=False) as client:
        big = {"measurements": [row(record_id=str(i), note="x" * 100) for i in range(40)]}
        response = client.post("/v1/submissions", json=big, headers=world.a.headers)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "body_too_large"
        assert client.get("/v1/measurements", headers=world.a.headers).json()["items"] == []
        one = {"measurements": [row()]}
        assert client.post("/v1/submissions", json=one, headers=world.a.headers).status_code == 201


def test_a_streamed_body_without_length_is_cut_off():
    """Chunked uploads carry no Content-Length: the limit counts the bytes as they arrive."""
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [b"a" * 600, b"b" * 600, b"c" * 600]
    sent = []

    async def receive():
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/submissions", "headers": []}
    asyncio.run(BodySizeLimit(app, max_bytes=1000)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert b"body_too_large" in sent[1]["body"]
    assert sum(seen) <= 600  # the route never got the whole body
