"""After an unexpected error the kept-alive connection still serves the next request.

Starlette's last-resort handler answered 500 and then re-raised the exception to the server;
uvicorn closed the connection after the answer, so a client's next request on it failed with a
connection reset. ``boundary.InternalErrors`` answers and stops the exception. Tested against a
real uvicorn server on a real socket, one connection for both requests.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import uvicorn

from kpi_api.config import Settings
from kpi_api.main import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_connection_survives_a_500(database):
    app = create_app(Settings(database_url=database.url), engine=database.engine)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("forced for the test")

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/boom")
        failed = connection.getresponse()
        body = json.loads(failed.read())
        assert failed.status == 500 and body["code"] == "internal_error"
        assert failed.getheader("content-type") == "application/problem+json"
        assert failed.getheader("x-request-id")
        assert failed.getheader("connection") != "close"
        connection.request("GET", "/health")  # the same connection
        after = connection.getresponse()
        assert after.status == 200, after.read()
        assert json.loads(after.read())["status"] == "ok"
        connection.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
