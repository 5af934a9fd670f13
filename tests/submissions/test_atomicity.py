"""A submission is stored whole or not at all.

The store is made to fail part-way (after the series were inserted, after versions were
written, while superseding a corrected value) and every such request must answer 500
``internal_error`` and leave no trace: no series, no versions, no submission row, and the
values accepted before still current and unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_api.submissions import repository
from kpi_api.submissions.models import MeasurementSeries, MeasurementVersion, Submission
from tests.submissions.conftest import row, submit

PROBLEM = "application/problem+json"

EARLIER = [
    row(value=100),
    row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=30, denominator=120),
]
# Corrects both earlier values and adds two new measurements.
BATCH = [
    row(value=150, note="late registrations"),
    row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=40, denominator=120),
    row(municipality="GM0014", value=7, record_id="new-1"),
    row(disaggregation={"age_band": "12-17"}, value=40, record_id="new-2"),
]


def snapshot(db: Session) -> dict[str, Any]:
    """Everything a submission can write, read afresh from the tables."""
    db.expire_all()
    series = db.execute(
        select(
            MeasurementSeries.id,
            MeasurementSeries.organisation_id,
            MeasurementSeries.kpi_code,
            MeasurementSeries.period,
            MeasurementSeries.municipality_code,
            MeasurementSeries.disaggregation_key,
        ).order_by(MeasurementSeries.id)
    ).all()
    versions = db.execute(
        select(
            MeasurementVersion.id,
            MeasurementVersion.series_id,
            MeasurementVersion.version,
            MeasurementVersion.value,
            MeasurementVersion.numerator,
            MeasurementVersion.denominator,
            MeasurementVersion.note,
            MeasurementVersion.is_current,
            MeasurementVersion.superseded_at,
            MeasurementVersion.submission_id,
        ).order_by(MeasurementVersion.id)
    ).all()
    submissions = db.execute(
        select(Submission.id, Submission.status, Submission.rows_accepted).order_by(Submission.id)
    ).all()
    return {
        "series": [tuple(r) for r in series],
        "versions": [tuple(r) for r in versions],
        "submissions": [tuple(r) for r in submissions],
    }


def current_values(db: Session) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    db.expire_all()
    rows = db.execute(
        select(
            MeasurementSeries.kpi_code,
            MeasurementSeries.period,
            MeasurementSeries.municipality_code,
            MeasurementSeries.disaggregation_key,
            MeasurementVersion.version,
            MeasurementVersion.value,
            MeasurementVersion.numerator,
            MeasurementVersion.denominator,
            MeasurementVersion.note,
        )
        .join(MeasurementVersion, MeasurementVersion.series_id == MeasurementSeries.id)
        .where(MeasurementVersion.is_current)
    ).all()
    return {tuple(r[:4]): tuple(r[4:]) for r in rows}


def count(db: Session, model: type) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def assert_internal_error(response) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "internal_error" and body["status"] == 500
    assert "Traceback" not in response.text


@pytest.fixture
def earlier(client, world, db):
    """Two accepted measurements (version 1 each), and the stored state after them."""
    response = submit(client, world.a, EARLIER)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 2
    before = snapshot(db)
    assert len(before["series"]) == 2 and len(before["versions"]) == 2
    assert current_values(db) == {
        ("ACT-01", "2025-03", "GM0363", ""): (1, 100.0, None, None, None),
        ("IMP-FIN-01", "2025-Q1", "GM0363", ""): (1, 25.0, 30.0, 120.0, None),
    }
    return before


# --- the store fails part-way ------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before_writing", "after_writing"])
def test_a_failure_inserting_versions_leaves_nothing(client, world, db, earlier, monkeypatch, when):
    real = repository.insert_versions
    seen: dict[str, Any] = {}

    def failing(session: Session, rows: list[dict[str, Any]]) -> None:
        # By now the new series are inserted and the corrected versions superseded.
        seen["series"] = session.scalar(select(func.count()).select_from(MeasurementSeries))
        seen["current"] = session.scalar(
            select(func.count())
            .select_from(MeasurementVersion)
            .where(MeasurementVersion.is_current)
        )
        seen["rows"] = len(rows)
        if when == "after_writing":
            real(session, rows)
            seen["versions"] = session.scalar(select(func.count()).select_from(MeasurementVersion))
        raise RuntimeError("disk full")

    monkeypatch.setattr(repository, "insert_versions", failing)
    response = submit(client, world.a, BATCH)
    assert_internal_error(response)

    # The failure really happened part-way through the store.
    assert seen["series"] == 4 and seen["rows"] == 4
    assert seen["current"] == 0  # both earlier versions were marked superseded
    if when == "after_writing":
        assert seen["versions"] == 6

    assert snapshot(db) == earlier
    assert count(db, MeasurementSeries) == 2
    assert count(db, MeasurementVersion) == 2
    assert count(db, Submission) == 1
    assert current_values(db) == {
        ("ACT-01", "2025-03", "GM0363", ""): (1, 100.0, None, None, None),
        ("IMP-FIN-01", "2025-Q1", "GM0363", ""): (1, 25.0, 30.0, 120.0, None),
    }
    versions = db.execute(select(MeasurementVersion.superseded_at)).scalars().all()
    assert versions == [None, None]

    # The API tells the same story.
    items = client.get("/v1/measurements", headers=world.a.headers).json()["items"]
    assert sorted((i["kpi"], i["value"], i["version"]) for i in items) == [
        ("ACT-01", 100.0, 1),
        ("IMP-FIN-01", 25.0, 1),
    ]


def test_a_failure_while_superseding_leaves_nothing(client, world, db, earlier, monkeypatch):
    real = repository.supersede
    seen: dict[str, Any] = {}

    def failing(session: Session, version_ids, at) -> int:
        seen["series"] = session.scalar(select(func.count()).select_from(MeasurementSeries))
        seen["superseded"] = real(session, version_ids, at)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(repository, "supersede", failing)
    response = submit(client, world.a, BATCH, params={"mode": "partial"})
    assert_internal_error(response)
    assert seen == {"series": 4, "superseded": 2}

    assert snapshot(db) == earlier
    assert current_values(db) == {
        ("ACT-01", "2025-03", "GM0363", ""): (1, 100.0, None, None, None),
        ("IMP-FIN-01", "2025-Q1", "GM0363", ""): (1, 25.0, 30.0, 120.0, None),
    }
    history = client.get("/v1/measurements", headers=world.a.headers).json()["items"]
    assert len(history) == 2 and all(i["version"] == 1 for i in history)


def test_a_failure_inserting_series_leaves_nothing(client, world, db, earlier, monkeypatch):
    real = repository.insert_series

    def failing(session: Session, rows: list[dict[str, Any]]) -> None:
        real(session, rows[:1])  # half of the new series, then the failure
        raise RuntimeError("statement timeout")

    monkeypatch.setattr(repository, "insert_series", failing)
    assert_internal_error(submit(client, world.a, BATCH))
    assert snapshot(db) == earlier


def test_a_concurrent_supersede_answers_409_and_leaves_nothing(
    client, world, db, earlier, monkeypatch
):
    # Another writer superseded one of the versions first: fewer rows were still current.
    real = repository.supersede

    def raced(session: Session, version_ids, at) -> int:
        return real(session, version_ids, at) - 1

    monkeypatch.setattr(repository, "supersede", raced)
    response = submit(client, world.a, BATCH)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "concurrent_update"
    assert response.headers["Retry-After"] == "1"
    assert snapshot(db) == earlier


def test_a_failed_request_does_not_use_up_its_idempotency_key(
    client, world, db, earlier, monkeypatch
):
    key = {"Idempotency-Key": "retry-after-500"}

    def failing(session: Session, rows: list[dict[str, Any]]) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(repository, "insert_versions", failing)
        assert_internal_error(submit(client, world.a, BATCH, headers=key))
    assert snapshot(db) == earlier

    retry = submit(client, world.a, BATCH, headers=key)
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    report = retry.json()
    assert (report["created"], report["corrected"]) == (2, 2)
    assert count(db, MeasurementSeries) == 4 and count(db, MeasurementVersion) == 6
    assert count(db, Submission) == 2
    again = submit(client, world.a, BATCH, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == report


def test_text_the_database_cannot_store_is_refused_whole(client, world, db, earlier):
    # PostgreSQL cannot store NUL in text: the body is refused before it reaches the database,
    # naming where (400 invalid_text, a JSON Pointer).
    batch = [row(value=150), row(period="2025-Q1", value=3, note="a\x00b", record_id="x")]
    response = submit(client, world.a, batch)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_text"
    assert response.json()["errors"][0]["pointer"] == "/measurements/1/note"
    now = snapshot(db)
    assert now["series"] == earlier["series"] and now["versions"] == earlier["versions"]


def test_an_n_too_large_to_store_is_a_row_error(client, world):
    batch = [row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=3.4, n=1e19)]
    response = submit(client, world.a, batch)
    assert response.status_code == 422, response.text
    assert response.json()["submission"]["errors"][0]["field"] == "n"


def test_a_percentage_can_be_withdrawn(client, world, earlier):
    withdrawal = row(kpi="IMP-FIN-01", period="2025-Q1", value=None, withdraw=True)
    response = submit(client, world.a, [withdrawal])
    assert response.status_code == 201, response.text
    assert response.json()["withdrawn"] == 1


def test_a_crashing_percentage_withdrawal_leaves_nothing(client, world, db, earlier):
    # Whatever validate_row answers for it, the batch is stored whole or not at all.
    batch = [
        row(value=150),
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, withdraw=True),
    ]
    response = submit(client, world.a, batch)
    if response.status_code == 201:
        assert response.json()["withdrawn"] == 1 and response.json()["corrected"] == 1
    else:
        assert_internal_error(response)
        assert snapshot(db) == earlier


# --- a rejected batch --------------------------------------------------------------------------


def _submissions(db: Session) -> list[Submission]:
    db.expire_all()
    return list(db.scalars(select(Submission).order_by(Submission.received_at)))


def test_a_rejected_batch_stores_none_of_its_valid_rows(client, world, db, earlier):
    batch = [*BATCH, row(period="2999-01", record_id="future")]
    body = json.dumps({"measurements": batch}, ensure_ascii=False).encode()
    response = client.post(
        "/v1/submissions",
        content=body,
        headers=world.a.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    report = response.json()["submission"]
    assert (report["status"], report["accepted"], report["rejected"]) == ("rejected", 0, 1)
    assert report["not_stored"] == 4  # the valid rows, held back by row 5
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(5, "period_in_future")]

    after = snapshot(db)
    assert after["series"] == earlier["series"]
    assert after["versions"] == earlier["versions"]
    assert current_values(db) == {
        ("ACT-01", "2025-03", "GM0363", ""): (1, 100.0, None, None, None),
        ("IMP-FIN-01", "2025-Q1", "GM0363", ""): (1, 25.0, 30.0, 120.0, None),
    }

    # The submission itself is kept, with its status, its counts, its report and its body.
    first, kept = _submissions(db)
    assert first.status == "accepted"
    assert kept.id == report["id"]
    assert kept.vendor_id == world.a.vendor_id
    assert kept.status == "rejected" and kept.mode == "all_or_nothing"
    assert (kept.rows_total, kept.rows_accepted, kept.rows_rejected) == (5, 0, 1)
    assert kept.response_status == 422
    assert kept.raw_body == body
    assert kept.content_type == "application/json"
    assert kept.report["errors"] == report["errors"]
    assert (
        db.scalar(
            select(func.count())
            .select_from(MeasurementVersion)
            .where(MeasurementVersion.submission_id == kept.id)
        )
        == 0
    )
    raw = client.get(f"/v1/submissions/{kept.id}/raw", headers=world.a.headers)
    assert raw.status_code == 200 and raw.content == body


def test_a_rejected_csv_batch_keeps_its_raw_body(client, world, db):
    body = (
        "\ufeffkpi,organisation,municipality,period,value\n"
        "ACT-01,ORG-A,GM0363,2025-03,120\n"
        "ACT-01,ORG-A,GM0014,2025-03,1.5\n"
    ).encode()
    response = client.post(
        "/v1/submissions",
        content=body,
        headers=world.a.headers | {"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["submission"]["errors"][0]["code"] == "value_not_integer"
    assert count(db, MeasurementSeries) == 0 and count(db, MeasurementVersion) == 0
    (kept,) = _submissions(db)
    assert kept.status == "rejected" and kept.content_type == "text/csv"
    assert kept.raw_body == body


def test_partial_mode_stores_exactly_the_valid_rows(client, world, db, earlier):
    batch = [*BATCH, row(period="2999-01", record_id="future")]
    response = submit(client, world.a, batch, params={"mode": "partial"})
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"], report["created"], report["corrected"]) == (
        4,
        1,
        2,
        2,
    )
    assert count(db, MeasurementSeries) == 4 and count(db, MeasurementVersion) == 6
    assert current_values(db)[("ACT-01", "2025-03", "GM0363", "")] == (
        2,
        150.0,
        None,
        None,
        "late registrations",
    )
    assert ("ACT-01", "2999-01", "GM0363", "") not in current_values(db)


def test_a_dry_run_stores_no_submission(client, world, db, earlier):
    response = submit(client, world.a, BATCH, params={"dry_run": "true"})
    assert response.status_code == 200 and response.json()["id"] is None
    assert snapshot(db) == earlier
