"""Shapes of measurements, submissions and their reports."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from kpi_api.errors import Problem
from kpi_api.periods import PeriodCode
from kpi_api.strict import StrictModel


class Mode(enum.StrEnum):
    all_or_nothing = "all_or_nothing"
    partial = "partial"


#: A number in a measurement: a JSON number, never text ("40") or a boolean (true is not 1).
#: CSV cells are read into numbers by ``parsing`` under the file's dialect first. Strict, so
#: the check stays in pydantic's core (no Python call per field).
Number = Annotated[float, Strict()]


class MeasurementIn(BaseModel):
    """One measurement as a vendor sends it (a JSON object, or a CSV row read by ``parsing``).

    JSON is taken literally: numbers, booleans and text must have their own JSON type; nothing
    is converted (``"40"``, ``"true"``, ``1`` for true and ``1.0`` for a version are refused).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    # NUL in a text field is refused by validation.validate_rows, once per row: a validator per
    # field would call into Python eight times a row and slow 10,000-row batches down.

    kpi: str = Field(min_length=1, max_length=40, description="KPI code, e.g. IMP-FIN-01.")
    kpi_version: Annotated[int, Strict()] | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Version of the KPI; default: the version in force for the period.",
    )
    release: str | None = Field(
        default=None,
        max_length=20,
        description="Release whose KPI version applies; default current.",
    )
    organisation: str = Field(min_length=1, max_length=40, description="Organisation code.")
    municipality: str = Field(min_length=1, max_length=10, description="CBS code, e.g. GM0363.")
    period: str = Field(min_length=1, max_length=10, description="2025, 2025-Q1 or 2025-03.")
    disaggregation: dict[str, str] = Field(
        default_factory=dict,
        max_length=10,
        description='Dimension -> code (e.g. {"age_band": "12-17"}); empty for a total.',
    )
    value: Number | None = Field(default=None, description="For sum KPIs (counts, amounts).")
    numerator: Number | None = Field(default=None, description="For percentage KPIs.")
    denominator: Number | None = Field(default=None, description="For percentage KPIs.")
    mean: Number | None = Field(default=None, description="For scores and mean durations.")
    n: Number | None = Field(default=None, description="Observations behind `mean`.")
    note: str | None = Field(default=None, max_length=2000, description="Explains the figure.")
    record_id: str | None = Field(default=None, max_length=200, description="Vendor's own id.")
    withdraw: bool = Field(
        default=False, strict=True, description="Withdraw the current measurement."
    )


class Batch(BaseModel):
    """A JSON batch; rows are validated one by one, so one bad row never hides the others."""

    measurements: list[MeasurementIn] = Field(max_length=10_000)


class RowError(BaseModel):
    row: int = Field(description="1-based position of the measurement in the batch.")
    field: str | None = Field(description="The field at fault, if one is.")
    code: str = Field(description="Stable rule code; see GET /v1/validation-rules.")
    message: str


class SubmissionReport(BaseModel):
    """What a batch did, row by row: ``rows = accepted + rejected + not_stored`` and
    ``accepted = created + corrected + unchanged + withdrawn``. A dry run reports what the same
    request would do if sent for real now."""

    id: str | None = Field(description="The stored submission; null for a dry run.")
    status: str = Field(
        description="accepted, partially_accepted or rejected; for a dry run valid or invalid."
    )
    mode: Mode
    dry_run: bool
    received_at: datetime
    rows: int = Field(description="Measurements in the batch.")
    accepted: int = Field(
        description="Rows stored (for a dry run: that would be stored), unchanged ones included."
    )
    rejected: int = Field(
        description="Rows that break a rule: each is listed in `errors` (one or more times)."
    )
    not_stored: int = Field(
        description="Valid rows not stored because other rows were rejected (all_or_nothing "
        "stores a batch whole or not at all); never a row with an error."
    )
    created: int = Field(description="Accepted rows that started a new measurement.")
    corrected: int = Field(description="Accepted rows that superseded a different value.")
    unchanged: int = Field(
        description="Accepted rows that change nothing (no new version): the current value "
        "again, or a withdrawal of a measurement already withdrawn."
    )
    withdrawn: int = Field(description="Accepted withdrawals of a current value (tombstones).")
    errors: list[RowError]


class SubmissionRejected(Problem):
    """A problem+json body for a rejected batch, with the full report."""

    submission: SubmissionReport


class MeasurementRead(BaseModel):
    id: int = Field(description="Identifier of the measurement (its natural key).")
    kpi: str
    kpi_version: int
    organisation: str
    municipality: str
    period: str
    disaggregation: dict[str, str]
    value: int | float | None = Field(
        description="As submitted: a whole number as an integer (counts), else a decimal."
    )
    numerator: int | None
    denominator: int | None
    n: int | None
    note: str | None
    record_id: str | None
    version: int
    submission: str
    submitted_at: datetime


class MeasurementPage(BaseModel):
    items: list[MeasurementRead]
    next: str | None


class MeasurementVersionRead(BaseModel):
    version: int
    kpi_version: int
    withdrawn: bool
    current: bool
    value: int | float | None = Field(
        description="As submitted: a whole number as an integer (counts), else a decimal."
    )
    numerator: int | None
    denominator: int | None
    n: int | None
    note: str | None
    record_id: str | None
    submission: str
    vendor: str = Field(description="Name of the vendor that sent it.")
    submitted_at: datetime
    superseded_at: datetime | None


class MeasurementHistory(BaseModel):
    id: int
    kpi: str
    organisation: str
    municipality: str
    period: str
    disaggregation: dict[str, str]
    versions: list[MeasurementVersionRead]


class PeriodLockCreate(StrictModel):
    period: PeriodCode
    reason: str = Field(default="", max_length=2000)


class PeriodLockRead(BaseModel):
    period: str
    start: str
    end: str
    reason: str
    locked_at: datetime
    locked_by: str


class ValidationRuleRead(BaseModel):
    code: str
    level: str = Field(description="`row` rejects one measurement; `request` the whole request.")
    field: str | None
    message_en: str
    message_nl: str
