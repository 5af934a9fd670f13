"""Figure releases (publication moments): analysts read released figures only; a later
correction reaches them in a next release of the period, whose suppression also covers the
change since the previous one; ``as_of`` selects the release in force then."""

from __future__ import annotations

import pytest

from kpi_api.auth import Role, create_key
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate

ORGS = ("P-1", "P-2", "P-3", "P-4")


@pytest.fixture
def vendor(db):
    """One vendor for four organisations in Rotterdam (so no vendor complement applies)."""
    v = registry.create_vendor(db, data=VendorCreate(name="Vendor P"))
    for code in ORGS:
        registry.create_organisation(
            db, data=OrganisationCreate(code=code, name=code, municipalities=["GM0599"])
        )
        registry.authorise(db, vendor_id=v.id, code=code, grant=True)
    _, raw = create_key(db, name="Vendor P key", role=Role.vendor, vendor_id=v.id)
    db.commit()
    return {"Authorization": f"Bearer {raw}"}


def send(client, headers, org, period, value):
    row = {
        "kpi": "ACT-01",
        "organisation": org,
        "municipality": "GM0599",
        "period": period,
        "value": value,
    }
    response = client.post("/v1/submissions", json={"measurements": [row]}, headers=headers)
    assert response.status_code == 201, response.text


def release(client, publisher, period="2024", status=None, expect=201):
    body = {"period": period, "kpis": ["ACT-01"]} | ({"status": status} if status else {})
    response = client.post("/v1/figure-releases", json=body, headers=publisher)
    assert response.status_code == expect, response.text
    return response.json()


def national(client, headers, **params):
    response = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2024"} | params, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return body, {c["period"]: c for c in body["cells"]}.get("2024")


def test_analysts_read_released_figures_and_corrections_wait_for_the_next_release(
    client, vendor, publisher, analyst
):
    for org, value in zip(ORGS[:3], (30, 40, 50), strict=True):
        send(client, vendor, org, "2024", value)
    body, cell = national(client, analyst)
    assert (body["figures"], cell, body["unreleased_periods"]) == ("released", None, ["2024"])
    first = release(client, publisher)
    assert (first["id"], first["status"], first["sequence"]) == ("2024-r1", "provisional", 1)
    assert first["kpis"][0]["kpi"] == "ACT-01" and first["kpis"][0]["cells"] > 0
    body, cell = national(client, analyst)
    assert cell["value"] == 120 and cell["release"] == "2024-r1"
    assert [r["id"] for r in body["releases"]] == ["2024-r1"]
    # Corrections and new data change live figures (the publisher's) at once ...
    send(client, vendor, "P-1", "2024", 50)
    send(client, vendor, "P-4", "2024", 60)
    assert national(client, publisher)[1]["value"] == 200
    # ... and analysts' figures only with the next release.
    assert national(client, analyst)[1]["value"] == 120
    second = release(client, publisher)
    assert (second["id"], second["status"]) == ("2024-r2", "revised")
    assert national(client, analyst)[1]["value"] == 200
    # Each release stays readable, and `as_of` picks the one in force at that moment.
    assert national(client, analyst, release="2024-r1")[1]["value"] == 120
    assert national(client, analyst, as_of=first["released_at"])[1]["value"] == 120
    listing = client.get("/v1/figure-releases", params={"period": "2024"}, headers=analyst)
    assert [r["id"] for r in listing.json()["items"]] == ["2024-r1", "2024-r2"]


def test_a_change_resting_on_one_organisation_is_not_published(client, vendor, publisher, analyst):
    """Before and after one organisation's first batch, the difference would be its figure."""
    for org, value in zip(ORGS[:3], (30, 40, 50), strict=True):
        send(client, vendor, org, "2024", value)
    release(client, publisher)
    send(client, vendor, "P-4", "2024", 45)  # one organisation's first batch
    release(client, publisher)
    _, cell = national(client, analyst)
    assert (cell["value"], cell["suppression_reason"]) == (None, "small_change")
    # A change of two people is no better: still hidden, and so is the change since r1
    # (the first batch, dominating it).
    send(client, vendor, "P-1", "2024", 31)
    send(client, vendor, "P-2", "2024", 41)
    release(client, publisher)
    assert national(client, analyst)[1]["value"] is None
    # Changes resting on enough organisations and people, none dominating, are published.
    send(client, vendor, "P-1", "2024", 60)
    send(client, vendor, "P-2", "2024", 80)
    release(client, publisher)
    _, cell = national(client, analyst)
    assert cell["value"] == 60 + 80 + 50 + 45


def test_naive_moments_are_utc_and_notes_are_as_released(client, vendor, publisher, analyst):
    rows = [
        {"kpi": "ACT-01", "organisation": o, "municipality": "GM0599", "period": "2024", "value": v}
        for o, v in (("P-1", 30), ("P-2", 40), ("P-3", 50))
    ]
    client.post("/v1/submissions", json={"measurements": rows}, headers=vendor)
    first = release(client, publisher)
    naive = first["released_at"].replace("Z", "").split("+")[0]
    assert national(client, analyst, as_of=naive)[1]["value"] == 120
    assert national(client, analyst, as_of="2024-12-31")[1] is None  # before any release
    noted = rows[0] | {"note": "after the release"}
    client.post("/v1/submissions", json={"measurements": [noted]}, headers=vendor)
    assert national(client, analyst, notes="true")[1]["notes"] == []
    release(client, publisher)
    assert national(client, analyst, notes="true")[1]["notes"] == ["after the release"]


def test_an_unchanged_period_is_released_with_the_same_verdicts(client, vendor, publisher, analyst):
    send(client, vendor, "P-1", "2024", 30)
    send(client, vendor, "P-2", "2024", 40)
    release(client, publisher)

    def verdicts(release_id):
        out = {}
        for level in ("national", "province", "municipality"):
            body, _ = national(client, analyst, level=level, release=release_id)
            out |= {(c["area"], c["period"]): (c["value"], c["suppressed"]) for c in body["cells"]}
        return out

    first = verdicts("2024-r1")
    assert first[("NL01", "2024")] == (70, False)
    release(client, publisher)  # nothing changed
    assert verdicts("2024-r2") == first


def test_release_rules(client, vendor, publisher, analyst):
    send(client, vendor, "P-1", "2024", 30)
    # Only the publisher releases; the body is strict.
    response = client.post("/v1/figure-releases", json={"period": "2024"}, headers=analyst)
    assert response.status_code == 403
    bad = client.post("/v1/figure-releases", json={"period": "2024-13"}, headers=publisher)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    nothing = client.post("/v1/figure-releases", json={"period": "2019"}, headers=publisher)
    assert nothing.status_code == 422 and nothing.json()["code"] == "nothing_to_release"
    unknown = client.post(
        "/v1/figure-releases", json={"period": "2024", "kpis": ["NOPE-1"]}, headers=publisher
    )
    assert unknown.status_code == 404
    empty = client.post(
        "/v1/figure-releases", json={"period": "2024", "kpis": ["ACT-09"]}, headers=publisher
    )
    assert empty.status_code == 422 and empty.json()["code"] == "nothing_to_release"
    release(client, publisher)
    backwards = client.post(
        "/v1/figure-releases", json={"period": "2024", "status": "provisional"}, headers=publisher
    )
    assert backwards.status_code == 422 and backwards.json()["code"] == "status_backwards"
    both = client.get(
        "/v1/aggregates/ACT-01",
        params={"period": "2024", "release": "2024-r1", "as_of": "2025-01-01T00:00:00Z"},
        headers=analyst,
    )
    assert both.status_code == 422 and both.json()["code"] == "release_or_as_of"
    release(client, publisher, status="final")
    for period in ("2024", "2024-Q3"):  # the period and anything inside it
        again = client.post("/v1/figure-releases", json={"period": period}, headers=publisher)
        assert again.status_code == 409 and again.json()["code"] == "period_final"
    # Final figures close the period for measurements too.
    late = client.post(
        "/v1/submissions",
        json={
            "measurements": [
                {
                    "kpi": "ACT-01",
                    "organisation": "P-1",
                    "municipality": "GM0599",
                    "period": "2024",
                    "value": 31,
                }
            ]
        },
        headers=vendor,
    )
    assert late.status_code == 422, late.text
    assert "period_locked" in late.text
    missing = client.get("/v1/figure-releases/2024-r9", headers=analyst)
    assert client.get("/v1/figure-releases/2024-r1", headers=analyst).status_code == 200
    assert missing.status_code == 404
    response = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2024", "release": "2024-r9"}, headers=analyst
    )
    assert response.status_code == 404 and response.json()["code"] == "figure_release_not_found"


def test_a_quarter_can_be_released_before_its_year(client, vendor, publisher, analyst):
    for org, value in zip(ORGS, (30, 40, 50, 60), strict=True):
        send(client, vendor, org, "2024-Q1", value)
    first = release(client, publisher, period="2024-Q1")
    assert first["id"] == "2024-Q1-r1"
    body = client.get(
        "/v1/aggregates/ACT-01", params={"from": "2024-Q1", "to": "2024-Q2"}, headers=analyst
    ).json()
    assert [(c["period"], c["value"]) for c in body["cells"]] == [("2024-Q1", 180)]
    assert body["unreleased_periods"] == ["2024-Q2"]
    year, cell = national(client, analyst)
    assert cell is None and year["unreleased_periods"] == ["2024"]
