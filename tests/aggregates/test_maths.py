"""The arithmetic of figures and suppression, without a database."""

from __future__ import annotations

import pytest

from kpi_api.aggregates.maths import (
    Cell,
    Sums,
    figure,
    people,
    suppress_primary,
    suppress_secondary,
)


def test_each_aggregation_follows_its_definition():
    s = Sums(value=10, numerator=3, denominator=12, weighted=3 * 4.0 + 1 * 2.0, n=4)
    assert figure("sum", s) == 10
    assert figure("ratio_of_sums", s) == 25.0
    assert figure("weighted_mean", s) == 14.0 / 4
    assert figure("ratio_of_sums", Sums()) is None
    assert figure("weighted_mean", Sums()) is None
    with pytest.raises(ValueError):
        figure("average", s)


def test_ratio_of_sums_is_not_the_mean_of_ratios():
    a = Sums(numerator=1, denominator=2)  # 50 %
    b = Sums(numerator=1, denominator=98)  # ~1 %
    assert figure("ratio_of_sums", a.add(b)) == 2.0  # not (50 + 1.02) / 2


def test_people_behind_a_cell():
    s = Sums(value=7, denominator=40, n=12)
    assert people("count", "sum", s) == 7
    assert people("percentage", "ratio_of_sums", s) == 40
    assert people("score", "weighted_mean", s) == 12
    assert people("amount_eur", "sum", s) is None


def cell(area, parent, people_, orgs=3, code=None):
    return Cell(
        area=area,
        parent=parent,
        period="2025",
        code=code,
        sums=Sums(value=people_),
        organisations=orgs,
        municipalities=1,
        people=people_,
    )


def test_primary_suppression_reasons():
    cells = [
        cell("A", "P", 50, orgs=1),
        cell("B", "P", 5),
        cell("C", "P", 50),
        cell("D", "P", None),
    ]
    suppress_primary(cells, min_organisations=2, min_people=10)
    assert [(c.suppressed, c.reason) for c in cells] == [
        (True, "too_few_organisations"),
        (True, "small_count"),
        (False, None),
        (False, None),
    ]


def test_secondary_suppression_hides_the_smallest_sibling():
    cells = [cell("A", "P", 3), cell("B", "P", 40), cell("C", "P", 20), cell("X", "Q", 3)]
    suppress_primary(cells, min_organisations=2, min_people=10)
    suppress_secondary(cells)
    by_area = {c.area: c.reason for c in cells}
    assert by_area == {"A": "small_count", "B": None, "C": "secondary", "X": "small_count"}
    # With two hidden cells, the published total minus the rest only gives their sum.
    hidden = [c for c in cells if c.parent == "P" and c.suppressed]
    assert len(hidden) == 2


def test_secondary_suppression_in_breakdowns_and_cascades():
    # Breakdown codes of one area sum to its total; area X also sits in parent P with Y.
    cells = [
        cell("X", "P", 3, code="a"),
        cell("X", "P", 30, code="b"),
        cell("X", "P", 60, code="c"),
        cell("Y", "P", 30, code="a"),
        cell("Y", "P", 80, code="b"),
    ]
    suppress_primary(cells, min_organisations=2, min_people=10)
    suppress_secondary(cells)
    hidden = {(c.area, c.code) for c in cells if c.suppressed}
    # X/a primary; X/b secondary within X; Y/a secondary within parent P for code a
    # (else Y/a = total(a) - X/a ... ); then Y has one hidden code -> Y/b hidden too.
    assert ("X", "a") in hidden and len(hidden) >= 3
    for group in ({("X", c) for c in "abc"}, {("Y", c) for c in "ab"}):
        assert len(group & hidden) != 1
    for code in "ab":
        assert len({("X", code), ("Y", code)} & hidden) != 1


def test_nothing_suppressed_leaves_cells_alone():
    cells = [cell("A", "P", 50), cell("B", "P", 60)]
    suppress_primary(cells, min_organisations=2, min_people=10)
    suppress_secondary(cells)
    assert not any(c.suppressed for c in cells)
