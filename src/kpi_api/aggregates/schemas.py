"""Shapes of aggregate figures and their context."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from kpi_api.vocabulary import Level as Level  # re-exported: defined in the core


class Boundaries(enum.StrEnum):
    reported = "reported"
    current = "current"


class AggregateCell(BaseModel):
    area: str = Field(description="NL01, a province (PV..) or a municipality (GM..).")
    area_name: str
    period: str
    dimension_code: str | None = Field(description="The breakdown code; null for a total.")
    value: int | float | None = Field(
        description="The figure; null when suppressed, or when nothing was reported under the "
        "cell's definition (`organisations` 0, see `organisations_other_definition`). Counts "
        "are integers, amounts exact to "
        "the cent, percentages and means rounded half away from zero to the KPI's `decimals`."
    )
    numerator: int | None = Field(description="Summed numerators (percentage KPIs).")
    denominator: int | None = Field(description="Summed denominators (percentage KPIs).")
    n: int | None = Field(description="Observations behind a mean (score and duration KPIs).")
    suppressed: bool
    suppression_reason: str | None = Field(
        description="too_few_organisations, small_count (too few people), dominance (one "
        "organisation gives most of it), vendor_complement (the cell less one vendor's own "
        "organisations would be one of those), small_change (its change since the previous "
        "release rests on too few organisations or people), secondary (hidden so that no "
        "hidden cell can be worked out from the published ones)."
    )
    organisations: int = Field(description="Organisations contributing to the cell.")
    municipalities: int = Field(description="Municipalities with data in the cell.")
    municipalities_in_area: int = Field(description="Municipalities in the area in that period.")
    coverage: float = Field(description="municipalities / municipalities_in_area.")
    kpi_versions: list[int] = Field(description="KPI versions of the measurements behind it.")
    kpi_version: int = Field(
        description="The definition the figure follows (its latest version): only measurements "
        "under versions comparable with it are added up."
    )
    series_break: bool = Field(
        description="The first period of a new definition: the series breaks here, so a jump "
        "from the period before is no real change."
    )
    organisations_other_definition: int = Field(
        description="Organisations that reported for this cell under another (earlier) "
        "definition, across a series break: not added in."
    )
    municipalities_other_definition: int = Field(
        description="Municipalities with such measurements (not added in)."
    )
    notes: list[str] | None = Field(
        default=None, description="Explanations organisations attached (when asked for)."
    )
    release: str | None = Field(
        default=None, description="The figure release the cell comes from (released figures)."
    )


class SeriesBreakAt(BaseModel):
    """A series break within the requested periods."""

    period: str = Field(description="The first period after the break (its cells are marked).")
    effective_from: date
    from_version: int = Field(description="The last version before the break.")
    to_version: int = Field(description="The version that broke the series.")
    change_note_nl: str
    change_note_en: str


class ReleaseRef(BaseModel):
    id: str
    period: str
    status: str
    released_at: datetime


class Thresholds(BaseModel):
    min_organisations: int
    min_people: int
    dominance: float = Field(
        description="A cell is hidden when one organisation gives more than this share of it."
    )


class AggregateResponse(BaseModel):
    kpi: str
    kpi_version: int = Field(
        description="The definition (its latest version) of the newest period requested, whose "
        "name, unit and maths the header shows; each cell says its own (`kpi_version`)."
    )
    name_nl: str
    name_en: str
    unit: str
    value_type: str
    aggregation: str
    time_aggregation: str
    decimals: int = Field(description="Decimals percentages and means are rounded to.")
    figures: Literal["live", "released"] = Field(
        description="`released`: from figure releases (analysts); `live`: as the data stand "
        "(the publisher, and a vendor for its own organisations)."
    )
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
    releases: list[ReleaseRef] = Field(description="The figure releases the cells come from.")
    unreleased_periods: list[str] = Field(
        description="Requested periods no release covers yet (released figures)."
    )
    unallocated: list[str] = Field(
        description="Municipalities split since (current boundaries): counted in provincial and "
        "national figures but in no municipality."
    )
    series_breaks: list[SeriesBreakAt] = Field(
        description="Series breaks at the requested periods: the definition changed, figures "
        "on either side are not comparable."
    )
    cells: list[AggregateCell]
