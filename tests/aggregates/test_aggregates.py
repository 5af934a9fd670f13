"""Aggregates through HTTP: privacy, mergers, reproducibility, formats, roles."""

from __future__ import annotations

import csv
import io

import pytest

from kpi_api.auth import Role, create_key
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate
from tests.submissions.conftest import Party, row, submit


@pytest.fixture
def parties(db, world):
    """Four organisations: A and B (from `world`), C in Noord-Holland, D in Groningen."""
    extra = {}
    for name, org, munis in (
        ("Vendor C", "ORG-C", ["GM0392", "GM0363"]),
        ("Vendor D", "ORG-D", ["GM0014", "GM0788", "GM0457"]),
    ):
        vendor = registry.create_vendor(db, data=VendorCreate(name=name))
        registry.create_organisation(
            db, data=OrganisationCreate(code=org, name=org, municipalities=munis)
        )
        registry.authorise(db, vendor_id=vendor.id, code=org, grant=True)
        _, raw = create_key(db, name=name, role=Role.vendor, vendor_id=vendor.id)
        extra[org] = Party(vendor.id, org, {"Authorization": f"Bearer {raw}"})
    db.commit()
    return {"ORG-A": world.a, "ORG-B": world.b, **extra}


@pytest.fixture
def same_vendor(db, world, parties):
    """ORG-A and ORG-B served by one vendor (A's): no vendor can subtract its own part from
    their cells to find the other's (see test_disclosure for that rule)."""
    registry.authorise(db, vendor_id=world.a.vendor_id, code="ORG-B", grant=True)
    registry.authorise(db, vendor_id=world.b.vendor_id, code="ORG-B", grant=False)
    db.commit()
    parties["ORG-B"] = Party(world.a.vendor_id, "ORG-B", world.a.headers)
    return parties


def show_all(app):
    """No thresholds: every cell shown, so values can be compared."""
    app.state.settings = app.state.settings.model_copy(
        update={
            "aggregate_min_organisations": 1,
            "aggregate_min_people": 0,
            "aggregate_dominance": 1.0,
        }
    )


def put(client, parties, org, rows):
    response = submit(client, parties[org], [dict(r, organisation=org) for r in rows])
    assert response.status_code == 201, response.text
    return response.json()


def get(client, headers, kpi="ACT-01", **params):
    response = client.get(f"/v1/aggregates/{kpi}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def cells(body):
    return {(c["area"], c["period"], c["dimension_code"]): c for c in body["cells"]}


def test_suppression_and_secondary_suppression(client, parties, publisher):
    put(client, parties, "ORG-A", [row(municipality="GM0363", period="2025-Q1", value=40)])
    put(client, parties, "ORG-B", [row(municipality="GM0363", period="2025-Q1", value=30)])
    put(client, parties, "ORG-C", [row(municipality="GM0392", period="2025-Q1", value=25)])
    put(client, parties, "ORG-D", [row(municipality="GM0014", period="2025-Q1", value=50)])

    national = cells(get(client, publisher, period="2025-Q1"))
    assert national[("NL01", "2025-Q1", None)]["value"] == 145
    assert national[("NL01", "2025-Q1", None)]["organisations"] == 4

    provinces = cells(get(client, publisher, level="province", period="2025-Q1"))
    nh, gr = provinces[("PV27", "2025-Q1", None)], provinces[("PV20", "2025-Q1", None)]
    assert nh["organisations"] == 3
    # Groningen rests on one organisation: suppressed. Noord-Holland is then the only other
    # province: 145 - 95 would give Groningen away, so it is suppressed as well.
    assert (gr["value"], gr["suppressed"], gr["suppression_reason"]) == (
        None,
        True,
        "too_few_organisations",
    )
    assert (nh["value"], nh["suppressed"], nh["suppression_reason"]) == (None, True, "secondary")

    towns = cells(get(client, publisher, level="municipality", period="2025-Q1", area="PV27"))
    ams, haarlem = towns[("GM0363", "2025-Q1", None)], towns[("GM0392", "2025-Q1", None)]
    assert haarlem["suppression_reason"] == "too_few_organisations"
    # Amsterdam rests on A and B, each with its own vendor: vendor A could subtract its own
    # figure and find B's, so the cell is hidden as a vendor complement.
    assert ams["suppression_reason"] == "vendor_complement" and ams["value"] is None
    assert ams["organisations"] == 2 and ams["coverage"] == 1.0
    # Asking for one municipality gives the same verdict as asking for its province.
    alone = cells(get(client, publisher, level="municipality", period="2025-Q1", area="GM0363"))
    assert alone == {("GM0363", "2025-Q1", None): ams}


def test_small_counts_are_suppressed(client, parties, publisher):
    put(client, parties, "ORG-A", [row(period="2025-Q1", value=3)])
    put(client, parties, "ORG-B", [row(period="2025-Q1", value=4)])
    national = cells(get(client, publisher, period="2025-Q1"))[("NL01", "2025-Q1", None)]
    assert (national["suppressed"], national["suppression_reason"]) == (True, "small_count")
    assert national["value"] is None


def test_breakdown_secondary_suppression(client, same_vendor, publisher):
    parties = same_vendor
    for org in ("ORG-A", "ORG-B"):
        put(
            client,
            parties,
            org,
            [
                row(period="2025-Q1", value=100),
                row(period="2025-Q1", disaggregation={"age_band": "12-17"}, value=2, record_id="a"),
                row(
                    period="2025-Q1", disaggregation={"age_band": "18-26"}, value=40, record_id="b"
                ),
                row(
                    period="2025-Q1", disaggregation={"age_band": "27-64"}, value=58, record_id="c"
                ),
            ],
        )
    body = get(client, publisher, period="2025-Q1", dimension="age_band")
    by_code = {c["dimension_code"]: c for c in body["cells"]}
    assert by_code["12-17"]["suppression_reason"] == "small_count"
    assert by_code["18-26"]["suppression_reason"] == "secondary"
    assert by_code["27-64"]["value"] == 116 and not by_code["27-64"]["suppressed"]
    # The total is a separate figure: never added to its breakdown.
    total = get(client, publisher, period="2025-Q1")["cells"]
    assert [c["value"] for c in total] == [200]


def test_figures_on_todays_boundaries(client, parties, publisher, app):
    show_all(app)
    put(
        client,
        parties,
        "ORG-D",
        [
            row(municipality="GM0457", period="2021", value=11),  # Weesp, now Amsterdam
            row(municipality="GM0788", period="2020", value=13, record_id="h"),  # Haaren, split
        ],
    )
    put(client, parties, "ORG-A", [row(municipality="GM0363", period="2021", value=100)])
    reported = cells(get(client, publisher, level="municipality", period="2021"))
    assert set(reported) == {("GM0363", "2021", None), ("GM0457", "2021", None)}
    current = get(client, publisher, level="municipality", period="2021", boundaries="current")
    merged = cells(current)
    assert set(merged) == {("GM0363", "2021", None)}
    assert merged[("GM0363", "2021", None)]["value"] == 111
    assert merged[("GM0363", "2021", None)]["organisations"] == 2
    assert "GM0788" in current["unallocated"]
    split = get(client, publisher, level="municipality", period="2020", boundaries="current")
    assert split["cells"] == []
    province = cells(get(client, publisher, level="province", period="2020", boundaries="current"))
    assert province[("PV30", "2020", None)]["value"] == 13  # Haaren still counts in Brabant
    # Coverage on today's boundaries counts today's municipalities.
    nat = cells(get(client, publisher, period="2021", boundaries="current"))[("NL01", "2021", None)]
    assert nat["municipalities_in_area"] == 342 and nat["municipalities"] == 1


def test_as_of_reproduces_figures_before_corrections(client, parties, publisher, app):
    show_all(app)
    put(client, parties, "ORG-A", [row(period="2025-Q1", value=100)])
    first = get(client, publisher, period="2025-Q1")
    quoted = first["latest_change"]
    assert first["cells"][0]["value"] == 100
    put(client, parties, "ORG-A", [row(period="2025-Q1", value=120)])
    put(client, parties, "ORG-B", [row(period="2025-Q1", value=50)])
    now = get(client, publisher, period="2025-Q1")
    assert now["cells"][0]["value"] == 170 and now["latest_change"] > quoted
    then = get(client, publisher, period="2025-Q1", as_of=quoted)
    assert then["cells"][0]["value"] == 100 and then["latest_change"] == quoted
    assert then["as_of"] is not None
    put(client, parties, "ORG-A", [row(period="2025-Q1", value=None, withdraw=True)])
    after = get(client, publisher, period="2025-Q1")
    assert after["cells"][0]["value"] == 50
    assert get(client, publisher, period="2025-Q1", as_of=quoted)["cells"][0]["value"] == 100


def test_csv_equals_json(client, parties, publisher):
    for org in ("ORG-A", "ORG-B"):
        put(
            client,
            parties,
            org,
            [
                row(period="2025-01", value=30),
                row(period="2025-02", value=35, record_id="2"),
                row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=12, denominator=40),
            ],
        )
    for kpi, params in (
        ("ACT-01", {"from": "2025-01", "to": "2025-03"}),
        ("IMP-FIN-01", {"period": "2025-Q1", "level": "province"}),
    ):
        as_json = get(client, publisher, kpi=kpi, **params)
        response = client.get(
            f"/v1/aggregates/{kpi}", params=params | {"format": "csv"}, headers=publisher
        )
        assert response.headers["content-type"].startswith("text/csv")
        by_accept = client.get(
            f"/v1/aggregates/{kpi}", params=params, headers=publisher | {"Accept": "text/csv"}
        )
        assert by_accept.text == response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == len(as_json["cells"])
        for line, c in zip(rows, as_json["cells"], strict=True):
            assert line["area"] == c["area"] and line["period"] == c["period"]
            for name in ("value", "numerator", "denominator", "n"):
                assert (float(line[name]) if line[name] else None) == c[name]
            assert line["suppressed"] == str(c["suppressed"]).lower()
            assert int(line["organisations"]) == c["organisations"]
            assert float(line["coverage"]) == c["coverage"]


def test_notes_come_with_visible_figures_only(client, same_vendor, publisher):
    parties = same_vendor
    put(client, parties, "ORG-A", [row(period="2025-Q1", value=60, note="Nieuwe locatie geopend")])
    put(client, parties, "ORG-B", [row(period="2025-Q1", value=40)])
    body = get(client, publisher, period="2025-Q1", notes="true")
    assert body["cells"][0]["notes"] == ["Nieuwe locatie geopend"]
    assert get(client, publisher, period="2025-Q1")["cells"][0]["notes"] is None
    municipal = get(client, publisher, period="2025-Q1", notes="true", level="municipality")
    assert all(c["notes"] == [] for c in municipal["cells"] if c["suppressed"])


def test_roles(client, same_vendor, analyst, publisher):
    parties = same_vendor
    put(client, parties, "ORG-A", [row(period="2025-Q1", value=60)])
    put(client, parties, "ORG-B", [row(period="2025-Q1", value=40)])
    assert client.get("/v1/aggregates/ACT-01", params={"period": "2025-Q1"}).status_code == 401
    assert get(client, publisher, period="2025-Q1")["cells"][0]["value"] == 100
    # Analysts read released figures only: nothing until the publisher releases the period.
    before = get(client, analyst, period="2025-Q1")
    assert (before["figures"], before["cells"], before["unreleased_periods"]) == (
        "released",
        [],
        ["2025-Q1"],
    )
    release = client.post("/v1/figure-releases", json={"period": "2025"}, headers=publisher)
    assert release.status_code == 201, release.text
    assert get(client, analyst, period="2025-Q1")["cells"][0]["value"] == 100
    # A vendor sees live figures of its own organisations only.
    put(client, parties, "ORG-C", [row(municipality="GM0392", period="2025-Q1", value=70)])
    own = get(client, parties["ORG-C"].headers, period="2025-Q1")["cells"][0]
    assert (own["organisations"], own["suppression_reason"]) == (1, "too_few_organisations")
    both = get(client, parties["ORG-A"].headers, period="2025-Q1")["cells"][0]
    assert (both["organisations"], both["value"]) == (2, 100)


@pytest.mark.parametrize(
    ("params", "pointer", "code"),
    [
        ({}, "/period", "period_missing"),
        ({"period": "2025-Q1", "from": "2025-01"}, "/period", "period_or_range"),
        ({"from": "2025-01", "to": "2025-Q2"}, "/to", "period_range_mixed"),
        ({"from": "2025-06", "to": "2025-01"}, "/to", "period_range_inverted"),
        ({"period": "2025-Q1", "dimension": "zrm_domain"}, "/dimension", "dimension_not_allowed"),
        ({"period": "2025", "level": "national", "area": "PV27"}, "/area", "area_not_in_level"),
        ({"period": "2025", "level": "province", "area": "GM0363"}, "/area", "area_not_in_level"),
        ({"period": "2025", "area": "GM9999", "level": "municipality"}, "/area", "area_unknown"),
        ({"period": "2025-13"}, "/period", "string_pattern_mismatch"),
        ({"period": "2025", "level": "galaxy"}, "/level", "enum"),
    ],
)
def test_bad_parameters_are_problems(client, publisher, params, pointer, code):
    response = client.get("/v1/aggregates/ACT-01", params=params, headers=publisher)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert (pointer, code) in errors


def test_unknown_kpi_and_unavailable_period_type(client, publisher):
    assert (
        client.get(
            "/v1/aggregates/NOPE-1", params={"period": "2025"}, headers=publisher
        ).status_code
        == 404
    )
    response = client.get(
        "/v1/aggregates/IMP-SOC-01", params={"period": "2025-Q1"}, headers=publisher
    )
    assert response.status_code == 422
    assert response.json()["code"] == "period_type_not_available"
