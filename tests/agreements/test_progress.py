"""The progress method on constructed series: each status, the edge cases, no I/O."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from kpi_api.agreements.progress import (
    WITH_TARGET,
    WITHOUT_TARGET,
    Change,
    Direction,
    Growth,
    NoStatus,
    ProgressStatus,
    assess,
    category,
    change,
    favourable,
    reached,
    years_between,
)
from kpi_api.periods import parse_period

HIGHER, LOWER, NONE = Direction.higher_is_better, Direction.lower_is_better, Direction.none


def status(baseline, value, target, *, direction=HIGHER, at="2025", base="2024", by="2026"):
    return assess(
        baseline=baseline,
        baseline_period=parse_period(base),
        value=value,
        period=parse_period(at),
        direction=direction,
        target=target,
        target_period=parse_period(by) if target is not None else None,
    )


def cagr(start, end, years):
    return (end / start) ** (1 / years) - 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (121, ProgressStatus.target_reached),  # at the target
        (130, ProgressStatus.target_reached),  # beyond it
        (110, ProgressStatus.on_track),  # R = 1.0: exactly the growth required
        (108, ProgressStatus.moderate_progress),  # R ≈ 0.80
        (103, ProgressStatus.limited_progress),  # R ≈ 0.31
        (100, ProgressStatus.limited_progress),  # R = 0: standing still
        (95, ProgressStatus.moving_away),  # R < 0
    ],
)
def test_each_status_with_a_target_higher_is_better(value, expected):
    # 100 in 2024 to 121 in 2026 requires 10 % a year; one year later the value is `value`.
    got = status(100, value, 121)
    assert got.status is expected
    if expected is not ProgressStatus.target_reached:
        assert got.method is Growth.compound
        assert got.required == pytest.approx(0.10)
        assert got.observed == pytest.approx(value / 100 - 1)
        assert got.ratio == pytest.approx((value / 100 - 1) / 0.10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (40, ProgressStatus.target_reached),
        (49, ProgressStatus.on_track),  # about the 18.4 % decline a year required
        (52, ProgressStatus.moderate_progress),  # R ≈ 0.73
        (56, ProgressStatus.limited_progress),  # R ≈ 0.36
        (62, ProgressStatus.moving_away),
    ],
)
def test_each_status_with_a_target_lower_is_better(value, expected):
    # A waiting list from 60 (2024) to 40 (2026): lower is better.
    got = status(60, value, 40, direction=LOWER)
    assert got.status is expected
    if got.ratio is not None:
        required = cagr(60, 40, 2)
        assert got.ratio == pytest.approx(-cagr(60, value, 1) / abs(required))


def test_the_thresholds_are_open_sdgs():
    assert (WITH_TARGET.on_track, WITH_TARGET.moderate, WITH_TARGET.limited) == (0.95, 0.6, 0)
    assert (WITHOUT_TARGET.on_track, WITHOUT_TARGET.moderate) == (0.015, 0.005)
    assert category(0.95, WITH_TARGET) is ProgressStatus.on_track
    assert category(0.9499, WITH_TARGET) is ProgressStatus.moderate_progress
    assert category(0.6, WITH_TARGET) is ProgressStatus.moderate_progress
    assert category(0.0, WITH_TARGET) is ProgressStatus.limited_progress
    assert category(-1e-9, WITH_TARGET) is ProgressStatus.moving_away


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (102, ProgressStatus.on_track),  # 2 % a year ≥ 1.5 %
        (101, ProgressStatus.moderate_progress),  # 1 %
        (100.2, ProgressStatus.limited_progress),
        (99, ProgressStatus.moving_away),
    ],
)
def test_without_a_target_the_growth_itself_is_judged(value, expected):
    got = status(100, value, None)
    assert got.status is expected and got.ratio is None


def test_a_kpi_without_direction_has_no_status():
    got = status(100, 200, 121, direction=NONE)
    assert got.status is None and got.reason is NoStatus.no_direction
    assert favourable(100, 200, NONE) is None
    assert change(100, 200) is Change.up


def test_no_status_for_the_baseline_period_or_without_a_figure():
    assert status(100, 100, 121, at="2024").reason is NoStatus.baseline_period
    assert status(100, None, 121).reason is NoStatus.no_figure
    assert status(None, 100, 121).reason is NoStatus.no_baseline


def test_a_zero_baseline_falls_back_to_linear_change():
    # 0 to 10 in two years needs +5 a year; +5 after one year is exactly on track.
    got = status(0, 5, 10)
    assert (got.status, got.method) == (ProgressStatus.on_track, Growth.linear)
    assert (got.observed, got.required, got.ratio) == (5.0, 5.0, 1.0)
    assert status(0, 2, 10).status is ProgressStatus.limited_progress  # R = 0.4
    # Without a target a linear change has no yardstick.
    assert status(0, 5, None).reason is NoStatus.no_scale


def test_values_either_side_of_zero_fall_back_to_linear_change():
    # An amount from −10 to +10 in two years: +10 a year required, +7 observed.
    got = status(-10, -3, 10)
    assert got.method is Growth.linear
    assert got.ratio == pytest.approx(0.7) and got.status is ProgressStatus.moderate_progress


def test_negative_values_on_one_side_of_zero_use_compound_growth_with_the_sign():
    # From −10 towards −5 (higher is better): a value of −6 is past the growth required.
    got = status(-10, -6, -5)
    assert got.method is Growth.compound
    expected = -1 * cagr(-10, -6, 1) / abs(cagr(-10, -5, 2))
    assert got.ratio == pytest.approx(expected) and got.status is ProgressStatus.on_track
    assert status(-10, -12, -5).status is ProgressStatus.moving_away


def test_a_target_equal_to_the_baseline_that_is_not_reached_is_moving_away():
    got = status(100, 90, 100)
    assert got.status is ProgressStatus.moving_away and got.required == 0.0
    assert status(100, 100, 100).status is ProgressStatus.target_reached


def test_quarters_count_as_quarters_of_a_year():
    assert years_between(parse_period("2024-Q4"), parse_period("2025-Q2")) == Fraction(1, 2)
    assert years_between(parse_period("2024-11"), parse_period("2025-02")) == Fraction(1, 4)
    # 100 (2024-Q4) to 121 (2025-Q4) is 21 % a year; 110 half a year later is exactly that.
    got = status(100, 110, 121, base="2024-Q4", at="2025-Q2", by="2025-Q4")
    assert got.ratio == pytest.approx(1.0) and got.status is ProgressStatus.on_track


def test_extreme_growth_stays_a_status_and_json_safe():
    # The widest growth validated values allow (10^-6 to 10^12 in a month) is a float still.
    got = status(1e-6, 1e12, 2e12, base="2025-01", at="2025-02", by="2025-12")
    assert got.method is Growth.compound and got.status is ProgressStatus.on_track
    # One beyond any float is judged by the linear change instead.
    tiny = Fraction(1, 10**40)
    got = status(tiny, 10**12, 2 * 10**12, base="2025-01", at="2025-02", by="2025-12")
    assert got.method is Growth.linear and got.status is ProgressStatus.on_track
    for x in (got.observed, got.required, got.ratio):
        assert x is None or math.isfinite(x)
    json.dumps([got.observed, got.required, got.ratio], allow_nan=False)


def test_a_value_reaching_zero_is_minus_hundred_percent():
    got = status(50, 0, 20, direction=LOWER)
    assert got.status is ProgressStatus.target_reached
    got = status(50, 0, 100)
    assert got.observed == -1.0 and got.status is ProgressStatus.moving_away


def test_direction_of_change_and_whether_it_is_favourable():
    assert change(10, 10) is Change.unchanged and change(10, 9.5) is Change.down
    assert favourable(10, 12, HIGHER) is True and favourable(10, 12, LOWER) is False
    assert favourable(10, 10, HIGHER) is None
    assert reached(40, 40, LOWER) and not reached(41, 40, LOWER) and not reached(1, 0, NONE)
    assert Direction.none.sign == 0 and Direction.lower_is_better.sign == -1
