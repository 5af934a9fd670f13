"""ORM tables of submissions and measurements.

A measurement *series* is one natural key (organisation, KPI, period, municipality,
disaggregation); its *versions* are every value ever accepted for it. A correction adds a
version and marks the previous one superseded; a withdrawal adds a tombstone version. Nothing
is updated in place except the superseded marker, nothing is deleted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kpi_api.db import Base, JSONType, UTCDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Submission(Base):
    """One request from a vendor: its raw body, outcome and report, kept for audit."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("vendor_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendor.id"), index=True)
    api_key_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    content_type: Mapped[str] = mapped_column(String(100))
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    body_sha256: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_sha256: Mapped[str] = mapped_column(String(64))


class MeasurementSeries(Base):
    __tablename__ = "measurement_series"
    __table_args__ = (
        UniqueConstraint(
            "organisation_id", "kpi_code", "period", "municipality_code", "disaggregation_key"
        ),
    )

    # No foreign keys on the two fact tables (migration 0005): the transaction that stores a
    # batch checks or makes every reference itself (the organisation is authorised, the KPI
    # version published, the municipality known, in the same transaction), no parent row is
    # ever deleted, and a trigger per row would double the cost of an insert.
    # tests/test_integrity.py checks the references.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    kpi_code: Mapped[str] = mapped_column(String(40), index=True)
    period: Mapped[str] = mapped_column(String(7))
    period_type: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    municipality_code: Mapped[str] = mapped_column(String(6))
    disaggregation_key: Mapped[str] = mapped_column(String(500), default="")
    disaggregation: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)


class MeasurementVersion(Base):
    """One accepted value of a series.

    The series' key columns are repeated here so aggregates read one table through the
    partial index of current versions, and as-of queries through (kpi_code, created_at).
    """

    __tablename__ = "measurement_version"
    __table_args__ = (
        UniqueConstraint("series_id", "version"),
        # Aggregates read current versions of one KPI and period type from this index alone
        # (PostgreSQL: an index-only scan thanks to the INCLUDE columns).
        Index(
            "ix_measurement_version_current_kpi",
            "kpi_code",
            "period_type",
            "disaggregation_key",
            "period_start",
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
            postgresql_include=[
                "organisation_id",
                "municipality_code",
                "period_end",
                "withdrawn",
                "value",
                "numerator",
                "denominator",
                "n",
                "kpi_version",
            ],
        ),
        Index("ix_measurement_version_kpi_created", "kpi_code", "created_at"),
        # Exactly one current version per series, even under concurrent writers.
        Index(
            "uq_measurement_version_current",
            "series_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign keys (see MeasurementSeries): series, submission and vendor are made or
    # authenticated by the transaction that stores the version.
    series_id: Mapped[int] = mapped_column(BigId)
    version: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[str] = mapped_column(String(36))
    kpi_code: Mapped[str] = mapped_column(String(40))
    period_type: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    municipality_code: Mapped[str] = mapped_column(String(6))
    # Byte order on PostgreSQL (migration 0007): a breakdown's prefix is then an index range.
    disaggregation_key: Mapped[str] = mapped_column(
        String(500).with_variant(String(500, collation="C"), "postgresql")
    )
    kpi_version: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    numerator: Mapped[float | None] = mapped_column(Float, nullable=True)
    denominator: Mapped[float | None] = mapped_column(Float, nullable=True)
    n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    submission_id: Mapped[str] = mapped_column(String(36), index=True)
    vendor_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)


class PeriodLock(Base):
    """A closed period: writes into any period overlapping it are refused."""

    __tablename__ = "period_lock"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str] = mapped_column(String(200))
