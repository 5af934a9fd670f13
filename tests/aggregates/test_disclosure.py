"""Disclosure control over a linked table (statistics/disclosure.py), checked independently.

The check below is rational Gauss–Jordan elimination (``fractions.Fraction``), written here and
sharing nothing with the service's modular elimination: with every published cell a constant,
each additive relation of the table is an equation over the hidden cells; a hidden cell is
determined iff its unit vector lies in their row space. Hypothesis builds random tables (units
in a small geography with a merger, months/quarters/years mixed, breakdowns beside totals).
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_api.statistics import disclosure, linked

PLACES = {
    "GM0001": linked.Place("PV01", "GM0001"),
    "GM0002": linked.Place("PV01", "GM0001"),  # merged into GM0001 since
    "GM0003": linked.Place("PV01", "GM0003"),
    "GM0004": linked.Place("PV02", "GM0004"),
    "GM0005": linked.Place("PV02", None),  # split since: in its province, in no municipality
}
PERIODS = ["2024", *(f"2024-Q{q}" for q in range(1, 5)), *(f"2024-{m:02d}" for m in range(1, 13))]
KEYS = ["", "age=a", "age=b", "sex=m"]
TYPES = ("year", "quarter", "month")


def determined(cells, relations) -> set:
    """Hidden cells whose value follows from the published ones (exact rational RREF)."""
    unknown = sorted(k for k, c in cells.items() if c.hidden)
    col = {k: i for i, k in enumerate(unknown)}
    rows = []
    for r in relations:
        row = {}
        for sign, k in ((1, r.total), *((-1, p) for p in r.parts), (-1, r.residual)):
            if k is not None and k in col:
                row[col[k]] = row.get(col[k], 0) + sign
        row = {c: Fraction(v) for c, v in row.items() if v}
        if row:
            rows.append(row)
    pivots: dict[int, dict[int, Fraction]] = {}
    for row in rows:
        r = dict(row)
        for p in [c for c in r if c in pivots]:
            f = r.pop(p)
            for c, v in pivots[p].items():
                if c != p:
                    r[c] = r.get(c, Fraction(0)) - f * v
                    if r[c] == 0:
                        del r[c]
        if not r:
            continue
        p = min(r)
        r = {c: v / r[p] for c, v in r.items()}
        for q, other in pivots.items():
            if p in other:
                f = other.pop(p)
                for c, v in r.items():
                    if c != p:
                        other[c] = other.get(c, Fraction(0)) - f * v
                        if other[c] == 0:
                            del other[c]
        pivots[p] = r
    return {unknown[p] for p, r in pivots.items() if len(r) == 1}


@st.composite
def tables(draw):
    orgs = [f"O{i}" for i in range(draw(st.integers(2, 6)))]
    measurements = []
    for org in orgs:
        for muni in draw(st.lists(st.sampled_from(sorted(PLACES)), min_size=1, max_size=2)):
            granularity = draw(st.sampled_from(["month", "quarter", "year", "mixed"]))
            for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True)):
                for period in PERIODS:
                    kind = "year" if len(period) == 4 else "quarter" if "Q" in period else "month"
                    if granularity == "mixed" and draw(st.integers(0, 3)) == 0:
                        pass
                    elif kind != granularity:
                        continue
                    value = draw(st.integers(0, 25))
                    measurements.append(
                        linked.Measurement(org, muni, period, key, (value, 0, 0, 0, 0), 1)
                    )
    vendors = {org: {f"V{draw(st.integers(0, 2))}"} for org in orgs}
    limits = disclosure.Thresholds(
        draw(st.integers(1, 3)), draw(st.integers(0, 15)), draw(st.sampled_from([0.6, 0.8, 1.0]))
    )
    return measurements, vendors, limits


def compute(measurements, vendors, limits):
    contributions = linked.contributions(measurements, year=2024, types=TYPES, stock=False)
    residuals = linked.residuals(contributions, types=TYPES, stock=False)
    cells = linked.build([*contributions, *residuals], PLACES)
    relations = linked.relations(cells, PLACES, types=TYPES, stock=False)
    disclosure.primary(
        cells, aggregation="sum", value_type="count", limits=limits, vendors_of=vendors
    )
    primary = {k: c.reason for k, c in cells.items() if c.sensitive}
    disclosure.protect(cells, relations, aggregation="sum", value_type="count")
    return cells, relations, primary


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables())
def test_no_sensitive_cell_is_determined_by_any_combination(table):
    cells, relations, primary = compute(*table)
    found = determined(cells, relations)
    leaks = {k for k in found if cells[k].sensitive}
    assert not leaks, sorted(leaks)[:5]
    # No hidden cell is determined at all: one that would be is published instead.
    assert not {k for k in found if not cells[k].residual}, sorted(found)[:5]
    # Primary cells keep their reason; every other hidden cell is secondary; residuals
    # (never published) are hidden; a published cell passes every primary rule.
    for key, cell in cells.items():
        if key in primary:
            assert cell.hidden and cell.reason == primary[key]
        elif cell.residual:
            assert cell.hidden
        elif cell.hidden:
            assert cell.reason == "secondary"
    # The relations hold on the exact values: what is published adds up.
    for r in relations:
        total = cells[r.total].vals[0] if r.total in cells else 0
        parts = sum(cells[p].vals[0] for p in r.parts)
        rest = cells[r.residual].vals[0] if r.residual else 0
        assert total == parts + rest, r


def test_the_check_finds_a_determined_cell():
    """The checks can fail: a total and one of two parts published determine the other."""
    measurements = [
        linked.Measurement("A", "GM0004", "2024", "", (10, 0, 0, 0, 0), 1),
        linked.Measurement("B", "GM0004", "2024", "", (12, 0, 0, 0, 0), 1),
        linked.Measurement("C", "GM0005", "2024", "", (3, 0, 0, 0, 0), 1),
    ]
    contributions = linked.contributions(measurements, year=2024, types=("year",), stock=False)
    cells = linked.build(contributions, PLACES)
    relations = linked.relations(cells, PLACES, types=("year",), stock=False)
    hidden = ("municipality", "GM0005", "2024", "")
    cells[hidden].hidden = cells[hidden].sensitive = True
    assert hidden in determined(cells, relations)
    assert hidden in disclosure._determined_by_elimination(relations, lambda k: cells[k].hidden)
    disclosure.protect(cells, relations, aggregation="sum", value_type="count")
    assert hidden not in determined(cells, relations)
    assert any(c.reason == "secondary" for c in cells.values())


def test_a_vendor_cannot_subtract_its_own_figures():
    """Two organisations of two vendors: each vendor knows its own, so the cell is hidden;
    served by one vendor, the same cell is published."""
    limits = disclosure.Thresholds(2, 0, 1.0)
    by_org = {"A": (30, 0, 0, 0, 0), "B": (40, 0, 0, 0, 0)}
    for vendors, reason in (
        ({"A": {"V1"}, "B": {"V2"}}, "vendor_complement"),
        ({"A": {"V1"}, "B": {"V1"}}, None),
    ):
        cell = linked.Cell(vals=(70, 0, 0, 0, 0), by_org=dict(by_org))
        disclosure.primary(
            {("national", "NL01", "2024", ""): cell},
            aggregation="sum",
            value_type="count",
            limits=limits,
            vendors_of=vendors,
        )
        assert cell.reason == reason


def test_dominance():
    limits = disclosure.Thresholds(2, 0, 0.8)
    big = {"A": (90, 0, 0, 0, 0), "B": (10, 0, 0, 0, 0)}
    assert disclosure.verdict(big, aggregation="sum", value_type="count", limits=limits) == (
        "dominance"
    )
    even = {"A": (60, 0, 0, 0, 0), "B": (40, 0, 0, 0, 0)}
    assert disclosure.verdict(even, aggregation="sum", value_type="count", limits=limits) is None
