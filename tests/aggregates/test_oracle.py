"""Aggregates against an independent oracle, on generated submissions.

Six organisations, each with its own vendor, report five KPIs of every shape (a flow count, a
percentage, a weighted mean score, a stock count and a stock percentage) in five
municipalities of three provinces, through ``POST /v1/submissions``: months, quarters and
years mixed per unit, totals and breakdowns of the same keys, corrections, withdrawals and
re-submissions after a withdrawal. The oracle below recomputes every cell in plain Python
from what the test submitted (it imports nothing of ``kpi_api.aggregates``) and the test
compares it with ``GET /v1/aggregates/{kpi}`` at every level, for single periods and time
series, with and without a breakdown, as JSON and as CSV. Privacy thresholds are switched off
(one organisation, zero people) so that every cell is shown.

The rules the oracle follows:

- only the current version of a natural key (organisation, KPI, period, municipality,
  disaggregation) counts; a withdrawn key does not count at all;
- a total uses rows without disaggregation only; ``dimension=age_band`` uses rows whose
  disaggregation is exactly ``{"age_band": code}``, one cell per code;
- for a target period P, per unit (organisation, municipality, disaggregation) the rows that
  cover P: the row of P itself if the unit reported P, otherwise the rows covering each of
  P's parts (a year's quarters, a quarter's months), so every stretch the unit reported counts
  once at any mix of period types; flows add them up, stock figures take the one with the
  latest end;
- across units, counts sum, percentages are 100 * sum(numerators) / sum(denominators), scores
  are sum(mean * n) / sum(n), computed exactly and rounded half away from zero to the KPI's
  decimals (percentages 1, scores 2);
- ``organisations`` and ``municipalities`` count the distinct contributors of a cell.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy.orm import Session

from kpi_api.auth import Role, create_key
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate

PROVINCE_OF = {
    "GM0363": "PV27",  # Amsterdam, Noord-Holland
    "GM0392": "PV27",  # Haarlem
    "GM0599": "PV28",  # Rotterdam, Zuid-Holland
    "GM0518": "PV28",  # 's-Gravenhage
    "GM0014": "PV20",  # Groningen
}
ORGANISATIONS = {
    "ORACLE-1": ["GM0363", "GM0392"],
    "ORACLE-2": ["GM0363", "GM0599"],
    "ORACLE-3": ["GM0599", "GM0518"],
    "ORACLE-4": ["GM0014", "GM0363"],
    "ORACLE-5": ["GM0518"],
    "ORACLE-6": ["GM0392", "GM0014", "GM0599"],
}
AGE_BANDS = ("0-11", "12-17", "18-26", "27-64", "65-74", "75+", "unknown")
GENDERS = ("M", "V", "X", "O")
FINENESS = {"year": 0, "quarter": 1, "month": 2}
NO_THRESHOLDS = {
    "aggregate_min_organisations": 1,
    "aggregate_min_people": 0,
    "aggregate_dominance": 1.0,
}
DECIMALS = {"ratio_of_sums": 1, "weighted_mean": 2}


@dataclass(frozen=True)
class Kpi:
    code: str
    aggregation: str  # sum | ratio_of_sums | weighted_mean
    stock: bool  # time aggregation "last"
    period_types: tuple[str, ...]
    dimensions: tuple[str, ...]  # of age_band and gender, those the KPI allows


KPIS = {
    k.code: k
    for k in (
        Kpi("ACT-01", "sum", False, ("month", "quarter", "year"), ("age_band", "gender")),
        Kpi("IMP-FIN-01", "ratio_of_sums", False, ("quarter", "year"), ("age_band", "gender")),
        Kpi("IMP-ZEL-02", "weighted_mean", False, ("quarter", "year"), ("age_band", "gender")),
        Kpi("ACT-06", "sum", True, ("month", "quarter", "year"), ("age_band", "gender")),
        Kpi("QUA-01", "ratio_of_sums", True, ("quarter", "year"), ()),
    )
}


# --- periods, written out here rather than imported ------------------------------------------


@dataclass(frozen=True)
class Period:
    code: str
    type: str
    start: date
    end: date  # inclusive


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def period(code: str) -> Period:
    if len(code) == 4:
        y = int(code)
        return Period(code, "year", date(y, 1, 1), date(y, 12, 31))
    y, rest = int(code[:4]), code[5:]
    if rest.startswith("Q"):
        first = 3 * int(rest[1]) - 2
        return Period(code, "quarter", date(y, first, 1), _month_end(y, first + 2))
    m = int(rest)
    return Period(code, "month", date(y, m, 1), _month_end(y, m))


def parts_of(p: Period) -> list[str]:
    """A year's quarters, a quarter's months; a month has none."""
    y = p.start.year
    if p.type == "year":
        return [f"{y}-Q{q}" for q in range(1, 5)]
    if p.type == "quarter":
        return [f"{y}-{m:02d}" for m in range(p.start.month, p.start.month + 3)]
    return []


def round_half_up(x: Fraction, decimals: int) -> float:
    step = Decimal(1).scaleb(-decimals)
    exact = Decimal(x.numerator) / Decimal(x.denominator)
    return float(exact.quantize(step, rounding=ROUND_HALF_UP))


def series(first: str, last: str) -> list[Period]:
    """Every period of one type from ``first`` to ``last``, both included."""
    a, b = period(first), period(last)
    out = []
    for y in range(a.start.year, b.start.year + 1):
        if a.type == "year":
            codes = [str(y)]
        elif a.type == "quarter":
            codes = [f"{y}-Q{q}" for q in range(1, 5)]
        else:
            codes = [f"{y}-{m:02d}" for m in range(1, 13)]
        out += [p for p in map(period, codes) if a.start <= p.start <= b.start]
    return out


# --- the generated world -----------------------------------------------------------------------

Key = tuple[str, str, str, str, tuple[tuple[str, str], ...]]  # org, kpi, period, muni, disagg
KEY_FIELDS = ("kpi", "organisation", "municipality", "period", "disaggregation")


@dataclass
class Party:
    organisation: str
    headers: dict[str, str]


@dataclass
class World:
    parties: dict[str, Party]
    current: dict[Key, dict[str, Any]] = field(default_factory=dict)  # the oracle's store
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def register(db: Session) -> dict[str, Party]:
    parties = {}
    for org, municipalities in ORGANISATIONS.items():
        name = f"Oracle vendor {org}"
        vendor = registry.create_vendor(db, data=VendorCreate(name=name))
        registry.create_organisation(
            db,
            data=OrganisationCreate(code=org, name=f"{org} welzijn", municipalities=municipalities),
        )
        registry.authorise(db, vendor_id=vendor.id, code=org, grant=True)
        _, raw = create_key(db, name=f"{name} key", role=Role.vendor, vendor_id=vendor.id)
        parties[org] = Party(org, {"Authorization": f"Bearer {raw}"})
    db.commit()
    return parties


def _figure(kpi: Kpi, rng: random.Random) -> dict[str, Any]:
    if kpi.aggregation == "sum":
        return {"value": rng.randint(0, 400)}
    if kpi.aggregation == "ratio_of_sums":
        denominator = rng.randint(1, 120)
        return {"numerator": rng.randint(0, denominator), "denominator": denominator}
    return {"mean": round(rng.uniform(1, 5), 2), "n": rng.randint(1, 60)}


def _periods_of_unit(kpi: Kpi, rng: random.Random) -> list[str]:
    """Periods one unit reports: per quarter none, the quarter, its months or both; 2024
    sometimes as a year too."""
    months = "month" in kpi.period_types
    out = []
    if rng.random() < 0.35:
        out.append("2024")
    for year, quarters in ((2024, 4), (2025, 3)):
        for q in range(1, quarters + 1):
            styles = ["none", "quarter", "quarter"] + (
                ["months", "months", "both"] if months else []
            )
            style = rng.choice(styles)
            if style in ("quarter", "both"):
                out.append(f"{year}-Q{q}")
            if style in ("months", "both"):
                out += [
                    f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1) if rng.random() < 0.8
                ]
    return out


def _disaggregations(kpi: Kpi, rng: random.Random) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if rng.random() < 0.85:
        out.append({})
    if "age_band" in kpi.dimensions:
        out += [{"age_band": b} for b in rng.sample(AGE_BANDS, rng.randint(0, 4))]
    if "gender" in kpi.dimensions and rng.random() < 0.5:
        # neither a total nor an age_band cell: must never be counted in either
        out.append({"gender": rng.choice(GENDERS)})
        out.append({"age_band": rng.choice(AGE_BANDS), "gender": rng.choice(GENDERS)})
    return out


def generate(kpis: list[Kpi], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for kpi in kpis:
        for org, municipalities in ORGANISATIONS.items():
            for muni in municipalities:
                if rng.random() < 0.15:
                    continue  # this organisation does not report this KPI here
                for disaggregation in _disaggregations(kpi, rng):
                    for p in _periods_of_unit(kpi, rng):
                        row = {"kpi": kpi.code, "organisation": org, "municipality": muni}
                        row["period"] = p
                        if disaggregation:
                            row["disaggregation"] = disaggregation
                        rows.append(row | _figure(kpi, rng))
    return rows


def _key(row: dict[str, Any]) -> Key:
    disaggregation = tuple(sorted(row.get("disaggregation", {}).items()))
    return (row["organisation"], row["kpi"], row["period"], row["municipality"], disaggregation)


def _send(client, world: World, rows: list[dict[str, Any]]) -> None:
    """Submit rows (each vendor its own) and apply them to the oracle's store."""
    by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_org[r["organisation"]].append(r)
    for org, batch in by_org.items():
        expected = {"created": 0, "corrected": 0, "unchanged": 0, "withdrawn": 0}
        for r in batch:
            key, before = _key(r), world.current.get(_key(r))
            if r.get("withdraw"):
                expected["withdrawn"] += 1
                del world.current[key]
            elif before is None:
                expected["created"] += 1
                world.current[key] = r
            elif before == r:
                expected["unchanged"] += 1
            else:
                expected["corrected"] += 1
                world.current[key] = r
        resp = client.post(
            "/v1/submissions", json={"measurements": batch}, headers=world.parties[org].headers
        )
        assert resp.status_code == 201, resp.text[:2000]
        report = resp.json()
        assert report["rejected"] == 0, report["errors"][:5]
        assert {k: report[k] for k in expected} == expected
        for k, v in expected.items():
            world.counts[k] += v


def seed_world(client, db: Session, kpis: list[Kpi], seed: int) -> World:
    """Submit generated rows, then corrections, withdrawals and re-submissions."""
    world = World(register(db))
    rng = random.Random(seed * 7919)
    _send(client, world, generate(kpis, seed))
    for _ in range(2):  # corrections, some keys twice; some unchanged re-sends
        keys = sorted(world.current)
        rows = []
        for key in rng.sample(keys, len(keys) // 6):
            old = world.current[key]
            new = {k: old[k] for k in KEY_FIELDS if k in old}
            figure = _figure(KPIS[old["kpi"]], rng) if rng.random() < 0.85 else _figure_of(old)
            rows.append(new | figure)
        _send(client, world, rows)
    keys = sorted(world.current)
    withdrawn = rng.sample(keys, len(keys) // 8)
    _send(client, world, [_withdrawal(world.current[k]) for k in withdrawn])
    again = [k for k in withdrawn if rng.random() < 0.3]  # withdrawn, then reported anew
    _send(client, world, [_revive(k, rng) for k in again])
    assert min(world.counts.values()) > 0, world.counts
    return world


def _figure_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("value", "numerator", "denominator", "mean", "n") if k in row}


def _withdrawal(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in KEY_FIELDS if k in row} | {"withdraw": True}


def _revive(key: Key, rng: random.Random) -> dict[str, Any]:
    org, kpi, p, muni, disaggregation = key
    row: dict[str, Any] = {"kpi": kpi, "organisation": org, "municipality": muni, "period": p}
    if disaggregation:
        row["disaggregation"] = dict(disaggregation)
    return row | _figure(KPIS[kpi], rng)


# --- the oracle --------------------------------------------------------------------------------


@dataclass
class Expected:
    value: float | None
    numerator: float | None
    denominator: float | None
    n: float | None
    organisations: int
    municipalities: int


CellKey = tuple[str, str, str | None]  # area, period, dimension code


def oracle(
    current: dict[Key, dict[str, Any]],
    kpi: Kpi,
    level: str,
    periods: list[Period],
    dimension: str | None,
) -> dict[CellKey, Expected]:
    target = periods[0].type
    sources = {t for t in kpi.period_types if FINENESS[t] >= FINENESS[target]}
    out = {}
    for p in periods:
        units: dict[tuple[str, str, str | None], list[tuple[Period, dict[str, Any]]]]
        units = defaultdict(list)
        for row in current.values():
            rp = period(row["period"])
            if row["kpi"] != kpi.code or rp.type not in sources:
                continue
            if not (p.start <= rp.start and rp.end <= p.end):
                continue
            disaggregation = row.get("disaggregation", {})
            if dimension is None:
                if disaggregation:
                    continue
                code = None
            else:
                if list(disaggregation) != [dimension]:
                    continue
                code = disaggregation[dimension]
            units[(row["organisation"], row["municipality"], code)].append((rp, row))
        cells: dict[CellKey, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        for (org, muni, code), rows in units.items():
            reported = {rp.code: (rp, r) for rp, r in rows}

            def cover(q: str, reported=reported) -> list[tuple[Period, dict[str, Any]]]:
                if q in reported:
                    return [reported[q]]
                return [x for part in parts_of(period(q)) for x in cover(part)]

            chosen = cover(p.code)
            if not chosen:
                continue
            if kpi.stock:
                chosen = [max(chosen, key=lambda x: x[0].end)]
            area = {"national": "NL01", "province": PROVINCE_OF[muni], "municipality": muni}[level]
            cells[(area, p.code, code)] += [(org, muni, r) for _, r in chosen]
        for key, contributions in cells.items():
            rows = [r for _, _, r in contributions]
            value = numerator = denominator = n = None
            if kpi.aggregation == "sum":
                value = sum(r["value"] for r in rows)
            elif kpi.aggregation == "ratio_of_sums":
                numerator = sum(r["numerator"] for r in rows)
                denominator = sum(r["denominator"] for r in rows)
                value = round_half_up(Fraction(100 * numerator, denominator), 1)
            else:
                n = sum(r["n"] for r in rows)
                weighted = sum(Fraction(str(r["mean"])) * r["n"] for r in rows)
                value = round_half_up(weighted / n, 2)
            out[key] = Expected(
                value=value,
                numerator=numerator,
                denominator=denominator,
                n=n,
                organisations=len({o for o, _, _ in contributions}),
                municipalities=len({m for _, m, _ in contributions}),
            )
    return out


# --- queries and comparison --------------------------------------------------------------------

LEVELS = ("national", "province", "municipality")


def queries(kpi: Kpi, *, single: bool = True) -> list[tuple[dict[str, str], list[Period]]]:
    """(query parameters, target periods): time series of each type the KPI can be asked
    for, and single periods (a year reported as such, a year rolled up, a quarter, a month)."""
    ranges = [("2024", "2025"), ("2024-Q1", "2025-Q3")]
    singles = ["2024", "2025", "2025-Q1"]
    if "month" in kpi.period_types:
        ranges.append(("2024-11", "2025-09"))
        singles.append("2025-03")
    out = [({"from": a, "to": b}, series(a, b)) for a, b in ranges]
    if single:
        out += [({"period": p}, [period(p)]) for p in singles]
    return out


def _get(client, headers, kpi: str, params: dict[str, str]):
    resp = client.get(f"/v1/aggregates/{kpi}", params=params, headers=headers)
    assert resp.status_code == 200, (params, resp.text[:1000])
    return resp


def compare(what: str, got_cells: list[dict[str, Any]], expected: dict[CellKey, Expected]):
    """Differences between the service's cells and the oracle's, one line each."""
    problems = []
    got = {}
    for c in got_cells:
        key = (c["area"], c["period"], c["dimension_code"])
        if key in got:
            problems.append(f"{what}: cell {key} returned twice")
        got[key] = c
    for key in sorted(expected.keys() - got.keys(), key=str):
        problems.append(f"{what}: missing cell {key}, expected {expected[key]}")
    for key in sorted(got.keys() - expected.keys(), key=str):
        problems.append(f"{what}: extra cell {key}: {got[key]}")
    for key in sorted(expected.keys() & got.keys(), key=str):
        e, c = expected[key], got[key]
        diffs = ["suppressed"] if c["suppressed"] else []
        for name in ("value", "numerator", "denominator", "n"):
            want = getattr(e, name)
            ok = c[name] is None if want is None else c[name] == want
            if not ok:
                diffs.append(f"{name} got {c[name]!r} expected {want!r}")
        for name in ("organisations", "municipalities"):
            if c[name] != getattr(e, name):
                diffs.append(f"{name} got {c[name]!r} expected {getattr(e, name)!r}")
        if diffs:
            problems.append(f"{what}: cell {key}: " + "; ".join(diffs))
    return problems


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


CSV_FIELDS = ("area", "period", "dimension_code", "value", "numerator", "denominator", "n")
CSV_FIELDS += ("suppressed", "organisations", "municipalities")


def csv_cells(text: str) -> list[dict[str, Any]]:
    return [
        {
            "area": r["area"],
            "period": r["period"],
            "dimension_code": r["dimension_code"] or None,
            "value": _number(r["value"]),
            "numerator": _number(r["numerator"]),
            "denominator": _number(r["denominator"]),
            "n": _number(r["n"]),
            "suppressed": {"true": True, "false": False}[r["suppressed"]],
            "organisations": int(r["organisations"]),
            "municipalities": int(r["municipalities"]),
        }
        for r in csv.DictReader(io.StringIO(text))
    ]


def additivity(what: str, by_level: dict[str, list[dict[str, Any]]]) -> list[str]:
    """For a sum KPI: national = sum of provinces = sum of municipalities, per period and code."""
    totals = {}
    for level, cells in by_level.items():
        sums: dict[tuple[str, str | None], float] = defaultdict(float)
        for c in cells:
            sums[(c["period"], c["dimension_code"])] += c["value"]
        totals[level] = sums
    national = totals["national"]
    problems = []
    for level in ("province", "municipality"):
        if totals[level].keys() != national.keys():
            problems.append(f"{what}: {level} cells cover {sorted(totals[level], key=str)}")
        for key, value in national.items():
            if totals[level].get(key) != pytest.approx(value):
                got = totals[level].get(key)
                problems.append(f"{what} {key}: sum of {level} {got} != national {value}")
    return problems


def check(client, headers, world: World, kpi: Kpi, *, single: bool = True) -> tuple[list[str], int]:
    """Every query of the KPI against the oracle; the CSV of municipality cells against the
    JSON; sum KPIs also for adding up across levels. Returns the differences and the number of
    cells compared."""
    dimensions = [None, "age_band"] if "age_band" in kpi.dimensions else [None]
    problems: list[str] = []
    cells = 0
    for params, periods in queries(kpi, single=single):
        for dimension in dimensions:
            by_level = {}
            for level in LEVELS:
                query = params | {"level": level} | ({"dimension": dimension} if dimension else {})
                what = f"{kpi.code} {query}"
                body = _get(client, headers, kpi.code, query).json()
                assert body["periods"] == [p.code for p in periods], what
                assert body["thresholds"] == {
                    "min_organisations": 1,
                    "min_people": 0,
                    "dominance": 1.0,
                }, what
                expected = oracle(world.current, kpi, level, periods, dimension)
                problems += compare(what, body["cells"], expected)
                cells += len(expected)
                by_level[level] = body["cells"]
                if level == "municipality":  # the level with the most cells
                    text = _get(client, headers, kpi.code, query | {"format": "csv"}).text
                    json_cells = [{k: c[k] for k in CSV_FIELDS} for c in body["cells"]]
                    if csv_cells(text) != json_cells:
                        problems.append(f"{what}: the CSV cells differ from the JSON cells")
            if kpi.aggregation == "sum":
                problems += additivity(f"{kpi.code} {params} dimension={dimension}", by_level)
    return problems, cells


def report(problems: list[str]) -> str:
    return f"{len(problems)} differences:\n" + "\n".join(problems[:40])


@pytest.fixture
def open_client(app, client):
    """The client, with the privacy thresholds off so that every cell is shown."""
    app.state.settings = app.state.settings.model_copy(update=NO_THRESHOLDS)
    return client


# --- the tests ---------------------------------------------------------------------------------

CODES = list(KPIS)


@pytest.mark.parametrize("code", CODES)
def test_every_cell_matches_the_oracle(open_client, db, publisher, code):
    kpi = KPIS[code]
    # Another KPI's rows are there too (same organisations, periods and municipalities), so a
    # query must also keep to its own KPI.
    other = KPIS[CODES[(CODES.index(code) + 1) % len(CODES)]]
    world = seed_world(open_client, db, [kpi, other], seed=20250101)
    problems, cells = check(open_client, publisher, world, kpi)
    assert not problems, report(problems)
    assert cells > 50  # the generated data reaches many cells


@pytest.mark.parametrize(("code", "seed"), [("ACT-01", 7), ("ACT-06", 8)])
def test_sum_kpis_match_and_add_up_on_other_data(open_client, db, analyst, publisher, code, seed):
    """Another generated world per sum KPI, time series only: each cell against the oracle,
    and national = sum of provinces = sum of municipalities; read as released figures, after
    the publisher released both years."""
    kpi = KPIS[code]
    world = seed_world(open_client, db, [kpi], seed=seed)
    for year in ("2024", "2025"):
        resp = open_client.post("/v1/figure-releases", json={"period": year}, headers=publisher)
        assert resp.status_code == 201, resp.text
    problems, cells = check(open_client, analyst, world, kpi, single=False)
    assert not problems, report(problems)
    assert cells > 100


def test_withdrawing_a_percentage_measurement(open_client, db, publisher):
    """A withdrawal row carries no numerator or denominator (it answered 500 once)."""
    parties = register(db)
    base = {"kpi": "IMP-FIN-01", "organisation": "ORACLE-1", "period": "2025-Q1"}
    rows = [
        base | {"municipality": "GM0363", "numerator": 3, "denominator": 10},
        base | {"municipality": "GM0392", "numerator": 1, "denominator": 4},
    ]
    headers = parties["ORACLE-1"].headers
    resp = open_client.post("/v1/submissions", json={"measurements": rows}, headers=headers)
    assert resp.status_code == 201, resp.text
    withdrawal = base | {"municipality": "GM0363", "withdraw": True}
    resp = open_client.post("/v1/submissions", json={"measurements": [withdrawal]}, headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["withdrawn"] == 1
    cells = _get(open_client, publisher, "IMP-FIN-01", {"period": "2025-Q1"}).json()["cells"]
    assert [(c["value"], c["numerator"], c["denominator"]) for c in cells] == [(25.0, 1, 4)]
