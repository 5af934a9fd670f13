"""HTTP routes of aggregates, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from kpi_api.aggregates import service
from kpi_api.aggregates.schemas import AggregateResponse, Boundaries
from kpi_api.auth import FigureReaderDep, Role
from kpi_api.catalogue.schemas import CODE_PATTERN
from kpi_api.db import SessionDep
from kpi_api.errors import FieldError, Unprocessable, problem_responses
from kpi_api.periods import PERIOD_PATTERN
from kpi_api.publication import service as publication
from kpi_api.strict import NoNul, UtcMoment
from kpi_api.vocabulary import Level
from kpi_api.web.boundary import LiteralJSONRoute

router = APIRouter(prefix="/v1", tags=["aggregates"], route_class=LiteralJSONRoute)

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
    "series_break",
    "organisations_other_definition",
    "municipalities_other_definition",
    "latest_change",
    "as_of",
    "release",
)


def _number(x: float | None, decimals: int) -> str:
    """A figure exactly as rounded: ``0.30`` for an amount, ``40`` for a count."""
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    return f"{x:.{decimals}f}"


def _decimal_comma(text: str) -> str:
    return text.replace(".", ",")


def _as_is(text: str) -> str:
    return text


def to_csv(result: AggregateResponse, *, dutch: bool = False) -> str:
    """The cells as CSV: a header of ``CSV_COLUMNS``, then one line per cell.

    By default comma-separated with a decimal point (``12.5``). ``dutch``: the Dutch Excel
    dialect, so the file opens in columns in Excel on a Dutch machine: ``;``-separated, a
    decimal comma (``12,5``; no thousands separator), CRLF line ends and a UTF-8 BOM (without
    it Excel reads the text as windows-1252). Counts are integers in both (``40``).
    """
    number = _decimal_comma if dutch else _as_is
    out = io.StringIO()
    if dutch:
        out.write("\ufeff")
    writer = csv.writer(
        out, delimiter=";" if dutch else ",", lineterminator="\r\n" if dutch else "\n"
    )
    writer.writerow(CSV_COLUMNS)
    for c in result.cells:
        writer.writerow(
            [
                result.kpi,
                c.kpi_version,
                result.level.value,
                c.area,
                c.area_name,
                c.period,
                result.dimension or "",
                c.dimension_code or "",
                number(_number(c.value, result.decimals)),
                *("" if x is None else str(x) for x in (c.numerator, c.denominator, c.n)),
                "true" if c.suppressed else "false",
                c.suppression_reason or "",
                c.organisations,
                c.municipalities,
                c.municipalities_in_area,
                number(repr(c.coverage)),
                ";".join(str(v) for v in c.kpi_versions),
                "true" if c.series_break else "false",
                c.organisations_other_definition,
                c.municipalities_other_definition,
                result.latest_change.isoformat() if result.latest_change else "",
                result.as_of.isoformat() if result.as_of else "",
                c.release or "",
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
    principal: FigureReaderDep,
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
        UtcMoment | None,
        Query(
            description="Released figures: the releases in force at this moment; live "
            "figures: as the data stood then. A time without a zone, or a date (its midnight), is "
            "read as UTC; a moment with no UTC equivalent in the years 1-9999 is 422."
        ),
    ] = None,
    notes: Annotated[bool, Query(description="Include organisations' notes.")] = False,
    release: Annotated[
        str | None,
        Query(
            max_length=20,
            pattern=r"^[0-9A-Za-z-]+$",
            description="Figures of this figure release (e.g. 2024-r2).",
        ),
    ] = None,
    definition: Annotated[
        int | None,
        Query(
            ge=1,
            le=1_000_000,
            description="Live figures only: every period under the definition this KPI version "
            "belongs to (across a series break, measurements under it only), instead of the "
            "definition that governs each period.",
        ),
    ] = None,
    format: Annotated[
        Literal["json", "csv", "csv-nl"] | None,
        Query(
            description="`json` (the default); `csv`: comma-separated, decimal point (also "
            "chosen by `Accept: text/csv`); `csv-nl`: the Dutch Excel dialect, `;`-separated "
            "with a decimal comma and a UTF-8 BOM, which opens in columns in Dutch Excel."
        ),
    ] = None,
) -> Response:
    """A KPI's figure per area and period, following its definition, with its context.

    Give `period` for one period or `from` and `to` for a time series. Every answer is a
    selection from the KPI's linked table for the year (every level, period and breakdown),
    with one suppression pattern over all of it, so no hidden cell can be worked out from any
    combination of answers.

    Each period follows the definition that governs it: across a **series break** (a KPI
    version that changed what counts, from 1 January of a year) a figure adds up only
    measurements made under comparable versions; cells count the organisations that reported
    under another definition, and the first period after a break is marked (`series_break`).

    Analysts read **released** figures: per period the newest figure release holding it (at or
    before `as_of`), or the release named by `release`. The publisher reads live figures (as
    the data stand, or stood `as_of`) for quality control, or a release with `release`; a vendor
    reads live figures of its own organisations. Live tables are kept per process until a
    measurement of the KPI in that year is written; `Cache-Control: no-cache` computes them
    afresh (the answer is the same).

    As **CSV** the cells come one per line (`format=csv`, or `Accept: text/csv`): comma-separated,
    numbers with a decimal point and as rounded (`40`, `12.5`, `0.30`). `format=csv-nl` gives
    the same in the Dutch Excel dialect: `;`-separated, a decimal comma (`12,5`; no thousands
    separator; counts stay integers), CRLF and a UTF-8 BOM, so Excel on a Dutch machine opens it
    in columns with the accents intact.
    """
    if release is not None and as_of is not None:
        raise Unprocessable(
            service.RELEASE_OR_AS_OF,
            errors=[
                FieldError(
                    location="query",
                    pointer="/as_of",
                    code="release_or_as_of",
                    message="Give release or as_of.",
                )
            ],
        )
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
        release=release,
        definition=definition,
    )
    settings = request.app.state.settings
    limits = service.thresholds(settings)
    fresh = "no-cache" in request.headers.get("cache-control", "").lower()

    service.check_area(principal, params)

    def answer() -> AggregateResponse:
        req = service.prepare(session, kpi=kpi, params=params)
        if release is not None or principal.role in (Role.analyst, Role.municipality):
            return publication.released(session, req, limits=limits)
        return service.live(
            session,
            req,
            principal=principal,
            limits=limits,
            cache=None if fresh else request.app.state.figure_cache,
        )

    result = await run_in_threadpool(answer)
    if format == "csv-nl":
        return Response(to_csv(result, dutch=True), media_type="text/csv; charset=utf-8")
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv:
        return Response(to_csv(result), media_type="text/csv; charset=utf-8")
    return Response(result.model_dump_json(), media_type="application/json")
