"""The aggregation query: one SQL statement per request, grouped in the database."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    distinct,
    extract,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kpi_api.aggregates.models import AggregateRevision
from kpi_api.reference.models import Municipality
from kpi_api.registry.models import VendorOrganisation
from kpi_api.submissions.models import MeasurementVersion

V = MeasurementVersion.__table__
M = Municipality.__table__
_FINENESS = {"year": 0, "quarter": 1, "month": 2}


@dataclass(frozen=True)
class Query:
    kpi: str
    level: str  # national | province | municipality
    period_type: str
    start: date  # first day of the first target period
    end: date  # last day of the last target period
    source_types: tuple[str, ...]  # the target type and the finer types allowed to roll up
    stock: bool  # time aggregation "last"
    dimension: str | None
    boundaries: str  # reported | current
    province: str | None  # limit to one province (its municipalities, or itself)
    vendor_id: str | None
    as_of: datetime | None


@dataclass(frozen=True, slots=True)  # slots: the figure cache keeps many
class Row:
    area: str
    province: str | None
    bucket: int
    code: str | None
    value: float
    numerator: float
    denominator: float
    weighted: float
    n: float
    organisations: int
    municipalities: int
    kpi_version_min: int
    kpi_version_max: int


def bucket_of(period_type: str, year: int, month: int) -> int:
    """The integer bucket the database computes for a period start (see ``_bucket``)."""
    if period_type == "year":
        return year
    if period_type == "quarter":
        return year * 10 + (month - 1) // 3 + 1
    return year * 100 + month


def _bucket(period_type: str) -> ColumnElement[Any]:
    # Integers on both backends, so (month - 1) / 3 divides as integers.
    year = cast(extract("year", V.c.period_start), Integer)
    month = cast(extract("month", V.c.period_start), Integer)
    if period_type == "year":
        return year
    if period_type == "quarter":
        return year * 10 + (month - 1) // 3 + 1
    return year * 100 + month


def _visible(q: Query) -> list[ColumnElement[bool]]:
    if q.as_of is None:
        alive = [V.c.is_current, V.c.withdrawn.is_(False)]
    else:
        alive = [
            V.c.created_at <= q.as_of,
            or_(V.c.superseded_at.is_(None), V.c.superseded_at > q.as_of),
            V.c.withdrawn.is_(False),
        ]
    return alive


def _scope(q: Query) -> list[ColumnElement[bool]]:
    """A vendor sees aggregates of its own organisations only."""
    if q.vendor_id is None:
        return []
    mine = select(VendorOrganisation.organisation_id).where(
        VendorOrganisation.vendor_id == q.vendor_id
    )
    return [V.c.organisation_id.in_(mine)]


def _dimension_filter(q: Query) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    if q.dimension is None:
        return V.c.disaggregation_key == "", literal(None)
    prefix = q.dimension + "="
    # The keys "dimension=code" (one dimension only), as a range of the index: in byte order
    # (COLLATE "C", migration 0007) exactly the keys after "dimension=" and before "dimension>"
    # start with "dimension=" ('>' follows '='), and every code is at least one character.
    single = and_(
        V.c.disaggregation_key > prefix,
        V.c.disaggregation_key < q.dimension + ">",
        V.c.disaggregation_key.not_like("%;%"),
    )
    return single, func.substr(V.c.disaggregation_key, len(prefix) + 1)


def _filters(q: Query, dimension_ok: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """What selects the measurements behind a query's figures (and their notes)."""
    out = [
        V.c.kpi_code == q.kpi,
        V.c.period_start >= q.start,
        V.c.period_end <= q.end,
        dimension_ok,
        *_visible(q),
        *_scope(q),
    ]
    if q.province is not None:
        out.append(M.c.province_code == q.province)
    if q.level == "municipality" and q.boundaries == "current":
        out.append(M.c.current_code.is_not(None))
    return out


def _needs_geography(q: Query) -> bool:
    """Whether the query needs the municipality table (else it reads one index alone)."""
    return q.level == "province" or q.boundaries == "current" or q.province is not None


def _source(q: Query) -> Any:
    return V.join(M, M.c.code == V.c.municipality_code) if _needs_geography(q) else V


def _present_types(session: Session, q: Query, base: list[ColumnElement[bool]]) -> list[str]:
    """The source period types that have data in the range: one index probe each."""
    present = []
    for period_type in q.source_types:
        probe = (
            select(literal(1))
            .select_from(_source(q))
            .where(*base, V.c.period_type == period_type)
            .limit(1)
        )
        if session.execute(probe).first() is not None:
            present.append(period_type)
    return present


def aggregate(session: Session, q: Query) -> list[Row]:
    dimension_ok, code = _dimension_filter(q)
    muni: ColumnElement[Any] = (
        M.c.current_code if q.boundaries == "current" else V.c.municipality_code
    )
    province = M.c.province_code if _needs_geography(q) else literal(None)
    area = {"national": literal("NL01"), "province": province, "municipality": muni}[q.level]
    base = _filters(q, dimension_ok)
    types = _present_types(session, q, base)
    if not types:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # Grouping a national time series sorts ~10^5 rows: keep that sort in memory.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    # With one period type present there is nothing to choose between; a flow then simply
    # sums, and so does a stock figure asked for at the period type it was reported in.
    needs_choice = len(types) > 1 or (q.stock and types[0] != q.period_type)
    rank = case(*((V.c.period_type == t, _FINENESS[t]) for t in types), else_=99)
    src = (
        select(
            V.c.organisation_id.label("org"),
            V.c.municipality_code.label("unit_muni"),
            muni.label("muni"),
            area.label("area"),
            province.label("province"),
            _bucket(q.period_type).label("bucket"),
            code.label("code"),
            V.c.period_end.label("pend"),
            V.c.value.label("value"),
            V.c.numerator.label("numerator"),
            V.c.denominator.label("denominator"),
            V.c.n.label("n"),
            V.c.kpi_version.label("kpi_version"),
            rank.label("rank"),
        )
        .select_from(_source(q))
        .where(*base, V.c.period_type.in_(types))
        .cte("src")
    )
    if needs_choice:
        unit = [src.c.org, src.c.unit_muni, src.c.bucket, src.c.code]
        ranked = select(
            src,
            # A unit (organisation in a municipality) that reported the target period itself
            # is taken as reported; otherwise its finer periods are rolled up, never both.
            func.min(src.c.rank).over(partition_by=unit).label("best"),
            func.max(src.c.pend).over(partition_by=[*unit, src.c.rank]).label("last_end"),
        ).cte("ranked")
        keep = [ranked.c.rank == ranked.c.best]
        if q.stock:
            keep.append(ranked.c.pend == ranked.c.last_end)
        r = ranked.c
    else:
        keep, r = [], src.c
    stmt = (
        select(
            r.area,
            func.min(r.province),
            r.bucket,
            r.code,
            func.coalesce(func.sum(r.value), 0.0),
            func.coalesce(func.sum(r.numerator), 0.0),
            func.coalesce(func.sum(r.denominator), 0.0),
            func.coalesce(func.sum(r.value * r.n), 0.0),
            func.coalesce(func.sum(r.n), 0.0),
            func.count(distinct(r.org)),
            func.count(distinct(r.muni)),
            func.min(r.kpi_version),
            func.max(r.kpi_version),
        )
        .where(*keep)
        .group_by(r.area, r.bucket, r.code)
    )
    return [
        Row(
            area=row[0],
            province=row[1],
            bucket=int(row[2]),
            code=row[3],
            value=float(row[4]),
            numerator=float(row[5]),
            denominator=float(row[6]),
            weighted=float(row[7]),
            n=float(row[8]),
            organisations=int(row[9]),
            municipalities=int(row[10]),
            kpi_version_min=int(row[11]),
            kpi_version_max=int(row[12]),
        )
        for row in session.execute(stmt)
    ]


def notes(session: Session, q: Query, limit: int) -> Sequence[Any]:
    """Notes organisations attached to the measurements behind the figures."""
    dimension_ok, code = _dimension_filter(q)
    conditions = [
        *_filters(q, dimension_ok),
        V.c.period_type.in_(q.source_types),
        V.c.note.is_not(None),
    ]
    stmt = (
        select(
            V.c.municipality_code,
            M.c.province_code,
            M.c.current_code,
            V.c.period_start,
            V.c.period_type,
            code,
            V.c.note,
        )
        .select_from(V.join(M, M.c.code == V.c.municipality_code))
        .where(*conditions)
        .order_by(V.c.period_start, V.c.municipality_code)
        .limit(limit)
    )
    return session.execute(stmt).all()


def latest_change(session: Session, q: Query) -> datetime | None:
    stmt = select(func.max(V.c.created_at)).where(V.c.kpi_code == q.kpi)
    if q.as_of is not None:
        stmt = stmt.where(V.c.created_at <= q.as_of)
    return session.scalar(stmt.where(*_scope(q)))


# --- revisions of the data behind cached figures (see cache.py) ---------------------------------


def revisions(session: Session, kpi: str, years: set[int]) -> dict[int, int]:
    """The current revision of each year of a KPI (a year never written has none)."""
    stmt = select(AggregateRevision.year, AggregateRevision.revision).where(
        AggregateRevision.kpi_code == kpi, AggregateRevision.year.in_(sorted(years))
    )
    return {year: revision for year, revision in session.execute(stmt)}


def bump_revisions(session: Session, changed: set[tuple[str, int]]) -> None:
    """Give each written (KPI, year) a new revision, in this (the writing) transaction.

    In key order, so that concurrent writers take the row locks in one order (no deadlock);
    do it last in a transaction, as each row stays locked until the commit.
    """
    if not changed:
        return
    revision = secrets.randbits(62)
    keys = sorted(changed)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _BUMP_PG,
            {"k": [k for k, _ in keys], "y": [y for _, y in keys], "r": revision},
        )
        return
    values = [{"kpi_code": k, "year": y, "revision": revision} for k, y in keys]
    stmt = sqlite_insert(AggregateRevision).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["kpi_code", "year"], set_={"revision": stmt.excluded.revision}
        )
    )


# One small statement, not a compiled multi-row INSERT per batch.
_BUMP_PG = text(
    """
    INSERT INTO aggregate_revision (kpi_code, year, revision)
    SELECT k, y, :r FROM unnest(CAST(:k AS text[]), CAST(:y AS int[])) AS t(k, y) ORDER BY k, y
    ON CONFLICT (kpi_code, year) DO UPDATE SET revision = excluded.revision
    """
)


def bump_all_revisions(session: Session) -> None:
    """Invalidate every cached figure (reference data, e.g. boundaries, changed)."""
    session.execute(update(AggregateRevision).values(revision=secrets.randbits(62)))
