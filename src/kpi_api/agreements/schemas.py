"""Request and response shapes of agreements, their progress, interpretation and completeness."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kpi_api.agreements.progress import Change, Growth, NoStatus, ProgressStatus
from kpi_api.catalogue.schemas import CODE_PATTERN
from kpi_api.periods import PeriodCode
from kpi_api.registry.schemas import ORG_CODE_PATTERN, MunicipalityCode
from kpi_api.strict import IsoDate, StrictModel
from kpi_api.vocabulary import Direction, PeriodType

#: The largest size of a baseline or target value (the catalogue's bound on any number).
VALUE_LIMIT = 1e12
AGREEMENT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
DIMENSION_PATTERN = r"^[a-z][a-z0-9_]{0,59}$"
BREAKDOWN_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,59}$"
MAX_EXPLANATION = 4000


class Strict(StrictModel):
    model_config = ConfigDict(allow_inf_nan=False)


class Status(enum.StrEnum):
    """draft → active (signed off, immutable) → ended."""

    draft = "draft"
    active = "active"
    ended = "ended"


class Source(enum.StrEnum):
    entered = "entered"
    data = "data"


OrgCode = Annotated[str, Field(pattern=ORG_CODE_PATTERN)]
Value = Annotated[StrictFloat | StrictInt, Field(ge=-VALUE_LIMIT, le=VALUE_LIMIT)]


class Term(Strict):
    start: IsoDate = Field(description="First day of the agreement's term.")
    end: IsoDate = Field(description="Last day of the agreement's term.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise PydanticCustomError(
                "term_inverted", "the term ends before it starts", {"field": "end"}
            )
        return self


class Breakdown(Strict):
    """One breakdown of the KPI's figure, such as an age band."""

    dimension: str = Field(pattern=DIMENSION_PATTERN, examples=["age_band"])
    code: str = Field(pattern=BREAKDOWN_CODE_PATTERN, examples=["18-26"])


class BaselineIn(Strict):
    """The starting point (beginsituatie): a value typed in, or the parties' own figure."""

    period: PeriodCode
    value: Value | None = Field(default=None, description="The baseline, typed in.")
    from_data: StrictBool = Field(
        default=False,
        description="Take the figure of the agreement's organisations in its municipalities for "
        "`period` from the data, when the version is made (again when it is signed off).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.value is None) == (not self.from_data):
            raise PydanticCustomError(
                "baseline_source",
                "give a value, or from_data: true (not both)",
                {"field": "value"},
            )
        return self


class TargetIn(Strict):
    """Where it should go: an indicative target (streefwaarde) for a period."""

    period: PeriodCode
    value: Value


class AgreedKpiIn(Strict):
    kpi: str = Field(min_length=2, max_length=40, pattern=CODE_PATTERN, examples=["ACT-01"])
    kpi_version: StrictInt | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="A published version; default the one in the current release.",
    )
    goal_nl: str | None = Field(
        default=None, min_length=1, max_length=2000, description="Doelstelling, in words."
    )
    goal_en: str | None = Field(default=None, min_length=1, max_length=2000)
    baseline: BaselineIn | None = None
    target: TargetIn | None = None
    rhythm: PeriodType | None = Field(
        default=None,
        description="Monitoring rhythm: a period type the KPI has figures for; default quarter "
        "where it has, else year.",
    )
    breakdown: Breakdown | None = Field(
        default=None, description="Scope: one code of one of the KPI's breakdowns; null: total."
    )


class AgreementIn(Strict):
    """An agreement as a whole: creating one, or replacing a draft with a new version."""

    title: str = Field(min_length=1, max_length=300)
    work_field: str = Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
    organisations: list[OrgCode] = Field(min_length=1, max_length=50)
    municipalities: list[MunicipalityCode] = Field(min_length=1, max_length=400)
    term: Term
    kpi_set: str | None = Field(
        default=None,
        max_length=60,
        pattern=CODE_PATTERN,
        description="Start from this standard set of the work field: its KPIs not listed in "
        "`kpis` are added with defaults, to be completed before sign-off.",
    )
    kpis: list[AgreedKpiIn] = Field(default_factory=list, max_length=100)
    change_note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        for name in ("organisations", "municipalities"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise PydanticCustomError(
                    "duplicate_item", "{field} lists an item twice", {"field": name}
                )
        return self


class StatusChange(Strict):
    status: Literal["active", "ended"] = Field(
        description="`active`: sign off the current draft; `ended`: end an active agreement."
    )
    note: str = Field(default="", max_length=2000)


class ExplanationIn(Strict):
    kpi: str = Field(min_length=2, max_length=40, pattern=CODE_PATTERN)
    breakdown: Breakdown | None = None
    period: PeriodCode
    text: str = Field(min_length=1, max_length=MAX_EXPLANATION)


# --- reading ---------------------------------------------------------------------------------


class BaselineRead(BaseModel):
    period: str
    value: float | int | None
    source: Source | None


class TargetRead(BaseModel):
    period: str
    value: float | int


class AgreedKpiRead(BaseModel):
    kpi: str
    kpi_version: int
    name_nl: str
    name_en: str
    unit: str
    direction: Direction = Field(
        description="The desired direction the agreed KPI version states (catalogue)."
    )
    breakdown: Breakdown | None
    goal_nl: str | None
    goal_en: str | None
    baseline: BaselineRead | None
    target: TargetRead | None
    rhythm: PeriodType


class Author(BaseModel):
    name: str = Field(description="The name of the API key that wrote it.")
    role: str
    party: list[str] = Field(description="The organisation code, or municipality codes.")


class AgreementRead(BaseModel):
    id: str
    version: int
    status: Status
    title: str
    work_field: str
    organisations: list[str]
    municipalities: list[str]
    term: Term
    kpi_set: str | None
    kpis: list[AgreedKpiRead]
    change_note: str
    created_at: datetime = Field(description="When the agreement was first made.")
    version_created_at: datetime
    version_created_by: Author


class AgreementPage(BaseModel):
    items: list[AgreementRead]
    next: str | None


class AgreementVersions(BaseModel):
    items: list[AgreementRead]


class ExplanationRead(BaseModel):
    id: int
    kpi: str
    breakdown: Breakdown | None
    period: str
    text: str
    author: Author
    created_at: datetime


class ExplanationList(BaseModel):
    items: list[ExplanationRead]


class Disclaimer(BaseModel):
    nl: str
    en: str


class MethodRead(BaseModel):
    name: str
    source: str
    thresholds_with_target: dict[str, float]
    thresholds_without_target: dict[str, float]


class Coverage(BaseModel):
    """Who a figure rests on, of the agreement's parties."""

    organisations: int = Field(description="Organisations with data for the period.")
    organisations_total: int
    municipalities: int = Field(description="Municipalities with data for the period.")
    municipalities_total: int
    missing_organisations: list[str]
    missing_municipalities: list[str]


class VendorNote(BaseModel):
    """A note sent with a measurement behind the figure."""

    organisation: str
    municipality: str
    period: str
    text: str


class AssessmentRead(BaseModel):
    status: ProgressStatus | None
    reason: NoStatus | None = Field(description="Why there is no status.")
    method: Growth | None
    observed_growth: float | None = Field(
        description="Per year since the baseline: a fraction (compound) or units (linear)."
    )
    required_growth: float | None
    ratio: float | None


class FigureRead(BaseModel):
    period: str
    value: float | int | None = Field(description="Live, of the parties only; null: no data.")
    numerator: int | None
    denominator: int | None
    n: int | None
    kpi_versions: list[int]
    coverage: Coverage
    change: Change | None = Field(description="Since the baseline.")
    change_favourable: bool | None
    comparable: bool = Field(
        description="False when a series break lies between the baseline and this period."
    )
    assessment: AssessmentRead
    notes: list[VendorNote]
    explanations: list[ExplanationRead]


class KpiProgress(BaseModel):
    kpi: str
    kpi_version: int
    name_nl: str
    name_en: str
    unit: str
    decimals: int
    direction: Direction
    breakdown: Breakdown | None
    goal_nl: str | None
    goal_en: str | None
    rhythm: PeriodType
    baseline: BaselineRead | None
    target: TargetRead | None
    baseline_figure: FigureRead | None = Field(
        description="The live figure of the baseline period now (data may have been corrected "
        "since the baseline was taken)."
    )
    figures: list[FigureRead] = Field(description="Per monitoring period of the term, ended.")
    latest: AssessmentRead = Field(description="The status of the latest figure.")
    latest_period: str | None


class ProgressRead(BaseModel):
    agreement: str
    version: int
    status: Status
    title: str
    figures: Literal["live"] = "live"
    generated_at: datetime
    disclaimer: Disclaimer
    method: MethodRead
    kpis: list[KpiProgress]


class MissingOrganisation(BaseModel):
    organisation: str
    municipalities: list[str] = Field(description="Its municipalities with no data.")
    vendors: list[str] = Field(description="Vendors that submit for it (names).")


class DueItem(BaseModel):
    agreement: str
    title: str
    kpi: str
    breakdown: Breakdown | None
    period: str
    missing: list[MissingOrganisation]


class Completeness(BaseModel):
    as_of: date = Field(description="Periods ended before this day are due.")
    items: list[DueItem]
