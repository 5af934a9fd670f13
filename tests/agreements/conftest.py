"""Parties for agreement tests: the submissions world (vendor A with ORG-A in GM0363, GM0014
and GM0457; vendor B with ORG-B in GM0363), plus organisation and municipality keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from kpi_api.registry import service as registry
from kpi_api.registry.schemas import ApiKeyCreate
from tests.submissions.conftest import World, row, submit


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@dataclass
class Keys:
    world: World
    publisher: dict[str, str]
    analyst: dict[str, str]
    org_a: dict[str, str]
    org_b: dict[str, str]
    amsterdam: dict[str, str]  # GM0363: party to the agreements below
    elsewhere: dict[str, str]  # GM0014 only
    vendor_a: dict[str, str]
    vendor_b: dict[str, str]


def _issue(db: Session, **body: Any) -> dict[str, str]:
    created = registry.issue_key(db, data=ApiKeyCreate.model_validate(body))
    return bearer(created.key)


@pytest.fixture
def keys(db: Session, world: World, analyst: dict[str, str]) -> Keys:
    out = Keys(
        world=world,
        publisher=world.publisher,
        analyst=analyst,
        org_a=_issue(db, name="ORG-A itself", role="organisation", organisation="ORG-A"),
        org_b=_issue(db, name="ORG-B itself", role="organisation", organisation="ORG-B"),
        amsterdam=_issue(
            db, name="Gemeente Amsterdam", role="municipality", municipalities=["GM0363"]
        ),
        elsewhere=_issue(
            db, name="Gemeente Groningen", role="municipality", municipalities=["GM0014"]
        ),
        vendor_a=world.a.headers,
        vendor_b=world.b.headers,
    )
    db.commit()
    return out


def body(**overrides: Any) -> dict[str, Any]:
    """A complete agreement of ORG-A with Amsterdam: reach (ACT-01, higher is better) from a
    baseline of 2024-Q4 to a target in 2025-Q4, and activities (ACT-03, no direction)."""
    base: dict[str, Any] = {
        "title": "Ouderenwerk Amsterdam 2025",
        "work_field": "ouderenwerk",
        "organisations": ["ORG-A"],
        "municipalities": ["GM0363"],
        "term": {"start": "2025-01-01", "end": "2025-12-31"},
        "kpis": [
            {
                "kpi": "ACT-01",
                "goal_nl": "Meer ouderen bereiken",
                "goal_en": "Reach more older people",
                "baseline": {"period": "2024-Q4", "value": 100},
                "target": {"period": "2025-Q4", "value": 121},
                "rhythm": "quarter",
            },
            {
                "kpi": "ACT-03",
                "goal_nl": "Signalen opvangen",
                "baseline": {"period": "2024-Q4", "value": 10},
                "rhythm": "quarter",
            },
        ],
    }
    base.update(overrides)
    return base


def create(client, headers: dict[str, str], **overrides: Any):
    return client.post("/v1/agreements", json=body(**overrides), headers=headers)


def created(client, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = create(client, headers, **overrides)
    assert response.status_code == 201, response.text
    return response.json()


def activate(client, headers: dict[str, str], agreement_id: str):
    return client.post(
        f"/v1/agreements/{agreement_id}/status", json={"status": "active"}, headers=headers
    )


def active(client, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    agreement = created(client, headers, **overrides)
    response = activate(client, headers, agreement["id"])
    assert response.status_code == 200, response.text
    return response.json()


def reach(client, world: World, values: dict[str, int], **extra: Any) -> None:
    """ACT-01 of ORG-A in Amsterdam per quarter, sent by vendor A."""
    rows = [
        row(period=period, value=value, record_id=f"q-{period}", **extra)
        for period, value in values.items()
    ]
    response = submit(client, world.a, rows)
    assert response.status_code == 201, response.text
