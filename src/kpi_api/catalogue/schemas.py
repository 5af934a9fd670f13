"""Request and response shapes of the catalogue, and the rules a KPI definition must obey."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Self

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

from kpi_api.catalogue.models import KpiVersion
from kpi_api.strict import IsoDate, StrictModel

# Re-exported: the vocabulary is defined in the core; these are the API's strings.
from kpi_api.vocabulary import Aggregation as Aggregation
from kpi_api.vocabulary import Direction as Direction
from kpi_api.vocabulary import Layer as Layer
from kpi_api.vocabulary import PeriodType as PeriodType
from kpi_api.vocabulary import TimeAggregation as TimeAggregation
from kpi_api.vocabulary import ValueType as ValueType

CODE_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"
RELEASE_PATTERN = r"^[0-9]{4}\.[0-9]{2}(\.[0-9]{1,3})?$"


class Comparability(enum.StrEnum):
    """A version's comparability with the previous one (see ``catalogue.comparability``)."""

    minor = "minor"
    major = "major"


#: How each value type may combine across organisations; the first is the canonical one.
ALLOWED_AGGREGATIONS: dict[ValueType, tuple[Aggregation, ...]] = {
    ValueType.count: (Aggregation.sum,),
    ValueType.percentage: (Aggregation.ratio_of_sums,),
    ValueType.score: (Aggregation.weighted_mean,),
    ValueType.duration_days: (Aggregation.weighted_mean,),
    ValueType.amount_eur: (Aggregation.sum, Aggregation.weighted_mean),
}

#: Decimals a published figure is rounded to when its version declares none (stored NULL).
DEFAULT_DECIMALS: dict[ValueType, int] = {
    ValueType.count: 0,
    ValueType.amount_eur: 2,
    ValueType.percentage: 1,
    ValueType.score: 2,
    ValueType.duration_days: 1,
}
#: Value types whose decimals are fixed: counts are whole, amounts exact to the cent.
FIXED_DECIMALS: dict[ValueType, int] = {ValueType.count: 0, ValueType.amount_eur: 2}
MAX_DECIMALS = 6
#: The largest count one measurement may carry when its version declares none (stored NULL).
DEFAULT_COUNT_MAX = 10_000_000
#: The largest size of a range or scale bound (euros, days, points).
BOUND_LIMIT = 1e12
#: The highest ``count_max`` a definition may declare (n is stored as a 32-bit integer).
COUNT_MAX_LIMIT = 1_000_000_000


class Strict(StrictModel):
    pass


class Bounds(Strict):
    model_config = ConfigDict(allow_inf_nan=False)

    # A bound is a JSON number (never text or a boolean) of at most 10^12 in size: every value
    # a measurement may carry then fits the exact sums of figures (see DEFAULT_COUNT_MAX).
    min: StrictFloat | None = Field(default=None, ge=-BOUND_LIMIT, le=BOUND_LIMIT)
    max: StrictFloat | None = Field(default=None, ge=-BOUND_LIMIT, le=BOUND_LIMIT)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("range_inverted", "min must not exceed max", {"field": "min"})
        return self


Text = Field(min_length=1, max_length=4000)
Name = Field(min_length=1, max_length=300)


class KpiDefinition(Strict):
    """Everything a KPI version states; the validator of submissions enforces it."""

    core: StrictBool = Field(
        default=False, description="One of the most used KPIs (bold in the model)."
    )
    name_nl: str = Name
    name_en: str = Name
    definition_nl: str = Text
    definition_en: str = Text
    counts: str = Field(min_length=1, max_length=4000, description="What counts.")
    excludes: str = Field(min_length=1, max_length=4000, description="What does not count.")
    unit: str = Field(min_length=1, max_length=100)
    value_type: ValueType
    aggregation: Aggregation = Field(description="How values combine across organisations.")
    time_aggregation: TimeAggregation = Field(
        description="How values combine over periods: `sum` for flows, `last` for stock figures."
    )
    period_types: list[PeriodType] = Field(min_length=1, max_length=3)
    dimensions: list[str] = Field(
        default_factory=list, max_length=10, description="Code lists this KPI may be split by."
    )
    range: Bounds = Field(default_factory=Bounds, description="Valid range of a value.")
    scale: Bounds | None = Field(default=None, description="Scale of a score (score KPIs only).")
    numerator: str | None = Field(default=None, max_length=4000)
    denominator: str | None = Field(default=None, max_length=4000)
    instrument: str | None = Field(default=None, max_length=60)
    work_fields: list[str] = Field(min_length=1, max_length=30)
    decimals: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_DECIMALS,
        description="Decimals the published figure is rounded to: of the percentage (0..100) for "
        "percentage KPIs, of the mean for scores and durations (days), of the sum in euros for "
        "amounts. Counts must have 0, amounts exactly 2. Null: the value type's default "
        "(count 0, amount_eur 2, percentage 1, score 2, duration_days 1).",
    )
    count_max: StrictInt | None = Field(
        default=None,
        ge=1,
        le=COUNT_MAX_LIMIT,
        description="Largest count one measurement may carry, in the KPI's counting unit "
        "(persons, trajectories, ...): a count KPI's value, a percentage's numerator and "
        f"denominator, a mean's n. Null: {DEFAULT_COUNT_MAX:,}.",
    )
    direction: Direction = Field(
        default=Direction.none,
        description="Which way the KPI should move for the better, as an agreement's progress "
        "judges it: `higher_is_better`, `lower_is_better`, or `none` when neither way is "
        "better in itself (referrals, contacts: more can mean more need as well as better "
        "reach). Left out: `none`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for name in ("period_types", "dimensions", "work_fields"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise PydanticCustomError(
                    "duplicate_item", "{field} lists an item twice", {"field": name}
                )
        allowed = ALLOWED_AGGREGATIONS[self.value_type]
        if self.aggregation not in allowed:
            raise PydanticCustomError(
                "aggregation_mismatch",
                "a {value_type} KPI aggregates by {allowed}",
                {
                    "field": "aggregation",
                    "value_type": self.value_type.value,
                    "allowed": " or ".join(allowed),
                },
            )
        is_pct = self.value_type is ValueType.percentage
        if is_pct != (self.numerator is not None and self.denominator is not None):
            raise PydanticCustomError(
                "numerator_denominator",
                "numerator and denominator are required for, and only for, percentage KPIs",
                {"field": "numerator"},
            )
        if (self.value_type is ValueType.score) != (self.scale is not None):
            raise PydanticCustomError(
                "scale", "a scale is required for, and only for, score KPIs", {"field": "scale"}
            )
        if self.scale is not None and (self.scale.min is None or self.scale.max is None):
            raise PydanticCustomError("scale", "a scale needs both min and max", {"field": "scale"})
        lo, hi = self.range.min, self.range.max
        if is_pct and (lo is None or hi is None or lo < 0 or hi > 100):
            raise PydanticCustomError(
                "range", "a percentage range lies within 0..100", {"field": "range"}
            )
        if self.scale is not None and (
            lo is None or hi is None or lo < self.scale.min or hi > self.scale.max  # type: ignore[operator]
        ):
            raise PydanticCustomError(
                "range", "a score range lies within its scale", {"field": "range"}
            )
        if self.value_type in (ValueType.count, ValueType.duration_days) and (lo is None or lo < 0):
            raise PydanticCustomError(
                "range", "counts and durations have a minimum of 0 or more", {"field": "range"}
            )
        if self.value_type in (ValueType.amount_eur, ValueType.duration_days) and hi is None:
            raise PydanticCustomError(
                "range", "amounts and durations need a range maximum", {"field": "range"}
            )
        fixed = FIXED_DECIMALS.get(self.value_type)
        if fixed is not None and self.decimals is not None and self.decimals != fixed:
            raise PydanticCustomError(
                "decimals",
                "a {value_type} KPI is published with {fixed} decimals",
                {"field": "decimals", "value_type": self.value_type.value, "fixed": fixed},
            )
        return self

    @classmethod
    def from_version(cls, v: KpiVersion) -> KpiDefinition:
        scale = None
        if v.scale_min is not None or v.scale_max is not None:
            scale = Bounds(min=v.scale_min, max=v.scale_max)
        return cls.model_construct(
            core=v.core,
            name_nl=v.name_nl,
            name_en=v.name_en,
            definition_nl=v.definition_nl,
            definition_en=v.definition_en,
            counts=v.counts,
            excludes=v.excludes,
            unit=v.unit,
            value_type=ValueType(v.value_type),
            aggregation=Aggregation(v.aggregation),
            time_aggregation=TimeAggregation(v.time_aggregation),
            period_types=[PeriodType(p) for p in v.period_types],
            dimensions=list(v.dimensions),
            range=Bounds(min=v.range_min, max=v.range_max),
            scale=scale,
            numerator=v.numerator,
            denominator=v.denominator,
            instrument=v.instrument,
            work_fields=list(v.work_fields),
            decimals=v.decimals,
            count_max=v.count_max,
            direction=Direction(v.direction),
        )

    def columns(self) -> dict[str, Any]:
        """The definition as KpiVersion column values."""
        data = self.model_dump(mode="json", exclude={"range", "scale"})
        data.update(range_min=self.range.min, range_max=self.range.max)
        data.update(
            scale_min=self.scale.min if self.scale else None,
            scale_max=self.scale.max if self.scale else None,
        )
        return data


class KpiDefinitionPatch(Strict):
    """Fields to change; anything left out is taken from the version it starts from."""

    core: StrictBool | None = None
    name_nl: str | None = Field(default=None, min_length=1, max_length=300)
    name_en: str | None = Field(default=None, min_length=1, max_length=300)
    definition_nl: str | None = Field(default=None, min_length=1, max_length=4000)
    definition_en: str | None = Field(default=None, min_length=1, max_length=4000)
    counts: str | None = Field(default=None, min_length=1, max_length=4000)
    excludes: str | None = Field(default=None, min_length=1, max_length=4000)
    unit: str | None = Field(default=None, min_length=1, max_length=100)
    value_type: ValueType | None = None
    aggregation: Aggregation | None = None
    time_aggregation: TimeAggregation | None = None
    period_types: list[PeriodType] | None = Field(default=None, min_length=1, max_length=3)
    dimensions: list[str] | None = Field(default=None, max_length=10)
    range: Bounds | None = None
    scale: Bounds | None = None
    numerator: str | None = Field(default=None, max_length=4000)
    denominator: str | None = Field(default=None, max_length=4000)
    instrument: str | None = Field(default=None, max_length=60)
    work_fields: list[str] | None = Field(default=None, min_length=1, max_length=30)
    decimals: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_DECIMALS,
        description="Decimals of the published figure; null: the value type's default.",
    )
    count_max: StrictInt | None = Field(
        default=None,
        ge=1,
        le=COUNT_MAX_LIMIT,
        description="Largest count one measurement may carry; null: the default.",
    )
    direction: Direction | None = Field(
        default=None, description="Which way the KPI should move for the better."
    )


class KpiCreate(KpiDefinition):
    """A new KPI with its first (draft) version."""

    code: str = Field(min_length=2, max_length=40, pattern=CODE_PATTERN, examples=["IMP-FIN-01"])
    layer: Layer
    life_domain: str | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _domain_for_impact(self) -> Self:
        if (self.layer is Layer.impact) != (self.life_domain is not None):
            raise PydanticCustomError(
                "life_domain",
                "impact KPIs need a life domain; other layers have none",
                {"field": "life_domain"},
            )
        return self

    def definition(self) -> KpiDefinition:
        return KpiDefinition.model_validate(
            self.model_dump(exclude={"code", "layer", "life_domain"})
        )


class Deprecation(BaseModel):
    deprecated_at: datetime
    effective_from: date = Field(
        description="First day of the first period the KPI is retired for."
    )
    reason: str | None
    successor: str | None


class DeprecationCreate(Strict):
    effective_from: IsoDate = Field(
        description="First day of the first period the KPI is retired for."
    )
    reason: str = Field(min_length=1, max_length=2000)
    successor: str | None = Field(default=None, max_length=40)


class KpiVersionSummary(BaseModel):
    version: int
    status: str
    release: str | None
    published_at: datetime | None
    comparability: Comparability | None = Field(
        default=None, description="With the version before; null for the first and drafts."
    )
    effective_from: date | None = Field(
        default=None, description="Major versions: the first day their definition governs."
    )


class SeriesBreak(BaseModel):
    """Where a KPI's series breaks: a major version takes over from the definition before."""

    effective_from: date = Field(description="1 January of the first year of the new series.")
    from_version: int = Field(description="The last version before the break.")
    to_version: int = Field(description="The major version that breaks the series.")
    change_note_nl: str
    change_note_en: str


class KpiRead(KpiDefinition):
    """A KPI at one version."""

    model_config = ConfigDict(extra="ignore")

    code: str
    layer: Layer
    life_domain: str | None
    version: int
    status: str = Field(description="`draft` or `published`; a published version never changes.")
    release: str | None = Field(description="The release that published this version.")
    published_at: datetime | None
    deprecation: Deprecation | None
    comparability: Comparability | None = Field(
        default=None,
        description="With the previous published version: `minor` keeps the series, `major` "
        "breaks it from `effective_from`. Null for a first version and for drafts.",
    )
    effective_from: date | None = Field(
        default=None, description="Major versions: the first day their definition governs."
    )
    change_note_nl: str = Field(default="", description="What changed in this version, and why.")
    change_note_en: str = ""
    decimals: int = Field(
        description="Decimals the published figure is rounded to (the declared value, else the "
        "value type's default): of the percentage for percentage KPIs, of the mean for scores "
        "and durations (days), of the euro amount for amounts (2); counts 0."
    )
    count_max: int = Field(
        description="Largest count one measurement may carry, in the KPI's counting unit: a count "
        "KPI's value (also bounded by `range.max`), a percentage's numerator and denominator, a "
        "mean's n. Amounts (euros) and durations (days) are bounded by `range.max`."
    )


class KpiDetail(KpiRead):
    versions: list[KpiVersionSummary]
    series_breaks: list[SeriesBreak] = Field(
        default_factory=list, description="Every break in the KPI's series, oldest first."
    )


class KpiPage(BaseModel):
    items: list[KpiRead]
    next: str | None = Field(description="Cursor for the next page; null on the last page.")
    release: str | None = Field(description="The release the list is taken from.")


class ComparabilityStatement(Strict):
    """What the publisher states about a new version when publishing it."""

    kpi: str = Field(min_length=2, max_length=40, pattern=CODE_PATTERN)
    comparability: Comparability = Field(
        description="`minor`: the series goes on; `major`: it breaks from `effective_from`. "
        "A change the field-level diff calls major can never be stated minor."
    )
    effective_from: IsoDate | None = Field(
        default=None,
        description="Major changes only: 1 January of the first year the new definition "
        "governs; every period from then on follows it.",
    )
    change_note_nl: str = Field(default="", max_length=4000, description="What changed, why.")
    change_note_en: str = Field(default="", max_length=4000)


class ReleaseCreate(Strict):
    id: str = Field(pattern=RELEASE_PATTERN, examples=["2025.06"])
    title_nl: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    notes: str = Field(default="", max_length=10000)
    kpis: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="Codes whose draft version to publish; all drafts when left out.",
    )
    remove: list[str] = Field(
        default_factory=list, max_length=1000, description="Codes to leave out of this release."
    )
    comparability: list[ComparabilityStatement] = Field(
        default_factory=list,
        max_length=1000,
        description="Per published KPI with an earlier version: minor or major. Left out, a "
        "change the diff calls minor is published as minor; a major change must be stated, "
        "with its `effective_from`.",
    )


class ReleaseMember(BaseModel):
    code: str
    version: int


class ReleaseRead(BaseModel):
    id: str
    title_nl: str
    title_en: str
    notes: str
    published_at: datetime
    published_by: str
    kpi_count: int
    current: bool


class ReleaseDetail(ReleaseRead):
    kpis: list[ReleaseMember]


class ReleasePage(BaseModel):
    items: list[ReleaseRead]
    next: str | None


class FieldChange(BaseModel):
    field: str
    old: Any
    new: Any
    comparability: Comparability = Field(description="What this change alone amounts to.")
    why: str


class KpiChange(BaseModel):
    code: str
    old_version: int
    new_version: int
    comparability: Comparability = Field(
        description="As published: major when a series break lies between the two versions, "
        "else minor."
    )
    derived_comparability: Comparability = Field(
        description="The least comparability the field changes allow."
    )
    series_breaks: list[SeriesBreak] = Field(
        description="The breaks between the two versions, oldest first, with their notes."
    )
    changes: list[FieldChange]


class ReleaseDiff(BaseModel):
    old: str | None
    new: str
    added: list[ReleaseMember]
    removed: list[ReleaseMember]
    changed: list[KpiChange]
    unchanged: int


class LifeDomainRead(BaseModel):
    code: str
    name_nl: str
    name_en: str
    description_nl: str
    description_en: str
    kpi_count: int = Field(description="Impact KPIs of this domain in the current release.")


class WorkFieldRead(BaseModel):
    code: str
    name_nl: str
    name_en: str


class CodeListItemRead(BaseModel):
    code: str
    name_nl: str
    name_en: str


class CodeListRead(BaseModel):
    code: str
    name_nl: str
    name_en: str
    description_nl: str
    description_en: str
    pattern: str | None = Field(description="Regular expression codes must match, for open lists.")
    items: list[CodeListItemRead]


class KpiSetRead(BaseModel):
    code: str
    work_field: str
    name_nl: str
    name_en: str
    description_nl: str
    description_en: str
    kpis: list[str]
