"""The boundary of the service: what every request is checked and turned into before a route
sees it, and the one place an unexpected error becomes an answer.

- ``Boundary`` (ASGI): text in the path, query string and headers must be UTF-8 without NUL
  (PostgreSQL can neither store nor compare NUL, and no database can store a lone surrogate):
  400 ``invalid_text`` naming the parameter. ``HEAD`` is answered wherever ``GET`` is (the
  same headers, no body). A ``Content-Encoding: gzip`` body is decompressed on the fly, the size
  limit applying to what it decompresses to (413; a zip bomb stops there); any other coding is
  415 ``unsupported_content_encoding``.
- ``LiteralJSONRoute``: every JSON body a route parses is read by ``jsontext.loads`` (duplicate
  member names, NaN, NUL and lone surrogates refused: 400 naming the JSON Pointer).
- ``InternalErrors`` (ASGI): an unexpected exception becomes a logged 500 problem+json and
  goes no further. Starlette's own last-resort handler re-raises it to the server after
  answering, and uvicorn then closes the kept-alive connection, so the client's next request
  on it failed with a connection reset.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpi_api import jsontext
from kpi_api.errors import BodyError, FieldError, problem_response

log = logging.getLogger("kpi_api.errors")


def _text_problem(scope: Scope, location: str, name: str, what: str) -> Response:
    pointer = f"/{name}" if name else ""
    message = f"{what} must be UTF-8 text without NUL characters"
    return problem_response(
        status=400,
        code="invalid_text",
        detail=f"The request's {location} holds text that cannot be read or stored: {message}.",
        instance=scope.get("path") if isinstance(scope.get("path"), str) else None,
        errors=[
            FieldError(location=location, pointer=pointer, code="invalid_text", message=message)
        ],
    )


def _check_text(scope: Scope) -> tuple[str, str, str] | None:
    """(location, name, what) of the first unreadable text in the request line or headers."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return ("path", "", "the path")
    if "\x00" in path:
        return ("path", "", "the path")
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return ("query", "", "the query string")
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            return ("query", name.replace("\x00", ""), f"query parameter {name!r}")
    for name, value in scope.get("headers", []):
        if b"\x00" in value:
            return ("header", name.decode("latin-1"), f"header {name.decode('latin-1')!r}")
    return None


class _TooLarge(Exception):
    pass


class Boundary:
    """Checks text, answers HEAD as GET, and decompresses gzip request bodies (see module)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _check_text(scope)
        if bad is not None:
            await _text_problem(scope, *bad)(scope, receive, send)
            return
        headers = scope.get("headers", [])
        coding = b",".join(v for k, v in headers if k == b"content-encoding").strip().lower()
        if coding and coding != b"identity":
            if coding != b"gzip":
                response = problem_response(
                    status=415,
                    code="unsupported_content_encoding",
                    detail=f"Content-Encoding {coding.decode('latin-1')!r} is not supported; "
                    "send the body as is or gzip-compressed.",
                    instance=scope.get("path"),
                )
                await response(scope, receive, send)
                return
            scope = dict(scope)
            scope["headers"] = [
                (k, v) for k, v in headers if k not in (b"content-encoding", b"content-length")
            ]
            receive = self._gunzip(receive)
        if scope.get("method") == "HEAD":
            scope = dict(scope)
            scope["method"] = "GET"
            send = _without_body(send)
        try:
            await self.app(scope, receive, send)
        except _TooLarge:
            response = problem_response(
                status=413,
                code="body_too_large",
                detail=f"The request body decompresses to more than {self.max_bytes} bytes.",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)
        except zlib.error:
            response = problem_response(
                status=400,
                code="invalid_content_encoding",
                detail="The body is not valid gzip data, though Content-Encoding says gzip.",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)

    def _gunzip(self, receive: Receive) -> Receive:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        seen = 0

        async def gunzipped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] != "http.request":
                return message
            room = self.max_bytes - seen + 1
            data = inflate.decompress(message.get("body", b""), room)
            if not message.get("more_body", False):
                data += inflate.flush()
                if not inflate.eof:
                    raise zlib.error("truncated gzip stream")
            seen += len(data)
            if seen > self.max_bytes or inflate.unconsumed_tail:
                raise _TooLarge
            return {**message, "body": data}

        return gunzipped


def _without_body(send: Send) -> Send:
    """A HEAD answer: the GET answer's status and headers, no body."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return head


class InternalErrors:
    """The last resort: an unexpected exception is logged and answered 500, and stops here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception(
                "unhandled error",
                extra={
                    "fields": {
                        "request_id": scope.get("state", {}).get("request_id"),
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                    }
                },
            )
            if started:
                return  # the answer is on its way; the connection stays usable
            response = problem_response(
                status=500,
                code="internal_error",
                detail="An unexpected error occurred; it has been logged.",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)


class LiteralJSONRequest(Request):
    """A request whose JSON body is read literally (``jsontext.loads``)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = jsontext.loads(body)
            except jsontext.JsonTextError as exc:
                raise BodyError(
                    f"The JSON body is not taken: {exc}.",
                    code=exc.rule,
                    errors=[
                        FieldError(
                            location="body", pointer=exc.pointer, code=exc.rule, message=str(exc)
                        )
                    ],
                ) from exc
        return self._json


class LiteralJSONRoute(APIRoute):
    """Every route of the service: its JSON body is read literally."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return await original(LiteralJSONRequest(request.scope, request.receive))

        return handler
