"""Figure releases: publication moments, as statistical offices have them.

A figure that anyone can read before and after one organisation's data arrive gives those data
away by subtraction, and so does a figure read ``as_of`` two moments. So analysts read *released*
figures only: the publisher releases the figures of a period (after its reporting deadline and
lock), each release a moment (provisional → revised → final). A release computes the linked
table of each KPI over the released period with one suppression pattern (``aggregates``), and
that pattern also covers the change since the previous release of each cell:

- a published cell whose change since it was last released rests on too few organisations or
  people (a correction, or one organisation's first batch) is hidden (``small_change``), and
  stays undetermined like any other sensitive cell;
- a cell whose data did not change keeps its earlier verdict: hidden stays hidden (so nothing
  hidden before can be worked out by combining releases), and published stays a known constant
  (hiding it again would protect nothing, so it is never chosen to protect another).

Released cells are stored (values of published cells only), so reading them is a lookup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import partial

from sqlalchemy.orm import Session

from kpi_api.aggregates import disclosure, linked
from kpi_api.aggregates import service as aggregates
from kpi_api.aggregates.schemas import AggregateResponse, ReleaseRef
from kpi_api.auth import Principal
from kpi_api.catalogue.models import KpiVersion
from kpi_api.db import utcnow
from kpi_api.errors import Conflict, FieldError, NotFound, Unprocessable
from kpi_api.periods import FINENESS, Period, parse_period
from kpi_api.publication import repository as repo
from kpi_api.publication.models import FigureRelease, FigureReleaseKpi
from kpi_api.publication.schemas import (
    FigureReleaseCreate,
    FigureReleaseKpiRead,
    FigureReleaseRead,
    ReleaseStatus,
)


def _invalid(pointer: str, code: str, message: str) -> Unprocessable:
    return Unprocessable(
        message,
        code=code,
        errors=[FieldError(location="body", pointer=pointer, code=code, message=message)],
    )


def read(release: FigureRelease, kpis: list[FigureReleaseKpi]) -> FigureReleaseRead:
    return FigureReleaseRead(
        id=release.id,
        period=release.period,
        sequence=release.sequence,
        status=ReleaseStatus(release.status),
        note=release.note,
        released_at=release.released_at,
        released_by=release.released_by,
        min_organisations=release.min_organisations,
        min_people=release.min_people,
        dominance=release.dominance,
        kpis=[
            FigureReleaseKpiRead(
                kpi=k.kpi_code, kpi_version=k.kpi_version, cells=k.cells, suppressed=k.suppressed
            )
            for k in kpis
        ],
    )


def get(session: Session, release_id: str) -> FigureReleaseRead:
    found = repo.get(session, release_id)
    if found is None:
        raise NotFound(f"No figure release {release_id!r}.", code="figure_release_not_found")
    return read(found, repo.kpis_of(session, [found.id])[found.id])


def listing(session: Session, *, period: str | None, kpi: str | None) -> list[FigureReleaseRead]:
    found = repo.listing(session, period=period, kpi=kpi)
    kpis = repo.kpis_of(session, [r.id for r in found])
    return [read(r, kpis[r.id]) for r in found]


def release(
    session: Session,
    *,
    data: FigureReleaseCreate,
    principal: Principal,
    limits: disclosure.Thresholds,
) -> FigureReleaseRead:
    """Release the figures of a period for some KPIs (all with data, by default).

    Raises 422 ``nothing_to_release`` / ``period_type_not_available``, 404 ``kpi_not_found``,
    409 ``period_final`` (the period had its final release).
    """
    period = parse_period(data.period)
    earlier = repo.of_period(session, data.period)
    if any(r.status == ReleaseStatus.final for r in earlier):
        raise Conflict(
            f"{data.period} had its final release; it takes no more.", code="period_final"
        )
    codes = data.codes()
    if codes is None:
        codes = repo.kpis_with_data(session, start=period.start, end=period.end)
    if not codes:
        raise _invalid("/kpis", "nothing_to_release", f"No measurements in {data.period}.")
    specs = [aggregates.definition(session, code) for code in codes]
    for spec in specs:
        if not any(FINENESS[t] >= FINENESS[period.type] for t in spec.period_types):
            raise _invalid(
                "/period",
                "period_type_not_available",
                f"{spec.kpi_code} is measured per {'/'.join(spec.period_types)}; it has no "
                f"figures per {period.type}.",
            )
    sequence = repo.next_sequence(session, data.period)
    status = data.status or (ReleaseStatus.provisional if sequence == 1 else ReleaseStatus.revised)
    row = FigureRelease(
        id=f"{data.period}-r{sequence}",
        period=data.period,
        period_type=period.type,
        period_start=period.start,
        period_end=period.end,
        sequence=sequence,
        status=status.value,
        note=data.note,
        released_at=utcnow(),
        released_by=principal.name,
        min_organisations=limits.min_organisations,
        min_people=limits.min_people,
        dominance=limits.dominance,
    )
    session.add(row)
    session.flush()
    places = aggregates.geography(session).places
    for spec in specs:
        prior = _Prior(session, kpi=spec.kpi_code, period=period, places=places, limits=limits)
        computed = aggregates.compute(
            session,
            spec=spec,
            year=period.start.year,
            limits=limits,
            places=places,
            within=period,
            adjust=partial(prior.adjust, spec=spec),
        )
        repo.store(
            session,
            release_id=row.id,
            kpi=spec.kpi_code,
            cells=computed.cells,
            contributions=computed.contributions,
        )
        shown = [c for c in computed.cells.values() if not c.residual]
        session.add(
            FigureReleaseKpi(
                release_id=row.id,
                kpi_code=spec.kpi_code,
                kpi_version=spec.version,
                cells=len(shown),
                suppressed=sum(c.hidden for c in shown),
            )
        )
    session.flush()
    return get(session, row.id)


class _Prior:
    """What earlier releases of a KPI said of the cells of a period."""

    def __init__(
        self,
        session: Session,
        *,
        kpi: str,
        period: Period,
        places: dict[str, linked.Place],
        limits: disclosure.Thresholds,
    ) -> None:
        self.limits = limits
        self.releases = repo.covering(
            session, kpi=kpi, start=period.start, end=period.end, before=None
        )
        self.tables: list[tuple[Period, dict[linked.Key, linked.Cell], dict[linked.Key, bool]]]
        self.tables = [
            (
                parse_period(r.period),
                linked.build(repo.contributions(session, release_id=r.id, kpi=kpi), places),
                repo.suppressed(session, release_id=r.id, kpi=kpi),
            )
            for r in self.releases
        ]

    def adjust(
        self, cells: dict[linked.Key, linked.Cell], spec: KpiVersion
    ) -> Iterable[linked.Key]:
        """Mark changes since each cell was last released; return the cells fixed as known."""
        aggregation, value_type = spec.aggregation, spec.value_type
        fixed = []
        for key, cell in cells.items():
            if cell.residual:
                continue
            last = next(
                ((t, h) for p, t, h in self.tables if p.contains(parse_period(key[2]))), None
            )
            if last is None:
                continue  # never released before
            before, hidden_before = last[0].get(key), last[1].get(key, False)
            old = before.by_org if before is not None else {}
            changes = {
                org: diff
                for org in {*old, *cell.by_org}
                if any(
                    diff := linked.sub(cell.by_org.get(org, linked.ZERO), old.get(org, linked.ZERO))
                )
            }
            if not changes:
                if hidden_before and not cell.hidden:
                    cell.hidden, cell.reason = True, "secondary"
                elif not hidden_before and not cell.hidden:
                    fixed.append(key)
            elif not hidden_before and not cell.hidden:
                reason = disclosure.verdict(
                    changes, aggregation=aggregation, value_type=value_type, limits=self.limits
                )
                if reason is not None:
                    cell.hidden, cell.sensitive, cell.reason = True, True, "small_change"
        return fixed


def released(
    session: Session, req: aggregates.Request, *, limits: disclosure.Thresholds
) -> AggregateResponse:
    """Released figures for a request: per period, the newest release holding it (released at
    or before ``as_of``), or the release asked for."""
    params = req.params
    if params.release is not None:
        found = repo.get(session, params.release)
        mine = repo.kpis_of(session, [params.release]).get(params.release, [])
        if found is None or not any(k.kpi_code == req.kpi for k in mine):
            raise NotFound(
                f"No figure release {params.release!r} of {req.kpi}.",
                code="figure_release_not_found",
            )
        candidates = [found]
    else:
        candidates = repo.covering(
            session,
            kpi=req.kpi,
            start=req.periods[0].start,
            end=req.periods[-1].end,
            before=params.as_of,
        )
    chosen: dict[str, FigureRelease] = {}
    for period in req.periods:
        for r in candidates:  # newest first
            if parse_period(r.period).contains(period):
                chosen[period.code] = r
                break
    by_release: dict[str, list[str]] = defaultdict(list)
    for code, r in chosen.items():
        by_release[r.id].append(code)
    keep = aggregates.wanted(req)
    cells = []
    area = params.area
    one_area = (
        area is not None
        and area != aggregates.NATIONAL
        and not (area.startswith("PV") and req.layer in ("municipality", "current"))
    )
    for row in repo.figures(
        session,
        kpi=req.kpi,
        layer=req.layer,
        release_ids=list(by_release),
        periods=list(chosen),
        dimension=params.dimension,
        area=area if one_area else None,
    ):
        if chosen[row.period].id != row.release_id:
            continue
        if not keep(row.area, row.period, row.disaggregation_key):
            continue
        figure = aggregates.Figure(
            repo.parts(row),
            row.reason,
            row.organisations,
            row.municipalities,
            row.municipalities_current,
            row.version_min,
            row.version_max,
        )
        cells.append((row.area, row.period, row.disaggregation_key, figure, row.release_id))
    used = sorted({r.id: r for r in chosen.values()}.values(), key=lambda r: r.released_at)
    newest = used[-1] if used else None
    shown_limits = (
        disclosure.Thresholds(newest.min_organisations, newest.min_people, newest.dominance)
        if newest is not None
        else limits
    )
    return aggregates.compose(
        session,
        req,
        cells=cells,
        figures="released",
        limits=shown_limits,
        releases=[
            ReleaseRef(id=r.id, period=r.period, status=r.status, released_at=r.released_at)
            for r in used
        ],
        unreleased=[p.code for p in req.periods if p.code not in chosen],
        latest_change=newest.released_at if newest is not None else None,
    )
