"""Request ids and structured request logs (never keys, bodies or query strings)."""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from kpi_api.web.asgi import HTTPMiddleware

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("kpi_api.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the extra fields a record carries."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON: ``ts``, ``level``, ``logger``, ``message``, ``pid``, its
        ``fields`` and any exception."""
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which worker wrote it
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration, plus kpi_api's JSON lines on stderr.

    Give it to uvicorn (``log_config``): uvicorn applies it in every process it runs, and with
    ``--workers N`` each worker is a fresh (spawned) process that configures its logging only
    from it, so a configuration made in the parent alone left the workers without request logs.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json"] = {"()": f"{__name__}.JsonFormatter"}
    config["handlers"]["json"] = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["kpi_api"] = {
        "handlers": ["json"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


class RequestLog(HTTPMiddleware):
    """Give every request an id (kept from a well-formed X-Request-ID), echo it, log it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id in X-Request-ID, then log one ``request`` line
        (``duration_ms`` and ``queued_ms`` in milliseconds)."""
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],  # no query string: it is the caller's data
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "queued_ms": state.get("queued_ms"),  # of it, waiting in line
                        "api_key_id": state.get("api_key_id"),
                        "role": state.get("role"),
                    }
                },
            )
