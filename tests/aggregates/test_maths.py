"""Published numbers (statistics/maths.py) and the roll-up of one unit (statistics/linked.py)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_api.statistics import linked
from kpi_api.statistics.maths import RATIO, SUM, WEIGHTED, as_json_number, figure, rounded


@pytest.mark.parametrize(
    ("x", "decimals", "expected"),
    [
        (Fraction(1, 8), 2, Decimal("0.13")),  # half away from zero, not to even
        (Fraction(-1, 8), 2, Decimal("-0.13")),
        (Fraction(5, 2), 0, 3),
        (Fraction(2, 3), 1, Decimal("0.7")),
        (Fraction(100), 1, Decimal("100.0")),
    ],
)
def test_rounding_is_half_away_from_zero(x, decimals, expected):
    assert rounded(x, decimals) == expected
    assert type(rounded(x, decimals)) is type(expected)


def test_figures_follow_the_aggregation_exactly():
    amounts = linked.add((Decimal("0.1"), 0, 0, 0, 0), (Decimal("0.2"), 0, 0, 0, 0))
    assert figure(SUM, amounts, 2) == Decimal("0.30")
    assert as_json_number(figure(SUM, amounts, 2)) == 0.3
    assert figure(SUM, (40, 0, 0, 0, 0), 0) == 40
    assert figure(RATIO, (0, 1, 3, 0, 0), 1) == Decimal("33.3")
    assert figure(RATIO, (0, 0, 0, 0, 0), 1) is None
    assert figure(WEIGHTED, (0, 0, 0, Decimal("0.3"), 3), 2) == Decimal("0.10")
    assert figure(WEIGHTED, linked.ZERO, 2) is None


def test_stored_values_are_read_back_as_submitted():
    assert linked.exact(40.0) == 40 and type(linked.exact(40.0)) is int
    assert linked.exact(0.1) == Decimal("0.1")
    assert linked.vals_of("weighted_mean", 3.4, None, None, 25) == (0, 0, 0, Decimal("85.0"), 25)


def _rollup(reported, stock=False, types=("year", "quarter", "month")):
    parts = {p: ((v, 0, 0, 0, 0), 1, 1) for p, v in reported.items()}
    return {p: got[0][0] for p, got in linked.rollup(parts, 2024, types, stock).items()}


def test_a_unit_covers_each_stretch_once_at_any_mix_of_period_types():
    got = _rollup({"2024-01": 5, "2024-02": 6, "2024-Q2": 20})
    assert got["2024"] == 31 and got["2024-Q1"] == 11 and got["2024-Q2"] == 20
    # A period reported itself wins over its parts.
    got = _rollup({"2024-Q1": 30, "2024-01": 7, "2024-04": 9, "2024": 100})
    assert got["2024"] == 100 and got["2024-Q1"] == 30 and got["2024-Q2"] == 9
    assert got["2024-01"] == 7  # the month itself is still a figure of its own


def test_stock_takes_the_latest_part():
    got = _rollup({"2024-Q1": 40, "2024-05": 44}, stock=True)
    assert got["2024"] == 44 and got["2024-Q2"] == 44 and got["2024-Q1"] == 40


def test_targets_follow_the_finest_period_type():
    assert linked.targets(["quarter", "year"]) == ("year", "quarter")
    assert linked.targets(["month"]) == ("year", "quarter", "month")
    assert linked.children("2024", ("year",)) == []
    assert linked.children("2024-Q2", ("year", "quarter", "month")) == [
        "2024-04",
        "2024-05",
        "2024-06",
    ]
