"""Reports that tell the whole truth: a dry run classifies rows as the real run does, a batch
rejected whole says which rows were at fault and which were only held back, and a batch sent
again changes nothing, withdrawals included."""

from __future__ import annotations

from sqlalchemy import func, select, update

from kpi_api.submissions.models import MeasurementVersion, Submission
from tests.submissions.conftest import row, submit

#: Stored before each batch below: three measurements of ORG-A.
STORED = [
    row(period="2025-01", value=100, record_id="a"),
    row(period="2025-02", value=50, record_id="b"),
    row(period="2025-03", value=70, record_id="c"),
]
#: One row of each kind against STORED, in the order created, corrected, unchanged, withdrawn.
MIXED = [
    row(period="2025-04", value=10, record_id="d"),
    row(period="2025-01", value=110, record_id="a"),
    row(period="2025-02", value=50, record_id="b"),
    row(period="2025-03", value=None, withdraw=True, record_id="c"),
]
COUNTS = ("accepted", "rejected", "not_stored", "created", "corrected", "unchanged", "withdrawn")


def counts(report: dict) -> dict[str, int]:
    return {name: report[name] for name in COUNTS}


def versions(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(MeasurementVersion))


def without_run(report: dict) -> dict:
    """A report without what differs between a dry run and the real one."""
    return {k: v for k, v in report.items() if k not in {"id", "status", "dry_run", "received_at"}}


def stored_first(client, world) -> None:
    response = submit(client, world.a, STORED)
    assert response.status_code == 201, response.text


# --- a dry run reads the stored measurements as the real run does ----------------------------


def test_a_dry_run_classifies_rows_as_the_real_run_does(client, world, db):
    stored_first(client, world)
    before = versions(db)
    dry = submit(client, world.a, MIXED, params={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    expected = {
        "accepted": 4,
        "rejected": 0,
        "not_stored": 0,
        "created": 1,
        "corrected": 1,
        "unchanged": 1,
        "withdrawn": 1,
    }
    assert counts(dry.json()) == expected
    assert (dry.json()["status"], dry.json()["id"]) == ("valid", None)
    assert versions(db) == before  # the dry run wrote nothing

    real = submit(client, world.a, MIXED)
    assert real.status_code == 201, real.text
    assert counts(real.json()) == expected
    assert without_run(real.json()) == without_run(dry.json())
    assert versions(db) == before + 3  # created, corrected and withdrawn; unchanged adds none


def test_a_dry_run_of_a_batch_already_stored_says_it_changes_nothing(client, world):
    stored_first(client, world)
    assert submit(client, world.a, MIXED).status_code == 201
    dry = submit(client, world.a, MIXED, params={"dry_run": "true"}).json()
    assert (dry["unchanged"], dry["created"], dry["corrected"], dry["withdrawn"]) == (4, 0, 0, 0)


def test_a_dry_run_in_partial_mode_classifies_the_valid_rows(client, world):
    stored_first(client, world)
    batch = [*MIXED, row(period="2999-01", record_id="future")]
    dry = submit(client, world.a, batch, params={"dry_run": "true", "mode": "partial"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["status"] == "invalid"
    real = submit(client, world.a, batch, params={"mode": "partial"})
    assert real.status_code == 201 and real.json()["status"] == "partially_accepted"
    for report in (dry.json(), real.json()):
        assert counts(report) == {
            "accepted": 4,
            "rejected": 1,
            "not_stored": 0,
            "created": 1,
            "corrected": 1,
            "unchanged": 1,
            "withdrawn": 1,
        }
    assert without_run(real.json()) == without_run(dry.json())


def test_a_dry_run_of_a_batch_rejected_whole_reports_what_the_real_run_does(client, world, db):
    stored_first(client, world)
    before = versions(db)
    batch = [*MIXED, row(period="2999-01", record_id="future")]
    dry = submit(client, world.a, batch, params={"dry_run": "true"})
    real = submit(client, world.a, batch)
    assert dry.status_code == real.status_code == 422
    for response in (dry, real):
        body = response.json()
        assert body["detail"] == "1 of 5 rows were rejected; nothing was stored."
        assert counts(body["submission"]) == {
            "accepted": 0,
            "rejected": 1,
            "not_stored": 4,
            "created": 0,
            "corrected": 0,
            "unchanged": 0,
            "withdrawn": 0,
        }
    assert (dry.json()["submission"]["status"], real.json()["submission"]["status"]) == (
        "invalid",
        "rejected",
    )
    assert without_run(real.json()["submission"]) == without_run(dry.json()["submission"])
    assert versions(db) == before


# --- all or nothing: rejected rows and rows held back -------------------------------------------


def test_a_batch_rejected_whole_counts_only_the_rows_at_fault_as_rejected(client, world, db):
    batch = [
        row(period="2999-01", record_id="future"),
        row(period="2025-02", municipality="GM9999", record_id="nowhere"),
        # One row, two faults: listed twice in errors, counted once.
        row(period="2999-03", municipality="GM9999", record_id="twice"),
        row(period="2025-04", record_id="fine"),
    ]
    response = submit(client, world.a, batch)
    assert response.status_code == 422, response.text
    body = response.json()
    report = body["submission"]
    assert {e["row"] for e in report["errors"]} == {1, 2, 3}
    assert len(report["errors"]) > 3
    assert counts(report) | {"rows": report["rows"]} == {
        "rows": 4,
        "accepted": 0,
        "rejected": 3,
        "not_stored": 1,
        "created": 0,
        "corrected": 0,
        "unchanged": 0,
        "withdrawn": 0,
    }
    assert body["detail"] == "3 of 4 rows were rejected; nothing was stored."
    assert versions(db) == 0
    # The kept submission says the same.
    kept = client.get(f"/v1/submissions/{report['id']}", headers=world.a.headers).json()
    assert counts(kept) == counts(report)
    assert db.get(Submission, report["id"]).rows_rejected == 3


def test_the_counts_always_add_up(client, world):
    stored_first(client, world)
    bad = row(period="2999-01", record_id="future")
    for batch, params in [
        (MIXED, {}),
        ([*MIXED, bad], {}),
        ([*MIXED, bad], {"mode": "partial"}),
        ([bad], {"mode": "partial"}),
        ([*MIXED, bad], {"dry_run": "true"}),
    ]:
        response = submit(client, world.a, batch, params=params)
        body = response.json()
        report = body.get("submission", body)
        assert report["rows"] == report["accepted"] + report["rejected"] + report["not_stored"]
        assert report["accepted"] == sum(
            report[k] for k in ("created", "corrected", "unchanged", "withdrawn")
        )
        assert report["rejected"] == len({e["row"] for e in report["errors"]})


def test_a_batch_with_only_rejected_rows_holds_nothing_back(client, world):
    response = submit(client, world.a, [row(period="2999-01")], params={"mode": "partial"})
    assert response.status_code == 422
    body = response.json()
    assert (body["submission"]["rejected"], body["submission"]["not_stored"]) == (1, 0)
    assert body["detail"] == "1 of 1 rows were rejected; nothing was stored."


def test_a_report_kept_before_not_stored_existed_is_recounted(client, world, db):
    """Reports kept earlier counted every row of a batch rejected whole as rejected."""
    key = {"Idempotency-Key": "kept-long-ago"}
    batch = [row(period="2999-01", record_id="future"), row(period="2025-04")]
    first = submit(client, world.a, batch, headers=key).json()["submission"]
    legacy = {k: v for k, v in first.items() if k != "not_stored"} | {"rejected": 2}
    db.execute(update(Submission).where(Submission.id == first["id"]).values(report=legacy))
    db.commit()
    db.expire_all()

    kept = client.get(f"/v1/submissions/{first['id']}", headers=world.a.headers).json()
    assert (kept["rejected"], kept["not_stored"], kept["accepted"]) == (1, 1, 0)
    replayed = submit(client, world.a, batch, headers=key)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["detail"] == "1 of 2 rows were rejected; nothing was stored."
    assert replayed.json()["submission"] == kept


# --- a batch sent again is idempotent, withdrawals included --------------------------------


def test_a_batch_sent_again_changes_nothing(client, world, db):
    stored_first(client, world)
    assert submit(client, world.a, MIXED).status_code == 201
    before = versions(db)
    again = submit(client, world.a, MIXED)
    assert again.status_code == 201, again.text
    assert counts(again.json()) == {
        "accepted": 4,
        "rejected": 0,
        "not_stored": 0,
        "created": 0,
        "corrected": 0,
        "unchanged": 4,
        "withdrawn": 0,
    }
    assert versions(db) == before
    items = client.get("/v1/measurements", headers=world.a.headers).json()["items"]
    assert sorted(i["period"] for i in items) == ["2025-01", "2025-02", "2025-04"]


def test_withdrawing_a_withdrawn_measurement_is_unchanged(client, world, db):
    stored_first(client, world)
    withdrawal = row(period="2025-03", value=None, withdraw=True)
    assert submit(client, world.a, [withdrawal]).json()["withdrawn"] == 1
    before = versions(db)
    # Again, also with another note: it is withdrawn already, there is nothing to change.
    for again in (withdrawal, row(period="2025-03", value=None, withdraw=True, note="gone")):
        response = submit(client, world.a, [again])
        assert response.status_code == 201, response.text
        assert (response.json()["unchanged"], response.json()["withdrawn"]) == (1, 0)
    assert versions(db) == before
    series = db.scalar(
        select(MeasurementVersion.series_id).where(MeasurementVersion.record_id == "c")
    )
    history = client.get(f"/v1/measurements/{series}/history", headers=world.a.headers).json()
    assert [(v["version"], v["withdrawn"]) for v in history["versions"]] == [(1, False), (2, True)]


def test_withdrawing_what_never_existed_is_still_nothing_to_withdraw(client, world, db):
    stored_first(client, world)
    batch = [
        row(period="2025-01", value=100, record_id="a"),
        row(period="2024-12", value=None, withdraw=True),  # never sent
    ]
    for params in ({}, {"dry_run": "true"}):
        response = submit(client, world.a, batch, params=params)
        assert response.status_code == 422, response.text
        report = response.json()["submission"]
        assert [(e["row"], e["field"], e["code"]) for e in report["errors"]] == [
            (2, "withdraw", "nothing_to_withdraw")
        ]
        assert (report["rejected"], report["not_stored"]) == (1, 1)
    # Another organisation's measurement is not one to withdraw either.
    other = submit(client, world.b, [row(organisation="ORG-B", value=None, withdraw=True)])
    assert other.json()["submission"]["errors"][0]["code"] == "nothing_to_withdraw"
