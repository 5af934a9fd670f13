"""The progress method: how far an agreed KPI has come from its baseline towards its target.

Plain functions over plain numbers, no I/O. The method is Statistics Canada's, as the Open SDG
platform computes it (open-sdg/sdg-build ``sdg/ProgressMeasure.py``; documented in open-sdg
``docs/progress.md`` and ``docs/progress-methodology.md``):

- The **observed** compound annual growth since the baseline,
  ``CAGR_o = (y_i / y_0) ** (1 / (t_i - t_0)) - 1``, is compared with the growth the target
  **requires**, ``CAGR_r = (y_T / y_0) ** (1 / (t_T - t_0)) - 1``, as the ratio
  ``R = s · d · CAGR_o / |CAGR_r|`` (``d`` = +1 when higher is better, −1 when lower is better;
  ``s`` = −1 when the baseline is negative). Time is in years; a quarter is a quarter of one.
- Categories (Open SDG's thresholds, ``progress_thresholds`` for a quantitative target):
  ``target_reached`` when the actual value is at or beyond the target in the desired direction
  (Open SDG: *target achieved*), else ``on_track`` for R ≥ 0.95 (*substantial progress*),
  ``moderate_progress`` for 0.60 ≤ R < 0.95, ``limited_progress`` for 0 ≤ R < 0.60 and
  ``moving_away`` for R < 0 (*deterioration*).
- Without a target (a draft), the observed growth itself is compared with fixed rates, as Open
  SDG does: ``d · s · CAGR_o`` ≥ 1.5 % a year on track, ≥ 0.5 % moderate, ≥ 0 limited, below 0
  moving away.
- **Zero or sign-changing values.** Compound growth is undefined from a baseline of 0 and
  meaningless across a change of sign. Open SDG substitutes 0.001 for a zero baseline (which
  turns any change into an enormous growth rate) and gives up when signs differ; we instead
  fall back to **linear** change per year, ``(y_i − y_0) / (t_i − t_0)`` against
  ``(y_T − y_0) / (t_T − t_0)``, with the same ratio and thresholds (``method: linear``). Without
  a target there is nothing to scale a linear change by, so that case has no status.
- A KPI with no desired direction (``none``: referrals can mean either) gets no status, only
  the direction of change. Nor does a period that is the baseline period itself, or one
  without a figure.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from kpi_api.periods import Period

# Re-exported: the catalogue states each KPI's direction; the vocabulary defines it.
from kpi_api.vocabulary import Direction as Direction

Number = int | float | Decimal | Fraction


class ProgressStatus(enum.StrEnum):
    """The categories of the method, from best to worst (Open SDG's names in brackets)."""

    target_reached = "target_reached"  # target_achieved
    on_track = "on_track"  # substantial_progress
    moderate_progress = "moderate_progress"  # moderate_progress
    limited_progress = "limited_progress"  # limited_progress
    moving_away = "moving_away"  # deterioration


class Growth(enum.StrEnum):
    """How growth was measured: compound annual growth, or linear change where that is
    undefined (a zero baseline, or values on both sides of zero)."""

    compound = "compound"
    linear = "linear"


class NoStatus(enum.StrEnum):
    """Why a figure has no progress status."""

    no_direction = "no_direction"
    no_figure = "no_figure"
    baseline_period = "baseline_period"  # no time has passed since the baseline
    no_baseline = "no_baseline"
    no_scale = "no_scale"  # no target and a zero baseline: a linear change has no yardstick
    series_break = "series_break"  # the definition changed between baseline and figure


class Change(enum.StrEnum):
    """Which way a figure moved."""

    up = "up"
    down = "down"
    unchanged = "unchanged"


@dataclass(frozen=True)
class Thresholds:
    """Lower bounds of the categories (Open SDG's defaults): of the ratio R with a target; without
    one, of the observed annual growth as a fraction (0.015 is 1.5 % a year, not × 100)."""

    on_track: float
    moderate: float
    limited: float


WITH_TARGET = Thresholds(on_track=0.95, moderate=0.60, limited=0.0)
WITHOUT_TARGET = Thresholds(on_track=0.015, moderate=0.005, limited=0.0)


@dataclass(frozen=True)
class Assessment:
    """The status of one figure, with the numbers that gave it: ``observed`` and ``required`` are
    growth per year, a fraction for compound growth (0.05 is 5 %, not × 100) and the KPI's own units
    for linear change; ``ratio`` is R."""

    status: ProgressStatus | None
    reason: NoStatus | None = None
    method: Growth | None = None
    observed: float | None = None  # growth per year since the baseline (fraction, or units)
    required: float | None = None  # growth per year the target requires
    ratio: float | None = None  # R


def years_between(first: Period, second: Period) -> Fraction:
    """Years from the start of ``first`` to the start of ``second`` (months / 12)."""
    months = (second.start.year - first.start.year) * 12 + second.start.month - first.start.month
    return Fraction(months, 12)


def _exact(x: Number) -> Fraction:
    if isinstance(x, float):
        return Fraction(Decimal(repr(x)))
    return Fraction(x)


def change(before: Number, after: Number) -> Change:
    """Which way a value went from ``before`` to ``after``."""
    a, b = _exact(before), _exact(after)
    if b > a:
        return Change.up
    if b < a:
        return Change.down
    return Change.unchanged


def favourable(before: Number, after: Number, direction: Direction) -> bool | None:
    """Whether the change is the desired one (None: no direction, or no change)."""
    moved = change(before, after)
    if direction is Direction.none or moved is Change.unchanged:
        return None
    return (moved is Change.up) == (direction is Direction.higher_is_better)


def reached(value: Number, target: Number, direction: Direction) -> bool:
    """Whether ``value`` is at or beyond ``target`` in the desired direction."""
    if direction is Direction.higher_is_better:
        return _exact(value) >= _exact(target)
    if direction is Direction.lower_is_better:
        return _exact(value) <= _exact(target)
    return False


def category(ratio: float, thresholds: Thresholds) -> ProgressStatus:
    """The category of a ratio (or, without a target, of an observed growth rate)."""
    if ratio >= thresholds.on_track:
        return ProgressStatus.on_track
    if ratio >= thresholds.moderate:
        return ProgressStatus.moderate_progress
    if ratio >= thresholds.limited:
        return ProgressStatus.limited_progress
    return ProgressStatus.moving_away


def compound_growth(start: Fraction, end: Fraction, years: Fraction) -> float:
    """Compound annual growth from ``start`` to ``end`` over ``years`` (same sign, start ≠ 0), as a
    fraction (0.05 is 5 % a year); ``inf`` beyond what a float holds (a tiny baseline and a short
    time)."""
    factor = end / start
    if factor == 0:
        return -1.0
    try:
        return math.exp(math.log(factor) / float(years)) - 1.0
    except OverflowError:
        return math.inf


def _compound_applies(baseline: Fraction, *others: Fraction) -> bool:
    """Compound growth needs a non-zero baseline and every value on its side of zero (a value
    of 0 on a positive series is fine: growth −100 %)."""
    if baseline == 0:
        return False
    return all(v == 0 or (v > 0) == (baseline > 0) for v in others) and not (
        baseline < 0 and any(v == 0 for v in others)
    )


def assess(
    *,
    baseline: Number | None,
    baseline_period: Period,
    value: Number | None,
    period: Period,
    direction: Direction,
    target: Number | None = None,
    target_period: Period | None = None,
) -> Assessment:
    """The progress status of ``value`` in ``period``: Statistics Canada's method as Open SDG
    computes it (see the module doc).

    ``target`` and ``target_period`` go together; without them the observed growth is judged
    on its own. ``period`` must start after ``baseline_period`` for a status.
    """
    if direction is Direction.none:
        return Assessment(None, NoStatus.no_direction)
    if baseline is None:
        return Assessment(None, NoStatus.no_baseline)
    if value is None:
        return Assessment(None, NoStatus.no_figure)
    d = direction.sign
    y0, yi = _exact(baseline), _exact(value)
    has_target = target is not None and target_period is not None
    if has_target and target is not None and reached(yi, target, direction):
        return Assessment(ProgressStatus.target_reached)
    t_o = years_between(baseline_period, period)
    if t_o <= 0:
        return Assessment(None, NoStatus.baseline_period)
    if not has_target or target is None or target_period is None:
        if not _compound_applies(y0, yi):
            return Assessment(None, NoStatus.no_scale)
        sign = -1 if y0 < 0 else 1
        observed = compound_growth(y0, yi, t_o)
        judged = sign * d * observed
        return Assessment(
            category(judged, WITHOUT_TARGET), method=Growth.compound, observed=_finite(observed)
        )
    y_t = _exact(target)
    t_r = years_between(baseline_period, target_period)
    method, sign, observed, required = Growth.compound, -1 if y0 < 0 else 1, 0.0, 0.0
    if _compound_applies(y0, yi, y_t):
        observed = compound_growth(y0, yi, t_o)
        required = compound_growth(y0, y_t, t_r)
    if not _compound_applies(y0, yi, y_t) or not (
        math.isfinite(observed) and math.isfinite(required)
    ):
        # Compound growth undefined, or beyond a float (a tiny baseline, a short time).
        method, sign = Growth.linear, 1
        observed = float((yi - y0) / t_o)
        required = float((y_t - y0) / t_r)
    if required == 0:
        # The target is the baseline and is not reached: the value lies on the wrong side of
        # it, so it moved away (no growth rate can be compared with zero).
        return Assessment(
            ProgressStatus.moving_away, method=method, observed=_finite(observed), required=0.0
        )
    ratio = sign * d * observed / abs(required)
    return Assessment(
        category(ratio, WITH_TARGET),
        method=method,
        observed=_finite(observed),
        required=_finite(required),
        ratio=_finite(ratio),
    )


def _finite(x: float) -> float | None:
    """A number for an answer: JSON has no infinity (a growth beyond any float is shown as
    none; its category stands)."""
    return x if math.isfinite(x) else None
