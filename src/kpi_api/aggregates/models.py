"""What aggregates keep of their own: a revision per KPI and year, changed by every write."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kpi_api.db import Base


class AggregateRevision(Base):
    """Changes whenever a measurement of the KPI in that year is written (or reference data is
    loaded). Figures cached for a period of that year are valid while its revision is the one
    they were computed at. A new revision is a random number, not a counter, so that it never
    repeats, not even after a rolled-back transaction or a restored backup."""

    __tablename__ = "aggregate_revision"

    kpi_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)
