"""Referential integrity of the fact tables, which carry no foreign keys (migration 0005).

The write path makes every reference itself: these tests drive it through every kind of write
(new series, corrections, unchanged rows, withdrawals and re-creations, partial batches, both
vendors, CSV, an idempotent replay, a rejected batch) and then check every reference and every
copied key column with SQL, on both databases. They also pin the key lookup that replaced
array parameters by joined text.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from kpi_api.submissions import repository
from tests.submissions.conftest import row, submit, to_csv

# Each query counts rows that break one rule; all must be 0.
ORPHANS = {
    "version without its series": """
        SELECT COUNT(*) FROM measurement_version v
        LEFT JOIN measurement_series s ON s.id = v.series_id WHERE s.id IS NULL""",
    "version without its submission": """
        SELECT COUNT(*) FROM measurement_version v
        LEFT JOIN submission x ON x.id = v.submission_id WHERE x.id IS NULL""",
    "version of an unknown vendor": """
        SELECT COUNT(*) FROM measurement_version v
        LEFT JOIN vendor x ON x.id = v.vendor_id WHERE x.id IS NULL""",
    "version by another vendor than its submission's": """
        SELECT COUNT(*) FROM measurement_version v
        JOIN submission x ON x.id = v.submission_id WHERE x.vendor_id <> v.vendor_id""",
    "series of an unknown organisation": """
        SELECT COUNT(*) FROM measurement_series s
        LEFT JOIN organisation o ON o.id = s.organisation_id WHERE o.id IS NULL""",
    "series of an unknown KPI": """
        SELECT COUNT(*) FROM measurement_series s
        LEFT JOIN kpi k ON k.code = s.kpi_code WHERE k.code IS NULL""",
    "series of an unknown municipality": """
        SELECT COUNT(*) FROM measurement_series s
        LEFT JOIN municipality m ON m.code = s.municipality_code WHERE m.code IS NULL""",
    "version whose copied key differs from its series": """
        SELECT COUNT(*) FROM measurement_version v
        JOIN measurement_series s ON s.id = v.series_id
        WHERE v.organisation_id <> s.organisation_id OR v.kpi_code <> s.kpi_code
           OR v.municipality_code <> s.municipality_code OR v.period_type <> s.period_type
           OR v.period_start <> s.period_start OR v.period_end <> s.period_end
           OR v.disaggregation_key <> s.disaggregation_key""",
    "series without exactly one current version": """
        SELECT COUNT(*) FROM measurement_series s
        WHERE (SELECT COUNT(*) FROM measurement_version v
               WHERE v.series_id = s.id AND v.is_current) <> 1""",
    "series whose versions are not numbered 1..n": """
        SELECT COUNT(*) FROM measurement_series s
        WHERE (SELECT MAX(version) FROM measurement_version v WHERE v.series_id = s.id)
           <> (SELECT COUNT(*) FROM measurement_version v WHERE v.series_id = s.id)""",
}


def broken(db: Session) -> dict[str, int]:
    db.expire_all()
    counts = {name: db.execute(text(sql)).scalar_one() for name, sql in ORPHANS.items()}
    return {name: n for name, n in counts.items() if n}


def test_every_kind_of_write_keeps_every_reference(client, world, db):
    a = world.a
    first = [
        row(value=10),
        row(period="2025-02", value=11),
        row(municipality="GM0014", value=12),
        row(disaggregation={"age_band": "12-17"}, value=4),
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=30, denominator=120),
    ]
    assert submit(client, a, first).status_code == 201
    again = submit(client, a, first, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.json()["unchanged"] == 5
    replay = submit(client, a, first, headers={"Idempotency-Key": "k-1"})
    assert replay.headers["Idempotent-Replayed"] == "true"

    corrections = [
        row(value=13),  # corrected
        row(period="2025-02", value=11),  # unchanged
        row(municipality="GM0014", value=None, withdraw=True),  # withdrawn
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, withdraw=True),
        row(period="2025-01", value=9),  # new
    ]
    report = submit(client, a, corrections).json()
    assert (report["created"], report["corrected"], report["unchanged"], report["withdrawn"]) == (
        1,
        1,
        1,
        2,
    )
    # A withdrawn measurement sent again is created anew (version 3 of its series).
    assert submit(client, a, [row(municipality="GM0014", value=14)]).json()["created"] == 1

    partial = [row(period="2024-12", value=1), row(kpi="NOPE-01")]
    answer = submit(client, a, partial, params={"mode": "partial"})
    assert answer.status_code == 201 and answer.json()["accepted"] == 1
    rejected = [row(period="2024-11", value=1), row(kpi="NOPE-01")]
    assert submit(client, a, rejected).status_code == 422

    csv_rows = [row(period="2024-10", value=3), row(period="2024-09", value=2)]
    response = client.post(
        "/v1/submissions",
        content=to_csv(csv_rows),
        headers=a.headers | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    b = world.b
    assert submit(client, b, [row(organisation=b.organisation, value=5)]).status_code == 201

    assert broken(db) == {}
    counts = db.execute(
        text(
            "SELECT COUNT(*), SUM(CASE WHEN is_current THEN 1 ELSE 0 END) FROM measurement_version"
        )
    ).one()
    series = db.execute(text("SELECT COUNT(*) FROM measurement_series")).scalar_one()
    # 10 series (5 + 1 new + 1 partial + 2 CSV + vendor B) each with one current version;
    # 14 versions: 10 first versions, 1 correction, 2 withdrawals, 1 re-creation.
    assert (series, counts[1], counts[0]) == (10, 10, 14)


def test_the_checks_themselves_find_a_broken_reference(client, world, db):
    assert submit(client, world.a, [row(value=1)]).status_code == 201
    assert broken(db) == {}
    db.execute(text("UPDATE measurement_version SET submission_id = 'gone'"))
    db.execute(text("UPDATE measurement_series SET kpi_code = 'NOPE-01'"))
    assert set(broken(db)) == {
        "version without its submission",
        "series of an unknown KPI",
        "version whose copied key differs from its series",
    }


def test_key_lookup_finds_lone_totals_and_many_keys(client, world, db):
    # A total's disaggregation key is empty: a batch of one total must find its stored series
    # (an empty joined parameter would split into no element at all).
    assert submit(client, world.a, [row(value=1)]).status_code == 201
    stored = db.execute(
        text(
            "SELECT organisation_id, kpi_code, period, municipality_code, disaggregation_key "
            "FROM measurement_series"
        )
    ).one()
    key = tuple(stored)
    assert key[4] == ""
    found = repository.existing(db, [key])
    assert list(found) == [key] and found[key].version == 1
    missing = (key[0], key[1], "2025-01", key[3], "")
    assert repository.existing(db, [key, missing, key]) == found


@pytest.mark.parametrize("value", ["a\x1fb", "\x1f"])
def test_a_key_holding_the_separator_is_refused_not_split(value):
    with pytest.raises(ValueError, match="separator"):
        repository._joined(["ok", value])
