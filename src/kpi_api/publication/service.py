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
from functools import partial

from sqlalchemy.orm import Session

from kpi_api.aggregates import service as aggregates
from kpi_api.aggregates.schemas import AggregateResponse, ReleaseRef
from kpi_api.aggregates.service import Adjustment
from kpi_api.auth import Principal
from kpi_api.catalogue import service as catalogue
from kpi_api.catalogue.service import KpiVersion
from kpi_api.db import utcnow
from kpi_api.errors import Conflict, FieldError, NotFound, Unprocessable
from kpi_api.messages import Message
from kpi_api.periods import Period, parse_period
from kpi_api.publication import repository as repo
from kpi_api.publication.models import FigureRelease, FigureReleaseKpi
from kpi_api.publication.schemas import (
    FigureReleaseCreate,
    FigureReleaseKpiRead,
    FigureReleaseRead,
    ReleaseStatus,
)
from kpi_api.statistics import disclosure, linked
from kpi_api.submissions import service as submissions
from kpi_api.vocabulary import Level, PeriodType, TimeAggregation

# --- messages --------------------------------------------------------------------------------

FIGURE_RELEASE_NOT_FOUND = Message(
    "figure_release_not_found",
    "No figure release {release!r}.",
    "Er is geen cijferrelease {release!r}.",
)
NO_FIGURE_RELEASE_OF_KPI = Message(
    "figure_release_not_found",
    "No figure release {release!r} of {kpi}.",
    "Er is geen cijferrelease {release!r} van {kpi}.",
)
PERIOD_FINAL = Message(
    "period_final",
    "{final_period} had its final release ({release}); {period} takes no more.",
    "{final_period} heeft zijn definitieve release al gehad ({release}); voor {period} komt "
    "geen release meer.",
)
NOTHING_IN_PERIOD = Message(
    "nothing_to_release", "No measurements in {period}.", "Geen metingen in {period}."
)
NOTHING_OF_KPI = Message(
    "nothing_to_release",
    "No measurements of {kpi} under the definition that governs {period}.",
    "Geen metingen van {kpi} onder de definitie die voor {period} geldt.",
)
NOTHING_UNDER_DEFINITIONS = Message(
    "nothing_to_release",
    "No measurements in {period} under the definitions that govern it.",
    "Geen metingen in {period} onder de definities die daarvoor gelden.",
)
PERIOD_TYPE_NOT_AVAILABLE = Message(
    "period_type_not_available",
    "{kpi} is measured per {types}; it has no figures per {period_type}.",
    "{kpi} wordt gemeten per {types}; er zijn geen cijfers per {period_type}.",
)
STATUS_BACKWARDS = Message(
    "status_backwards",
    "{period} was released before: a next release is revised or final.",
    "{period} is al eerder vrijgegeven: een volgende release heeft de status revised of final.",
)
DEFINITION_LIVE_ONLY = Message(
    "definition_live_only",
    "Released figures follow the definition that governs each period; figures under "
    "another definition are live figures (publisher, vendors).",
    "Vrijgegeven cijfers volgen de definitie die voor elke periode geldt; cijfers onder een "
    "andere definitie zijn actuele cijfers (voor de rollen publisher en vendor).",
)


def _invalid(pointer: str, message: Message, **params: object) -> Unprocessable:
    text = message.render("en", **params)
    return Unprocessable(
        message,
        params=params,
        errors=[FieldError(location="body", pointer=pointer, code=message.code, message=text)],
    )


def _invalid_query(name: str, message: Message, **params: object) -> Unprocessable:
    text = message.render("en", **params)
    return Unprocessable(
        message,
        params=params,
        errors=[FieldError(location="query", pointer=f"/{name}", code=message.code, message=text)],
    )


def read(release: FigureRelease, kpis: list[FigureReleaseKpi]) -> FigureReleaseRead:
    """A figure release as the API reads it, with each KPI's version and its numbers of cells and of
    suppressed cells."""
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
    """One figure release. Raises NotFound (404 ``figure_release_not_found``)."""
    found = repo.get(session, release_id)
    if found is None:
        raise NotFound(FIGURE_RELEASE_NOT_FOUND, params={"release": release_id})
    return read(found, repo.kpis_of(session, [found.id])[found.id])


def listing(session: Session, *, period: str | None, kpi: str | None) -> list[FigureReleaseRead]:
    """Every figure release, of ``period`` and holding ``kpi`` where given, in the order they were
    released."""
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
    """Release the figures of a period for some KPIs (all with data, by default); a final release
    also locks the period for writes.

    Raises Conflict (409 ``period_final``: the period, or one overlapping it, had its final
    release), NotFound (404 ``kpi_not_found``: nothing of a KPI published) and Unprocessable (422
    ``nothing_to_release``, ``period_type_not_available``, ``status_backwards``: a release after the
    first is revised or final).
    """
    period = parse_period(data.period)
    final = repo.final_overlapping(session, start=period.start, end=period.end)
    if final is not None:
        raise Conflict(
            PERIOD_FINAL,
            params={"final_period": final.period, "release": final.id, "period": data.period},
        )
    codes = data.codes()
    every = codes is None
    if codes is None:
        codes = repo.kpis_with_data(session, start=period.start, end=period.end)
    if not codes:
        raise _invalid("/kpis", NOTHING_IN_PERIOD, period=data.period)
    # Each KPI's figures follow the definition that governs the period (a series break falls on
    # 1 January, so a period lies under one definition).
    series = [aggregates.definitions(session, c) for c in codes]
    defs = [(catalogue.governing(s, period.start), s) for s in series]
    for spec in (d.spec for d, _ in defs):
        if not any(PeriodType(t).finer_or_equal(period.type) for t in spec.period_types):
            raise _invalid(
                "/period",
                PERIOD_TYPE_NOT_AVAILABLE,
                kpi=spec.kpi_code,
                types="/".join(spec.period_types),
                period_type=period.type,
            )
    sequence = repo.next_sequence(session, data.period)
    if data.status is ReleaseStatus.provisional and sequence > 1:
        raise _invalid("/status", STATUS_BACKWARDS, period=data.period)
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
    vendors_of = aggregates.knowers_of(session)
    released = 0
    for d, all_defs in defs:
        spec, split = d.spec, len(all_defs) > 1
        prior = _Prior(
            session,
            kpi=spec.kpi_code,
            period=period,
            places=places,
            limits=limits,
            vendors_of=vendors_of,
            definitions=all_defs,
        )
        computed = aggregates.compute(
            session,
            spec=spec,
            year=period.start.year,
            limits=limits,
            places=places,
            within=period,
            adjust=partial(prior.adjust, spec=spec),
            versions=d.versions if split else None,
        )
        shown = [c for c in computed.cells.values() if not c.residual]
        if not shown:
            if every:  # its data follow another definition (a break published since)
                continue
            raise _invalid("/kpis", NOTHING_OF_KPI, kpi=spec.kpi_code, period=data.period)
        released += 1
        repo.store(
            session,
            release_id=row.id,
            kpi=spec.kpi_code,
            cells=computed.cells,
            contributions=computed.contributions,
            other=computed.other,
        )
        session.add(
            FigureReleaseKpi(
                release_id=row.id,
                kpi_code=spec.kpi_code,
                kpi_version=spec.version,
                cells=len(shown),
                suppressed=sum(c.hidden for c in shown),
            )
        )
    if not released:
        raise _invalid("/kpis", NOTHING_UNDER_DEFINITIONS, period=data.period)
    if status is ReleaseStatus.final:
        # Final figures: the period takes no more measurements either (the publisher can
        # reopen it with DELETE /v1/period-locks/{period}, but not release it again).
        submissions.ensure_locked(
            session,
            period=data.period,
            reason=f"final figure release {row.id}",
            actor=principal.name,
        )
    session.flush()
    return get(session, row.id)


class _Prior:
    """Earlier releases of a KPI whose cells the new release's cells succeed.

    The new pattern is protected together with them (``adjust``): for every cell, the latest
    earlier release that held it joins the equations with its own relations (its published
    cells as constants, its hidden ones as unknowns), and the two moments are linked by
    ``new = earlier + change``. The change is a residual cell of the organisations whose part
    changed; a cell no organisation changed is the same unknown in both (``change`` = 0). So
    no combination of two releases determines a cell hidden in either, nor a change that rests
    on too few organisations; a published cell whose change does is hidden (``small_change``).
    """

    def __init__(
        self,
        session: Session,
        *,
        kpi: str,
        period: Period,
        places: dict[str, linked.Place],
        limits: disclosure.Thresholds,
        vendors_of: dict[str, set[str]],
        definitions: list[catalogue.Definition] | None = None,
    ) -> None:
        self.session, self.kpi, self.places, self.period = session, kpi, places, period
        self.limits, self.vendors_of = limits, vendors_of
        self.definitions = definitions or []
        self.releases = [
            (parse_period(r.period), r.id)
            for r in repo.covering(
                session, kpi=kpi, start=period.start, end=period.end, before=None
            )
        ]
        self.followed = repo.versions_followed(session, [r for _, r in self.releases], kpi)

    def _spec_of(self, release_id: str, spec: KpiVersion) -> KpiVersion:
        """The rules an earlier release's table followed (across a break, its own)."""
        found = catalogue.definition_of(self.definitions, self.followed.get(release_id))
        return found.spec if found is not None else spec

    def adjust(self, cells: dict[linked.Key, linked.Cell], spec: KpiVersion) -> Adjustment:
        """Every earlier release of the period joins the equations; each pair of moments
        (this one and each earlier one, and the earlier ones among themselves) is linked
        cell by cell by ``newer = older + change``."""
        out = Adjustment()
        tables: list[tuple[str, Period, dict[linked.Key, linked.Cell]]] = [("", self.period, cells)]
        for covered, release_id in self.releases:  # newest first
            own = self._spec_of(release_id, spec)
            tables.append((release_id, covered, self._table(release_id, own, out)))
        for i, (newer_id, _, newer) in enumerate(tables):
            for older_id, older_period, older in tables[i + 1 :]:
                self._link(newer_id, newer, older_id, older, older_period, spec, out)
        return out

    def _table(
        self, release_id: str, spec: KpiVersion, out: Adjustment
    ) -> dict[linked.Key, linked.Cell]:
        """An earlier release's table as released (its verdicts), added to ``out``."""
        types = linked.targets(spec.period_types)
        stock = TimeAggregation(spec.time_aggregation).is_stock
        earlier = repo.contributions(self.session, release_id=release_id, kpi=self.kpi)
        residuals = linked.residuals(earlier, types=types, stock=stock)
        before = linked.build([*earlier, *residuals], self.places)
        verdicts = repo.verdicts(self.session, release_id=release_id, kpi=self.kpi)
        disclosure.primary(
            {k: c for k, c in before.items() if c.residual},
            aggregation=spec.aggregation,
            value_type=spec.value_type,
            limits=self.limits,
            vendors_of=self.vendors_of,
        )
        for key, cell in before.items():
            if not cell.residual:
                reason = verdicts.get(key)
                cell.hidden = reason is not None
                cell.sensitive = reason not in (None, "secondary")
                cell.reason = reason
            out.cells[_at(release_id, key)] = cell
        for r in linked.relations(before, self.places, types=types, stock=stock):
            out.relations.append(
                linked.Relation(
                    _at(release_id, r.total),
                    tuple(_at(release_id, p) for p in r.parts),
                    _at(release_id, r.residual) if r.residual is not None else None,
                )
            )
        return before

    def _link(
        self,
        newer_id: str,
        newer: dict[linked.Key, linked.Cell],
        older_id: str,
        older: dict[linked.Key, linked.Cell],
        older_period: Period,
        spec: KpiVersion,
        out: Adjustment,
    ) -> None:
        """``newer = older + change`` for every cell both moments cover; a cell nobody changed
        is the same unknown in both. Changes in this release may hide its cells."""
        current = newer_id == ""
        keys = {
            k
            for table in (newer, older)
            for k, c in table.items()
            if not c.residual and older_period.contains(parse_period(k[2]))
        }
        if current:
            keys = {k for k in keys if self.period.contains(parse_period(k[2]))}
        for key in sorted(keys):
            now, old = newer.get(key), older.get(key)
            new_parts = now.by_org if now is not None else {}
            old_parts = old.by_org if old is not None else {}
            changes = {
                org: diff
                for org in sorted({*old_parts, *new_parts})
                if any(
                    diff := linked.sub(
                        new_parts.get(org, linked.ZERO), old_parts.get(org, linked.ZERO)
                    )
                )
            }
            if not changes:
                out.relations.append(
                    linked.Relation(_at(newer_id, key), (_at(older_id, key),), None)
                )
                if (
                    current
                    and now is not None
                    and not now.hidden
                    and old is not None
                    and not old.hidden
                ):
                    out.fixed.append(key)
                continue
            change = _at(f"Δ{newer_id}~{older_id}", key)
            delta = linked.Cell(vals=linked.ZERO, by_org=changes, residual=True, hidden=True)
            disclosure.primary(
                {change: delta},
                aggregation=spec.aggregation,
                value_type=spec.value_type,
                limits=self.limits,
                vendors_of=self.vendors_of,
            )
            out.cells[change] = delta
            out.relations.append(linked.Relation(_at(newer_id, key), (_at(older_id, key),), change))
            shown_before = old is not None and not old.hidden
            if current and now is not None and not now.hidden and shown_before and delta.sensitive:
                now.hidden, now.sensitive, now.reason = True, True, "small_change"


def _at(release_id: str, key: linked.Key) -> linked.Key:
    """A cell of an earlier release (or a change between two), as a key of its own."""
    if not release_id:
        return key
    return (f"{release_id}|{key[0]}", key[1], key[2], key[3])


def released(
    session: Session, req: aggregates.Request, *, limits: disclosure.Thresholds
) -> AggregateResponse:
    """Released figures for a request: per period, the newest release holding it (released at
    or before ``as_of``), or the release asked for. Raises Unprocessable (422
    ``definition_live_only``) when a definition is asked for, and NotFound (404
    ``figure_release_not_found``) for a release that does not hold the KPI."""
    params = req.params
    if params.definition is not None:
        raise _invalid_query("definition", DEFINITION_LIVE_ONLY)
    if params.release is not None:
        found = repo.get(session, params.release)
        mine = repo.kpis_of(session, [params.release]).get(params.release, [])
        if found is None or not any(k.kpi_code == req.kpi for k in mine):
            raise NotFound(
                NO_FIGURE_RELEASE_OF_KPI, params={"release": params.release, "kpi": req.kpi}
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
    followed = repo.versions_followed(session, by_release, req.kpi)
    cells = []
    area = params.area
    one_area = (
        area is not None
        and area != aggregates.NATIONAL
        and not (area.startswith("PV") and req.layer in (Level.municipality, linked.CURRENT))
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
            req.by_version(followed[row.release_id]).version,
            row.organisations_other_definition,
            row.municipalities_other_definition,
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
        notes_as_of=newest.released_at if newest is not None else None,
    )
