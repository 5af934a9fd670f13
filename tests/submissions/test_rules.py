"""Every row rule rejects a row with its own code."""

from __future__ import annotations

import pytest

from tests.submissions.conftest import row, submit

CASES = [
    ("kpi_unknown", "kpi", row(kpi="NOPE-01")),
    ("kpi_version_unknown", "kpi_version", row(kpi_version=9)),
    ("release_unknown", "release", row(release="1999.01")),
    ("period_invalid", "period", row(period="2025-13")),
    ("period_invalid", "period", row(period="Q1-2025")),
    (
        "period_type_not_allowed",
        "period",
        row(kpi="IMP-FIN-01", period="2025-03", value=None, numerator=1, denominator=2),
    ),
    ("period_in_future", "period", row(period="2999")),
    ("municipality_unknown", "municipality", row(municipality="GM9999")),
    ("municipality_not_valid", "municipality", row(municipality="GM0457", period="2023-01")),
    ("organisation_not_in_municipality", "municipality", row(municipality="GM0599")),
    ("dimension_not_allowed", "disaggregation", row(disaggregation={"zrm_domain": "financien"})),
    ("dimension_code_missing", "disaggregation", row(disaggregation={"age_band": ""})),
    ("dimension_code_unknown", "disaggregation", row(disaggregation={"age_band": "10-20"})),
    ("dimension_code_unknown", "disaggregation", row(disaggregation={"neighbourhood": "BU123"})),
    (
        "area_outside_municipality",
        "disaggregation",
        row(disaggregation={"neighbourhood": "BU00140000"}),
    ),
    ("value_form", "value", row(value=None)),
    ("value_form", "value", row(numerator=1, denominator=2)),
    ("value_form", "value", row(kpi="IMP-FIN-01", period="2025-Q1", value=25)),
    ("value_form", "value", row(withdraw=True)),
    ("value_not_integer", "value", row(value=1.5)),
    (
        "value_not_integer",
        "numerator",
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=1.5, denominator=2),
    ),
    ("value_out_of_range", "value", row(value=-1)),
    (
        "value_out_of_range",
        "mean",
        row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=5.5, n=3),
    ),
    (
        "numerator_exceeds_denominator",
        "numerator",
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=5, denominator=4),
    ),
    (
        "denominator_not_positive",
        "denominator",
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=0, denominator=0),
    ),
    (
        "negative_count",
        "numerator",
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=-1, denominator=4),
    ),
    ("n_not_positive", "n", row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=3, n=0)),
    # Every number is bounded: counts by the KPI's count_max (10,000,000 by default), amounts
    # and durations by range.max; amounts are exact to the cent.
    ("value_too_large", "value", row(value=1e308)),
    ("value_too_large", "value", row(value=10_000_001)),
    (
        "value_too_large",
        "denominator",
        row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=1, denominator=10_000_001),
    ),
    (
        "n_too_large",
        "n",
        row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=3, n=10_000_001),
    ),
    ("value_out_of_range", "value", row(kpi="ACT-02", period="2025-Q1", value=1e308)),
    ("value_out_of_range", "value", row(kpi="ACT-02", period="2025-Q1", value=1_000_000_000.01)),
    ("value_out_of_range", "mean", row(kpi="ACT-05", value=None, mean=1e308, n=1)),
    ("value_too_precise", "value", row(kpi="ACT-02", period="2025-Q1", value=0.125)),
    ("value_too_precise", "value", row(kpi="ACT-02", period="2025-Q1", value=0.1 + 0.2)),
    ("field_missing", "period", row(period=None)),
    ("field_unknown", "colour", row(colour="red")),
    ("field_invalid", "value", row(value="lots")),
    ("field_invalid", "kpi_version", row(kpi_version="first")),
    ("field_too_long", "note", row(note="x" * 2001)),
    ("nothing_to_withdraw", "withdraw", row(value=None, withdraw=True)),
]


@pytest.mark.parametrize(
    ("code", "field", "measurement"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_rejects_with_its_code(client, world, code, field, measurement):
    response = submit(client, world.a, [row(record_id="ok", municipality="GM0014"), measurement])
    assert response.status_code == 422, response.text
    report = response.json()["submission"]
    # Row 1 is valid but, all or nothing, not stored: it is not counted as rejected.
    assert (report["rejected"], report["not_stored"], report["accepted"]) == (1, 1, 0)
    found = [(e["row"], e["field"], e["code"]) for e in report["errors"]]
    assert (2, field, code) in found, found
    assert all(e["row"] == 2 for e in report["errors"]), found


def test_unpublished_and_deprecated_kpis(client, world, publisher):
    draft = client.post(
        "/v1/kpis/ACT-01/versions", json={"unit": "persons (new)"}, headers=publisher
    )
    assert draft.status_code == 201
    response = submit(client, world.a, [row(kpi_version=draft.json()["version"])])
    assert response.json()["submission"]["errors"][0]["code"] == "kpi_not_published"
    deprecation = {"effective_from": "2025-01-01", "reason": "replaced", "successor": "ACT-10"}
    assert (
        client.post("/v1/kpis/ACT-01/deprecation", json=deprecation, headers=publisher).status_code
        == 200
    )
    response = submit(
        client, world.a, [row(period="2025-02"), row(period="2024-12", record_id="x")]
    )
    errors = response.json()["submission"]["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(1, "kpi_deprecated")]
    assert "ACT-10" in errors[0]["message"]


def test_kpi_not_in_release(client, world, publisher):
    new = {
        "code": "ACT-T99",
        "layer": "activity",
        "name_nl": "t",
        "name_en": "t",
        "definition_nl": "t",
        "definition_en": "t",
        "counts": "t",
        "excludes": "t",
        "unit": "t",
        "value_type": "count",
        "aggregation": "sum",
        "time_aggregation": "sum",
        "period_types": ["month"],
        "range": {"min": 0},
        "work_fields": ["jongerenwerk"],
    }
    assert client.post("/v1/kpis", json=new, headers=publisher).status_code == 201
    assert (
        client.post(
            "/v1/releases",
            json={"id": "2099.01", "title_nl": "t", "title_en": "t"},
            headers=publisher,
        ).status_code
        == 201
    )
    response = submit(client, world.a, [row(kpi="ACT-T99", release="2026.11")])
    assert response.json()["submission"]["errors"][0]["code"] == "kpi_not_in_release"
    assert submit(client, world.a, [row(kpi="ACT-T99")]).status_code == 201


def test_duplicates_inside_one_batch(client, world):
    batch = [row(), row(value=5, record_id="again"), row(disaggregation={"age_band": "12-17"})]
    response = submit(client, world.a, batch)
    errors = response.json()["submission"]["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(2, "duplicate_in_batch")]
    assert "1" in errors[0]["message"]
    # The same disaggregation written in another key order is the same measurement.
    batch = [
        row(disaggregation={"age_band": "12-17", "gender": "V"}),
        row(disaggregation={"gender": "V", "age_band": "12-17"}, record_id="b"),
    ]
    errors = submit(client, world.a, batch).json()["submission"]["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(2, "duplicate_in_batch")]
