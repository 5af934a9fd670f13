"""Queries of figure releases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from kpi_api.disaggregation import dimension_keys
from kpi_api.publication.models import (
    FigureRelease,
    FigureReleaseKpi,
    ReleasedContribution,
    ReleasedFigure,
)
from kpi_api.statistics import linked
from kpi_api.submissions.models import MeasurementVersion

V = MeasurementVersion.__table__


def get(session: Session, release_id: str) -> FigureRelease | None:
    """The figure release with this id, or None."""
    return session.get(FigureRelease, release_id)


def of_period(session: Session, period: str) -> list[FigureRelease]:
    """The releases of a period, in sequence order."""
    stmt = select(FigureRelease).where(FigureRelease.period == period)
    return list(session.scalars(stmt.order_by(FigureRelease.sequence)))


def listing(session: Session, *, period: str | None, kpi: str | None) -> list[FigureRelease]:
    """Every release, of ``period`` and holding ``kpi`` where given, in the order they were
    released."""
    stmt = select(FigureRelease)
    if period is not None:
        stmt = stmt.where(FigureRelease.period == period)
    if kpi is not None:
        mine = select(FigureReleaseKpi.release_id).where(FigureReleaseKpi.kpi_code == kpi)
        stmt = stmt.where(FigureRelease.id.in_(mine))
    return list(session.scalars(stmt.order_by(FigureRelease.released_at, FigureRelease.id)))


def kpis_of(session: Session, release_ids: Iterable[str]) -> dict[str, list[FigureReleaseKpi]]:
    """The KPIs each release holds (by code), by release id; [] for a release with none."""
    ids = sorted(set(release_ids))
    out: dict[str, list[FigureReleaseKpi]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = select(FigureReleaseKpi).where(FigureReleaseKpi.release_id.in_(ids))
    for row in session.scalars(stmt.order_by(FigureReleaseKpi.kpi_code)):
        out[row.release_id].append(row)
    return out


def versions_followed(session: Session, release_ids: Iterable[str], kpi: str) -> dict[str, int]:
    """Per release, the KPI version (definition) its figures of ``kpi`` follow."""
    return {
        release_id: k.kpi_version
        for release_id, kpis in kpis_of(session, release_ids).items()
        for k in kpis
        if k.kpi_code == kpi
    }


def covering(
    session: Session, *, kpi: str, start: date, end: date, before: datetime | None
) -> list[FigureRelease]:
    """Releases of a KPI whose period overlaps [start, end], newest first."""
    mine = select(FigureReleaseKpi.release_id).where(FigureReleaseKpi.kpi_code == kpi)
    stmt = select(FigureRelease).where(
        FigureRelease.id.in_(mine),
        FigureRelease.period_start <= end,
        FigureRelease.period_end >= start,
    )
    if before is not None:
        stmt = stmt.where(FigureRelease.released_at <= before)
    return list(
        session.scalars(stmt.order_by(FigureRelease.released_at.desc(), FigureRelease.id.desc()))
    )


def kpis_with_data(session: Session, *, start: date, end: date) -> list[str]:
    """Codes of the KPIs with current (not withdrawn) measurements within a period, sorted."""
    stmt = (
        select(V.c.kpi_code)
        .where(
            V.c.is_current,
            V.c.withdrawn.is_(False),
            V.c.period_start >= start,
            V.c.period_end <= end,
        )
        .distinct()
        .order_by(V.c.kpi_code)
    )
    return list(session.scalars(stmt))


def final_overlapping(session: Session, *, start: date, end: date) -> FigureRelease | None:
    """A final release whose period overlaps [start, end], if any."""
    stmt = select(FigureRelease).where(
        FigureRelease.status == "final",
        FigureRelease.period_start <= end,
        FigureRelease.period_end >= start,
    )
    return session.scalars(stmt.limit(1)).first()


def next_sequence(session: Session, period: str) -> int:
    """The sequence number the next release of ``period`` gets (1 for the first)."""
    stmt = select(func.max(FigureRelease.sequence)).where(FigureRelease.period == period)
    return (session.scalar(stmt) or 0) + 1


def _text(x: linked.Number) -> str:
    return str(x)


def _number(x: str) -> linked.Number:
    return Decimal(x) if "." in x or "E" in x else int(x)


def store(
    session: Session,
    *,
    release_id: str,
    kpi: str,
    cells: dict[linked.Key, linked.Cell],
    contributions: Sequence[linked.Contribution],
    other: Mapping[linked.Key, tuple[int, int]] | None = None,
) -> None:
    """Keep a KPI's released cells (values of published cells only) and contributions;
    ``other``: per cell, organisations and municipalities under another definition."""
    other = other or {}

    def row(key: linked.Key, **columns: Any) -> dict[str, Any]:
        layer, area, period, code = key
        organisations, municipalities = other.get(key, (0, 0))
        return {
            "release_id": release_id,
            "kpi_code": kpi,
            "layer": layer,
            "area": area,
            "period": period,
            "disaggregation_key": code,
            "organisations_other_definition": organisations,
            "municipalities_other_definition": municipalities,
            **columns,
        }

    figures = []
    for key, cell in cells.items():
        if cell.residual:
            continue
        shown = None if cell.hidden else [_text(x) for x in cell.vals]
        figures.append(
            row(
                key,
                value=shown[0] if shown else None,
                numerator=shown[1] if shown else None,
                denominator=shown[2] if shown else None,
                weighted=shown[3] if shown else None,
                n=shown[4] if shown else None,
                suppressed=cell.hidden,
                reason=cell.reason if cell.hidden else None,
                organisations=cell.organisations,
                municipalities=len(cell.municipalities),
                municipalities_current=len(cell.current),
                version_min=cell.version_min,
                version_max=cell.version_max,
            )
        )
    nothing = dict.fromkeys(("value", "numerator", "denominator", "weighted", "n", "reason"))
    counts = dict.fromkeys(("organisations", "municipalities", "municipalities_current"), 0)
    for key in other.keys() - cells.keys():
        # Nothing under the definition, only under another: kept as missing, with why.
        figures.append(
            row(key, **nothing, **counts, suppressed=False, version_min=0, version_max=0)
        )
    if figures:
        session.execute(insert(ReleasedFigure), figures)
    units = [
        {
            "release_id": release_id,
            "kpi_code": kpi,
            "organisation_id": c.organisation,
            "municipality_code": c.municipality,
            "period": c.period,
            "disaggregation_key": c.key,
            "value": _text(c.vals[0]),
            "numerator": _text(c.vals[1]),
            "denominator": _text(c.vals[2]),
            "weighted": _text(c.vals[3]),
            "n": _text(c.vals[4]),
            "version_min": c.version_min,
            "version_max": c.version_max,
        }
        for c in contributions
    ]
    if units:
        session.execute(insert(ReleasedContribution), units)


def contributions(session: Session, *, release_id: str, kpi: str) -> list[linked.Contribution]:
    """A release's stored contributions of a KPI, as the linked table's ``Contribution``s (parts
    exact again: ``int`` or ``Decimal``)."""
    R = ReleasedContribution
    stmt = select(
        R.organisation_id,
        R.municipality_code,
        R.period,
        R.disaggregation_key,
        R.value,
        R.numerator,
        R.denominator,
        R.weighted,
        R.n,
        R.version_min,
        R.version_max,
    ).where(R.release_id == release_id, R.kpi_code == kpi)
    n = _number
    return [
        linked.Contribution(org, muni, period, key, (n(v), n(a), n(b), n(w), n(k)), lo, hi)
        for org, muni, period, key, v, a, b, w, k, lo, hi in session.execute(stmt)
    ]


def verdicts(session: Session, *, release_id: str, kpi: str) -> dict[linked.Key, str | None]:
    """Each released cell's suppression reason (None: published), by cell key (layer, area, period,
    disaggregation key)."""
    F = ReleasedFigure
    stmt = select(F.layer, F.area, F.period, F.disaggregation_key, F.suppressed, F.reason).where(
        F.release_id == release_id, F.kpi_code == kpi
    )
    return {
        (a, b, c, d): (reason or "secondary") if hidden else None
        for a, b, c, d, hidden, reason in session.execute(stmt)
    }


def figures(
    session: Session,
    *,
    kpi: str,
    layer: str,
    release_ids: Sequence[str],
    periods: Sequence[str],
    dimension: str | None,
    area: str | None,
) -> list[Any]:
    """Released cells as plain rows (columns of ``ReleasedFigure``): one index range per
    request, no ORM objects to build. ``area``: one area only (else all of the layer)."""
    F = ReleasedFigure.__table__
    keys = dimension_keys(F.c.disaggregation_key, dimension)
    stmt = select(F).where(
        F.c.kpi_code == kpi,
        F.c.layer == layer,
        F.c.period.in_(sorted(set(periods))),
        F.c.release_id.in_(sorted(set(release_ids))),
        keys,
    )
    if area is not None:
        stmt = stmt.where(F.c.area == area)
    return list(session.execute(stmt))


def parts(row: Any) -> linked.Vals | None:
    """A released row's additive parts (value, numerator, denominator, mean × n, n), exact; None
    when the cell was suppressed or has no figure."""
    if row.suppressed or row.value is None:
        return None
    n = _number
    return (
        n(row.value),
        n(row.numerator or "0"),
        n(row.denominator or "0"),
        n(row.weighted or "0"),
        n(row.n or "0"),
    )
