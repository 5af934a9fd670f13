"""Published numbers: exact, and rounded once, to the precision the KPI definition declares.

Counts and amounts sum exactly (integers, and ``Decimal`` for amounts: 0.1 + 0.2 euro is 0.30);
percentages are 100 × Σ numerators / Σ denominators and means Σ (mean × n) / Σ n, computed as
exact fractions and rounded half away from zero to the KPI's ``decimals``. No binary float is
ever summed, so a figure never reads 0.30000000000000004 and never overflows to ``inf``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from kpi_api.statistics.linked import Vals
from kpi_api.vocabulary import Aggregation

#: Short names of the aggregations.
SUM, RATIO, WEIGHTED = Aggregation.sum, Aggregation.ratio_of_sums, Aggregation.weighted_mean


def rounded(x: Fraction, decimals: int) -> int | Decimal:
    """``x`` rounded half away from zero to ``decimals`` places (an int for 0 places)."""
    scale = 10**decimals
    scaled = abs(x) * scale
    whole = int(scaled)  # floor, for a non-negative fraction
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    whole = whole if x >= 0 else -whole
    if decimals == 0:
        return whole
    return Decimal(whole).scaleb(-decimals)


def figure(aggregation: str, vals: Vals, decimals: int) -> int | Decimal | None:
    """The published value of a cell from its additive parts, rounded to ``decimals``: a percentage
    on a 0–100 scale (× 100) for ``ratio_of_sums`` (None: no denominator or n). Raises
    ``ValueError`` for an unknown aggregation."""
    try:
        how = Aggregation(aggregation)
    except ValueError:
        raise ValueError(f"unknown aggregation {aggregation!r}") from None
    exact = how.exact(vals)
    return None if exact is None else rounded(exact, decimals)


def as_json_number(x: int | Decimal | None) -> int | float | None:
    """A published number for JSON: integers as integers; a rounded decimal as the float whose
    shortest representation is that decimal (exact for the at most 15 digits figures have)."""
    if x is None or isinstance(x, int):
        return x
    return float(x)


def as_text(x: int | Decimal | None) -> str:
    """A published number for CSV, exactly as rounded ('' for none)."""
    return "" if x is None else str(x)
