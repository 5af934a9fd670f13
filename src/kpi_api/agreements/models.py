"""ORM tables of agreements (prestatieafspraken).

An agreement is a row that points at its current version; every version is an immutable
snapshot (its parties and agreed KPIs in child tables keyed by agreement and version). A change,
and every change of status, adds a version; nothing is updated in place but the agreement's
pointer to its current version. Explanations (the interpretation thread) belong to the
agreement, not to a version, and are only ever added.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kpi_api.db import Base, JSONType, UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Agreement(Base):
    __tablename__ = "agreement"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: The newest version (its status is the agreement's); the ETag of the agreement.
    current_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgreementVersion(Base):
    """One version: the whole agreement as it stood, and who made it and why."""

    __tablename__ = "agreement_version"

    agreement_id: Mapped[str] = mapped_column(
        ForeignKey("agreement.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    work_field_code: Mapped[str] = mapped_column(ForeignKey("work_field.code"))
    kpi_set_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    change_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    created_by_role: Mapped[str] = mapped_column(String(20))
    #: The party the author spoke for: organisation codes, or municipality codes (publisher: none).
    created_by_party: Mapped[list[str]] = mapped_column(JSONType, default=list)

    organisations: Mapped[list[AgreementOrganisation]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    municipalities: Mapped[list[AgreementMunicipality]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="AgreementMunicipality.municipality_code",
    )
    kpis: Mapped[list[AgreementKpi]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AgreementKpi.position"
    )


_VERSION = ("agreement_version.agreement_id", "agreement_version.version")


class AgreementOrganisation(Base):
    __tablename__ = "agreement_organisation"
    __table_args__ = (
        ForeignKeyConstraint(["agreement_id", "version"], _VERSION, ondelete="CASCADE"),
    )

    agreement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True, index=True
    )


class AgreementMunicipality(Base):
    __tablename__ = "agreement_municipality"
    __table_args__ = (
        ForeignKeyConstraint(["agreement_id", "version"], _VERSION, ondelete="CASCADE"),
    )

    agreement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(
        ForeignKey("municipality.code"), primary_key=True, index=True
    )


class AgreementKpi(Base):
    """An agreed KPI: the four questions (goal, indicator, baseline, target), the monitoring
    rhythm and the scope. In a draft anything but the KPI may still be open."""

    __tablename__ = "agreement_kpi"
    __table_args__ = (
        ForeignKeyConstraint(["agreement_id", "version"], _VERSION, ondelete="CASCADE"),
        UniqueConstraint("agreement_id", "version", "kpi_code", "breakdown_key"),
    )

    agreement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kpi_code: Mapped[str] = mapped_column(ForeignKey("kpi.code"))
    kpi_version: Mapped[int] = mapped_column(Integer)
    #: "" (the total) or "dimension=code", as a measurement's disaggregation key.
    breakdown_key: Mapped[str] = mapped_column(String(130), default="")
    goal_nl: Mapped[str | None] = mapped_column(Text, nullable=True)
    goal_en: Mapped[str | None] = mapped_column(Text, nullable=True)
    rhythm: Mapped[str] = mapped_column(String(7))
    baseline_period: Mapped[str | None] = mapped_column(String(7), nullable=True)
    baseline_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: "entered" (typed in) or "data" (the parties' figure, taken when the version was made).
    baseline_source: Mapped[str | None] = mapped_column(String(7), nullable=True)
    target_period: Mapped[str | None] = mapped_column(String(7), nullable=True)
    target_value: Mapped[float | None] = mapped_column(Float, nullable=True)


class AgreementExplanation(Base):
    """One message of the interpretation (duiding) of an agreed KPI in a period."""

    __tablename__ = "agreement_explanation"
    __table_args__ = (
        Index("ix_agreement_explanation_thread", "agreement_id", "kpi_code", "period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreement.id", ondelete="CASCADE"))
    kpi_code: Mapped[str] = mapped_column(String(40))
    breakdown_key: Mapped[str] = mapped_column(String(130), default="")
    period: Mapped[str] = mapped_column(String(7))
    text: Mapped[str] = mapped_column(Text)
    author_name: Mapped[str] = mapped_column(String(200))
    author_role: Mapped[str] = mapped_column(String(20))
    author_key_id: Mapped[str] = mapped_column(String(36))
    #: The party the author speaks for: an organisation code, or municipality codes.
    author_party: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
