"""ORM tables of the geography reference data."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kpi_api.db import Base


class Province(Base):
    __tablename__ = "province"

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Municipality(Base):
    """A CBS municipality code, valid from ``valid_from`` through ``valid_to`` (inclusive)."""

    __tablename__ = "municipality"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    province_code: Mapped[str] = mapped_column(ForeignKey("province.code"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    former_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Today's code for this area: itself while valid, the successor after a merger, and
    # None after a split (its figures cannot be given to one of today's municipalities).
    current_code: Mapped[str | None] = mapped_column(String(6), nullable=True)


class MunicipalitySuccession(Base):
    """``old_code`` was taken over by ``new_code`` on ``date`` (several rows for a split)."""

    __tablename__ = "municipality_succession"

    old_code: Mapped[str] = mapped_column(ForeignKey("municipality.code"), primary_key=True)
    new_code: Mapped[str] = mapped_column(ForeignKey("municipality.code"), primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
