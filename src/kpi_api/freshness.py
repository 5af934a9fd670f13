"""Freshness of figures: a revision per KPI and year that every write changes.

Writers (submissions, the reference loader) bump the revisions of what they wrote in their own
transaction; readers (the aggregate cache) keep a computed figure while the revisions it was
computed at are still current. Neither needs the other: both use this module.
"""

from __future__ import annotations

import secrets

from sqlalchemy import BigInteger, Integer, String, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

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


def revisions(session: Session, kpi: str, years: set[int]) -> dict[int, int]:
    """The current revision of each year of a KPI, by year (a year never written has none)."""
    stmt = select(AggregateRevision.year, AggregateRevision.revision).where(
        AggregateRevision.kpi_code == kpi, AggregateRevision.year.in_(sorted(years))
    )
    return {year: revision for year, revision in session.execute(stmt)}


def bump_revisions(session: Session, changed: set[tuple[str, int]]) -> None:
    """Give each written ``(KPI code, year)`` a new revision, in this (the writing) transaction.

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
