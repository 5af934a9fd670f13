"""Queries of aggregates: the measurements behind a linked table, and notes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from kpi_api.agreements.models import Agreement, AgreementMunicipality, AgreementOrganisation
from kpi_api.disaggregation import dimension_keys
from kpi_api.reference.models import Municipality
from kpi_api.registry.models import VendorOrganisation
from kpi_api.statistics import linked
from kpi_api.submissions.models import MeasurementVersion
from kpi_api.vocabulary import PeriodType

V = MeasurementVersion.__table__
M = Municipality.__table__
# Members compared with per row, bound once (see ``kpi_api.vocabulary``).
_YEAR, _QUARTER = PeriodType.year, PeriodType.quarter


def _visible(as_of: datetime | None) -> list[ColumnElement[bool]]:
    if as_of is None:
        return [V.c.is_current, V.c.withdrawn.is_(False)]
    return [
        V.c.created_at <= as_of,
        or_(V.c.superseded_at.is_(None), V.c.superseded_at > as_of),
        V.c.withdrawn.is_(False),
    ]


def _scope(vendor_id: str | None) -> list[ColumnElement[bool]]:
    """A vendor sees figures of its own organisations only."""
    if vendor_id is None:
        return []
    mine = select(VendorOrganisation.organisation_id).where(
        VendorOrganisation.vendor_id == vendor_id
    )
    return [V.c.organisation_id.in_(mine)]


def _period_code(period_type: str, start: date) -> str:
    if period_type == _YEAR:
        return f"{start.year:04d}"
    if period_type == _QUARTER:
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}-{start.month:02d}"


def _in_year(
    kpi: str,
    year: int,
    period_types: tuple[str, ...],
    as_of: datetime | None,
    vendor_id: str | None,
) -> list[ColumnElement[bool]]:
    """Current (or as-of) measurements of a KPI in a year: totals and one-dimension breakdowns
    of these period types, of the vendor's organisations (if one)."""
    return [
        V.c.kpi_code == kpi,
        V.c.period_type.in_(period_types),
        V.c.period_start >= date(year, 1, 1),
        V.c.period_start <= date(year, 12, 31),
        V.c.disaggregation_key.not_like("%;%"),
        *_visible(as_of),
        *_scope(vendor_id),
    ]


def measurements(
    session: Session,
    *,
    kpi: str,
    year: int,
    aggregation: str,
    period_types: tuple[str, ...],
    as_of: datetime | None = None,
    vendor_id: str | None = None,
    versions: Sequence[int] | None = None,
    organisation_ids: Collection[str] | None = None,
    municipalities: Collection[str] | None = None,
) -> list[linked.Measurement]:
    """Current (or as-of) measurements of a KPI in a year: totals and one-dimension breakdowns,
    made under one of ``versions`` (one definition; None: any), of ``organisation_ids`` in
    ``municipalities`` (None: every one).

    Reads the covering index of current versions (PostgreSQL: index-only); values come back
    exactly as submitted (see ``linked.exact``).
    """
    stmt = select(
        V.c.organisation_id,
        V.c.municipality_code,
        V.c.period_type,
        V.c.period_start,
        V.c.disaggregation_key,
        V.c.value,
        V.c.numerator,
        V.c.denominator,
        V.c.n,
        V.c.kpi_version,
    ).where(*_in_year(kpi, year, period_types, as_of, vendor_id))
    if versions is not None:
        stmt = stmt.where(V.c.kpi_version.in_(sorted(versions)))
    if organisation_ids is not None:
        stmt = stmt.where(V.c.organisation_id.in_(sorted(organisation_ids)))
    if municipalities is not None:
        stmt = stmt.where(V.c.municipality_code.in_(sorted(municipalities)))
    vals_of, code = linked.vals_of, _period_code
    return [
        linked.Measurement(org, muni, code(ptype, start), key, vals_of(aggregation, v, a, b, n), kv)
        for org, muni, ptype, start, key, v, a, b, n, kv in session.execute(stmt)
    ]


def other_definition(
    session: Session,
    *,
    kpi: str,
    year: int,
    period_types: tuple[str, ...],
    versions: Sequence[int],
    as_of: datetime | None = None,
    vendor_id: str | None = None,
) -> list[linked.Measurement]:
    """Where measurements of a KPI in a year were made under versions *not* in ``versions``
    (another definition, across a series break): units, periods and keys only; their values
    are never added to a figure of this definition (``vals`` is a count of one)."""
    stmt = select(
        V.c.organisation_id,
        V.c.municipality_code,
        V.c.period_type,
        V.c.period_start,
        V.c.disaggregation_key,
        V.c.kpi_version,
    ).where(
        *_in_year(kpi, year, period_types, as_of, vendor_id),
        V.c.kpi_version.not_in(sorted(versions)),
    )
    one: linked.Vals = (1, 0, 0, 0, 0)
    return [
        linked.Measurement(org, muni, _period_code(ptype, start), key, one, kv)
        for org, muni, ptype, start, key, kv in session.execute(stmt)
    ]


def notes(
    session: Session,
    *,
    kpi: str,
    start: date,
    end: date,
    dimension: str | None,
    as_of: datetime | None,
    vendor_id: str | None,
    limit: int,
) -> Sequence[Any]:
    """Notes organisations attached to the measurements of a KPI in a range: (municipality,
    province, today's municipality, period start, disaggregation key, note, KPI version)."""
    keys = and_(
        dimension_keys(V.c.disaggregation_key, dimension), V.c.disaggregation_key.not_like("%;%")
    )
    stmt = (
        select(
            V.c.municipality_code,
            M.c.province_code,
            M.c.current_code,
            V.c.period_start,
            V.c.disaggregation_key,
            V.c.note,
            V.c.kpi_version,
        )
        .select_from(V.join(M, M.c.code == V.c.municipality_code))
        .where(
            V.c.kpi_code == kpi,
            V.c.period_start >= start,
            V.c.period_end <= end,
            keys,
            V.c.note.is_not(None),
            *_visible(as_of),
            *_scope(vendor_id),
        )
        .order_by(V.c.period_start, V.c.municipality_code)
        .limit(limit)
    )
    return session.execute(stmt).all()


def latest_change(
    session: Session, *, kpi: str, as_of: datetime | None, vendor_id: str | None
) -> datetime | None:
    """When a measurement version of the KPI was last written (up to ``as_of``; of the vendor's
    organisations if one), or None."""
    stmt = select(func.max(V.c.created_at)).where(V.c.kpi_code == kpi)
    if as_of is not None:
        stmt = stmt.where(V.c.created_at <= as_of)
    latest: datetime | None = session.scalar(stmt.where(*_scope(vendor_id)))
    return latest


def agreement_parties(session: Session) -> dict[str, set[str]]:
    """The municipalities that see each organisation's own figures through a signed-off
    agreement (active or ended), as ``"municipality:<code>"`` by organisation id."""
    stmt = (
        select(AgreementOrganisation.organisation_id, AgreementMunicipality.municipality_code)
        .join(Agreement, Agreement.id == AgreementOrganisation.agreement_id)
        .join(
            AgreementMunicipality,
            and_(
                AgreementMunicipality.agreement_id == Agreement.id,
                AgreementMunicipality.version == Agreement.current_version,
            ),
        )
        .where(
            AgreementOrganisation.version == Agreement.current_version,
            Agreement.status.in_(["active", "ended"]),
        )
    )
    out: dict[str, set[str]] = {}
    for org, municipality in session.execute(stmt):
        out.setdefault(org, set()).add(f"municipality:{municipality}")
    return out
