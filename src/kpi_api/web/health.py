"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from kpi_api import __version__, migrate
from kpi_api.web.boundary import LiteralJSONRoute

router = APIRouter(tags=["health"], route_class=LiteralJSONRoute)


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    database: str
    migration: str | None
    expected_migration: str | None


@router.get("/health", response_model=Health)
def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok", version=__version__)


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers and its schema is at the latest migration."""
    engine = request.app.state.engine
    head = migrate.head_revision()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
        database = "ok"
    except SQLAlchemyError:
        current, database = None, "unreachable"
    ok = database == "ok" and current == head
    body = Readiness(
        status="ok" if ok else "unavailable",
        database=database,
        migration=current,
        expected_migration=head,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
