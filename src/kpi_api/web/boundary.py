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

from kpi_api import jsontext, messages
from kpi_api.errors import BodyError, FieldError, KpiApiError, problem_message
from kpi_api.i18n import scope_language
from kpi_api.web.asgi import HTTPMiddleware
from kpi_api.web.limits import BodyTooLarge

log = logging.getLogger("kpi_api.errors")

#: 400 ``invalid_text``: where the text is (the detail), and what it is (the field error).
INVALID_TEXT_IN = {
    "path": messages.Message(
        "invalid_text",
        "The request's path holds text that cannot be read or stored: {problem}.",
        "Het pad van het verzoek bevat tekst die niet te lezen of op te slaan is: {problem}.",
    ),
    "query": messages.Message(
        "invalid_text",
        "The request's query holds text that cannot be read or stored: {problem}.",
        "De query van het verzoek bevat tekst die niet te lezen of op te slaan is: {problem}.",
    ),
    "header": messages.Message(
        "invalid_text",
        "The request's header holds text that cannot be read or stored: {problem}.",
        "Een header van het verzoek bevat tekst die niet te lezen of op te slaan is: {problem}.",
    ),
}
PATH_NOT_TEXT = messages.Message(
    "invalid_text",
    "the path must be UTF-8 text without NUL characters",
    "het pad moet UTF-8-tekst zonder NUL-tekens zijn",
)
QUERY_NOT_TEXT = messages.Message(
    "invalid_text",
    "the query string must be UTF-8 text without NUL characters",
    "de querystring moet UTF-8-tekst zonder NUL-tekens zijn",
)
PARAMETER_NOT_TEXT = messages.Message(
    "invalid_text",
    "query parameter {name!r} must be UTF-8 text without NUL characters",
    "queryparameter {name!r} moet UTF-8-tekst zonder NUL-tekens zijn",
)
HEADER_NOT_TEXT = messages.Message(
    "invalid_text",
    "header {name!r} must be UTF-8 text without NUL characters",
    "header {name!r} moet UTF-8-tekst zonder NUL-tekens zijn",
)
UNSUPPORTED_CONTENT_ENCODING = messages.Message(
    "unsupported_content_encoding",
    "Content-Encoding {coding!r} is not supported; send the body as is or gzip-compressed.",
    "Content-Encoding {coding!r} wordt niet ondersteund; stuur de body ongecomprimeerd of "
    "met gzip gecomprimeerd.",
)
BODY_TOO_LARGE = messages.Message(
    "body_too_large",
    "The request body decompresses to more than {max_bytes} bytes.",
    "De body van het verzoek is uitgepakt groter dan {max_bytes} bytes.",
)
INVALID_CONTENT_ENCODING = messages.Message(
    "invalid_content_encoding",
    "The body is not valid gzip data, though Content-Encoding says gzip.",
    "De body is geen geldige gzip-data, hoewel Content-Encoding gzip aangeeft.",
)
INTERNAL_ERROR = messages.Message(
    "internal_error",
    "An unexpected error occurred; it has been logged.",
    "Er is een onverwachte fout opgetreden; die is vastgelegd.",
)
#: The code is the rule the JSON broke (``jsontext``); ``reason`` is its English text.
JSON_NOT_TAKEN = messages.Message(
    "malformed_json",
    "The JSON body is not taken: {reason}.",
    "De JSON-body wordt niet aangenomen: {reason}.",
)
UNKNOWN_PARAMETER = messages.Message(
    "unknown_parameter",
    "{name!r} is not a parameter of this operation (it takes: {known})",
    "{name!r} is geen parameter van deze handeling (die neemt: {known})",
)
NO_PARAMETERS = messages.Message(
    "unknown_parameter",
    "{name!r} is not a parameter of this operation (it takes: none)",
    "{name!r} is geen parameter van deze handeling (die neemt er geen)",
)
REPEATED_PARAMETER = messages.Message(
    "repeated_parameter",
    "{name!r} is given more than once",
    "{name!r} is meer dan eens opgegeven",
)


def _text_problem(
    scope: Scope, location: str, name: str, what: messages.Message, params: dict[str, str]
) -> Response:
    pointer = f"/{name}" if name else ""
    lang = scope_language(scope)
    problem = what.render(lang, **params)
    return problem_message(
        scope,
        INVALID_TEXT_IN[location],
        status=400,
        params={"problem": problem},
        errors=[
            FieldError(location=location, pointer=pointer, code="invalid_text", message=problem)
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


def _check_text(scope: Scope) -> tuple[str, str, messages.Message, dict[str, str]] | None:
    """(location, name, what, its params) of the first unreadable text in the request line or
    headers."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return ("path", "", PATH_NOT_TEXT, {})
    if "\x00" in path:
        return ("path", "", PATH_NOT_TEXT, {})
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return ("query", "", QUERY_NOT_TEXT, {})
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            return ("query", name.replace("\x00", ""), PARAMETER_NOT_TEXT, {"name": name})
    for name, value in scope.get("headers", []):
        readable = True
        if name in READ_HEADERS:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                readable = False
        if b"\x00" in value or not readable:
            header = name.decode("latin-1")
            return ("header", header, HEADER_NOT_TEXT, {"name": header})
    return None


class Boundary(HTTPMiddleware):
    """Checks text, answers HEAD as GET, and decompresses gzip request bodies (see module)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, checked: 400 ``invalid_text`` for unreadable text in the path, query
        or a header; 415 ``unsupported_content_encoding`` for a coding other than gzip; 413
        ``body_too_large`` for a body that decompresses past ``max_bytes``; 400
        ``invalid_content_encoding`` for broken gzip. HEAD goes on as GET and is answered without a
        body."""
        bad = _check_text(scope)
        if bad is not None:
            await _text_problem(scope, *bad)(scope, receive, send)
            return
        headers = scope.get("headers", [])
        coding = b",".join(v for k, v in headers if k == b"content-encoding").strip().lower()
        if coding and coding != b"identity":
            if coding != b"gzip":
                response = problem_message(
                    scope,
                    UNSUPPORTED_CONTENT_ENCODING,
                    status=415,
                    params={"coding": coding.decode("latin-1")},
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
        except BodyTooLarge:
            response = problem_message(
                scope, BODY_TOO_LARGE, status=413, params={"max_bytes": self.max_bytes}
            )
            await response(scope, receive, send)
        except zlib.error:
            response = problem_message(scope, INVALID_CONTENT_ENCODING, status=400)
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
                    raise BodyTooLarge
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
                    raise BodyTooLarge
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


class InternalErrors(HTTPMiddleware):
    """The last resort: an unexpected exception is logged and answered 500, and stops here."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; log an unexpected exception and answer 500 ``internal_error``
        (unless the answer had started)."""
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
            response = problem_message(scope, INTERNAL_ERROR, status=500)
            await response(scope, receive, send)


class LiteralJSONRequest(Request):
    """A request whose JSON body is read literally (``jsontext.loads``)."""

    async def json(self) -> Any:
        """The body parsed by ``jsontext.loads`` (once). Raises BodyError (400, code the rule
        broken: ``duplicate_member``, ``invalid_number``, ``invalid_text`` or
        ``malformed_json``)."""
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = jsontext.loads(body)
            except jsontext.JsonTextError as exc:
                raise BodyError(
                    JSON_NOT_TAKEN,
                    params={"reason": str(exc)},
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


def _query_problem(message: messages.Message, name: str, **params: object) -> KpiApiError:
    params["name"] = name
    return KpiApiError(
        message,
        params=params,
        status=422,
        errors=[
            FieldError(
                location="query",
                pointer=f"/{name}",
                code=message.code,
                message=message.render("en", **params),
            )
        ],
    )


class LiteralJSONRoute(APIRoute):
    """Every route of the service: its JSON body is read literally, and its query string too:
    a parameter it does not take (a typo such as ``levl``) is 422 ``unknown_parameter``, one
    given twice that takes one value is 422 ``repeated_parameter`` (the last would win)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler behind the query check (422 ``unknown_parameter``,
        ``repeated_parameter``), reading the body as a ``LiteralJSONRequest``."""
        original = super().get_route_handler()
        names, lists = _query_names(self.dependant)

        async def handler(request: Request) -> Response:
            params = request.query_params
            for name in params:
                if name not in names:
                    if not names:
                        raise _query_problem(NO_PARAMETERS, name)
                    raise _query_problem(UNKNOWN_PARAMETER, name, known=", ".join(sorted(names)))
                if name not in lists and len(params.getlist(name)) > 1:
                    raise _query_problem(REPEATED_PARAMETER, name)
            return await original(LiteralJSONRequest(request.scope, request.receive))

        return handler
