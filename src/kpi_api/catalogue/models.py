"""ORM tables of the catalogue."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kpi_api.db import Base, JSONType, UTCDateTime, utcnow


class LifeDomain(Base):
    __tablename__ = "life_domain"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_nl: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_nl: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")


class WorkField(Base):
    __tablename__ = "work_field"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_nl: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class CodeList(Base):
    __tablename__ = "code_list"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_nl: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_nl: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    pattern: Mapped[str | None] = mapped_column(String(200), nullable=True)
    items: Mapped[list[CodeListItem]] = relationship(
        order_by="CodeListItem.position", cascade="all, delete-orphan", lazy="selectin"
    )


class CodeListItem(Base):
    __tablename__ = "code_list_item"

    code_list_code: Mapped[str] = mapped_column(
        ForeignKey("code_list.code", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_nl: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class Kpi(Base):
    """A KPI's identity; its meaning lives in its versions."""

    __tablename__ = "kpi"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    layer: Mapped[str] = mapped_column(String(20), index=True)
    life_domain_code: Mapped[str | None] = mapped_column(
        ForeignKey("life_domain.code"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deprecated_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    deprecation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    successor_code: Mapped[str | None] = mapped_column(ForeignKey("kpi.code"), nullable=True)


class Release(Base):
    """A published, immutable set of KPI versions."""

    __tablename__ = "release"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    title_nl: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(200))


class KpiVersion(Base):
    """One version of a KPI definition; immutable once published."""

    __tablename__ = "kpi_version"
    __table_args__ = (UniqueConstraint("kpi_code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kpi_code: Mapped[str] = mapped_column(ForeignKey("kpi.code", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    core: Mapped[bool] = mapped_column(Boolean, default=False)
    name_nl: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    definition_nl: Mapped[str] = mapped_column(Text)
    definition_en: Mapped[str] = mapped_column(Text)
    counts: Mapped[str] = mapped_column(Text)
    excludes: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(100))
    value_type: Mapped[str] = mapped_column(String(20))
    aggregation: Mapped[str] = mapped_column(String(20))
    time_aggregation: Mapped[str] = mapped_column(String(10))
    period_types: Mapped[list[str]] = mapped_column(JSONType)
    dimensions: Mapped[list[str]] = mapped_column(JSONType)
    work_fields: Mapped[list[str]] = mapped_column(JSONType)
    range_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    range_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    scale_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    scale_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    numerator: Mapped[str | None] = mapped_column(Text, nullable=True)
    denominator: Mapped[str | None] = mapped_column(Text, nullable=True)
    instrument: Mapped[str | None] = mapped_column(String(60), nullable=True)
    # NULL: the value type's default (see catalogue.service.published_decimals and
    # effective_count_max); versions published before these columns existed have NULL.
    decimals: Mapped[int | None] = mapped_column(Integer, nullable=True)
    count_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Which way the KPI should move for the better (vocabulary.Direction): how an agreement's
    # progress judges its figures. Versions published before it existed have 'none'.
    direction: Mapped[str] = mapped_column(String(20), default="none")
    # Comparability with the previous published version (catalogue.comparability): NULL for a
    # first version and for drafts; ``major`` breaks the series from ``effective_from`` (1 Jan).
    comparability: Mapped[str | None] = mapped_column(String(5), nullable=True)
    effective_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    change_note_nl: Mapped[str] = mapped_column(Text, default="")
    change_note_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    release_id: Mapped[str | None] = mapped_column(ForeignKey("release.id"), nullable=True)

    kpi: Mapped[Kpi] = relationship(lazy="joined", innerjoin=True)


class KpiVersionWorkField(Base):
    """Work fields of a version, as rows so catalogue queries can filter on them."""

    __tablename__ = "kpi_version_work_field"

    kpi_version_id: Mapped[int] = mapped_column(
        ForeignKey("kpi_version.id", ondelete="CASCADE"), primary_key=True
    )
    work_field_code: Mapped[str] = mapped_column(ForeignKey("work_field.code"), primary_key=True)


class ReleaseKpi(Base):
    __tablename__ = "release_kpi"

    release_id: Mapped[str] = mapped_column(
        ForeignKey("release.id", ondelete="CASCADE"), primary_key=True
    )
    kpi_code: Mapped[str] = mapped_column(ForeignKey("kpi.code"), primary_key=True)
    kpi_version_id: Mapped[int] = mapped_column(ForeignKey("kpi_version.id"), index=True)


class KpiSet(Base):
    __tablename__ = "kpi_set"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    work_field_code: Mapped[str] = mapped_column(ForeignKey("work_field.code"), index=True)
    name_nl: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_nl: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[KpiSetMember]] = relationship(
        order_by="KpiSetMember.position", cascade="all, delete-orphan", lazy="selectin"
    )


class KpiSetMember(Base):
    __tablename__ = "kpi_set_member"

    kpi_set_code: Mapped[str] = mapped_column(
        ForeignKey("kpi_set.code", ondelete="CASCADE"), primary_key=True
    )
    kpi_code: Mapped[str] = mapped_column(ForeignKey("kpi.code"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
