"""Submitting measurements through HTTP: acceptance, rejection, corrections, history."""

from __future__ import annotations

import pytest

from tests.submissions.conftest import row, submit, to_csv

VALID_BATCH = [
    row(),
    row(disaggregation={"age_band": "12-17"}, value=40, record_id="r-2"),
    row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=30, denominator=120),
    row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=3.4, n=25),
    row(kpi="ACT-05", period="2025-03", value=None, mean=12.5, n=8),
    row(kpi="IMP-OPV-06", period="2024", value=None, numerator=4, denominator=10),
    row(kpi="ACT-01", municipality="GM0014", period="2025", value=1000),
]


def test_a_valid_batch_is_accepted_and_stored(client, world):
    response = submit(client, world.a, VALID_BATCH)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["status"] == "accepted"
    assert (report["rows"], report["accepted"], report["rejected"]) == (7, 7, 0)
    assert report["created"] == 7 and report["errors"] == []
    assert response.headers["Location"] == f"/v1/submissions/{report['id']}"
    stored = client.get(f"/v1/submissions/{report['id']}", headers=world.a.headers)
    assert stored.status_code == 200 and stored.json() == report
    raw = client.get(f"/v1/submissions/{report['id']}/raw", headers=world.a.headers)
    assert raw.json() == {"measurements": VALID_BATCH}

    listed = client.get("/v1/measurements", headers=world.a.headers, params={"limit": 500})
    items = listed.json()["items"]
    assert len(items) == 7
    pct = next(i for i in items if i["kpi"] == "IMP-FIN-01")
    assert pct["value"] == 25.0 and (pct["numerator"], pct["denominator"]) == (30, 120)
    score = next(i for i in items if i["kpi"] == "IMP-ZEL-02")
    assert (score["value"], score["n"]) == (3.4, 25)


def test_all_or_nothing_is_the_default(client, world):
    batch = [row(), row(period="2999-01", record_id="bad")]
    response = submit(client, world.a, batch)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "submission_rejected"
    report = body["submission"]
    assert report["status"] == "rejected" and report["accepted"] == 0
    assert (report["rejected"], report["not_stored"]) == (1, 1)  # row 1 is valid, held back
    assert body["detail"] == "1 of 2 rows were rejected; nothing was stored."
    assert report["errors"] == [
        {
            "row": 2,
            "field": "period",
            "code": "period_in_future",
            "message": report["errors"][0]["message"],
        }
    ]
    assert client.get("/v1/measurements", headers=world.a.headers).json()["items"] == []
    # The rejected submission is kept with its report.
    kept = client.get(f"/v1/submissions/{report['id']}", headers=world.a.headers).json()
    assert kept["status"] == "rejected"


def test_partial_mode_stores_the_valid_rows(client, world):
    batch = [row(), row(period="2999-01", record_id="bad")]
    response = submit(client, world.a, batch, params={"mode": "partial"})
    assert response.status_code == 201
    report = response.json()
    assert (report["status"], report["accepted"], report["rejected"]) == (
        "partially_accepted",
        1,
        1,
    )
    assert len(client.get("/v1/measurements", headers=world.a.headers).json()["items"]) == 1


def test_dry_run_stores_nothing(client, world):
    response = submit(client, world.a, VALID_BATCH, params={"dry_run": "true"})
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "valid" and report["id"] is None and report["accepted"] == 7
    assert client.get("/v1/measurements", headers=world.a.headers).json()["items"] == []
    bad = submit(client, world.a, [row(period="nope")], params={"dry_run": "true"})
    assert bad.status_code == 422 and bad.json()["submission"]["status"] == "invalid"


def test_idempotent_retry_returns_the_first_answer(client, world):
    key = {"Idempotency-Key": "batch-2025-03-001"}
    first = submit(client, world.a, VALID_BATCH, headers=key)
    again = submit(client, world.a, VALID_BATCH, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    items = client.get("/v1/measurements", headers=world.a.headers, params={"limit": 500}).json()[
        "items"
    ]
    assert len(items) == 7 and all(i["version"] == 1 for i in items)
    other = submit(client, world.a, VALID_BATCH[:1], headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    # Keys are per vendor: vendor B may use the same key for its own request.
    mine = submit(client, world.b, [row(organisation="ORG-B")], headers=key)
    assert mine.status_code == 201


def test_corrections_supersede_and_history_shows_every_version(client, world):
    assert submit(client, world.a, [row(value=100)]).status_code == 201
    same = submit(client, world.a, [row(value=100)]).json()
    assert (same["unchanged"], same["corrected"]) == (1, 0)
    fixed = submit(client, world.a, [row(value=110, note="late registrations added")]).json()
    assert fixed["corrected"] == 1
    items = client.get("/v1/measurements", headers=world.a.headers).json()["items"]
    assert len(items) == 1 and items[0]["value"] == 110 and items[0]["version"] == 2
    history = client.get(
        f"/v1/measurements/{items[0]['id']}/history", headers=world.a.headers
    ).json()
    versions = history["versions"]
    assert [(v["version"], v["value"], v["current"]) for v in versions] == [
        (1, 100, False),
        (2, 110, True),
    ]
    assert versions[0]["superseded_at"] is not None and versions[1]["superseded_at"] is None
    assert all(v["vendor"] == "Vendor A" for v in versions)
    assert versions[1]["note"] == "late registrations added"


def test_withdrawal_leaves_a_tombstone(client, world):
    submit(client, world.a, [row(value=100)])
    item = client.get("/v1/measurements", headers=world.a.headers).json()["items"][0]
    gone = submit(client, world.a, [row(value=None, withdraw=True)])
    assert gone.status_code == 201 and gone.json()["withdrawn"] == 1
    assert client.get("/v1/measurements", headers=world.a.headers).json()["items"] == []
    versions = client.get(f"/v1/measurements/{item['id']}/history", headers=world.a.headers).json()[
        "versions"
    ]
    assert [(v["version"], v["withdrawn"], v["current"]) for v in versions] == [
        (1, False, False),
        (2, True, True),
    ]
    # Withdrawing it again changes nothing, like a value sent again (a batch re-sent whole).
    twice = submit(client, world.a, [row(value=None, withdraw=True)])
    assert twice.status_code == 201, twice.text
    assert (twice.json()["unchanged"], twice.json()["withdrawn"]) == (1, 0)
    back = submit(client, world.a, [row(value=90)])
    assert back.status_code == 201 and back.json()["created"] == 1
    assert (
        client.get("/v1/measurements", headers=world.a.headers).json()["items"][0]["version"] == 3
    )


def test_locked_periods_refuse_writes(client, world):
    lock = client.post(
        "/v1/period-locks", json={"period": "2025-Q1", "reason": "closed"}, headers=world.publisher
    )
    assert lock.status_code == 201
    response = submit(client, world.a, [row(period="2025-03"), row(period="2025", record_id="y")])
    errors = response.json()["submission"]["errors"]
    assert {(e["row"], e["code"]) for e in errors} == {(1, "period_locked"), (2, "period_locked")}
    assert submit(client, world.a, [row(period="2025-04")]).status_code == 201
    assert (
        client.get("/v1/period-locks", headers=world.a.headers).json()["items"][0]["period"]
        == "2025-Q1"
    )
    again = client.post("/v1/period-locks", json={"period": "2025-Q1"}, headers=world.publisher)
    assert again.status_code == 409
    assert (
        client.post(
            "/v1/period-locks", json={"period": "2025-Q1"}, headers=world.a.headers
        ).status_code
        == 403
    )
    assert client.delete("/v1/period-locks/2025-Q1", headers=world.publisher).status_code == 204
    assert submit(client, world.a, [row(period="2025-03")]).status_code == 201


def test_vendor_scoping(client, world):
    response = submit(client, world.b, [row()])  # ORG-A belongs to vendor A
    assert response.status_code == 403
    assert response.json()["code"] == "organisation_not_authorised"
    unknown = submit(client, world.b, [row(organisation="NOBODY")])
    assert unknown.status_code == 403 and unknown.json()["code"] == "organisation_not_authorised"
    created = submit(client, world.a, [row()]).json()
    assert (
        client.get(f"/v1/submissions/{created['id']}", headers=world.b.headers).status_code == 404
    )
    assert (
        client.get(f"/v1/submissions/{created['id']}/raw", headers=world.b.headers).status_code
        == 404
    )
    assert client.get("/v1/measurements", headers=world.b.headers).json()["items"] == []
    item = client.get("/v1/measurements", headers=world.a.headers).json()["items"][0]
    assert (
        client.get(f"/v1/measurements/{item['id']}/history", headers=world.b.headers).status_code
        == 404
    )
    # The publisher sees everything; analysts and anonymous callers cannot submit.
    assert (
        client.get(f"/v1/submissions/{created['id']}", headers=world.publisher).status_code == 200
    )
    assert (
        client.post(
            "/v1/submissions", json={"measurements": [row()]}, headers=world.publisher
        ).status_code
        == 403
    )
    assert client.post("/v1/submissions", json={"measurements": [row()]}).status_code == 401


def test_csv_and_json_give_identical_results(client, world):
    batch = [*VALID_BATCH, row(period="2999-01", record_id="future"), row(kpi="NOPE")]
    as_json = submit(client, world.a, batch, params={"dry_run": "true"}).json()["submission"]
    as_csv = client.post(
        "/v1/submissions",
        content=to_csv(batch).encode(),
        params={"dry_run": "true"},
        headers=world.a.headers | {"Content-Type": "text/csv; charset=utf-8"},
    ).json()["submission"]
    for report in (as_json, as_csv):
        report.pop("received_at")
    assert as_csv == as_json
    stored = client.post(
        "/v1/submissions",
        content=to_csv(VALID_BATCH).encode(),
        headers=world.a.headers | {"Content-Type": "text/csv"},
    )
    assert stored.status_code == 201 and stored.json()["accepted"] == 7
    raw = client.get(f"/v1/submissions/{stored.json()['id']}/raw", headers=world.a.headers)
    assert raw.headers["content-type"].startswith("text/csv") and raw.text == to_csv(VALID_BATCH)


def test_numbers_are_bounded_and_amounts_exact_in_json_and_csv(client, world):
    def amount(**overrides):
        return row(**{"kpi": "ACT-02", "period": "2025-Q1"} | overrides)

    batch = [
        amount(value=0.1, record_id="a"),
        amount(value=0.2, municipality="GM0014", record_id="b"),
        amount(value=0.125, municipality="GM0457", period="2021-Q1", record_id="c"),
        row(value=10_000_000, record_id="d"),
        row(value=10_000_001, municipality="GM0014", record_id="e"),
        row(value=1e308, municipality="GM0457", period="2021-03", record_id="f"),
    ]
    as_json = submit(client, world.a, batch, params={"dry_run": "true"}).json()["submission"]
    as_csv = client.post(
        "/v1/submissions",
        content=to_csv(batch).encode(),
        params={"dry_run": "true"},
        headers=world.a.headers | {"Content-Type": "text/csv"},
    ).json()["submission"]
    for report in (as_json, as_csv):
        report.pop("received_at")
    assert as_csv == as_json
    assert [(e["row"], e["field"], e["code"]) for e in as_json["errors"]] == [
        (3, "value", "value_too_precise"),
        (5, "value", "value_too_large"),
        (6, "value", "value_too_large"),
    ]
    stored = submit(client, world.a, batch, params={"mode": "partial"})
    assert stored.status_code == 201 and stored.json()["accepted"] == 3
    items = client.get("/v1/measurements", headers=world.a.headers).json()["items"]
    assert sorted(i["value"] for i in items) == [0.1, 0.2, 10_000_000]
    for cell in ("inf", "nan", "1e400"):
        body = f"kpi,organisation,municipality,period,value\nACT-02,ORG-A,GM0363,2025-Q1,{cell}\n"
        refused = client.post(
            "/v1/submissions",
            content=body.encode(),
            headers=world.a.headers | {"Content-Type": "text/csv"},
        )
        assert refused.status_code == 422
        errors = refused.json()["submission"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [("value", "field_invalid")]


def test_messages_follow_accept_language(client, world):
    nl = submit(
        client, world.a, [row(kpi="NOPE")], headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}
    )
    assert nl.json()["submission"]["errors"][0]["message"] == "KPI 'NOPE' bestaat niet."
    assert nl.headers["Content-Language"] == "nl"
    en = submit(client, world.a, [row(kpi="NOPE")], headers={"Accept-Language": "de, en;q=0.4"})
    assert en.json()["submission"]["errors"][0]["message"] == "KPI 'NOPE' does not exist."


def test_validation_rules_are_listed(client):
    rules = client.get("/v1/validation-rules").json()["items"]
    codes = {r["code"] for r in rules}
    assert {
        "kpi_unknown",
        "period_locked",
        "duplicate_in_batch",
        "numerator_exceeds_denominator",
        "n_too_large",
        "value_too_large",
        "value_too_precise",
    } <= codes
    assert all(r["message_nl"] and r["message_en"] for r in rules)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b'{"measurements": [{"value": NaN}]}', "application/json", 400, "invalid_number"),
        (b"[1, 2]", "application/json", 400, "malformed_json"),
        (b'{"measurements": [], "x": 1}', "application/json", 400, "malformed_json"),
        (b'{"measurements": []}', "application/json", 422, "batch_empty"),
        (b"\xff\xfe{}", "application/json", 400, "invalid_encoding"),
        (b"kpi,unknown\nACT-01,1\n", "text/csv", 400, "malformed_csv"),
        (
            b'kpi,organisation,municipality,period\n"ACT-01,ORG-A\n',
            "text/csv",
            400,
            "malformed_csv",
        ),
        (b"<xml/>", "application/xml", 415, "unsupported_media_type"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "malformed_json"),
    ],
)
def test_unreadable_bodies_are_clear_4xx(client, world, content, content_type, status, code):
    response = client.post(
        "/v1/submissions", content=content, headers=world.a.headers | {"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_batch_size_is_limited(client, world, app):
    app.state.settings = app.state.settings.model_copy(update={"max_batch_rows": 3})
    response = submit(client, world.a, [row(record_id=str(i)) for i in range(4)])
    assert response.status_code == 413 and response.json()["code"] == "batch_too_large"


@pytest.mark.parametrize("field", ["value", "n"])
def test_booleans_are_not_numbers(client, world, field):
    """JSON true is not 1: refused with the field and the rule, never stored."""
    bad = row(**{field: True}) if field == "value" else row(kpi="IMP-ZEL-02", mean=3.4, n=True)
    if field == "n":
        bad.pop("value")
    response = submit(client, world.a, [bad])
    assert response.status_code == 422, response.text
    errors = response.json()["submission"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, "field_invalid")]
