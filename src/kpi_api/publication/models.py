"""ORM tables of figure releases: publication moments and the figures they published."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kpi_api.db import Base, UTCDateTime, utcnow


class FigureRelease(Base):
    """A publication moment: the figures of some KPIs for one period, as released then."""

    __tablename__ = "figure_release"
    __table_args__ = (UniqueConstraint("period", "sequence"),)

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # 2024-r1, 2025-Q1-r2
    period: Mapped[str] = mapped_column(String(7), index=True)
    period_type: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_by: Mapped[str] = mapped_column(String(200))
    min_organisations: Mapped[int] = mapped_column(Integer)
    min_people: Mapped[int] = mapped_column(Integer)
    dominance: Mapped[float] = mapped_column(Float)


class FigureReleaseKpi(Base):
    """A KPI in a release, with the definition its figures follow."""

    __tablename__ = "figure_release_kpi"

    release_id: Mapped[str] = mapped_column(
        ForeignKey("figure_release.id", ondelete="CASCADE"), primary_key=True
    )
    kpi_code: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    kpi_version: Mapped[int] = mapped_column(Integer)
    cells: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[int] = mapped_column(Integer)


class ReleasedFigure(Base):
    """One cell as released. A suppressed cell stores no value at all."""

    __tablename__ = "released_figure"
    __table_args__ = (
        Index("ix_released_figure_read", "kpi_code", "layer", "period", "release_id"),
    )

    release_id: Mapped[str] = mapped_column(
        ForeignKey("figure_release.id", ondelete="CASCADE"), primary_key=True
    )
    kpi_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    layer: Mapped[str] = mapped_column(String(12), primary_key=True)
    area: Mapped[str] = mapped_column(String(6), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    # Byte order on PostgreSQL, as in measurement_version: a breakdown is an index range.
    disaggregation_key: Mapped[str] = mapped_column(
        String(500).with_variant(String(500, collation="C"), "postgresql"), primary_key=True
    )
    # The additive parts as exact decimal text (null when suppressed).
    value: Mapped[str | None] = mapped_column(String(40), nullable=True)
    numerator: Mapped[str | None] = mapped_column(String(40), nullable=True)
    denominator: Mapped[str | None] = mapped_column(String(40), nullable=True)
    weighted: Mapped[str | None] = mapped_column(String(60), nullable=True)
    n: Mapped[str | None] = mapped_column(String(40), nullable=True)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    organisations: Mapped[int] = mapped_column(Integer)
    municipalities: Mapped[int] = mapped_column(Integer)
    municipalities_current: Mapped[int] = mapped_column(Integer)
    version_min: Mapped[int] = mapped_column(Integer)
    version_max: Mapped[int] = mapped_column(Integer)
    # Organisations and municipalities whose measurements for the cell were made under another
    # definition (across a series break) and are not added in.
    organisations_other_definition: Mapped[int] = mapped_column(Integer, default=0)
    municipalities_other_definition: Mapped[int] = mapped_column(Integer, default=0)


class ReleasedContribution(Base):
    """What each unit (organisation in a municipality) contributed to a release, rolled up:
    kept so that the next release of the period can tell what changed, and by whom. Never
    served."""

    __tablename__ = "released_contribution"

    release_id: Mapped[str] = mapped_column(
        ForeignKey("figure_release.id", ondelete="CASCADE"), primary_key=True
    )
    kpi_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    disaggregation_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    value: Mapped[str] = mapped_column(String(40))
    numerator: Mapped[str] = mapped_column(String(40))
    denominator: Mapped[str] = mapped_column(String(40))
    weighted: Mapped[str] = mapped_column(String(60))
    n: Mapped[str] = mapped_column(String(40))
    version_min: Mapped[int] = mapped_column(Integer)
    version_max: Mapped[int] = mapped_column(Integer)
