"""Reporting periods, without a database: parsing, overlap, and splitting into smaller periods."""

from __future__ import annotations

from datetime import date

import pytest

from kpi_api.periods import PERIOD_PATTERN, Period, months_of, parse_period, periods_within


def p(code: str) -> Period:
    return parse_period(code)


# --- parse_period ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "start", "end", "kind"),
    [
        ("2025", date(2025, 1, 1), date(2025, 12, 31), "year"),
        ("2024", date(2024, 1, 1), date(2024, 12, 31), "year"),
        ("2025-Q1", date(2025, 1, 1), date(2025, 3, 31), "quarter"),
        ("2025-Q2", date(2025, 4, 1), date(2025, 6, 30), "quarter"),
        ("2025-Q3", date(2025, 7, 1), date(2025, 9, 30), "quarter"),
        ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31), "quarter"),
        ("2024-Q1", date(2024, 1, 1), date(2024, 3, 31), "quarter"),
        ("2025-01", date(2025, 1, 1), date(2025, 1, 31), "month"),
        ("2025-02", date(2025, 2, 1), date(2025, 2, 28), "month"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),  # leap year
        ("2000-02", date(2000, 2, 1), date(2000, 2, 29), "month"),  # divisible by 400: leap
        ("1900-02", date(1900, 2, 1), date(1900, 2, 28), "month"),  # divisible by 100: not
        ("2025-04", date(2025, 4, 1), date(2025, 4, 30), "month"),
        ("2025-09", date(2025, 9, 1), date(2025, 9, 30), "month"),
        ("2025-11", date(2025, 11, 1), date(2025, 11, 30), "month"),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31), "month"),
    ],
)
def test_parse_period(code, start, end, kind):
    period = parse_period(code)
    assert period == Period(start=start, end=end, type=kind, code=code)


def test_q4_and_december_end_on_31_december():
    assert p("2025-Q4").end == p("2025-12").end == p("2025").end == date(2025, 12, 31)
    assert p("2099-Q4").end == date(2099, 12, 31)


@pytest.mark.parametrize(
    "code",
    [
        "2025-Q5",
        "2025-Q0",
        "2025-q1",
        "2025-00",
        "2025-13",
        "2025-1",
        "2025-001",
        "25",
        "025",
        "20251",
        "2025-W01",
        "2025-H1",
        " 2025",
        "2025 ",
        "2025-Q1 ",
        "2025/03",
        "03-2025",
        "Q1-2025",
        "2025-03-01",
        "",
        "0000",  # year 0 does not exist
    ],
)
def test_parse_period_rejects(code):
    with pytest.raises(ValueError):
        parse_period(code)


@pytest.mark.parametrize("code", ["2025\n", "2025-Q1\n", "2025-03\n"])
def test_parse_period_rejects_a_trailing_newline(code):
    with pytest.raises(ValueError):
        parse_period(code)


@pytest.mark.parametrize("code", ["２０２５-03", "٢٠٢٥"])
def test_parse_period_rejects_non_ascii_digits(code):
    with pytest.raises(ValueError):
        parse_period(code)


def test_period_pattern_agrees_with_parse_period():
    import re

    for code in ("2025", "2025-Q4", "2025-12"):
        assert re.fullmatch(PERIOD_PATTERN, code)
    for code in ("2025-Q5", "2025-13", "2025-1", "25", "2025-W01"):
        assert not re.fullmatch(PERIOD_PATTERN, code)


# --- overlaps / contains -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("2025", "2025-Q1", True),
        ("2025-Q1", "2025", True),
        ("2025-Q1", "2025-03", True),
        ("2025-Q1", "2025-04", False),
        ("2025-Q4", "2026-01", False),
        ("2025", "2026", False),
        ("2024-12", "2025", False),
        ("2025-03", "2025-03", True),
    ],
)
def test_overlaps(a, b, expected):
    assert p(a).overlaps(p(b)) is expected
    assert p(b).overlaps(p(a)) is expected  # symmetric


def test_overlaps_on_a_single_shared_day():
    last_day = Period(date(2025, 3, 31), date(2025, 4, 30), "custom", "x")
    assert p("2025-Q1").overlaps(last_day) and p("2025-Q2").overlaps(last_day)
    assert not p("2025-02").overlaps(last_day)


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("2025", "2025-Q1", True),
        ("2025", "2025-12", True),
        ("2025", "2025", True),
        ("2025-Q1", "2025-03", True),
        ("2025-Q1", "2025-04", False),
        ("2025-Q1", "2025", False),
        ("2025-03", "2025-Q1", False),
        ("2025", "2026-01", False),
    ],
)
def test_contains(outer, inner, expected):
    assert p(outer).contains(p(inner)) is expected


# --- months_of / periods_within ---------------------------------------------------------------


def test_months_of():
    assert [m.code for m in months_of(p("2025"))] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert [m.code for m in months_of(p("2025-Q4"))] == ["2025-10", "2025-11", "2025-12"]
    assert [m.code for m in months_of(p("2024-02"))] == ["2024-02"]
    assert all(m.type == "month" for m in months_of(p("2025")))
    assert months_of(p("2024-Q1"))[1].end == date(2024, 2, 29)


def test_periods_within_year_to_quarters():
    quarters = periods_within(p("2025"), "quarter")
    assert [q.code for q in quarters] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert quarters == [p("2025-Q1"), p("2025-Q2"), p("2025-Q3"), p("2025-Q4")]
    assert quarters[0].start == date(2025, 1, 1) and quarters[-1].end == date(2025, 12, 31)


def test_periods_within_year_to_months():
    months = periods_within(p("2024"), "month")
    assert [m.code for m in months] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert months[1].end == date(2024, 2, 29)


def test_periods_within_quarter_to_months():
    assert [m.code for m in periods_within(p("2025-Q2"), "month")] == [
        "2025-04",
        "2025-05",
        "2025-06",
    ]


@pytest.mark.parametrize("code", ["2025", "2025-Q3", "2025-07"])
def test_periods_within_same_type_is_the_period_itself(code):
    period = p(code)
    assert periods_within(period, period.type) == [period]


@pytest.mark.parametrize(
    ("code", "larger"),
    [("2025-03", "quarter"), ("2025-03", "year"), ("2025-Q1", "year")],
)
def test_periods_within_refuses_a_larger_type(code, larger):
    with pytest.raises(ValueError, match="holds no"):
        periods_within(p(code), larger)


def test_periods_within_refuses_month_to_quarter():
    # A month holds no quarter: not the quarter that contains it.
    with pytest.raises(ValueError, match="a month holds no quarter"):
        periods_within(p("2025-03"), "quarter")


def test_non_digit_quarter_and_month_numbers_are_refused():
    # Quarter and month numbers are ASCII character classes, unlike the year's `\d`.
    for code in ("2025-Q١", "2025-٠٣"):
        with pytest.raises(ValueError):
            parse_period(code)
