"""HTTP routes of figure releases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from kpi_api.aggregates.service import thresholds
from kpi_api.auth import FigureReaderDep, PublisherDep
from kpi_api.catalogue.schemas import CODE_PATTERN
from kpi_api.db import SessionDep
from kpi_api.errors import problem_responses
from kpi_api.periods import PERIOD_PATTERN
from kpi_api.publication import service
from kpi_api.publication.schemas import FigureReleaseCreate, FigureReleasePage, FigureReleaseRead
from kpi_api.web.boundary import LiteralJSONRoute

router = APIRouter(prefix="/v1", tags=["figure releases"], route_class=LiteralJSONRoute)


@router.post(
    "/figure-releases",
    status_code=201,
    response_model=FigureReleaseRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_release(
    data: FigureReleaseCreate, request: Request, session: SessionDep, principal: PublisherDep
) -> FigureReleaseRead:
    """Release the figures of a period (and every period inside it) for analysts.

    Computes each KPI's linked table over the period with one suppression pattern that also
    covers the changes since the period's previous release, and stores the released cells.
    """
    return await run_in_threadpool(
        service.release,
        session,
        data=data,
        principal=principal,
        limits=thresholds(request.app.state.settings),
    )


@router.get(
    "/figure-releases",
    response_model=FigureReleasePage,
    responses=problem_responses(401, 403, 422),
)
def list_releases(
    session: SessionDep,
    _: FigureReaderDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    kpi: Annotated[str | None, Query(max_length=40, pattern=CODE_PATTERN)] = None,
) -> FigureReleasePage:
    """Figure releases, oldest first; filter by period or KPI."""
    return FigureReleasePage(items=service.listing(session, period=period, kpi=kpi))


@router.get(
    "/figure-releases/{release_id}",
    response_model=FigureReleaseRead,
    responses=problem_responses(401, 403, 404, 422),
)
def get_release(
    release_id: Annotated[str, Path(max_length=20, pattern=r"^[0-9A-Za-z-]+$")],
    session: SessionDep,
    _: FigureReaderDep,
) -> FigureReleaseRead:
    """One figure release and the KPIs in it."""
    return service.get(session, release_id)
