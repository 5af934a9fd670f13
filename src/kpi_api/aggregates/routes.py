"""HTTP routes of aggregates, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from kpi_api.aggregates import service
from kpi_api.aggregates.schemas import AggregateResponse, Boundaries, Level
from kpi_api.auth import Principal, Role, require_roles
from kpi_api.catalogue.schemas import CODE_PATTERN
from kpi_api.db import SessionDep
from kpi_api.errors import problem_responses
from kpi_api.periods import PERIOD_PATTERN
from kpi_api.strict import NoNul

router = APIRouter(prefix="/v1", tags=["aggregates"])

ReaderDep = Annotated[Principal, Depends(require_roles(Role.analyst, Role.publisher, Role.vendor))]
PeriodQuery = Annotated[str | None, Query(pattern=PERIOD_PATTERN)]
CSV_COLUMNS = (
    "kpi",
    "kpi_version",
    "level",
    "area",
    "area_name",
    "period",
    "dimension",
    "dimension_code",
    "value",
    "numerator",
    "denominator",
    "n",
    "suppressed",
    "suppression_reason",
    "organisations",
    "municipalities",
    "municipalities_in_area",
    "coverage",
    "kpi_versions",
    "latest_change",
    "as_of",
)


def to_csv(result: AggregateResponse) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in result.cells:
        writer.writerow(
            [
                result.kpi,
                result.kpi_version,
                result.level.value,
                c.area,
                c.area_name,
                c.period,
                result.dimension or "",
                c.dimension_code or "",
                *("" if x is None else repr(x) for x in (c.value, c.numerator, c.denominator, c.n)),
                "true" if c.suppressed else "false",
                c.suppression_reason or "",
                c.organisations,
                c.municipalities,
                c.municipalities_in_area,
                repr(c.coverage),
                ";".join(str(v) for v in c.kpi_versions),
                result.latest_change.isoformat() if result.latest_change else "",
                result.as_of.isoformat() if result.as_of else "",
            ]
        )
    return out.getvalue()


@router.get(
    "/aggregates/{kpi}",
    response_model=AggregateResponse,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 404, 422),
    },
)
async def aggregate(
    kpi: Annotated[str, Path(max_length=40, pattern=CODE_PATTERN)],
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    level: Level = Level.national,
    period: PeriodQuery = None,
    from_: Annotated[str | None, Query(alias="from", pattern=PERIOD_PATTERN)] = None,
    to: PeriodQuery = None,
    area: Annotated[
        str | None,
        Query(pattern=r"^(NL01|PV[0-9]{2}|GM[0-9]{4})$", description="Limit to one area."),
    ] = None,
    dimension: Annotated[
        str | None, Query(max_length=60, description="Break down by it."), NoNul
    ] = None,
    boundaries: Annotated[
        Boundaries, Query(description="`current`: earlier years on today's municipalities.")
    ] = Boundaries.reported,
    as_of: Annotated[
        datetime | None, Query(description="Reproduce the figures as known at this moment.")
    ] = None,
    notes: Annotated[bool, Query(description="Include organisations' notes.")] = False,
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,
) -> Response:
    """A KPI's figure per area and period, following its definition, with its context.

    Give `period` for one period or `from` and `to` for a time series. Figures use current
    measurements (or those known `as_of` a moment); cells on too few organisations or people
    are suppressed, with secondary suppression so no hidden cell can be recovered.
    Analysts and the publisher see all organisations; a vendor sees its own.

    Figures are kept per period until a measurement of the KPI in that year is written, so a
    repeated or overlapping request is answered without aggregating again, and the first one
    after a write recomputes only the years it changed. `Cache-Control: no-cache` asks for
    every figure to be computed afresh (the answer is the same).
    """
    params = service.Params(
        level=level,
        period=period,
        start=from_,
        end=to,
        area=area,
        dimension=dimension,
        boundaries=boundaries,
        as_of=as_of,
        notes=notes,
    )
    settings = request.app.state.settings
    # `Cache-Control: no-cache` asks for figures computed afresh (they are kept per period until
    # their data change; see aggregates/cache.py).
    fresh = "no-cache" in request.headers.get("cache-control", "").lower()
    result = await run_in_threadpool(
        service.aggregate,
        session,
        kpi=kpi,
        params=params,
        principal=principal,
        min_organisations=settings.aggregate_min_organisations,
        min_people=settings.aggregate_min_people,
        cache=None if fresh else request.app.state.figure_cache,
    )
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv:
        return Response(to_csv(result), media_type="text/csv; charset=utf-8")
    return Response(result.model_dump_json(), media_type="application/json")
