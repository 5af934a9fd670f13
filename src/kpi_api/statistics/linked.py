"""The linked table of one KPI in one year: every figure an answer can hold, and how they add up.

Plain functions over plain data, no I/O. A *unit* is one organisation in one municipality. Each
unit's measurements are rolled up to every target period of the year (year, quarters, months:
the types no finer than the KPI's finest period type), then added into the cells of every
layer: national (NL01), province (PV..), municipality as reported (GM..) and municipality on
today's boundaries (``current``). Every cell keeps the exact sums of its five additive parts
(value, numerator, denominator, mean × n, n: ``int`` or ``Decimal``, never a binary float) and
each organisation's own part, for the disclosure rules.

The roll-up rule, per unit and target period: a period the unit reported itself is taken as
reported; otherwise its parts are (a quarter from its months, a year from its quarters, each
of those again as reported or from its parts), so every stretch of the period the unit reported
is covered once, whatever mix of months, quarters and years it sent. Flow KPIs add the parts up;
stock KPIs (``time_aggregation: last``) take the latest part.

The additive relations between cells (``Relation``) are what an attacker can combine: a parent
area is the sum of its areas, a year the sum of its quarters and a quarter of its months (flow
KPIs), a total the sum of the codes of each breakdown. Where a unit's own figures do not add up
(it reported the year and also quarters that sum to something else, or a total without its
breakdown), the difference is a *residual* cell: never published, itself a figure about the
units behind it, and protected like any other (see ``disclosure``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kpi_api.vocabulary import Aggregation, Level, Parts, PeriodType
from kpi_api.vocabulary import Number as Number

NATIONAL = "NL01"
# Members compared with per row and per cell, bound once (see ``kpi_api.vocabulary``).
_NATIONAL, _PROVINCE, _MUNICIPALITY = Level.national, Level.province, Level.municipality
_SUM, _RATIO = Aggregation.sum, Aggregation.ratio_of_sums
_QUARTER, _MONTH = PeriodType.quarter, PeriodType.month
#: The municipality layer on today's boundaries.
CURRENT = "current"
#: Layers of the geography: the levels, and ``current``.
LAYERS = (_NATIONAL, _PROVINCE, _MUNICIPALITY, CURRENT)
#: Marks a residual: a period code ending in it (time), or a key ``dimension=~`` (breakdown).
RESIDUAL = "~"

#: The additive parts of a figure: value, numerator, denominator, mean × n, n.
Vals = Parts
ZERO: Vals = (0, 0, 0, 0, 0)
#: A cell: (layer, area, period code, disaggregation key: "" or "dimension=code").
Key = tuple[str, str, str, str]


def add(a: Vals, b: Vals) -> Vals:
    """The parts of ``a`` plus those of ``b``, part by part."""
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4])


def sub(a: Vals, b: Vals) -> Vals:
    """The parts of ``a`` minus those of ``b``, part by part."""
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4])


def exact(x: float | None) -> Number:
    """A stored value as the exact decimal that was submitted (floats keep up to 15 significant
    digits, and validation bounds every value well within that); 0 for None."""
    if x is None:
        return 0
    if x == int(x):
        return int(x)
    return Decimal(repr(x))


def vals_of(
    aggregation: str, value: float | None, num: float | None, den: float | None, n: int | None
) -> Vals:
    """The additive parts of one measurement, exactly: (value, 0, 0, 0, 0) for ``sum``, (0,
    numerator, denominator, 0, 0) for ``ratio_of_sums``, (0, 0, 0, mean × n, n) for
    ``weighted_mean``."""
    if aggregation == _SUM:
        return (exact(value), 0, 0, 0, 0)
    if aggregation == _RATIO:
        return (0, exact(num), exact(den), 0, 0)
    count = int(n or 0)
    return (0, 0, 0, exact(value) * count, count)


@dataclass(frozen=True, slots=True)
class Measurement:
    """A current (or as-of) measurement, as the linked table needs it."""

    organisation: str
    municipality: str
    period: str  # 2024, 2024-Q1 or 2024-03
    key: str  # "" (total) or "dimension=code"
    vals: Vals
    kpi_version: int


@dataclass(frozen=True, slots=True)
class Contribution:
    """One unit's rolled-up figure for one target period and key."""

    organisation: str
    municipality: str
    period: str
    key: str
    vals: Vals
    version_min: int
    version_max: int


@dataclass(slots=True)
class Cell:
    """One figure of the linked table: its summed parts, each organisation's own parts, the
    municipalities behind it, the KPI versions it spans, and what disclosure decided."""

    vals: Vals = ZERO
    by_org: dict[str, Vals] = field(default_factory=dict)
    municipalities: set[str] = field(default_factory=set)  # as reported
    current: set[str] = field(default_factory=set)  # today's municipalities behind it
    version_min: int = 1 << 30
    version_max: int = 0
    residual: bool = False
    hidden: bool = False
    sensitive: bool = False  # hiding it protects someone (primary): it must stay undetermined
    reason: str | None = None

    @property
    def organisations(self) -> int:
        """How many organisations the cell rests on."""
        return len(self.by_org)


@dataclass(frozen=True, slots=True)
class Relation:
    """``total = Σ parts (+ residual)``: the cells that add up, by key."""

    total: Key
    parts: tuple[Key, ...]
    residual: Key | None

    @property
    def members(self) -> tuple[Key, ...]:
        """Every cell of the relation: the total, its parts, and the residual if any."""
        extra = (self.residual,) if self.residual is not None else ()
        return (self.total, *self.parts, *extra)


@dataclass(frozen=True)
class Place:
    """Where a municipality (as reported) lies: its province and today's municipality."""

    province: str
    current: str | None  # None: split since (counted in its province, in no municipality)


# --- periods of a year ------------------------------------------------------------------------


def targets(period_types: Iterable[str]) -> tuple[str, ...]:
    """Target period types: every type no finer than the finest the KPI is measured in."""
    order = PeriodType.coarsest_first(PeriodType)
    finest = max(PeriodType(t).fineness for t in period_types)
    return tuple(order[: finest + 1])


def periods_of(year: int, types: tuple[str, ...]) -> list[str]:
    """The period codes of ``year`` among the target types: the year, its quarters, then its
    months."""
    out = [f"{year:04d}"]
    if _QUARTER in types:
        out += [f"{year:04d}-Q{q}" for q in range(1, 5)]
    if _MONTH in types:
        out += [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    return out


def children(period: str, types: tuple[str, ...]) -> list[str]:
    """The parts of a period one level down among the target types ([] for the finest)."""
    if len(period) == 4:
        if _QUARTER in types:
            return [f"{period}-Q{q}" for q in range(1, 5)]
        if _MONTH in types:
            return [f"{period}-{m:02d}" for m in range(1, 13)]
        return []
    if period[5] == "Q" and _MONTH in types:
        first = 3 * (int(period[6]) - 1) + 1
        return [f"{period[:4]}-{m:02d}" for m in range(first, first + 3)]
    return []


# --- roll-up ----------------------------------------------------------------------------------

_Part = tuple[Vals, int, int]  # vals, lowest and highest KPI version behind them


def _combine(parts: list[_Part], stock: bool) -> _Part | None:
    if not parts:
        return None
    if stock:
        return parts[-1]  # the latest: parts come in calendar order
    total: Vals = ZERO
    for vals, _, _ in parts:
        total = add(total, vals)
    return total, min(p[1] for p in parts), max(p[2] for p in parts)


def rollup(
    reported: Mapping[str, _Part], year: int, types: tuple[str, ...], stock: bool
) -> dict[str, _Part]:
    """One unit's figure per target period from what it reported (see the module doc), by period
    code: (parts, lowest and highest KPI version behind them)."""
    out: dict[str, _Part] = {}

    def cell(period: str) -> _Part | None:
        if period in out:
            return out[period]
        got = reported.get(period)
        if got is None:
            got = _combine([p for c in children(period, types) if (p := cell(c))], stock)
        if got is not None:
            out[period] = got
        return got

    for period in periods_of(year, types):
        cell(period)
    return out


def contributions(
    measurements: Iterable[Measurement], *, year: int, types: tuple[str, ...], stock: bool
) -> list[Contribution]:
    """Every unit's rolled-up figure per target period and key."""
    units: dict[tuple[str, str, str], dict[str, _Part]] = defaultdict(dict)
    for m in measurements:
        units[(m.organisation, m.municipality, m.key)][m.period] = (
            m.vals,
            m.kpi_version,
            m.kpi_version,
        )
    out = []
    for (org, muni, key), reported in units.items():
        for period, (vals, lo, hi) in rollup(reported, year, types, stock).items():
            out.append(Contribution(org, muni, period, key, vals, lo, hi))
    return out


def residuals(
    contribs: list[Contribution], *, types: tuple[str, ...], stock: bool
) -> list[Contribution]:
    """Per unit, where its own figures do not add up: period − Σ its parts (flow KPIs) and
    total − Σ codes of each breakdown; none where the unit sent both sides and they agree."""
    by_unit: dict[tuple[str, str], dict[tuple[str, str], Contribution]] = defaultdict(dict)
    for c in contribs:
        by_unit[(c.organisation, c.municipality)][(c.period, c.key)] = c
    # Every breakdown of the table: a unit that sent a total without it adds to its residual.
    dimensions = {c.key.split("=", 1)[0] for c in contribs if c.key}
    out = []
    for (org, muni), own in by_unit.items():
        keys = {k for _, k in own}
        periods = {p for p, _ in own}

        def diff(total: Contribution | None, parts: list[Contribution]) -> _Part | None:
            if total is None and not parts:
                return None
            vals = total.vals if total else ZERO
            for p in parts:
                vals = sub(vals, p.vals)
            # Nothing left over, where the unit sent both sides: the relation holds exactly.
            # One side alone leaves a residual even at zero (nobody can know it is zero).
            if not any(vals) and total is not None and parts:
                return None
            every = ([total] if total else []) + parts
            return vals, min(c.version_min for c in every), max(c.version_max for c in every)

        if not stock:
            for key in keys:
                for period in periods:
                    kids = children(period, types)
                    if not kids:
                        continue
                    parts = [own[(k, key)] for k in kids if (k, key) in own]
                    if (got := diff(own.get((period, key)), parts)) is not None:
                        out.append(Contribution(org, muni, period + RESIDUAL, key, *got))
        for dimension in sorted(dimensions):
            for period in periods:
                parts = [
                    c for (p, k), c in own.items() if p == period and k.startswith(dimension + "=")
                ]
                if (got := diff(own.get((period, "")), parts)) is not None:
                    out.append(Contribution(org, muni, period, f"{dimension}={RESIDUAL}", *got))
    return out


# --- the table ----------------------------------------------------------------------------------


def is_residual(key: Key) -> bool:
    """Whether a cell is a residual (never published): its period or its code ends in ``~``."""
    return key[2].endswith(RESIDUAL) or key[3].endswith("=" + RESIDUAL)


def build(contribs: Iterable[Contribution], places: Mapping[str, Place]) -> dict[Key, Cell]:
    """Add every contribution into its cell of each layer; the cells by key. A municipality missing
    from ``places`` counts nationally only; residual cells come back hidden."""
    cells: dict[Key, Cell] = {}
    for c in contribs:
        place = places.get(c.municipality)
        if place is None:  # not in the reference data: counts nationally only
            areas: list[tuple[str, str]] = [(_NATIONAL, NATIONAL)]
        else:
            areas = [
                (_NATIONAL, NATIONAL),
                (_PROVINCE, place.province),
                (_MUNICIPALITY, c.municipality),
            ]
            if place.current is not None:
                areas.append((CURRENT, place.current))
        for layer, area in areas:
            key = (layer, area, c.period, c.key)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = Cell(residual=is_residual(key))
            cell.vals = add(cell.vals, c.vals)
            own = cell.by_org.get(c.organisation)
            cell.by_org[c.organisation] = c.vals if own is None else add(own, c.vals)
            cell.municipalities.add(c.municipality)
            if place is not None and place.current is not None:
                cell.current.add(place.current)
            cell.version_min = min(cell.version_min, c.version_min)
            cell.version_max = max(cell.version_max, c.version_max)
    for cell in cells.values():
        if cell.residual:
            cell.hidden = True  # never published
    return cells


def relations(
    cells: Mapping[Key, Cell], places: Mapping[str, Place], *, types: tuple[str, ...], stock: bool
) -> list[Relation]:
    """Every additive relation between cells (parts and residuals that exist)."""
    groups: dict[Key, list[Key]] = defaultdict(list)
    for key in cells:
        if is_residual(key):
            continue
        layer, area, period, code = key
        if layer == _PROVINCE:
            groups[(_NATIONAL, NATIONAL, period, code)].append(key)
        elif layer == _MUNICIPALITY and (place := places.get(area)) is not None:
            groups[(_PROVINCE, place.province, period, code)].append(key)
            if place.current is not None:
                groups[(CURRENT, place.current, period, code)].append(key)
    out = [Relation(total, tuple(sorted(parts)), None) for total, parts in groups.items()]
    present = {(k[0], k[1], k[2]) for k in cells if not is_residual(k)}
    keys_at: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for k in cells:
        if not k[2].endswith(RESIDUAL):
            keys_at[(k[0], k[1], k[2])].add(k[3])
    for layer, area, period in present:
        codes = keys_at[(layer, area, period)]
        if not stock:
            kids = children(period, types)
            for code in (c for c in codes if not c.endswith("=" + RESIDUAL)) if kids else ():
                parts = tuple(
                    (layer, area, k, code) for k in kids if (layer, area, k, code) in cells
                )
                rest: Key = (layer, area, period + RESIDUAL, code)
                out.append(
                    Relation((layer, area, period, code), parts, rest if rest in cells else None)
                )
        for dimension in sorted({c.split("=", 1)[0] for c in codes if c}):
            parts = tuple(
                sorted(
                    (layer, area, period, c)
                    for c in codes
                    if c.startswith(dimension + "=") and not c.endswith("=" + RESIDUAL)
                )
            )
            rest = (layer, area, period, f"{dimension}={RESIDUAL}")
            out.append(Relation((layer, area, period, ""), parts, rest if rest in cells else None))
    return out
