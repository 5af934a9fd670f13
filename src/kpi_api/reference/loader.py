"""Load the CBS reference CSV files (see data/SOURCES.md); running it twice changes nothing."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from kpi_api.reference.models import Municipality, MunicipalitySuccession, Province

DATA_DIR = Path(__file__).parent / "data"


def _rows(name: str, data_dir: Path) -> list[dict[str, str]]:
    with (data_dir / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass
class ReferenceReport:
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.changes.values())


def load(session: Session, data_dir: Path = DATA_DIR) -> ReferenceReport:
    report = ReferenceReport()

    def upsert(model: type, key: tuple[str, ...], values: dict[str, object], what: str) -> None:
        obj = session.get(model, key if len(key) > 1 else key[0])
        if obj is None:
            session.add(model(**values))
            report.changes[what] = report.changes.get(what, 0) + 1
            return
        for name, value in values.items():
            if getattr(obj, name) != value:
                setattr(obj, name, value)
                report.changes[what] = report.changes.get(what, 0) + 1

    for row in _rows("provinces.csv", data_dir):
        upsert(Province, (row["code"],), {"code": row["code"], "name": row["name"]}, "provinces")
    session.flush()
    for row in _rows("municipalities.csv", data_dir):
        values = {
            "code": row["code"],
            "name": row["name"],
            "province_code": row["province_code"],
            "valid_from": _date(row["valid_from"]),
            "valid_to": _date(row["valid_to"]),
            "former_name": row["former_name"] or None,
        }
        upsert(Municipality, (row["code"],), values, "municipalities")
    session.flush()
    for row in _rows("successions.csv", data_dir):
        values = {
            "old_code": row["old_code"],
            "new_code": row["new_code"],
            "date": _date(row["date"]),
            "note": row["share_note"],
        }
        upsert(MunicipalitySuccession, (row["old_code"], row["new_code"]), values, "successions")
    session.flush()
    return report
