"""The arithmetic of figures and of small-number suppression: plain functions, no I/O.

Values combine as the KPI definition says, never as a plain average: counts and amounts sum,
percentages are the ratio of summed numerators to summed denominators, scores and durations
are means weighted by n.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

SUM, RATIO, WEIGHTED = "sum", "ratio_of_sums", "weighted_mean"


@dataclass
class Sums:
    """Additive parts of a figure: every aggregation is a function of these."""

    value: float = 0.0  # sum of values (sum KPIs)
    numerator: float = 0.0
    denominator: float = 0.0
    weighted: float = 0.0  # sum of mean * n
    n: float = 0.0

    def add(self, other: Sums) -> Sums:
        return Sums(
            self.value + other.value,
            self.numerator + other.numerator,
            self.denominator + other.denominator,
            self.weighted + other.weighted,
            self.n + other.n,
        )


def figure(aggregation: str, sums: Sums) -> float | None:
    """The published value of a cell."""
    if aggregation == SUM:
        return sums.value
    if aggregation == RATIO:
        return 100.0 * sums.numerator / sums.denominator if sums.denominator else None
    if aggregation == WEIGHTED:
        return sums.weighted / sums.n if sums.n else None
    raise ValueError(f"unknown aggregation {aggregation!r}")


def people(value_type: str, aggregation: str, sums: Sums) -> float | None:
    """How many people a cell rests on, where the KPI says (None: not a count of people)."""
    if aggregation == RATIO:
        return sums.denominator
    if aggregation == WEIGHTED:
        return sums.n
    if value_type == "count":
        return sums.value
    return None  # amounts in euro count no people


@dataclass
class Cell:
    area: str
    parent: str | None  # the area whose published total this cell is part of
    period: str
    code: str | None  # dimension code of a breakdown cell; None for a total
    sums: Sums
    organisations: int
    municipalities: int
    people: float | None = None
    suppressed: bool = False
    reason: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def suppress_primary(cells: Iterable[Cell], *, min_organisations: int, min_people: float) -> None:
    """Suppress cells built on too few organisations or too few people."""
    for cell in cells:
        if cell.organisations < min_organisations:
            cell.suppressed, cell.reason = True, "too_few_organisations"
        elif cell.people is not None and cell.people < min_people:
            cell.suppressed, cell.reason = True, "small_count"


def _groups(cells: list[Cell]) -> list[list[Cell]]:
    """Sets of cells that add up to a published figure: areas within their parent area, and
    the codes of a breakdown within their area."""
    geographic: dict[tuple[object, ...], list[Cell]] = defaultdict(list)
    breakdown: dict[tuple[object, ...], list[Cell]] = defaultdict(list)
    for c in cells:
        if c.parent is not None:
            geographic[(c.parent, c.period, c.code)].append(c)
        if c.code is not None:
            breakdown[(c.area, c.period)].append(c)
    return [g for g in (*geographic.values(), *breakdown.values()) if len(g) > 1]


def _size(cell: Cell) -> tuple[float, int, str, str]:
    people_ = cell.people if cell.people is not None else float("inf")
    return (people_, cell.organisations, cell.area, cell.code or "")


def suppress_secondary(cells: list[Cell]) -> None:
    """Where a group of summing cells has exactly one suppressed cell, suppress its smallest
    sibling too, so the hidden figure cannot be recovered as total minus the others."""
    changed = True
    while changed:
        changed = False
        for group in _groups(cells):
            hidden = [c for c in group if c.suppressed]
            shown = [c for c in group if not c.suppressed]
            if len(hidden) == 1 and shown:
                victim = min(shown, key=_size)
                victim.suppressed, victim.reason = True, "secondary"
                changed = True
