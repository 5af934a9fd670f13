"""Aggregate current (or as-of) measurements of one KPI, following its definition."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from kpi_api.aggregates import maths
from kpi_api.aggregates import repository as repo
from kpi_api.aggregates.cache import FigureCache, figures
from kpi_api.aggregates.schemas import (
    AggregateCell,
    AggregateResponse,
    Boundaries,
    Level,
    Thresholds,
)
from kpi_api.auth import Principal, Role
from kpi_api.catalogue import service as catalogue
from kpi_api.catalogue.models import KpiVersion
from kpi_api.db import utcnow
from kpi_api.errors import FieldError, NotFound, Unprocessable
from kpi_api.periods import FINENESS, Period, parse_period, periods_within
from kpi_api.reference import service as reference
from kpi_api.reference.service import MunicipalityRow

MAX_PERIODS = 400
NATIONAL = "NL01"


@dataclass(frozen=True)
class Params:
    level: Level = Level.national
    period: str | None = None
    start: str | None = None
    end: str | None = None
    area: str | None = None
    dimension: str | None = None
    boundaries: Boundaries = Boundaries.reported
    as_of: datetime | None = None
    notes: bool = False


def _invalid(field: str, code: str, message: str) -> Unprocessable:
    return Unprocessable(
        message,
        code=code,
        errors=[FieldError(location="query", pointer=f"/{field}", code=code, message=message)],
    )


def _definition(session: Session, code: str) -> KpiVersion:
    """The version whose rules apply: the current release's, else the latest published."""
    found = catalogue.governing_version(session, code)
    if found is None:
        raise NotFound(f"KPI {code!r} has no published definition.", code="kpi_not_found")
    return found


def _periods(p: Params) -> list[Period]:
    try:
        if p.period is not None:
            if p.start is not None or p.end is not None:
                raise _invalid("period", "period_or_range", "Give period, or from and to.")
            return [parse_period(p.period)]
        if p.start is None or p.end is None:
            raise _invalid("period", "period_missing", "Give period, or from and to.")
        first, last = parse_period(p.start), parse_period(p.end)
    except ValueError as exc:
        raise _invalid("period", "period_invalid", str(exc)) from exc
    if first.type != last.type:
        raise _invalid("to", "period_range_mixed", "from and to must be of one period type.")
    if first.start > last.start:
        raise _invalid("to", "period_range_inverted", "from must not come after to.")
    span = Period(first.start, last.end, "year", "")
    out = []
    try:
        for year in range(first.start.year, last.end.year + 1):
            for period in periods_within(parse_period(f"{year:04d}"), first.type):
                if span.contains(period) and first.start <= period.start:
                    out.append(period)
    except ValueError as exc:  # e.g. a range that runs past the year 9999
        raise _invalid("to", "period_invalid", str(exc)) from exc
    if len(out) > MAX_PERIODS:
        raise _invalid("to", "period_range_too_long", f"At most {MAX_PERIODS} periods at once.")
    return out


@dataclass
class _Geo:
    names: dict[str, str]
    province_of: dict[str, str]
    municipalities: tuple[MunicipalityRow, ...]

    def counts(self, periods: list[Period], boundaries: Boundaries) -> dict[tuple[str, str], int]:
        """Municipalities per (area, period): those valid during the period, or today's."""
        if not periods:
            return {}
        first, last = periods[0].start, periods[-1].end
        steady: dict[str, int] = defaultdict(int)  # valid throughout, or today's boundaries
        changing = []
        for m in self.municipalities:
            if boundaries is Boundaries.current:
                if m.valid_to is None:
                    steady[m.province_code] += 1
            elif m.valid_from <= first and (m.valid_to is None or m.valid_to >= last):
                steady[m.province_code] += 1
            elif m.valid_from <= last and (m.valid_to is None or m.valid_to >= first):
                changing.append(m)
        out: dict[tuple[str, str], int] = {}
        for period in periods:
            per = dict(steady)
            for m in changing:
                if m.valid_from <= period.end and (
                    m.valid_to is None or m.valid_to >= period.start
                ):
                    per[m.province_code] = per.get(m.province_code, 0) + 1
            for province, n in per.items():
                out[(province, period.code)] = n
            out[(NATIONAL, period.code)] = sum(per.values())
        return out


def _geo(session: Session) -> _Geo:
    geo = reference.geography(session)
    names = dict(geo.province_names) | {m.code: m.name for m in geo.municipalities}
    names[NATIONAL] = "Nederland"
    province_of = {m.code: m.province_code for m in geo.municipalities}
    return _Geo(names, province_of, geo.municipalities)


def _scope_area(p: Params, geo: _Geo) -> str | None:
    """The province to compute (all siblings of the requested area, for suppression)."""
    area = p.area
    if area is None or area == NATIONAL:
        return None
    if p.level is Level.national:
        raise _invalid("area", "area_not_in_level", "A national figure covers NL01 only.")
    if area in geo.province_of:
        if p.level is Level.province:
            raise _invalid("area", "area_not_in_level", "Use a province code at province level.")
        return geo.province_of[area]
    if area.startswith("PV") and area in geo.names:
        return area if p.level is Level.municipality else None
    raise _invalid("area", "area_unknown", f"{area!r} is not NL01, a province or a municipality.")


def aggregate(
    session: Session,
    *,
    kpi: str,
    params: Params,
    principal: Principal,
    min_organisations: int,
    min_people: int,
    cache: FigureCache | None = None,
) -> AggregateResponse:
    """The figures of a request; ``cache`` keeps them per period until their data change."""
    spec = _definition(session, kpi)
    periods = _periods(params)
    target = periods[0].type
    sources = tuple(t for t in spec.period_types if FINENESS[t] >= FINENESS[target])
    if not sources:
        raise _invalid(
            "period",
            "period_type_not_available",
            f"{kpi} is measured per {'/'.join(spec.period_types)}; there are no figures per "
            f"{target}.",
        )
    if params.dimension is not None and params.dimension not in spec.dimensions:
        raise _invalid(
            "dimension",
            "dimension_not_allowed",
            f"{kpi} can be split by {', '.join(spec.dimensions) or 'nothing'}.",
        )
    geo = _geo(session)
    province = _scope_area(params, geo)
    query = repo.Query(
        kpi=kpi,
        level=params.level.value,
        period_type=target,
        start=periods[0].start,
        end=periods[-1].end,
        source_types=sources,
        stock=spec.time_aggregation == "last",
        dimension=params.dimension,
        boundaries=params.boundaries.value,
        province=province,
        vendor_id=principal.vendor_id if principal.role is Role.vendor else None,
        as_of=params.as_of,
    )
    by_bucket = {repo.bucket_of(target, p.start.year, p.start.month): p for p in periods}
    cells: list[maths.Cell] = []
    for row in figures(session, query, by_bucket, cache):
        period = by_bucket.get(row.bucket)
        if period is None:
            continue
        sums = maths.Sums(row.value, row.numerator, row.denominator, row.weighted, row.n)
        parent = {
            "national": None,
            "province": NATIONAL,
            "municipality": row.province or geo.province_of.get(row.area),
        }[params.level.value]
        cells.append(
            maths.Cell(
                area=row.area,
                parent=parent,
                period=period.code,
                code=row.code,
                sums=sums,
                organisations=row.organisations,
                municipalities=row.municipalities,
                people=maths.people(spec.value_type, spec.aggregation, sums),
                extra={"versions": sorted({row.kpi_version_min, row.kpi_version_max})},
            )
        )
    maths.suppress_primary(cells, min_organisations=min_organisations, min_people=min_people)
    maths.suppress_secondary(cells)
    if params.area is not None and params.area != NATIONAL and params.area != province:
        cells = [c for c in cells if c.area == params.area]
    notes = _notes(session, query, params, periods, cells) if params.notes else {}
    period_of = {p.code: p for p in periods}
    in_area = {} if params.level is Level.municipality else geo.counts(periods, params.boundaries)
    out = [
        _cell(c, spec.aggregation, geo, in_area, params, notes)
        for c in sorted(cells, key=lambda c: (period_of[c.period].start, c.area, c.code or ""))
    ]
    return AggregateResponse(
        kpi=kpi,
        kpi_version=spec.version,
        name_nl=spec.name_nl,
        name_en=spec.name_en,
        unit=spec.unit,
        value_type=spec.value_type,
        aggregation=spec.aggregation,
        time_aggregation=spec.time_aggregation,
        level=params.level,
        period_type=target,
        periods=[p.code for p in periods],
        dimension=params.dimension,
        boundaries=params.boundaries,
        area=params.area,
        as_of=params.as_of,
        latest_change=repo.latest_change(session, query),
        generated_at=utcnow(),
        thresholds=Thresholds(min_organisations=min_organisations, min_people=min_people),
        unallocated=_unallocated(geo, params),
        cells=out,
    )


def _unallocated(geo: _Geo, params: Params) -> list[str]:
    if params.boundaries is not Boundaries.current or params.level is not Level.municipality:
        return []
    return sorted(m.code for m in geo.municipalities if m.current_code is None)


def _cell(
    c: maths.Cell,
    aggregation: str,
    geo: _Geo,
    counts: dict[tuple[str, str], int],
    params: Params,
    notes: dict[tuple[str, str, str | None], list[str]],
) -> AggregateCell:
    shown = not c.suppressed
    in_area = 1 if params.level is Level.municipality else counts.get((c.area, c.period), 0)
    return AggregateCell(
        area=c.area,
        area_name=geo.names.get(c.area, c.area),
        period=c.period,
        dimension_code=c.code,
        value=maths.figure(aggregation, c.sums) if shown else None,
        numerator=c.sums.numerator if shown and aggregation == maths.RATIO else None,
        denominator=c.sums.denominator if shown and aggregation == maths.RATIO else None,
        n=c.sums.n if shown and aggregation == maths.WEIGHTED else None,
        suppressed=c.suppressed,
        suppression_reason=c.reason,
        organisations=c.organisations,
        municipalities=c.municipalities,
        municipalities_in_area=in_area,
        coverage=round(c.municipalities / in_area, 4) if in_area else 0.0,
        kpi_versions=list(c.extra["versions"]),  # type: ignore[arg-type]
        notes=_cell_notes(notes, c) if params.notes else None,
    )


def _cell_notes(notes: dict[tuple[str, str, str | None], list[str]], c: maths.Cell) -> list[str]:
    """A cell's notes; never a suppressed cell's (a note could tell what was hidden)."""
    return [] if c.suppressed else notes.get((c.area, c.period, c.code), [])


def _notes(
    session: Session,
    query: repo.Query,
    params: Params,
    periods: list[Period],
    cells: list[maths.Cell],
) -> dict[tuple[str, str, str | None], list[str]]:
    """Notes per cell; never for a suppressed cell (a note could tell what was hidden)."""
    out: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    visible = {(c.area, c.period, c.code) for c in cells if not c.suppressed}
    for muni, province, current, start, _ptype, code, note in repo.notes(session, query, 500):
        area = {
            Level.national: NATIONAL,
            Level.province: province,
            Level.municipality: current if params.boundaries is Boundaries.current else muni,
        }[params.level]
        for period in (p for p in periods if p.start <= start <= p.end):
            key = (area, period.code, code)
            if key in visible and note not in out[key]:
                out[key].append(note)
    return out
