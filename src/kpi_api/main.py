"""The application factory: the only place where routers meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from kpi_api import __version__, health
from kpi_api.aggregates import routes as aggregate_routes
from kpi_api.aggregates.cache import TableCache
from kpi_api.catalogue import routes as catalogue_routes
from kpi_api.config import Settings, get_settings
from kpi_api.db import make_engine, make_sessionmaker
from kpi_api.errors import Problem, install_handlers, problem_responses
from kpi_api.limits import BodySizeLimit
from kpi_api.observability import RequestLog
from kpi_api.publication import routes as publication_routes
from kpi_api.ratelimit import RateLimiter
from kpi_api.reference import routes as reference_routes
from kpi_api.registry import routes as registry_routes
from kpi_api.runtime import tune_garbage_collector
from kpi_api.submissions import routes as submission_routes
from kpi_api.submissions.schemas import Batch, SubmissionRejected

DESCRIPTION = """
The national data backbone of the **Sociaal Werk Nederland KPI model**.

* **SWN** publishes the canonical, versioned KPI catalogue (`publisher` key).
* **Registration-software vendors** read the catalogue and submit measurements (`vendor` key).
* **Analysts** query aggregates (`analyst` key).

Catalogue reads are public. Every write needs an API key: `Authorization: Bearer kpi_...`.
Every error is an RFC 9457 `application/problem+json` body with a stable `code`.
"""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
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
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    install_handlers(app)
    app.state.figure_cache = (
        TableCache(settings.aggregate_cache_rows) if settings.aggregate_cache_rows else None
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog)  # outermost: every answer gets a request id
    app.include_router(health.router)
    app.include_router(catalogue_routes.router)
    app.include_router(reference_routes.router)
    app.include_router(registry_routes.router)
    app.include_router(submission_routes.router)
    app.include_router(aggregate_routes.router)
    app.include_router(publication_routes.router)
    _register_problem_schema(app)
    return app


def _register_problem_schema(app: FastAPI) -> None:
    """Add schemas that responses and request bodies refer to by $ref to the components."""
    original = app.openapi

    def openapi() -> dict:
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


def _document_cross_cutting_problems(schema: dict) -> None:
    """Document the problems any operation can answer before its route runs.

    An operation with a request body answers 400 when the body cannot be decoded (FastAPI) and
    413 over the size limit (``BodySizeLimit``); one that reads an API key answers 429 when the
    key is over its rate (``RateLimiter``).
    """
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            statuses = [400, 413] if "requestBody" in operation else []
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
