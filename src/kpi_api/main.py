"""The application factory: the only place where routers meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from kpi_api import __version__
from kpi_api.aggregates import routes as aggregate_routes
from kpi_api.aggregates.cache import TableCache
from kpi_api.agreements import routes as agreement_routes
from kpi_api.catalogue import routes as catalogue_routes
from kpi_api.config import Settings, get_settings
from kpi_api.db import make_engine, make_sessionmaker
from kpi_api.errors import Problem, install_handlers, problem_responses
from kpi_api.publication import routes as publication_routes
from kpi_api.reference import routes as reference_routes
from kpi_api.registry import routes as registry_routes
from kpi_api.submissions import routes as submission_routes
from kpi_api.submissions.schemas import Batch, SubmissionRejected
from kpi_api.web import health, pagination
from kpi_api.web.boundary import Boundary, InternalErrors
from kpi_api.web.limits import BodySizeLimit, ConcurrencyLimit
from kpi_api.web.observability import RequestLog
from kpi_api.web.ratelimit import RateLimiter
from kpi_api.web.runtime import size_thread_pool, tune_garbage_collector

DESCRIPTION = """
The national data backbone of the **Sociaal Werk Nederland KPI model**.

* **SWN** publishes the canonical, versioned KPI catalogue (`publisher` key).
* **Registration-software vendors** read the catalogue and submit measurements (`vendor` key).
* **Analysts** query aggregates (`analyst` key).

Catalogue reads are public. Every write needs an API key: `Authorization: Bearer kpi_...`.
Every error is an RFC 9457 `application/problem+json` body with a stable `code`.
"""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The application: every router, the error handlers, the middleware stack and the figure cache,
    on ``engine`` (made from ``settings``, and disposed at shutdown, if not given)."""
    settings = settings or get_settings()
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
        size_thread_pool(settings.max_concurrent_requests)
        yield
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="kpi-api",
        version=__version__,
        summary="Versioned KPI catalogue, measurements and aggregates for Dutch social work.",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    pagination.configure(settings.secret_key)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    install_handlers(app)
    app.state.figure_cache = (
        TableCache(settings.aggregate_cache_rows) if settings.aggregate_cache_rows else None
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    # Outermost last: RequestLog (every answer gets a request id) > InternalErrors (an
    # unexpected error answered, the connection kept) > ConcurrencyLimit (a place in line) >
    # Boundary (text, HEAD, gzip) > BodySizeLimit (on the body as decompressed).
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Boundary, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        ConcurrencyLimit,
        max_concurrent=settings.max_concurrent_requests,
        per_client=settings.max_concurrent_per_client,
        max_queued=settings.max_queued_requests,
        timeout=settings.queue_timeout_seconds,
    )
    app.add_middleware(InternalErrors)
    app.add_middleware(RequestLog)
    app.include_router(health.router)
    app.include_router(catalogue_routes.router)
    app.include_router(reference_routes.router)
    app.include_router(registry_routes.router)
    app.include_router(submission_routes.router)
    app.include_router(aggregate_routes.router)
    app.include_router(publication_routes.router)
    app.include_router(agreement_routes.router)
    _register_problem_schema(app)
    return app


def _register_problem_schema(app: FastAPI) -> None:
    """Add schemas that responses and request bodies refer to by $ref to the components."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (Problem, Batch, SubmissionRejected):
                rendered = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in rendered.pop("$defs", {}).items():
                    components.setdefault(name, sub)
                components.setdefault(model.__name__, rendered)
            _document_cross_cutting_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_cross_cutting_problems(schema: dict[str, Any]) -> None:
    """Document the problems any operation can answer before its route runs.

    Any operation answers 400 when the request holds text the boundary refuses (``Boundary``);
    one with a request body also when the body cannot be read, 413 over the size limit and 415
    for an unsupported Content-Encoding; one that reads an API key answers 429 when the key is
    over its rate (``RateLimiter``); any but ``/health`` 503 when the service is too busy.
    """
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            # 400: text the boundary refuses (any request); 422: a query parameter the
            # operation does not take, or one given twice (``LiteralJSONRoute``); 413/415: a
            # body too large (also once decompressed) or in an unsupported Content-Encoding;
            # 503: too busy to serve it in time (``ConcurrencyLimit``, the database pool).
            statuses = [400, 413, 415, 422] if "requestBody" in operation else [400, 422]
            if path != "/health":
                statuses.append(503)
            if operation.get("security"):
                statuses.append(429)
            responses = operation.setdefault("responses", {})
            added = False
            for status, entry in problem_responses(*statuses).items():
                if str(status) not in responses:
                    responses[str(status)] = {k: entry[k] for k in ("description", "content")}
                    added = True
            if added:
                operation["responses"] = dict(sorted(responses.items()))
