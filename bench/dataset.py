"""A deterministic, realistic national data set: organisations in every municipality reporting
the catalogue KPIs of their work field, monthly or quarterly over five years, with totals and
breakdowns, and a few percent corrections and withdrawals.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from kpi_api.catalogue.loader import CatalogueFiles, KpiEntry, read_files
from kpi_api.periods import Period, parse_period, periods_within

REFERENCE = Path(__file__).resolve().parents[1] / "src/kpi_api/reference/data/municipalities.csv"


@dataclass(frozen=True)
class Setting:
    name: str
    organisations: int
    rows: int
    years: tuple[int, ...]
    dimensions: int  # how many of a KPI's enumerated dimensions get a breakdown
    api_batches: int | None  # batches sent through the API (None: all rows)
    batch_rows: int = 10_000  # rows per batch (the API's limit)


SETTINGS = {
    "smoke": Setting("smoke", 12, 4_000, (2024,), 1, None, batch_rows=1_000),
    "small": Setting("small", 500, 300_000, (2020, 2021, 2022, 2023, 2024), 1, None),
    "large": Setting("large", 500, 10_000_000, (2020, 2021, 2022, 2023, 2024), 3, 30),
}


@dataclass(frozen=True)
class Organisation:
    code: str
    municipalities: tuple[str, ...]
    work_field: str


@dataclass(frozen=True)
class Row:
    organisation: str
    municipality: str
    kpi: str
    aggregation: str
    value_type: str
    period: Period
    disaggregation: dict[str, str]
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int | None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kpi": self.kpi,
            "organisation": self.organisation,
            "municipality": self.municipality,
            "period": self.period.code,
        }
        if self.disaggregation:
            out["disaggregation"] = self.disaggregation
        if self.aggregation == "sum":
            out["value"] = self.value
        elif self.aggregation == "ratio_of_sums":
            out["numerator"], out["denominator"] = self.numerator, self.denominator
        else:
            out["mean"], out["n"] = self.value, self.n
        return out


def current_municipalities() -> dict[str, date]:
    """Today's municipalities and the day each came into being."""
    with REFERENCE.open(encoding="utf-8") as fh:
        return {
            r["code"]: date.fromisoformat(r["valid_from"])
            for r in csv.DictReader(fh)
            if not r["valid_to"]
        }


def organisations(setting: Setting, seed: int = 2024) -> list[Organisation]:
    rng = random.Random(seed)
    munis = sorted(current_municipalities())
    fields = [w.code for w in read_files().work_fields]
    out = []
    for i in range(setting.organisations):
        own = {munis[i % len(munis)]}
        # Most organisations work in a region: their home municipality and a few around it.
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            own.add(munis[(i + rng.randint(1, 6)) % len(munis)])
        out.append(Organisation(f"ORG{i:04d}", tuple(sorted(own)), fields[i % len(fields)]))
    return out


def _periods(types: list[str], years: tuple[int, ...]) -> list[Period]:
    kind = "month" if "month" in types else "quarter" if "quarter" in types else "year"
    return [p for y in years for p in periods_within(parse_period(str(y)), kind)]


def governing(files: CatalogueFiles, kpi: KpiEntry, years: tuple[int, ...]) -> KpiEntry:
    """The KPI as its definition for ``years`` has it: before any series break after them
    (ACT-09's break on 2027-01-01 leaves 2020-2026 under version 1)."""
    position = files.position
    later = [
        c
        for c in kpi.changes
        if c.comparability.value == "major"
        and c.effective_from is not None
        and c.effective_from.year > max(years)
    ]
    if not later:
        return kpi
    before = files.releases[position[later[0].release] - 1].id
    definition = kpi.definition_at(position, before).model_dump()
    return KpiEntry(code=kpi.code, layer=kpi.layer, life_domain=kpi.life_domain, **definition)


def rows(setting: Setting, seed: int = 2024) -> Iterator[Row]:
    """Exactly ``setting.rows`` rows (or all there are), in a fixed order."""
    files = read_files()
    code_lists = {c.code: [i.code for i in c.items] for c in files.code_lists if c.items}
    rng = random.Random(seed)
    since = current_municipalities()
    groups = []
    kpis = [governing(files, k, setting.years) for k in files.kpis]
    for org in organisations(setting, seed):
        for kpi in kpis:
            if org.work_field not in kpi.work_fields:
                continue
            dims = [d for d in kpi.dimensions if d in code_lists][: setting.dimensions]
            splits: list[dict[str, str]] = [{}]
            splits += [{d: c} for d in dims for c in code_lists[d]]
            for muni in org.municipalities:
                for split in splits:
                    groups.append((org.code, muni, kpi, split))
    rng.shuffle(groups)
    emitted = 0
    for org_code, muni, kpi, split in groups:
        types = [p.value for p in kpi.period_types]
        base = rng.uniform(20, 400) / (1 + 3 * bool(split))
        for period in _periods(types, setting.years):
            if period.start < since[muni]:
                continue  # a municipality formed by a merger reports from its first day on
            if emitted >= setting.rows:
                return
            yield _row(rng, org_code, muni, kpi, period, split, base)
            emitted += 1


def _row(rng: random.Random, org: str, muni: str, kpi, period: Period, split, base: float) -> Row:
    aggregation, value_type = kpi.aggregation.value, kpi.value_type.value
    value = numerator = denominator = None
    n = None
    if aggregation == "sum":
        value = float(max(0, int(rng.gauss(base, base / 5))))
        if value_type == "amount_eur":
            value = round(value * 137.5, 2)
    elif aggregation == "ratio_of_sums":
        denominator = float(max(1, int(rng.gauss(base, base / 5))))
        numerator = float(int(denominator * rng.uniform(0.2, 0.9)))
    else:
        low, high = kpi.range.min or 0.0, kpi.range.max or 100.0
        value = round(rng.uniform(low + (high - low) * 0.3, high - (high - low) * 0.1), 2)
        n = max(1, int(rng.gauss(base / 3, 3)))
    return Row(
        org,
        muni,
        kpi.code,
        aggregation,
        value_type,
        period,
        dict(split),
        value,
        numerator,
        denominator,
        n,
    )
