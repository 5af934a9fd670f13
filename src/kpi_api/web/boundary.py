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
from typing import Any, get_origin
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpi_api import jsontext
from kpi_api.errors import BodyError, FieldError, KpiApiError, problem_response

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


#: Headers the service reads (the others pass as the server took them).
READ_HEADERS = frozenset(
    {
        b"authorization",
        b"idempotency-key",
        b"accept-language",
        b"x-request-id",
        b"if-none-match",
        b"content-type",
        b"content-encoding",
        b"accept",
        b"cache-control",
    }
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
        readable = True
        if name in READ_HEADERS:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                readable = False
        if b"\x00" in value or not readable:
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
        """Decompress a gzip body as it streams in: every member of it (RFC 1952 allows
        several, one after another), at most ``max_bytes`` of output; anything after the last
        member that is not another member is an error, never dropped."""
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        seen = 0

        async def gunzipped() -> Message:
            nonlocal inflate, seen
            message = await receive()
            if message["type"] != "http.request":
                return message
            pending = message.get("body", b"")
            out = []
            while pending:
                room = self.max_bytes - seen + 1
                data = inflate.decompress(pending, room)
                seen += len(data)
                out.append(data)
                if seen > self.max_bytes or inflate.unconsumed_tail:
                    raise _TooLarge
                pending = inflate.unused_data
                if inflate.eof and pending:
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next member
                elif pending:
                    break
            if not message.get("more_body", False):
                tail = inflate.flush()
                seen += len(tail)
                out.append(tail)
                if seen > self.max_bytes:
                    raise _TooLarge
                if not inflate.eof:
                    raise zlib.error("truncated gzip stream")
            return {**message, "body": b"".join(out)}

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


def _query_names(dependant: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The query parameters a route and its dependencies take, and those that repeat (lists)."""
    names: set[str] = set()
    lists: set[str] = set()
    stack = [dependant]
    while stack:
        found = stack.pop()
        for param in found.query_params:
            names.add(param.alias)
            if get_origin(param.field_info.annotation) in (list, tuple, set) or "list[" in str(
                param.field_info.annotation
            ):
                lists.add(param.alias)
        stack.extend(found.dependencies)
    return frozenset(names), frozenset(lists)


def _query_problem(code: str, name: str, message: str) -> KpiApiError:
    return KpiApiError(
        message,
        code=code,
        status=422,
        errors=[FieldError(location="query", pointer=f"/{name}", code=code, message=message)],
    )


class LiteralJSONRoute(APIRoute):
    """Every route of the service: its JSON body is read literally, and its query string too:
    a parameter it does not take (a typo such as ``levl``) is 422 ``unknown_parameter``, one
    given twice that takes one value is 422 ``repeated_parameter`` (the last would win)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        names, lists = _query_names(self.dependant)

        async def handler(request: Request) -> Response:
            params = request.query_params
            for name in params:
                if name not in names:
                    known = ", ".join(sorted(names)) or "none"
                    raise _query_problem(
                        "unknown_parameter",
                        name,
                        f"{name!r} is not a parameter of this operation (it takes: {known})",
                    )
                if name not in lists and len(params.getlist(name)) > 1:
                    raise _query_problem(
                        "repeated_parameter", name, f"{name!r} is given more than once"
                    )
            return await original(LiteralJSONRequest(request.scope, request.receive))

        return handler
