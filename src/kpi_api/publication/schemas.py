"""Shapes of figure releases."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from kpi_api.catalogue.schemas import CODE_PATTERN
from kpi_api.periods import PeriodCode
from kpi_api.strict import StrictModel


class ReleaseStatus(enum.StrEnum):
    """As statistical offices publish: CBS voorlopig → nader voorlopig → definitief."""

    provisional = "provisional"
    revised = "revised"
    final = "final"


class FigureReleaseCreate(StrictModel):
    period: PeriodCode = Field(
        description="The period released, with every period inside it: 2024 (the year, its "
        "quarters and months), 2024-Q1 or 2024-03.",
    )
    kpis: list[Annotated[str, Field(max_length=40, pattern=CODE_PATTERN)]] | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="KPI codes; default: every KPI with measurements in the period.",
    )
    status: ReleaseStatus | None = Field(
        default=None,
        description="Default: provisional for a period's first release, revised after that. "
        "After a final release the period takes no more.",
    )
    note: str = Field(default="", max_length=4000)

    def codes(self) -> list[str] | None:
        return None if self.kpis is None else sorted(set(self.kpis))


class FigureReleaseKpiRead(BaseModel):
    kpi: str
    kpi_version: int
    cells: int = Field(description="Cells released: every level, period and breakdown.")
    suppressed: int = Field(description="Of which suppressed.")


class FigureReleaseRead(BaseModel):
    id: str = Field(description="`<period>-r<sequence>`, e.g. 2024-r2.")
    period: str
    sequence: int = Field(description="1 for the period's first release, then 2, 3, ...")
    status: ReleaseStatus
    note: str
    released_at: datetime
    released_by: str
    min_organisations: int
    min_people: int
    dominance: float
    kpis: list[FigureReleaseKpiRead]


class FigureReleasePage(BaseModel):
    items: list[FigureReleaseRead]
