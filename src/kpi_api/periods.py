"""Reporting periods: ``2025`` (year), ``2025-Q1`` (quarter), ``2025-03`` (month)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from kpi_api.messages import Message
from kpi_api.vocabulary import PeriodType

_YEAR = re.compile(r"^([0-9]{4})$")
_QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
PERIOD_PATTERN = r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"

NOT_A_PERIOD = Message(
    "period_invalid",
    "{period!r} is not a period (2025, 2025-Q1 or 2025-03)",
    "{period!r} is geen periode (2025, 2025-Q1 of 2025-03)",
)
NOT_WITHIN = Message(
    "period_invalid",
    "a {outer} holds no {inner}",
    "een periode van type {outer} bevat geen perioden van type {inner}",
)


class PeriodError(ValueError):
    """A period that is not one; ``str()`` is the English text, ``message`` and ``params``
    give it in every language."""

    def __init__(self, message: Message, **params: object) -> None:
        super().__init__(message.render("en", **params))
        self.message = message
        self.params = params


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: its first and last day (both inclusive), its type and its code."""

    start: date
    end: date  # inclusive
    type: PeriodType
    code: str

    def overlaps(self, other: Period) -> bool:
        """Whether the two periods share at least one day."""
        return self.start <= other.end and other.start <= self.end

    def contains(self, other: Period) -> bool:
        """Whether ``other`` lies wholly within this period."""
        return self.start <= other.start and other.end <= self.end


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@lru_cache(maxsize=4096)
def parse_period(code: str) -> Period:
    """Parse a period code (``2025``, ``2025-Q1``, ``2025-03``); raise PeriodError (a ValueError,
    code ``period_invalid``) for anything else (cached)."""
    if code[:4] == "0000":  # no calendar holds year 0
        raise PeriodError(NOT_A_PERIOD, period=code)
    if m := _YEAR.fullmatch(code):
        year = int(m.group(1))
        return Period(date(year, 1, 1), date(year, 12, 31), PeriodType.year, code)
    if m := _QUARTER.fullmatch(code):
        year, q = int(m.group(1)), int(m.group(2))
        first = 3 * (q - 1) + 1
        return Period(date(year, first, 1), _month_end(year, first + 2), PeriodType.quarter, code)
    if m := _MONTH.fullmatch(code):
        year, month = int(m.group(1)), int(m.group(2))
        return Period(date(year, month, 1), _month_end(year, month), PeriodType.month, code)
    raise PeriodError(NOT_A_PERIOD, period=code)


def months_of(period: Period) -> list[Period]:
    """The months of ``period``, in order."""
    year, month = period.start.year, period.start.month
    out = []
    while (year, month) <= (period.end.year, period.end.month):
        out.append(parse_period(f"{year:04d}-{month:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def periods_within(period: Period, period_type: str) -> list[Period]:
    """The periods of ``period_type`` that make up ``period``, in order (itself for the same type).
    Raises PeriodError (``period_invalid``) for a type coarser than the period's."""
    if period_type == period.type:
        return [period]
    if not PeriodType(period_type).finer_or_equal(period.type):
        raise PeriodError(NOT_WITHIN, outer=period.type, inner=period_type)
    months = months_of(period)
    if period_type == PeriodType.month:
        return months
    if period_type == PeriodType.quarter:
        codes = sorted({f"{m.start.year:04d}-Q{(m.start.month - 1) // 3 + 1}" for m in months})
        return [parse_period(c) for c in codes]
    raise PeriodError(NOT_WITHIN, outer=period.type, inner=period_type)


def _a_real_period(value: str) -> str:
    # The pattern lets through periods no calendar holds, such as year 0000.
    try:
        parse_period(value)
    except ValueError as exc:
        raise PydanticCustomError("period_invalid", "{reason}", {"reason": str(exc)}) from exc
    return value


#: A period code in a request body: the pattern, and a period the calendar holds.
PeriodCode = Annotated[
    str, Field(pattern=PERIOD_PATTERN, examples=["2025-Q1"]), AfterValidator(_a_real_period)
]
