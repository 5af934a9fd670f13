"""Shapes of aggregate figures and their context."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, Field


class Level(enum.StrEnum):
    national = "national"
    province = "province"
    municipality = "municipality"


class Boundaries(enum.StrEnum):
    reported = "reported"
    current = "current"


class AggregateCell(BaseModel):
    area: str = Field(description="NL01, a province (PV..) or a municipality (GM..).")
    area_name: str
    period: str
    dimension_code: str | None = Field(description="The breakdown code; null for a total.")
    value: float | None = Field(description="The figure; null when suppressed.")
    numerator: float | None = Field(description="Summed numerators (percentage KPIs).")
    denominator: float | None = Field(description="Summed denominators (percentage KPIs).")
    n: float | None = Field(description="Observations behind a mean (score and duration KPIs).")
    suppressed: bool
    suppression_reason: str | None = Field(
        description="too_few_organisations, small_count, or secondary (hidden so that another "
        "suppressed cell cannot be recovered by subtraction)."
    )
    organisations: int = Field(description="Organisations contributing to the cell.")
    municipalities: int = Field(description="Municipalities with data in the cell.")
    municipalities_in_area: int = Field(description="Municipalities in the area in that period.")
    coverage: float = Field(description="municipalities / municipalities_in_area.")
    kpi_versions: list[int] = Field(description="KPI versions of the measurements behind it.")
    notes: list[str] | None = Field(
        default=None, description="Explanations organisations attached (when asked for)."
    )


class Thresholds(BaseModel):
    min_organisations: int
    min_people: int


class AggregateResponse(BaseModel):
    kpi: str
    kpi_version: int = Field(description="The definition whose rules the figures follow.")
    name_nl: str
    name_en: str
    unit: str
    value_type: str
    aggregation: str
    time_aggregation: str
    level: Level
    period_type: str
    periods: list[str]
    dimension: str | None
    boundaries: Boundaries
    area: str | None
    as_of: datetime | None = Field(description="Figures as they were known at this moment.")
    latest_change: datetime | None = Field(description="The newest change the figures include.")
    generated_at: datetime
    thresholds: Thresholds
    unallocated: list[str] = Field(
        description="Municipalities split since (current boundaries): counted in provincial and "
        "national figures but in no municipality."
    )
    cells: list[AggregateCell]
