"""Queries and bulk writes of submissions and measurements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kpi_api.registry.models import Organisation, Vendor, VendorOrganisation
from kpi_api.submissions.models import (
    MeasurementSeries,
    MeasurementVersion,
    PeriodLock,
    Submission,
)

CHUNK = 2000
NaturalKey = tuple[str, str, str, str, str]


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def submission_by_key(session: Session, vendor_id: str, key: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(
            Submission.vendor_id == vendor_id, Submission.idempotency_key == key
        )
    )


def series_ids(session: Session, keys: Sequence[NaturalKey]) -> dict[NaturalKey, int]:
    """Ids of the series that exist among ``keys``."""
    out: dict[NaturalKey, int] = {}
    columns = (
        MeasurementSeries.organisation_id,
        MeasurementSeries.kpi_code,
        MeasurementSeries.period,
        MeasurementSeries.municipality_code,
        MeasurementSeries.disaggregation_key,
    )
    for chunk in _chunks(list(keys), 1000):
        rows = session.execute(
            select(MeasurementSeries.id, *columns).where(tuple_(*columns).in_(chunk))
        )
        for sid, *key in rows:
            out[tuple(key)] = sid  # type: ignore[index]
    return out


def insert_series(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert series, skipping any that a concurrent writer created first."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for chunk in _chunks(rows):
        session.execute(insert(MeasurementSeries).on_conflict_do_nothing(), list(chunk))


def current_versions(session: Session, ids: Sequence[int]) -> dict[int, MeasurementVersion]:
    out: dict[int, MeasurementVersion] = {}
    for chunk in _chunks(list(ids)):
        stmt = select(MeasurementVersion).where(
            MeasurementVersion.series_id.in_(chunk), MeasurementVersion.is_current
        )
        out.update((v.series_id, v) for v in session.scalars(stmt))
    return out


def supersede(session: Session, version_ids: Sequence[int], at: datetime) -> int:
    """Mark versions as no longer current; return how many were still current."""
    done = 0
    for chunk in _chunks(list(version_ids)):
        result = session.execute(
            update(MeasurementVersion)
            .where(MeasurementVersion.id.in_(chunk), MeasurementVersion.is_current)
            .values(is_current=False, superseded_at=at)
            .execution_options(synchronize_session=False)
        )
        done += result.rowcount
    return done


def insert_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        session.execute(MeasurementVersion.__table__.insert(), list(chunk))


def locks(session: Session) -> Sequence[PeriodLock]:
    return session.scalars(select(PeriodLock).order_by(PeriodLock.period_start)).all()


def _visible_series(stmt: Select[Any], vendor_id: str | None) -> Select[Any]:
    if vendor_id is None:
        return stmt
    return stmt.join(
        VendorOrganisation,
        and_(
            VendorOrganisation.organisation_id == MeasurementSeries.organisation_id,
            VendorOrganisation.vendor_id == vendor_id,
        ),
    )


def current_measurements(
    session: Session,
    *,
    vendor_id: str | None,
    organisation: str | None,
    kpi: str | None,
    period: str | None,
    municipality: str | None,
    after_id: int | None,
    limit: int,
) -> Sequence[Any]:
    stmt = (
        select(MeasurementSeries, MeasurementVersion, Organisation.code)
        .join(MeasurementVersion, MeasurementVersion.series_id == MeasurementSeries.id)
        .join(Organisation, Organisation.id == MeasurementSeries.organisation_id)
        .where(MeasurementVersion.is_current, MeasurementVersion.withdrawn.is_(False))
        .order_by(MeasurementSeries.id)
        .limit(limit)
    )
    stmt = _visible_series(stmt, vendor_id)
    if organisation is not None:
        stmt = stmt.where(Organisation.code == organisation)
    if kpi is not None:
        stmt = stmt.where(MeasurementSeries.kpi_code == kpi)
    if period is not None:
        stmt = stmt.where(MeasurementSeries.period == period)
    if municipality is not None:
        stmt = stmt.where(MeasurementSeries.municipality_code == municipality)
    if after_id is not None:
        stmt = stmt.where(MeasurementSeries.id > after_id)
    return session.execute(stmt).all()


def series(session: Session, series_id: int, vendor_id: str | None) -> Any:
    stmt = (
        select(MeasurementSeries, Organisation.code)
        .join(Organisation, Organisation.id == MeasurementSeries.organisation_id)
        .where(MeasurementSeries.id == series_id)
    )
    return session.execute(_visible_series(stmt, vendor_id)).first()


def history(session: Session, series_id: int) -> Sequence[Any]:
    return session.execute(
        select(MeasurementVersion, Vendor.name)
        .join(Vendor, Vendor.id == MeasurementVersion.vendor_id)
        .where(MeasurementVersion.series_id == series_id)
        .order_by(MeasurementVersion.version)
    ).all()
