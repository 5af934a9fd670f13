"""The disaggregation key: how a measurement's breakdown is written, stored and found again.

A total has the empty key; a breakdown by one dimension is ``dimension=code`` (``age_band=12-17``),
by several the pairs sorted by dimension and joined by ``;``. Keys are compared in byte order
(``COLLATE "C"`` on PostgreSQL, migration 0007), so one dimension's keys form an index range.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, and_


def disaggregation_key(disaggregation: Mapping[str, str]) -> str:
    """Canonical text of a disaggregation: ``age_band=12-17;gender=V``; empty for a total."""
    if not disaggregation:
        return ""
    if len(disaggregation) == 1:  # the common breakdown: no sorting needed
        ((dimension, code),) = disaggregation.items()
        return f"{dimension}={code}"
    return ";".join([f"{k}={v}" for k, v in sorted(disaggregation.items())])


def dimension_keys(column: ColumnElement[str], dimension: str | None) -> ColumnElement[bool]:
    """SQL condition on a key column: the total (``dimension`` None) or every key of one
    breakdown (exactly the keys after ``dimension=`` and before ``dimension>``: an index range)."""
    if dimension is None:
        return column == ""
    return and_(column > dimension + "=", column < dimension + ">")
