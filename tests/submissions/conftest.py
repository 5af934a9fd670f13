"""A small registry for submission tests: two vendors, each with its own organisation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from kpi_api.auth import Role, create_key
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate


@dataclass
class Party:
    vendor_id: str
    organisation: str
    headers: dict[str, str]


@dataclass
class World:
    a: Party
    b: Party
    publisher: dict[str, str]


def _party(db: Session, name: str, org: str, municipalities: list[str]) -> Party:
    vendor = registry.create_vendor(db, data=VendorCreate(name=name))
    registry.create_organisation(
        db, data=OrganisationCreate(code=org, name=f"{org} welzijn", municipalities=municipalities)
    )
    registry.authorise(db, vendor_id=vendor.id, code=org, grant=True)
    _, raw = create_key(db, name=f"{name} key", role=Role.vendor, vendor_id=vendor.id)
    return Party(vendor.id, org, {"Authorization": f"Bearer {raw}"})


@pytest.fixture
def world(db: Session, publisher: dict[str, str]) -> World:
    a = _party(db, "Vendor A", "ORG-A", ["GM0363", "GM0014", "GM0457"])
    b = _party(db, "Vendor B", "ORG-B", ["GM0363"])
    db.commit()
    return World(a=a, b=b, publisher=publisher)


def row(**overrides):
    """A valid count measurement (ACT-01, reach) unless overridden."""
    base = {
        "kpi": "ACT-01",
        "organisation": "ORG-A",
        "municipality": "GM0363",
        "period": "2025-03",
        "value": 120,
        "record_id": "r-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def submit(client, party, rows, *, params=None, headers=None):
    return client.post(
        "/v1/submissions",
        json={"measurements": rows},
        params=params or {},
        headers=party.headers | (headers or {}),
    )


def to_csv(rows) -> str:
    import csv
    import io

    from kpi_api.submissions.parsing import CSV_COLUMNS

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        cells = dict(r)
        if "disaggregation" in cells:
            cells["disaggregation"] = ";".join(
                f"{k}={v}" for k, v in cells["disaggregation"].items()
            )
        if "withdraw" in cells:
            cells["withdraw"] = "true" if cells["withdraw"] else "false"
        writer.writerow(cells)
    return out.getvalue()
