"""Publisher workflow: drafts, immutability, releases, diff, deprecation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kpi_api.catalogue.loader import read_files
from kpi_api.catalogue.models import KpiVersion

FILES = read_files()
RELEASE = FILES.release.id


def latest(index: int) -> int:
    """The version the files' newest release has of their ``index``-th KPI: one more for each
    change a release made to it (IMP-FIN-01: 2, since 2027.01 stated its direction)."""
    return 1 + len(FILES.kpis[index].changes)


def new_kpi(**overrides):
    body = {
        "code": "ACT-T01",
        "layer": "activity",
        "name_nl": "Aantal testcontacten",
        "name_en": "Number of test contacts",
        "definition_nl": "Aantal contacten in de periode.",
        "definition_en": "Number of contacts in the period.",
        "counts": "Every contact with a resident.",
        "excludes": "Contacts with professionals.",
        "unit": "contacts",
        "value_type": "count",
        "aggregation": "sum",
        "time_aggregation": "sum",
        "period_types": ["month", "quarter", "year"],
        "dimensions": ["age_band"],
        "range": {"min": 0},
        "work_fields": [FILES.work_fields[0].code],
    }
    return body | overrides


AMOUNT = {"value_type": "amount_eur", "unit": "EUR", "range": {"min": 0, "max": 1_000_000}}
DURATION = {"value_type": "duration_days", "aggregation": "weighted_mean", "unit": "days"}


def release(client, headers, release_id="2099.01", **extra):
    body = {"id": release_id, "title_nl": "Test", "title_en": "Test"} | extra
    return client.post("/v1/releases", json=body, headers=headers)


def test_create_draft_publish_and_read(client, publisher):
    created = client.post("/v1/kpis", json=new_kpi(), headers=publisher)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["version"] == 1
    assert created.json()["direction"] == "none"  # left out: no desired direction
    assert created.headers["Location"] == "/v1/kpis/ACT-T01/versions/1"
    # A draft is invisible to the public, visible to the publisher.
    assert client.get("/v1/kpis/ACT-T01").status_code == 404
    assert client.get("/v1/kpis/ACT-T01/versions/1").status_code == 404
    assert client.get("/v1/kpis/ACT-T01/versions/1", headers=publisher).status_code == 200

    published = release(client, publisher)
    assert published.status_code == 201, published.text
    body = published.json()
    assert body["current"] is True and {"code": "ACT-T01", "version": 1} in body["kpis"]
    assert len(body["kpis"]) == len(FILES.kpis) + 1

    kpi = client.get("/v1/kpis/ACT-T01").json()
    assert kpi["status"] == "published" and kpi["release"] == "2099.01"
    ids = [r["id"] for r in client.get("/v1/releases").json()["items"]]
    assert ids == ["2099.01", *(r.id for r in reversed(FILES.releases))]
    assert client.get("/v1/kpis", params={"release": RELEASE, "q": "ACT-T01"}).json()["items"] == []


def test_published_versions_are_immutable(client, publisher):
    code = FILES.kpis[0].code
    patch = client.patch(f"/v1/kpis/{code}/versions/1", json={"unit": "x"}, headers=publisher)
    assert patch.status_code == 409
    assert patch.headers["content-type"] == "application/problem+json"
    assert patch.json()["code"] == "version_immutable"
    delete = client.delete(f"/v1/kpis/{code}/versions/1", headers=publisher)
    assert delete.status_code == 409 and delete.json()["code"] == "version_immutable"
    again = client.post("/v1/kpis", json=new_kpi(code=code), headers=publisher)
    assert again.status_code == 409 and again.json()["code"] == "kpi_exists"
    twice = release(client, publisher, release_id=RELEASE)
    assert twice.status_code == 409 and twice.json()["code"] == "release_exists"
    assert client.get(f"/v1/kpis/{code}/versions/1").json()["unit"] == FILES.kpis[0].unit


def test_new_version_edit_and_delete_draft(client, publisher):
    code, current = FILES.kpis[0].code, latest(0)
    new = current + 1
    draft = client.post(f"/v1/kpis/{code}/versions", json={"unit": "units"}, headers=publisher)
    assert draft.status_code == 201 and draft.json()["version"] == new
    assert draft.json()["name_nl"] == FILES.kpis[0].name_nl  # copied from the latest version
    assert draft.json()["direction"] == FILES.kpis[0].direction
    second = client.post(f"/v1/kpis/{code}/versions", json={}, headers=publisher)
    assert second.status_code == 409 and second.json()["code"] == "draft_exists"
    edited = client.patch(f"/v1/kpis/{code}/versions/{new}", json={"core": True}, headers=publisher)
    assert edited.status_code == 200 and edited.json()["core"] is True
    assert edited.json()["unit"] == "units"
    turned = client.patch(
        f"/v1/kpis/{code}/versions/{new}", json={"direction": "lower_is_better"}, headers=publisher
    )
    assert turned.status_code == 200 and turned.json()["direction"] == "lower_is_better"
    # The public still sees the released version as current.
    assert client.get(f"/v1/kpis/{code}").json()["version"] == current
    assert client.delete(f"/v1/kpis/{code}/versions/{new}", headers=publisher).status_code == 204
    assert client.get(f"/v1/kpis/{code}/versions/{new}", headers=publisher).status_code == 404


def test_release_diff_field_by_field(client, publisher):
    changed, removed = FILES.kpis[0].code, FILES.kpis[1].code
    client.post(
        f"/v1/kpis/{changed}/versions",
        json={"unit": "units", "core": not FILES.kpis[0].core},
        headers=publisher,
    )
    client.post("/v1/kpis", json=new_kpi(), headers=publisher)
    statement = {"kpi": changed, "comparability": "major", "effective_from": "2030-01-01"}
    statement |= {"change_note_nl": "Andere eenheid.", "change_note_en": "Another unit."}
    published = release(client, publisher, remove=[removed], comparability=[statement])
    assert published.status_code == 201, published.text

    diff = client.get("/v1/releases/2099.01/diff").json()
    assert diff["old"] == RELEASE and diff["new"] == "2099.01"
    assert diff["added"] == [{"code": "ACT-T01", "version": 1}]
    assert diff["removed"] == [{"code": removed, "version": latest(1)}]
    assert len(diff["changed"]) == 1
    change = diff["changed"][0]
    assert (change["code"], change["old_version"], change["new_version"]) == (
        changed,
        latest(0),
        latest(0) + 1,
    )
    assert {c["field"]: (c["old"], c["new"], c["comparability"]) for c in change["changes"]} == {
        "unit": (FILES.kpis[0].unit, "units", "major"),
        "core": (FILES.kpis[0].core, not FILES.kpis[0].core, "minor"),
    }
    assert (change["comparability"], change["derived_comparability"]) == ("major", "major")
    assert [b["effective_from"] for b in change["series_breaks"]] == ["2030-01-01"]
    assert diff["unchanged"] == len(FILES.kpis) - 2
    reverse = client.get(f"/v1/releases/{RELEASE}/diff", params={"base": "2099.01"}).json()
    assert reverse["added"] == [{"code": removed, "version": latest(1)}]
    assert reverse["removed"] == [{"code": "ACT-T01", "version": 1}]
    first = client.get(f"/v1/releases/{FILES.releases[0].id}/diff").json()
    assert first["old"] is None and len(first["added"]) == len(FILES.kpis)


def test_release_rules(client, publisher):
    empty = release(client, publisher)
    assert empty.status_code == 409 and empty.json()["code"] == "release_empty"
    client.post("/v1/kpis", json=new_kpi(), headers=publisher)
    older = release(client, publisher, release_id="2001.01")
    assert older.status_code == 409 and older.json()["code"] == "release_out_of_order"
    missing = release(client, publisher, kpis=["ACT-T01", "IMP-NOPE-01"])
    assert missing.status_code == 422 and missing.json()["errors"][0]["pointer"] == "/kpis/1"
    bad_id = release(client, publisher, release_id="v2")
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["pointer"] == "/id"


def test_deprecation_with_successor(client, publisher):
    old, new = FILES.kpis[0].code, FILES.kpis[1].code
    body = {"effective_from": "2026-01-01", "reason": "Replaced", "successor": new}
    response = client.post(f"/v1/kpis/{old}/deprecation", json=body, headers=publisher)
    assert response.status_code == 200, response.text
    dep = response.json()["deprecation"]
    assert dep["successor"] == new and dep["effective_from"] == "2026-01-01"
    assert client.get(f"/v1/kpis/{old}").json()["deprecation"]["successor"] == new
    again = client.post(f"/v1/kpis/{old}/deprecation", json=body, headers=publisher)
    assert again.status_code == 409 and again.json()["code"] == "kpi_already_deprecated"
    bad = {"effective_from": "2026-01-01", "reason": "x", "successor": "NOPE-1"}
    response = client.post(f"/v1/kpis/{new}/deprecation", json=bad, headers=publisher)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/successor"


@pytest.mark.parametrize(
    ("overrides", "pointer", "code"),
    [
        ({"aggregation": "weighted_mean"}, "/aggregation", "aggregation_mismatch"),
        (
            {
                "value_type": "percentage",
                "aggregation": "ratio_of_sums",
                "range": {"min": 0, "max": 100},
            },
            "/numerator",
            "numerator_denominator",
        ),
        (
            {"value_type": "score", "aggregation": "weighted_mean", "range": {"min": 1, "max": 5}},
            "/scale",
            "scale",
        ),
        ({"range": {"min": 5, "max": 1}}, "/range/min", "range_inverted"),
        ({"range": {"min": -1}}, "/range", "range"),
        ({"period_types": ["month", "month"]}, "/period_types", "duplicate_item"),
        ({"period_types": ["week"]}, "/period_types/0", "enum"),
        ({"layer": "impact"}, "/life_domain", "life_domain"),
        ({"code": "lower-case"}, "/code", "string_pattern_mismatch"),
        ({"unknown_field": 1}, "/unknown_field", "extra_forbidden"),
        ({"name_nl": ""}, "/name_nl", "string_too_short"),
        ({"decimals": 1}, "/decimals", "decimals"),  # counts are whole
        (AMOUNT | {"decimals": 3}, "/decimals", "decimals"),  # amounts exact to the cent
        (AMOUNT | {"decimals": 0}, "/decimals", "decimals"),
        (AMOUNT | {"range": {"min": 0}}, "/range", "range"),  # amounts need a maximum
        (DURATION | {"range": {"min": 0}}, "/range", "range"),
        ({"decimals": 7}, "/decimals", "less_than_equal"),
        ({"decimals": -1}, "/decimals", "greater_than_equal"),
        ({"decimals": 0.5}, "/decimals", "int_type"),
        ({"count_max": 0}, "/count_max", "greater_than_equal"),
        ({"count_max": 1_000_000_001}, "/count_max", "less_than_equal"),
        ({"direction": "up"}, "/direction", "enum"),
        ({"direction": None}, "/direction", "enum"),
    ],
)
def test_definition_rules_name_field_and_rule(client, publisher, overrides, pointer, code):
    response = client.post("/v1/kpis", json=new_kpi(**overrides), headers=publisher)
    assert response.status_code == 422, response.text
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert {"location": "body", "pointer": pointer, "code": code} in [
        {k: e[k] for k in ("location", "pointer", "code")} for e in body["errors"]
    ], body


def test_references_must_exist(client, publisher):
    response = client.post(
        "/v1/kpis",
        json=new_kpi(dimensions=["age_band", "nope"], work_fields=["nope"]),
        headers=publisher,
    )
    assert response.status_code == 422
    errors = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert errors == {
        ("/dimensions/1", "unknown_code_list"),
        ("/work_fields/0", "unknown_work_field"),
    }
    response = client.post(
        "/v1/kpis", json=new_kpi(layer="impact", life_domain="XXX"), headers=publisher
    )
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/life_domain"
    code = FILES.kpis[0].code
    response = client.post(
        f"/v1/kpis/{code}/versions", json={"dimensions": ["nope"]}, headers=publisher
    )
    assert (
        response.status_code == 422 and response.json()["errors"][0]["code"] == "unknown_code_list"
    )


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        ("1e400", 400, "invalid_number"),  # no float holds it: the body is refused
        ("-1e400", 400, "invalid_number"),
        ("1e308", 422, "less_than_equal"),  # a float, but beyond the 10^12 a bound may be
        ("1e13", 422, "less_than_equal"),
        ('"1000"', 422, "float_type"),  # text is no number
        ("true", 422, "float_type"),
    ],
)
def test_a_range_bound_is_a_finite_number_within_limits(client, publisher, number, status, code):
    body = json.dumps(new_kpi(range={"min": 0})).replace(
        '{"min": 0}', f'{{"min": 0, "max": {number}}}'
    )
    response = client.post(
        "/v1/kpis", content=body, headers=publisher | {"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert ("/range/max", code) in {(e["pointer"], e["code"]) for e in response.json()["errors"]}


@pytest.mark.parametrize(("field", "value"), [("core", "true"), ("core", 1), ("decimals", "2")])
def test_catalogue_numbers_and_flags_are_taken_literally(client, publisher, field, value):
    response = client.post("/v1/kpis", json=new_kpi(**{field: value}), headers=publisher)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == f"/{field}"


def test_precision_and_limits_are_stored_read_back_and_diffed(client, publisher, db):
    # Left out, both are stored as NULL and read as the value type's defaults.
    assert client.post("/v1/kpis", json=new_kpi(), headers=publisher).status_code == 201
    stored = db.scalars(select(KpiVersion).where(KpiVersion.kpi_code == "ACT-T01")).one()
    assert (stored.decimals, stored.count_max) == (None, None)
    draft = client.get("/v1/kpis/ACT-T01/versions/1", headers=publisher).json()
    assert (draft["decimals"], draft["count_max"]) == (0, 10_000_000)
    amount = new_kpi(code="ACT-T02", **AMOUNT)
    created = client.post("/v1/kpis", json=amount, headers=publisher).json()
    assert (created["decimals"], created["count_max"], created["range"]) == (
        2,
        10_000_000,
        {"min": 0, "max": 1_000_000},
    )
    assert release(client, publisher).status_code == 201

    # A new version declaring them: its draft, its read and the release diff show them.
    patch = {"decimals": 0, "count_max": 5000, "range": {"min": 0, "max": 2000}}
    changed = client.post("/v1/kpis/ACT-T01/versions", json=patch, headers=publisher)
    assert changed.status_code == 201, changed.text
    assert (changed.json()["decimals"], changed.json()["count_max"]) == (0, 5000)
    i = [k.value_type.value for k in FILES.kpis].index("score")
    score, new = FILES.kpis[i].code, latest(i) + 1
    patched = client.post(f"/v1/kpis/{score}/versions", json={"decimals": 3}, headers=publisher)
    assert patched.status_code == 201 and patched.json()["version"] == new
    assert patched.json()["decimals"] == 3
    edited = client.patch(
        f"/v1/kpis/{score}/versions/{new}", json={"decimals": 1}, headers=publisher
    )
    assert edited.status_code == 200 and edited.json()["decimals"] == 1
    assert release(client, publisher, release_id="2099.02").status_code == 201
    assert client.get("/v1/kpis/ACT-T01").json()["count_max"] == 5000
    diff = client.get("/v1/releases/2099.02/diff").json()
    changes = {
        c["code"]: {f["field"]: (f["old"], f["new"]) for f in c["changes"]} for c in diff["changed"]
    }
    assert changes == {
        "ACT-T01": {
            "decimals": (None, 0),
            "count_max": (None, 5000),
            "range": ({"min": 0.0, "max": None}, {"min": 0.0, "max": 2000.0}),
        },
        score: {"decimals": (2, 1)},
    }
