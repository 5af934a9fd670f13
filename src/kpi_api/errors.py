"""Domain errors and their RFC 9457 problem+json rendering."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from kpi_api.i18n import language, scope_language
from kpi_api.messages import Message, MessageError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

VALIDATION_FAILED = Message(
    "validation_failed",
    "The request does not match the schema; see errors.",
    "Het verzoek voldoet niet aan het schema; zie errors.",
)
CONCURRENT_UPDATE = Message(
    "concurrent_update",
    "Another request changed the same data at the same moment; retry.",
    "Een ander verzoek wijzigde op hetzelfde moment dezelfde gegevens; probeer het opnieuw.",
)


class FieldError(BaseModel):
    """One offending field: where it is, which rule it broke, and why."""

    location: str = Field(description="Where the field is: body, query, path or header.")
    pointer: str = Field(description="JSON Pointer (RFC 6901) to the field within its location.")
    code: str = Field(description="Stable machine-readable rule code.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable ``code`` and per-field ``errors``."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    errors: list[FieldError] | None = None


class KpiApiError(Exception):
    """Base of every error the API reports on purpose.

    ``detail`` is a :class:`~kpi_api.messages.Message` rendered with ``params`` in the
    client's language (``Accept-Language``), or a plain English string (kept for text that
    quotes the client's own input and has no Dutch form yet). The problem ``code`` is the
    message's code unless ``code`` is given.
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str | Message,
        *,
        params: Mapping[str, object] | None = None,
        code: str | None = None,
        status: int | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(detail, Message):
            self.texts = detail.texts(**(params or {}))
            if code is None:
                code = detail.code
        else:
            if params:
                raise MessageError("params given with a plain-text detail")
            self.texts = {"en": detail}
        self.detail = self.texts["en"]
        super().__init__(self.detail)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = errors
        self.headers = headers

    def detail_in(self, lang: str) -> str:
        """The detail in ``lang`` if it has that language, else in English."""
        return self.texts.get(lang, self.detail)


class BodyError(StarletteHTTPException):
    """A request body that cannot be read as sent (raised while FastAPI reads the body, which
    lets only HTTP exceptions through): a problem with its code and field errors."""

    def __init__(
        self,
        detail: Message,
        *,
        params: Mapping[str, object] | None = None,
        code: str,
        errors: list[FieldError],
    ) -> None:
        self.texts = detail.texts(**(params or {}))
        super().__init__(status_code=400, detail=self.texts["en"])
        self.code = code
        self.errors = errors


class NotFound(KpiApiError):
    """404: what the request names does not exist (code ``not_found`` unless its message says)."""

    status = 404
    code = "not_found"


class Conflict(KpiApiError):
    """409: the request clashes with what is stored (code ``conflict`` unless its message says)."""

    status = 409
    code = "conflict"


class Unprocessable(KpiApiError):
    """422: the request is well formed but breaks a rule (code ``unprocessable`` unless its message
    says)."""

    status = 422
    code = "unprocessable"


class Unauthorized(KpiApiError):
    """401: no usable API key (code ``unauthenticated`` unless its message says)."""

    status = 401
    code = "unauthenticated"


class Forbidden(KpiApiError):
    """403: the key may not do this (code ``forbidden`` unless its message says)."""

    status = 403
    code = "forbidden"


def problem_response(
    *,
    status: int,
    code: str,
    detail: str | None,
    instance: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response (RFC 9457): ``type`` ``urn:kpi-api:problem:<code>``, ``title`` the
    status's phrase; absent fields are left out."""
    body = Problem(
        type=f"urn:kpi-api:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def problem_message(
    scope: Scope,
    message: Message,
    *,
    status: int,
    params: Mapping[str, object] | None = None,
    code: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem answered by ASGI middleware (no exception handler sees it): ``message`` in
    the language the request's Accept-Language asks for, which Content-Language names."""
    lang = scope_language(scope)
    path = scope.get("path")
    return problem_response(
        status=status,
        code=code or message.code,
        detail=message.render(lang, **(params or {})),
        instance=path if isinstance(path, str) else None,
        errors=errors,
        headers={**(headers or {}), "Content-Language": lang},
    )


def _pointer(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    parts = list(loc)
    location = (
        str(parts.pop(0)) if parts and parts[0] in {"body", "query", "path", "header"} else "body"
    )
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return location, "/" + "/".join(escaped) if escaped else ""


def validation_errors(errors: Sequence[Any], *, prefix: tuple[Any, ...] = ()) -> list[FieldError]:
    """Turn pydantic error dicts into field errors with JSON pointers."""
    out = []
    for err in errors:
        loc = (*prefix, *err.get("loc", ()))
        ctx = err.get("ctx") or {}
        if isinstance(ctx.get("field"), str):
            # A model-level rule names the field it is about.
            loc = (*loc, ctx["field"])
        location, pointer = _pointer(loc)
        out.append(
            FieldError(
                location=location,
                pointer=pointer,
                code=str(err.get("type", "invalid")),
                message=str(err.get("msg", "invalid value")),
            )
        )
    return out


#: Deadlock, serialization failure, unique violation: a concurrent writer won the race.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "23505"})

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def install_handlers(app: FastAPI) -> None:
    """Answer every error as problem+json on ``app``: ours by their status and code, request
    validation 422 ``validation_failed``, HTTP errors by their status, and a lost race between
    transactions 409 ``concurrent_update`` with Retry-After: 1; any other database error goes on to
    ``boundary.InternalErrors`` (500)."""

    @app.exception_handler(KpiApiError)
    async def _domain(request: Request, exc: KpiApiError) -> JSONResponse:
        lang = language(request.headers.get("accept-language"))
        headers = dict(exc.headers or {})
        if lang in exc.texts:
            headers["Content-Language"] = lang
        return problem_response(
            status=exc.status,
            code=exc.code,
            detail=exc.detail_in(lang),
            instance=request.url.path,
            errors=exc.errors,
            headers=headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = language(request.headers.get("accept-language"))
        return problem_response(
            status=422,
            code=VALIDATION_FAILED.code,
            detail=VALIDATION_FAILED.render(lang),
            instance=request.url.path,
            errors=validation_errors(exc.errors()),
            headers={"Content-Language": lang},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail) if exc.detail else None
        headers = getattr(exc, "headers", None)
        texts: dict[str, str] | None = getattr(exc, "texts", None)  # ours (BodyError)
        if texts is not None:
            lang = language(request.headers.get("accept-language"))
            detail = texts.get(lang, detail)
            if lang in texts:
                headers = {**(headers or {}), "Content-Language": lang}
        return problem_response(
            status=exc.status_code,
            code=getattr(exc, "code", None) or _STATUS_CODES.get(exc.status_code, "http_error"),
            detail=detail,
            instance=request.url.path,
            errors=getattr(exc, "errors", None),
            headers=headers,
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # Lost races between transactions are the client's to retry, not server errors.
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if state in RETRYABLE_SQLSTATES:
            lang = language(request.headers.get("accept-language"))
            return problem_response(
                status=409,
                code=CONCURRENT_UPDATE.code,
                detail=CONCURRENT_UPDATE.render(lang),
                instance=request.url.path,
                headers={"Retry-After": "1", "Content-Language": lang},
            )
        raise exc  # unexpected: boundary.InternalErrors logs it and answers 500

    # An unexpected exception is answered by ``boundary.InternalErrors`` (a middleware), not
    # by an ``Exception`` handler: Starlette re-raises after such a handler answers, and the
    # server then drops the kept-alive connection.


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given problem statuses."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
