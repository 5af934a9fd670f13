"""Load the CBS reference CSV files (see data/SOURCES.md); running it twice changes nothing."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_api.freshness import bump_all_revisions
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

    def upsert(
        model: type[Any], key: tuple[str, ...], values: Mapping[str, object], what: str
    ) -> None:
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
    for code, current in current_codes(session).items():
        upsert(Municipality, (code,), {"current_code": current}, "current_codes")
    session.flush()
    if report.changed:
        # Figures are grouped by province and today's municipalities: recompute them all.
        bump_all_revisions(session)
    return report


def current_codes(session: Session) -> dict[str, str | None]:
    """Follow successions to today's code; a split (several successors) has none."""
    successors: dict[str, list[str]] = {}
    for s in session.scalars(select(MunicipalitySuccession)):
        successors.setdefault(s.old_code, []).append(s.new_code)

    def follow(code: str, depth: int = 0) -> str | None:
        nxt = successors.get(code)
        if not nxt:
            return code
        if len(nxt) > 1 or depth > 50:
            return None
        return follow(nxt[0], depth + 1)

    return {code: follow(code) for code in session.scalars(select(Municipality.code))}
