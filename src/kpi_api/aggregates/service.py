"""Figures of one KPI: linked tables computed with their suppression pattern, and answers
taken from them.

``compute`` builds the linked table of a KPI and year (``linked``), applies primary and
complementary suppression over all of it (``disclosure``) and returns it; ``live`` answers a
request from such tables (kept per revision, see ``cache``); ``compose`` turns chosen cells into
the response, for live and for released figures (``publication``) alike. Every answer is a
selection from one table with one pattern, so a cell is hidden the same way whatever the request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy.orm import Session

from kpi_api import freshness
from kpi_api.aggregates import repository as repo
from kpi_api.aggregates.cache import TableCache
from kpi_api.aggregates.schemas import (
    AggregateCell,
    AggregateResponse,
    Boundaries,
    ReleaseRef,
    SeriesBreakAt,
    Thresholds,
)
from kpi_api.auth import Principal, Role
from kpi_api.catalogue import service as catalogue
from kpi_api.catalogue.service import KpiVersion
from kpi_api.config import Settings
from kpi_api.db import utcnow
from kpi_api.errors import FieldError, Forbidden, NotFound, Unprocessable
from kpi_api.messages import Message
from kpi_api.periods import Period, PeriodError, parse_period, periods_within
from kpi_api.reference import service as reference
from kpi_api.reference.service import MunicipalityRow
from kpi_api.registry import service as registry
from kpi_api.statistics import disclosure, linked, maths
from kpi_api.vocabulary import Aggregation, Level, PeriodType, TimeAggregation

MAX_PERIODS = 400
NATIONAL = linked.NATIONAL

# --- messages --------------------------------------------------------------------------------

RELEASE_OR_AS_OF = Message(
    "release_or_as_of",
    "Give release or as_of: a release is one moment already.",
    "Geef release of as_of op, niet beide: een release is al één moment.",
)
NO_PUBLISHED_DEFINITION = Message(
    "kpi_not_found",
    "KPI {kpi!r} has no published definition.",
    "KPI {kpi!r} heeft geen gepubliceerde definitie.",
)
PERIOD_OR_RANGE = Message(
    "period_or_range", "Give period, or from and to.", "Geef period op, of from en to."
)
PERIOD_MISSING = Message(
    "period_missing", "Give period, or from and to.", "Geef period op, of from en to."
)
PERIOD_RANGE_MIXED = Message(
    "period_range_mixed",
    "from and to must be of one period type.",
    "from en to moeten van hetzelfde periodetype zijn.",
)
PERIOD_RANGE_INVERTED = Message(
    "period_range_inverted", "from must not come after to.", "from mag niet na to liggen."
)
PERIOD_RANGE_TOO_LONG = Message(
    "period_range_too_long",
    "At most {max_periods} periods at once.",
    "Ten hoogste {max_periods} perioden tegelijk.",
)
DEFINITION_UNKNOWN = Message(
    "definition_unknown",
    "{kpi} has no published version {version}.",
    "{kpi} heeft geen gepubliceerde versie {version}.",
)
PERIOD_TYPE_NOT_AVAILABLE = Message(
    "period_type_not_available",
    "{kpi} is measured per {types}; there are no figures per {period_type}.",
    "{kpi} wordt gemeten per {types}; er zijn geen cijfers per {period_type}.",
)
DIMENSION_NOT_ALLOWED = Message(
    "dimension_not_allowed",
    "{kpi} can be split by {dimensions} in these periods.",
    "{kpi} kan in deze perioden alleen worden uitgesplitst naar {dimensions}.",
)
NO_DIMENSIONS = Message(
    "dimension_not_allowed",
    "{kpi} can be split by nothing in these periods.",
    "{kpi} kan in deze perioden niet worden uitgesplitst.",
)
NATIONAL_AREA_ONLY = Message(
    "area_not_in_level",
    "A national figure covers NL01 only.",
    "Een landelijk cijfer gaat alleen over NL01.",
)
PROVINCE_CODE_NEEDED = Message(
    "area_not_in_level",
    "Use a province code at province level.",
    "Gebruik op provincieniveau een provinciecode.",
)
AREA_UNKNOWN = Message(
    "area_unknown",
    "{area!r} is not NL01, a province or a municipality.",
    "{area!r} is geen NL01, provincie of gemeente.",
)


@dataclass(frozen=True)
class Params:
    """What a request for figures asks, as given (checked by ``prepare``): level, one period or a
    range (``start`` to ``end``), area, breakdown, boundaries, a moment (``as_of``) or a release,
    and a definition."""

    level: Level = Level.national
    period: str | None = None
    start: str | None = None
    end: str | None = None
    area: str | None = None
    dimension: str | None = None
    boundaries: Boundaries = Boundaries.reported
    as_of: datetime | None = None
    notes: bool = False
    release: str | None = None
    definition: int | None = None  # a KPI version: figures under its definition, every period


def knowers_of(session: Session) -> dict[str, set[str]]:
    """Who knows each organisation's own figures, by organisation id: the vendors that submit
    for it (vendor ids) and the municipalities of its signed-off agreements
    (``"municipality:<code>"``). Disclosure control treats each as one intruder that knows all
    the organisations it knows, so that no figure gives away the rest by subtraction."""
    out = registry.vendors_of(session)
    for org, parties in repo.agreement_parties(session).items():
        out.setdefault(org, set()).update(parties)
    return out


def thresholds(settings: Settings) -> disclosure.Thresholds:
    """The disclosure thresholds in force (``KPI_API_AGGREGATE_*``)."""
    return disclosure.Thresholds(
        settings.aggregate_min_organisations,
        settings.aggregate_min_people,
        settings.aggregate_dominance,
    )


def _invalid(field_: str, message: Message, **params: object) -> Unprocessable:
    text = message.render("en", **params)
    return Unprocessable(
        message,
        params=params,
        errors=[
            FieldError(location="query", pointer=f"/{field_}", code=message.code, message=text)
        ],
    )


def definitions(
    session: Session, code: str, as_of: datetime | None = None
) -> list[catalogue.Definition]:
    """The definitions of a KPI's series, oldest first, as published by ``as_of``. Raises NotFound
    (404 ``kpi_not_found``) when nothing is published."""
    found = catalogue.definitions(session, code, as_of)
    if not found:
        raise NotFound(NO_PUBLISHED_DEFINITION, params={"kpi": code})
    return found


def definition(session: Session, code: str, period: Period | None = None) -> KpiVersion:
    """The version whose rules apply to a period (to the newest periods by default): the
    latest version of the definition that governs it. Raises NotFound (404 ``kpi_not_found``) when
    nothing is published."""
    defs = definitions(session, code)
    if period is None:
        return defs[-1].spec
    return catalogue.governing(defs, period.start).spec


def _periods(p: Params) -> list[Period]:
    try:
        if p.period is not None:
            if p.start is not None or p.end is not None:
                raise _invalid("period", PERIOD_OR_RANGE)
            return [parse_period(p.period)]
        if p.start is None or p.end is None:
            raise _invalid("period", PERIOD_MISSING)
        first, last = parse_period(p.start), parse_period(p.end)
    except PeriodError as exc:
        raise _invalid("period", exc.message, **exc.params) from exc
    if first.type != last.type:
        raise _invalid("to", PERIOD_RANGE_MIXED)
    if first.start > last.start:
        raise _invalid("to", PERIOD_RANGE_INVERTED)
    if (last.start.year - first.start.year) * 12 > MAX_PERIODS * 12:
        raise _invalid("to", PERIOD_RANGE_TOO_LONG, max_periods=MAX_PERIODS)
    span = Period(first.start, last.end, PeriodType.year, "")
    out = []
    try:
        for year in range(first.start.year, last.end.year + 1):
            for period in periods_within(parse_period(f"{year:04d}"), first.type):
                if span.contains(period) and first.start <= period.start:
                    out.append(period)
    except PeriodError as exc:  # e.g. a range that runs past the year 9999
        raise _invalid("to", exc.message, **exc.params) from exc
    if len(out) > MAX_PERIODS:
        raise _invalid("to", PERIOD_RANGE_TOO_LONG, max_periods=MAX_PERIODS)
    return out


@dataclass
class Geo:
    """The CBS geography as figures need it: names by code (NL01, provinces, municipalities), where
    each municipality lies, and every municipality of any year."""

    names: dict[str, str]
    places: dict[str, linked.Place]
    municipalities: tuple[MunicipalityRow, ...]

    def province_of(self, code: str) -> str | None:
        """The province code of a municipality (None for a code it does not know)."""
        place = self.places.get(code)
        return place.province if place else None

    def counts(self, periods: list[Period], boundaries: Boundaries) -> dict[tuple[str, str], int]:
        """Municipalities per (area, period code), for NL01 and each province: those valid during
        the period, or today's."""
        out: dict[tuple[str, str], int] = {}
        for period in periods:
            per: dict[str, int] = defaultdict(int)
            for m in self.municipalities:
                if boundaries is Boundaries.current:
                    if m.valid_to is None:
                        per[m.province_code] += 1
                elif m.valid_from <= period.end and (
                    m.valid_to is None or m.valid_to >= period.start
                ):
                    per[m.province_code] += 1
            for province, n in per.items():
                out[(province, period.code)] = n
            out[(NATIONAL, period.code)] = sum(per.values())
        return out


def geography(session: Session) -> Geo:
    """The reference geography (CBS) as ``Geo``; NL01 is named "Nederland"."""
    geo = reference.geography(session)
    names = dict(geo.province_names) | {m.code: m.name for m in geo.municipalities}
    names[NATIONAL] = "Nederland"
    places = {m.code: linked.Place(m.province_code, m.current_code) for m in geo.municipalities}
    return Geo(names, places, geo.municipalities)


@dataclass
class Request:
    """A request, checked: the definitions, periods and geography it needs.

    Each period's figures follow the definition that governs it (``definition_for``): across a
    series break, periods before and after it add up different measurements with each
    definition's own rules. ``chosen``: the definition the request asked for, for every period.
    ``spec``: the definition of the newest period requested (what the response header shows).
    """

    kpi: str
    spec: KpiVersion
    params: Params
    periods: list[Period]
    geo: Geo
    definitions: list[catalogue.Definition] = field(default_factory=list)
    chosen: catalogue.Definition | None = None

    def definition_for(self, period: Period) -> catalogue.Definition:
        """The definition a period's figures follow: the one asked for, else the one governing
        it."""
        if self.chosen is not None:
            return self.chosen
        return catalogue.governing(self.definitions, period.start)

    def versions_of(self, d: catalogue.Definition) -> tuple[int, ...] | None:
        """The versions whose measurements ``d``'s figures add up; None (all, no second query)
        when the KPI has one definition only."""
        return d.versions if len(self.definitions) > 1 else None

    def by_version(self, version: int) -> catalogue.Definition:
        """The definition a version belongs to (its latest version's rules apply)."""
        found = catalogue.definition_of(self.definitions, version)
        return found if found is not None else self.definition_for(self.periods[-1])

    @property
    def target(self) -> PeriodType:
        """The period type of the answer."""
        return self.periods[0].type

    @property
    def layer(self) -> str:
        """The layer of the linked table the answer reads: the level, or ``current`` for
        municipalities on today's boundaries."""
        if self.params.level is Level.municipality and self.params.boundaries is Boundaries.current:
            return linked.CURRENT
        return self.params.level.value

    @property
    def years(self) -> list[int]:
        """The calendar years the requested periods lie in, ascending."""
        return sorted({p.start.year for p in self.periods})


def prepare(session: Session, *, kpi: str, params: Params) -> Request:
    """Check a request against the KPI's definitions and the geography. Raises NotFound (404
    ``kpi_not_found``) when nothing is published, and Unprocessable (422, naming the query
    parameter): ``period_or_range``, ``period_missing``, ``period_invalid``, ``period_range_mixed``,
    ``period_range_inverted``, ``period_range_too_long`` (over 400 periods), ``definition_unknown``,
    ``period_type_not_available``, ``dimension_not_allowed``, ``area_not_in_level``,
    ``area_unknown``."""
    defs = definitions(session, kpi, params.as_of)
    periods = _periods(params)
    chosen = None
    if params.definition is not None:
        chosen = next((d for d in defs if params.definition in d.versions), None)
        if chosen is None:
            raise _invalid("definition", DEFINITION_UNKNOWN, kpi=kpi, version=params.definition)
    req = Request(kpi, defs[-1].spec, params, periods, Geo({}, {}, ()), defs, chosen)
    used = {req.definition_for(p).version: req.definition_for(p).spec for p in periods}
    req.spec = req.definition_for(periods[-1]).spec
    target = periods[0].type
    types = PeriodType.coarsest_first({t for spec in used.values() for t in spec.period_types})
    if not any(t.finer_or_equal(target) for t in types):
        raise _invalid(
            "period", PERIOD_TYPE_NOT_AVAILABLE, kpi=kpi, types="/".join(types), period_type=target
        )
    dims = sorted({d for spec in used.values() for d in spec.dimensions})
    if params.dimension is not None and params.dimension not in dims:
        if not dims:
            raise _invalid("dimension", NO_DIMENSIONS, kpi=kpi)
        raise _invalid("dimension", DIMENSION_NOT_ALLOWED, kpi=kpi, dimensions=", ".join(dims))
    geo = geography(session)
    area = params.area
    if area is not None and area != NATIONAL:
        if params.level is Level.national:
            raise _invalid("area", NATIONAL_AREA_ONLY)
        if area in geo.places:
            if params.level is Level.province:
                raise _invalid("area", PROVINCE_CODE_NEEDED)
        elif not (area.startswith("PV") and area in geo.names):
            raise _invalid("area", AREA_UNKNOWN, area=area)
    req.geo = geo
    return req


# --- computing a linked table -----------------------------------------------------------------


@dataclass
class Computed:
    """A linked table with its pattern, and the unit contributions it was built from."""

    cells: dict[linked.Key, linked.Cell]
    contributions: list[linked.Contribution]
    #: Per cell: organisations and municipalities whose measurements were made under another
    #: definition (not added in), where any were.
    other: dict[linked.Key, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Adjustment:
    """What a caller of ``compute`` adds to the protection of a table: cells that may not be
    chosen to hide (``fixed``), and cells and relations of its own (never hidden or published
    here) that take part in the equations."""

    fixed: list[linked.Key] = field(default_factory=list)
    cells: dict[linked.Key, linked.Cell] = field(default_factory=dict)
    relations: list[linked.Relation] = field(default_factory=list)


def compute(
    session: Session,
    *,
    spec: KpiVersion,
    year: int,
    limits: disclosure.Thresholds,
    places: Mapping[str, linked.Place],
    within: Period | None = None,
    as_of: datetime | None = None,
    vendor_id: str | None = None,
    adjust: Callable[[dict[linked.Key, linked.Cell]], Adjustment] | None = None,
    versions: tuple[int, ...] | None = None,
) -> Computed:
    """The linked table of ``spec``'s KPI in ``year``, with its suppression pattern.

    ``versions``: the KPI versions of ``spec``'s definition; only measurements made under
    them are added up, the others are counted per cell in ``Computed.other`` (None: every
    version, as one definition). ``within``: only the periods inside it (a release of a
    quarter). ``vendor_id``: only that vendor's organisations. ``adjust`` may mark cells after
    primary suppression and add cells and relations to protect them with (releases: the
    previous release of each cell and the change since, see ``publication``).
    """
    types = linked.targets(spec.period_types)
    stock = TimeAggregation(spec.time_aggregation).is_stock
    rows = repo.measurements(
        session,
        kpi=spec.kpi_code,
        year=year,
        aggregation=spec.aggregation,
        period_types=types,
        as_of=as_of,
        vendor_id=vendor_id,
        versions=versions,
    )
    other = {}
    if versions is not None:
        # Every period type: another definition may have allowed finer ones (months).
        every = linked.targets((PeriodType.month,))
        others = repo.other_definition(
            session,
            kpi=spec.kpi_code,
            year=year,
            period_types=every,
            versions=versions,
            as_of=as_of,
            vendor_id=vendor_id,
        )
        if within is not None:
            others = [m for m in others if within.contains(parse_period(m.period))]
        if others:
            counted = linked.contributions(others, year=year, types=every, stock=stock)
            wanted = set(linked.periods_of(year, types))
            other = {
                key: (cell.organisations, len(cell.municipalities))
                for key, cell in linked.build(counted, places).items()
                if not cell.residual and key[2] in wanted
            }
    contributions = linked.contributions(rows, year=year, types=types, stock=stock)
    # One order whatever order the database returned rows in: the pattern is then the same
    # for every computation of the same data.
    contributions.sort(key=lambda c: (c.organisation, c.municipality, c.period, c.key))
    if within is not None:
        contributions = [c for c in contributions if within.contains(parse_period(c.period))]
    residuals = linked.residuals(contributions, types=types, stock=stock)
    cells = linked.build([*contributions, *residuals], places)
    relations = linked.relations(cells, places, types=types, stock=stock)
    vendors_of = {} if vendor_id is not None else knowers_of(session)
    disclosure.primary(
        cells,
        aggregation=spec.aggregation,
        value_type=spec.value_type,
        limits=limits,
        vendors_of=vendors_of,
    )
    extra = adjust(cells) if adjust is not None else Adjustment()
    disclosure.protect(
        cells | extra.cells,
        relations + extra.relations,
        aggregation=spec.aggregation,
        value_type=spec.value_type,
        fixed=extra.fixed,
        frozen=extra.cells.keys(),
        limits=limits,
        vendors_of=vendors_of,
    )
    return Computed(cells, contributions, other)


#: A linked table as answers read it: per (layer, period), its cells (area, key, figure).
Table = dict[tuple[str, str], list[tuple[str, str, "Figure"]]]


def _table(computed: Computed, definition: int) -> Table:
    out: Table = defaultdict(list)
    other = computed.other
    for k, cell in computed.cells.items():
        if not cell.residual:
            layer, area, period, key = k
            out[(layer, period)].append((area, key, Figure.of(cell, definition, other.get(k))))
    for k, (organisations, municipalities) in other.items():
        if k not in computed.cells:  # nothing under this definition: shown as missing, with why
            layer, area, period, key = k
            out[(layer, period)].append(
                (area, key, Figure.missing(definition, organisations, municipalities))
            )
    return dict(out)


def _tables(
    session: Session,
    req: Request,
    *,
    limits: disclosure.Thresholds,
    principal: Principal,
    cache: TableCache[Table] | None,
) -> dict[int, Table]:
    vendor_id = principal.vendor_id if principal.role is Role.vendor else None
    keep = cache is not None and vendor_id is None and req.params.as_of is None
    revisions = freshness.revisions(session, req.kpi, set(req.years)) if keep else {}
    out = {}
    for year in req.years:
        d = req.definition_for(next(p for p in req.periods if p.start.year == year))
        key = (req.kpi, d.version, year, limits)
        revision = revisions.get(year, 0)
        got = cache.get(key, revision) if keep and cache is not None else None
        if got is None:
            got = _table(
                compute(
                    session,
                    spec=d.spec,
                    year=year,
                    limits=limits,
                    places=req.geo.places,
                    as_of=req.params.as_of,
                    vendor_id=vendor_id,
                    versions=req.versions_of(d),
                ),
                d.version,
            )
            if keep and cache is not None:
                cache.put(key, revision, sum(len(v) for v in got.values()), got)
        out[year] = got
    return out


# --- answering --------------------------------------------------------------------------------


def wanted(req: Request) -> Callable[[str, str, str], bool]:
    """Whether a cell (area, period, key) of the request's layer belongs in its answer."""
    periods = {p.code for p in req.periods}
    dim = req.params.dimension
    prefix = None if dim is None else dim + "="
    area = req.params.area
    if area == NATIONAL:
        area = None
    geo = req.geo

    def keep(cell_area: str, period: str, key: str) -> bool:
        if period not in periods:
            return False
        if prefix is None:
            if key != "":
                return False
        elif not key.startswith(prefix) or key.endswith("=" + linked.RESIDUAL):
            return False
        if area is None:
            return True
        if area.startswith("PV") and req.params.level is Level.municipality:
            return geo.province_of(cell_area) == area
        return cell_area == area

    return keep


@dataclass(frozen=True, slots=True)
class Figure:
    """What an answer shows of a cell (live from a table, or as released)."""

    vals: linked.Vals | None  # None: hidden
    reason: str | None
    organisations: int
    municipalities: int
    municipalities_current: int  # today's municipalities behind it
    version_min: int
    version_max: int
    definition: int  # the latest version of the definition it follows
    other_organisations: int = 0  # reported under another definition, not added in
    other_municipalities: int = 0

    @classmethod
    def missing(cls, definition: int, organisations: int, municipalities: int) -> Figure:
        """A cell with no measurement under its definition, only under another one."""
        return cls(None, None, 0, 0, 0, 0, 0, definition, organisations, municipalities)

    @classmethod
    def of(cls, cell: linked.Cell, definition: int, other: tuple[int, int] | None) -> Figure:
        """What an answer shows of a table cell under ``definition``: its parts unless hidden, and
        ``other``, the organisations and municipalities under another definition."""
        return cls(
            None if cell.hidden else cell.vals,
            cell.reason if cell.hidden else None,
            cell.organisations,
            len(cell.municipalities),
            len(cell.current),
            cell.version_min,
            cell.version_max,
            definition,
            *(other or (0, 0)),
        )


def cell_out(
    req: Request,
    *,
    area: str,
    period: str,
    key: str,
    cell: Figure,
    counts: Mapping[tuple[str, str], int],
    notes: Mapping[tuple[str, str, str], list[str]] | None,
    release: str | None = None,
) -> AggregateCell:
    """One cell of the response: the figure rounded to the KPI's decimals (a percentage on a 0–100
    scale, × 100; a mean or amount in the KPI's unit), its numerator and denominator or n, why it is
    suppressed, coverage (municipalities with data / in the area, a fraction 0–1) and notes."""
    d = req.by_version(cell.definition)
    spec = d.spec
    vals = cell.vals
    agg = spec.aggregation
    starts = parse_period(period).start
    value = None if vals is None else maths.figure(agg, vals, catalogue.published_decimals(spec))
    in_area = 1 if req.params.level is Level.municipality else counts.get((area, period), 0)
    current = req.params.boundaries is Boundaries.current
    municipalities = cell.municipalities_current if current else cell.municipalities
    return AggregateCell(
        area=area,
        area_name=req.geo.names.get(area, area),
        period=period,
        dimension_code=key.split("=", 1)[1] if key else None,
        value=maths.as_json_number(value),
        numerator=int(vals[1]) if vals is not None and agg == Aggregation.ratio_of_sums else None,
        denominator=int(vals[2]) if vals is not None and agg == Aggregation.ratio_of_sums else None,
        n=int(vals[4]) if vals is not None and agg == Aggregation.weighted_mean else None,
        suppressed=vals is None and cell.organisations > 0,
        suppression_reason=cell.reason,
        organisations=cell.organisations,
        municipalities=municipalities,
        municipalities_in_area=in_area,
        coverage=round(municipalities / in_area, 4) if in_area else 0.0,
        kpi_versions=sorted({cell.version_min, cell.version_max}) if cell.organisations else [],
        kpi_version=d.version,
        series_break=req.chosen is None and d.start is not None and starts == d.start,
        organisations_other_definition=cell.other_organisations,
        municipalities_other_definition=cell.other_municipalities,
        notes=None
        if notes is None
        else ([] if vals is None else notes.get((area, period, key), [])),
        release=release,
    )


def _notes(
    session: Session,
    req: Request,
    vendor_id: str | None,
    as_of: datetime | None,
    followed: Mapping[str, int],
) -> dict[tuple[str, str, str], list[str]]:
    """Notes per cell, of the measurements the cell adds up: those under the definition the
    cell follows (``followed``: per period, a version of it; else the governing one)."""
    out: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for muni, province, current, start, key, note, version in repo.notes(
        session,
        kpi=req.kpi,
        start=req.periods[0].start,
        end=req.periods[-1].end,
        dimension=req.params.dimension,
        as_of=as_of,
        vendor_id=vendor_id,
        limit=500,
    ):
        by_level: dict[str, str] = {
            Level.national: NATIONAL,
            Level.province: province,
            Level.municipality: muni,
        }
        area = by_level.get(req.layer, current)
        for period in (p for p in req.periods if p.start <= start <= p.end):
            d = (
                req.by_version(followed[period.code])
                if period.code in followed
                else req.definition_for(period)
            )
            if len(req.definitions) > 1 and version not in d.versions:
                continue  # made under another definition: not part of this figure
            k = (area, period.code, key)
            if note not in out[k]:
                out[k].append(note)
    return out


def compose(
    session: Session,
    req: Request,
    *,
    cells: Iterable[tuple[str, str, str, Figure, str | None]],
    figures: Literal["live", "released"],
    limits: disclosure.Thresholds,
    vendor_id: str | None = None,
    releases: list[ReleaseRef] | None = None,
    unreleased: list[str] | None = None,
    latest_change: datetime | None = None,
    notes_as_of: datetime | None = None,
) -> AggregateResponse:
    """The response for cells (area, period, key, cell, release id) already chosen; notes as
    they stood at ``notes_as_of`` (released figures: when released), else ``as_of``."""
    params = req.params
    moment = notes_as_of or params.as_of
    cells = list(cells)
    shown = {p: c.definition for _, p, _, c, _ in cells}
    notes = _notes(session, req, vendor_id, moment, shown) if params.notes else None
    counts = (
        {} if params.level is Level.municipality else req.geo.counts(req.periods, params.boundaries)
    )
    order = {p.code: i for i, p in enumerate(req.periods)}
    cells_sorted = sorted(cells, key=lambda x: (order[x[1]], x[0], x[2]))
    out = [
        cell_out(req, area=a, period=p, key=k, cell=c, counts=counts, notes=notes, release=r)
        for a, p, k, c, r in cells_sorted
    ]
    # The header and the breaks follow the definitions the cells shown follow (a release made
    # before a break keeps the definition it was made under).
    newest = next((shown[p.code] for p in reversed(req.periods) if p.code in shown), None)
    spec = req.spec if newest is None else req.by_version(newest).spec
    return AggregateResponse(
        kpi=req.kpi,
        kpi_version=spec.version,
        name_nl=spec.name_nl,
        name_en=spec.name_en,
        unit=spec.unit,
        value_type=spec.value_type,
        aggregation=spec.aggregation,
        time_aggregation=spec.time_aggregation,
        decimals=catalogue.published_decimals(spec),
        figures=figures,
        level=params.level,
        period_type=req.target,
        periods=[p.code for p in req.periods],
        dimension=params.dimension,
        boundaries=params.boundaries,
        area=params.area,
        as_of=params.as_of,
        latest_change=latest_change,
        generated_at=utcnow(),
        thresholds=Thresholds(
            min_organisations=limits.min_organisations,
            min_people=limits.min_people,
            dominance=limits.dominance,
        ),
        releases=releases or [],
        unreleased_periods=unreleased or [],
        unallocated=_unallocated(req),
        series_breaks=_breaks(req, shown),
        cells=out,
    )


def _breaks(req: Request, shown: Mapping[str, int]) -> list[SeriesBreakAt]:
    """The series breaks at the requested periods: the first period of a new definition (of
    the definition the period's cells follow, else the one that governs it)."""
    out: list[SeriesBreakAt] = []
    if req.chosen is not None:
        return out
    for period in req.periods:
        d = (
            req.by_version(shown[period.code])
            if period.code in shown
            else req.definition_for(period)
        )
        if d.start is not None and d.previous is not None and period.start == d.start:
            out.append(
                SeriesBreakAt(
                    period=period.code,
                    effective_from=d.start,
                    from_version=d.previous,
                    to_version=d.versions[0],
                    change_note_nl=d.change_note_nl,
                    change_note_en=d.change_note_en,
                )
            )
    return out


def _unallocated(req: Request) -> list[str]:
    if (
        req.params.boundaries is not Boundaries.current
        or req.params.level is not Level.municipality
    ):
        return []
    return sorted(m.code for m in req.geo.municipalities if m.current_code is None)


def live(
    session: Session,
    req: Request,
    *,
    principal: Principal,
    limits: disclosure.Thresholds,
    cache: TableCache[Table] | None = None,
) -> AggregateResponse:
    """Figures as the data stand (or stood ``as_of``): the publisher's quality control, and a
    vendor's view of its own organisations."""
    vendor_id = principal.vendor_id if principal.role is Role.vendor else None
    keep = wanted(req)
    layer = req.layer
    tables = _tables(session, req, limits=limits, principal=principal, cache=cache)
    chosen = [
        (area, period.code, key, figure, None)
        for period in req.periods
        for area, key, figure in tables[period.start.year].get((layer, period.code), ())
        if keep(area, period.code, key)
    ]
    return compose(
        session,
        req,
        cells=chosen,
        figures="live",
        limits=limits,
        vendor_id=vendor_id,
        latest_change=repo.latest_change(
            session, kpi=req.kpi, as_of=req.params.as_of, vendor_id=vendor_id
        ),
    )


# --- an agreement's parties' own figures --------------------------------------------------------


@dataclass(frozen=True)
class PartyFigure:
    """The live figure of some organisations in some municipalities for one period: what the
    parties to an agreement see of their own work, never suppressed and never shown to anyone
    else. ``units``: the (organisation id, municipality) pairs with data behind it; ``value``
    rounded to ``decimals`` (a percentage on a 0–100 scale)."""

    period: str
    value: int | Decimal | None  # None: no data (or no denominator / n)
    vals: linked.Vals
    units: frozenset[tuple[str, str]]
    kpi_versions: tuple[int, ...]
    definition: int  # the latest version of the definition the figure follows
    aggregation: str
    decimals: int


def party_figures(
    session: Session,
    *,
    kpi: str,
    organisation_ids: Collection[str],
    municipalities: Collection[str],
    periods: Sequence[Period],
    breakdown_key: str = "",
) -> dict[str, PartyFigure]:
    """Live figures of a KPI per period, of these organisations in these municipalities only,
    unsuppressed, with the units that reported (coverage); by period code.

    The same roll-up (``linked``) and exact maths (``maths``) as every figure, following the
    definition that governs each period; ``breakdown_key`` is ``""`` (the total) or
    ``dimension=code``. For the parties to an agreement, who see their own figures: callers
    must show them to those parties only (``agreements``). Raises NotFound (404 ``kpi_not_found``)
    when nothing is published.
    """
    defs = definitions(session, kpi)
    out: dict[str, PartyFigure] = {}
    groups: dict[tuple[int, int], list[Period]] = defaultdict(list)
    by_version: dict[int, catalogue.Definition] = {}
    for period in periods:
        d = catalogue.governing(defs, period.start)
        by_version[d.version] = d
        groups[(period.start.year, d.version)].append(period)
    for (year, version), wanted_periods in sorted(groups.items()):
        d = by_version[version]
        spec = d.spec
        types = linked.targets(spec.period_types)
        rows = repo.measurements(
            session,
            kpi=kpi,
            year=year,
            aggregation=spec.aggregation,
            period_types=types,
            versions=d.versions if len(defs) > 1 else None,
            organisation_ids=organisation_ids,
            municipalities=municipalities,
        )
        rows = [r for r in rows if r.key == breakdown_key]
        stock = TimeAggregation(spec.time_aggregation).is_stock
        parts = linked.contributions(rows, year=year, types=types, stock=stock)
        decimals = catalogue.published_decimals(spec)
        for period in wanted_periods:
            mine = [c for c in parts if c.period == period.code]
            vals: linked.Vals = linked.ZERO
            for c in mine:
                vals = linked.add(vals, c.vals)
            out[period.code] = PartyFigure(
                period=period.code,
                value=maths.figure(spec.aggregation, vals, decimals) if mine else None,
                vals=vals,
                units=frozenset((c.organisation, c.municipality) for c in mine),
                kpi_versions=tuple(
                    sorted({v for c in mine for v in (c.version_min, c.version_max)})
                ),
                definition=d.version,
                aggregation=spec.aggregation,
                decimals=decimals,
            )
    return out


AREA_NOT_AUTHORISED = Message(
    "area_not_authorised",
    "A municipality key reads the released figures of its own municipalities only: "
    "level=municipality and area one of {areas}.",
    "Een gemeentesleutel leest alleen de gepubliceerde cijfers van de eigen gemeenten: "
    "level=municipality en area een van {areas}.",
)


def check_area(principal: Principal, params: Params) -> None:
    """A municipality key reads released figures of its own municipalities, one at a time. Raises
    Forbidden (403 ``area_not_authorised``) for any other area or level."""
    if principal.role is not Role.municipality:
        return
    if params.level is not Level.municipality or params.area not in principal.municipalities:
        areas = ", ".join(principal.municipalities)
        raise Forbidden(
            AREA_NOT_AUTHORISED,
            params={"areas": areas},
            errors=[
                FieldError(
                    location="query",
                    pointer="/area",
                    code=AREA_NOT_AUTHORISED.code,
                    message=AREA_NOT_AUTHORISED.render("en", areas=areas),
                )
            ],
        )
