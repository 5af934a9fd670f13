"""The domain's vocabulary: how a KPI's values are measured, combined, published and judged.

Each term is defined once, here, with the maths it implies; every domain imports it from here
and the HTTP schemas re-export it, so the values are the API's strings (and the strings the
database stores: a ``StrEnum`` member equals its value). Sources: the SWN KPI model and the
CBS, SDMX and DHIS2 terms in DOMAIN.md.

The enums carry no class docstring, on purpose: pydantic turns one into the ``description``
of the enum's OpenAPI schema, and the committed OpenAPI document is the API's contract. Their
documentation is the comment above each class and the docstring under each member.

On Python 3.11 reading a member off its class (``Aggregation.sum``) goes through the
metaclass's ``__getattr__`` and costs ~0.15 µs; loops over rows or cells bind the members
they compare with once, outside the loop.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

Number = int | Decimal
#: The additive parts every figure is kept as, summed exactly across organisations,
#: municipalities and periods: value, numerator, denominator, mean × n, n (``int`` or
#: ``Decimal``, never a binary float). Each aggregation fills its own and leaves the rest 0.
Parts = tuple[Number, Number, Number, Number, Number]


# The three layers of the SWN KPI model (2024 names; 2021 names in brackets): impact
# [effect], outcomes grouped in the seven life domains; activity [process], output and
# process; quality [knowledge and competences], the staff's competences and satisfaction.
class Layer(enum.StrEnum):
    impact = "impact"
    """Outcomes for people, grouped by life domain (every impact KPI names one)."""
    activity = "activity"
    """Output and process: signals received, cases per worker, reach."""
    quality = "quality"
    """Competences and development of staff; satisfaction of employees and volunteers."""


# What one value of a KPI is, and so its unit and how it may be combined (see
# ``Aggregation``). Percentages are on a 0–100 scale (× 100), never a 0–1 fraction.
class ValueType(enum.StrEnum):
    count = "count"  # type: ignore[assignment]  # the API's name; hides str.count on members
    """A whole number of people, cases or activities; combined by ``sum``."""
    percentage = "percentage"
    """100 × numerator / denominator, both counts, so on a 0–100 scale; combined by
    ``ratio_of_sums`` (a figure is the percentage of everyone counted, not a mean of
    percentages)."""
    score = "score"
    """A mean on the KPI's scale (a ZRM or Participatieladder rung, a 1–3 pilot score) over
    n observations; combined by ``weighted_mean``."""
    duration_days = "duration_days"
    """A mean duration in days over n observations; combined by ``weighted_mean``."""
    amount_eur = "amount_eur"
    """Euros, exact to the cent: a total (``sum``) or a mean per observation
    (``weighted_mean``)."""


# How the measurements of organisations and municipalities combine into one figure: DHIS2's
# aggregation type (SUM, AVERAGE weighted by n) and its indicators as numerator/denominator
# expressions. Every aggregation is additive in its ``Parts``, so a figure of any area is
# exact, whatever it is built from, and only its last step (``exact``) divides.
class Aggregation(enum.StrEnum):
    sum = "sum"
    """Σ value: counts and amounts."""
    ratio_of_sums = "ratio_of_sums"
    """100 × Σ numerator / Σ denominator: a percentage (× 100) of everyone counted."""
    weighted_mean = "weighted_mean"
    """Σ (mean × n) / Σ n: the mean over every observation, each organisation's mean
    weighted by its n."""

    def exact(self, parts: Parts) -> Fraction | None:
        """The figure from its summed parts, as an exact fraction, before rounding: a percentage on
        a 0–100 scale (× 100) for ``ratio_of_sums`` (None: no denominator, or no n)."""
        if self is Aggregation.sum:
            return Fraction(parts[0])
        if self is Aggregation.ratio_of_sums:
            den = Fraction(parts[2])
            return 100 * Fraction(parts[1]) / den if den else None
        n = Fraction(parts[4])
        return Fraction(parts[3]) / n if n else None


# How the values of shorter periods combine into a longer one (a year from its quarters).
class TimeAggregation(enum.StrEnum):
    sum = "sum"
    """A flow (people helped, activities held): a year is the sum of its quarters."""
    last = "last"
    """A stock (people on a waiting list, active volunteers): a period takes the value of its
    latest part."""

    @property
    def is_stock(self) -> bool:
        """Whether a period takes its latest part rather than the sum of its parts."""
        return self is TimeAggregation.last


# Reporting periods, as SDMX time periods and DHIS2 period types: ``2025`` (year),
# ``2025-Q1`` (quarter), ``2025-03`` (month); each lies within one calendar year. Finer
# periods add up to coarser ones: year (fineness 0) ≤ quarter (1) ≤ month (2).
class PeriodType(enum.StrEnum):
    month = "month"
    """A calendar month: ``2025-03``."""
    quarter = "quarter"
    """A calendar quarter: ``2025-Q1`` (January to March)."""
    year = "year"
    """A calendar year: ``2025``."""

    @property
    def fineness(self) -> int:
        """0 for a year, 1 for a quarter, 2 for a month."""
        return _FINENESS[self]

    def finer_or_equal(self, other: str) -> bool:
        """Whether periods of this type make up periods of type ``other`` (a month makes up
        a quarter and a year; every type itself)."""
        return _FINENESS[self] >= _FINENESS[other]

    @staticmethod
    def coarsest_first(types: Iterable[str]) -> list[PeriodType]:
        """These period types from the coarsest (year) to the finest (month)."""
        return sorted((PeriodType(t) for t in types), key=_FINENESS.__getitem__)


_FINENESS: dict[str, int] = {PeriodType.year: 0, PeriodType.quarter: 1, PeriodType.month: 2}


# The levels of the geography figures are published at, as CBS's regional levels: the
# Netherlands as a whole (``NL01``), a province (``PV`` + 2 digits) and a municipality
# (``GM`` + 4 digits).
class Level(enum.StrEnum):
    national = "national"
    """The Netherlands as a whole: the area ``NL01``."""
    province = "province"
    """The twelve provinces: ``PV20`` … ``PV31``."""
    municipality = "municipality"
    """Municipalities (``GM0363``), as reported or on today's boundaries."""


# Which way a KPI should move for the better: how an agreement's progress judges a change
# (``d`` in the progress method, ``agreements.progress``). The catalogue states it per KPI
# version; a change of it changes how figures are judged, not what they count (minor).
class Direction(enum.StrEnum):
    higher_is_better = "higher_is_better"
    """More is better: reach, outcomes achieved, satisfaction."""
    lower_is_better = "lower_is_better"
    """Less is better: loneliness, nuisance, waiting time, sickness absence."""
    none = "none"
    """Neither way is better in itself (referrals, contacts, signals: more can mean more need
    as well as better reach): progress gets no status, only the way a figure went."""

    @property
    def sign(self) -> int:
        """+1 when higher is better, −1 when lower is better, 0 for none (``d`` in the
        method)."""
        return _SIGN[self]


_SIGN: dict[str, int] = {
    Direction.higher_is_better: 1,
    Direction.lower_is_better: -1,
    Direction.none: 0,
}
