"""Figures you can trust: the four ways aggregates went wrong (issue 11), each as a kind.

1. a year left out data when a unit reported part of it in months and part in quarters;
2. a hidden cell was recovered across levels (a secondary province whose only municipality
   was published);
3. a hidden cell was recovered across periods (a year and three of its quarters published);
4. numbers were not what they mean (0.1 + 0.2 euro, counts as 40.0, 1e308).

Every organisation here is served by one vendor, so no cell is hidden because one vendor could
subtract its own figures (that rule has its own tests in test_publication.py).
"""

from __future__ import annotations

import csv
import io

import pytest

from kpi_api.auth import Role, create_key
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate

ORGS = {
    "T-ROT-1": ["GM0599"],  # Rotterdam (Zuid-Holland)
    "T-ROT-2": ["GM0599"],
    "T-GRO": ["GM0014"],  # Groningen
    "T-MID-1": ["GM0687"],  # Middelburg (Zeeland)
    "T-MID-2": ["GM0687"],
    "T-AMS-1": ["GM0363"],  # Amsterdam, Haarlem (Noord-Holland)
    "T-AMS-2": ["GM0363", "GM0392"],
    "T-HLM": ["GM0392"],
}


@pytest.fixture
def vendor(db):
    """One vendor serving every organisation above."""
    v = registry.create_vendor(db, data=VendorCreate(name="Vendor T"))
    for code, municipalities in ORGS.items():
        registry.create_organisation(
            db, data=OrganisationCreate(code=code, name=code, municipalities=municipalities)
        )
        registry.authorise(db, vendor_id=v.id, code=code, grant=True)
    _, raw = create_key(db, name="Vendor T key", role=Role.vendor, vendor_id=v.id)
    db.commit()
    return {"Authorization": f"Bearer {raw}"}


def send(client, headers, rows, status=201):
    response = client.post("/v1/submissions", json={"measurements": rows}, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def m(org, muni, period, kpi="ACT-01", **figure):
    return {"kpi": kpi, "organisation": org, "municipality": muni, "period": period} | figure


def cells(client, headers, kpi="ACT-01", **params):
    response = client.get(f"/v1/aggregates/{kpi}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {(c["area"], c["period"], c["dimension_code"]): c for c in response.json()["cells"]}


def test_a_year_covers_every_stretch_each_unit_reported(client, vendor, publisher, analyst):
    """Months for part of the year and a quarter for another part: the year gets both (51)."""
    send(
        client,
        vendor,
        [
            m("T-ROT-1", "GM0599", "2024-01", value=5),
            m("T-ROT-1", "GM0599", "2024-02", value=6),
            m("T-ROT-1", "GM0599", "2024-Q2", value=20),
            m("T-ROT-2", "GM0599", "2024-Q1", value=10),
            m("T-ROT-2", "GM0599", "2024-Q2", value=10),
        ],
    )
    for headers in (publisher, None):
        if headers is None:  # the same figures once released, as analysts read them
            release = client.post("/v1/figure-releases", json={"period": "2024"}, headers=publisher)
            assert release.status_code == 201, release.text
            headers = analyst
        year = cells(client, headers, period="2024", level="municipality", area="GM0599")
        quarters = cells(client, headers, **{"from": "2024-Q1", "to": "2024-Q2"})
        assert year[("GM0599", "2024", None)]["value"] == 51
        assert quarters[("NL01", "2024-Q1", None)]["value"] == 21
        assert quarters[("NL01", "2024-Q2", None)]["value"] == 30


def test_a_quarter_reported_wins_over_its_months_and_stock_takes_the_latest(
    client, vendor, publisher
):
    """A period reported itself wins over its parts (never both); a stock KPI takes the
    latest part of what each unit reported."""
    send(
        client,
        vendor,
        [
            m("T-ROT-1", "GM0599", "2024-Q1", value=30),
            m("T-ROT-1", "GM0599", "2024-01", value=7),  # inside a reported quarter: not added
            m("T-ROT-1", "GM0599", "2024-04", value=9),
            m("T-ROT-2", "GM0599", "2024-Q1", value=12),
            m("T-ROT-1", "GM0599", "2024-Q1", kpi="ACT-06", value=40),
            m("T-ROT-1", "GM0599", "2024-05", kpi="ACT-06", value=44),
            m("T-ROT-2", "GM0599", "2024-Q4", kpi="ACT-06", value=50),
        ],
    )
    year = cells(client, publisher, period="2024")[("NL01", "2024", None)]
    assert year["value"] == 30 + 9 + 12
    stock = cells(client, publisher, kpi="ACT-06", period="2024")[("NL01", "2024", None)]
    assert stock["value"] == 44 + 50  # each unit's latest: May for one, Q4 for the other


def test_no_hidden_cell_is_recovered_across_levels(client, vendor, publisher):
    """Groningen rests on one organisation; Zeeland's only municipality (two organisations)
    would be published: national − provinces − that municipality must not give Groningen."""
    send(
        client,
        vendor,
        [
            m("T-GRO", "GM0014", "2025-Q1", value=50),
            m("T-MID-1", "GM0687", "2025-Q1", value=20),
            m("T-MID-2", "GM0687", "2025-Q1", value=22),
            m("T-AMS-1", "GM0363", "2025-Q1", value=100),
            m("T-AMS-2", "GM0363", "2025-Q1", value=90),
            m("T-HLM", "GM0392", "2025-Q1", value=60),
            m("T-AMS-2", "GM0392", "2025-Q1", value=70),
        ],
    )
    q = {"period": "2025-Q1"}
    national = cells(client, publisher, **q)[("NL01", "2025-Q1", None)]
    provinces = cells(client, publisher, level="province", **q)
    towns = cells(client, publisher, level="municipality", **q)
    assert provinces[("PV20", "2025-Q1", None)]["suppression_reason"] == "too_few_organisations"
    known = {k[0]: c["value"] for k, c in provinces.items() if not c["suppressed"]}
    hidden = [k[0] for k, c in provinces.items() if c["suppressed"]]
    # Fill in every hidden province whose municipalities are all published ...
    by_province = {"PV29": ["GM0687"], "PV27": ["GM0363", "GM0392"], "PV20": ["GM0014"]}
    for province in hidden:
        parts = [towns[(g, "2025-Q1", None)] for g in by_province[province]]
        if all(not p["suppressed"] for p in parts):
            known[province] = sum(p["value"] for p in parts)
    # ... and Groningen must still be unknown: two or more provinces remain, or no national.
    unknown = [p for p in by_province if p not in known]
    assert national["suppressed"] or len(unknown) >= 2, (national, provinces, towns)


def test_no_hidden_cell_is_recovered_across_periods(client, vendor, publisher):
    """A in every quarter of 2023, B in three: the year and Q1–Q3 must not all be published,
    or year − Q1 − Q2 − Q3 = A's own Q4."""
    rows = [m("T-ROT-1", "GM0599", f"2023-Q{q}", kpi="ACT-09", value=20) for q in range(1, 5)]
    rows += [m("T-ROT-2", "GM0599", f"2023-Q{q}", kpi="ACT-09", value=20) for q in range(1, 4)]
    send(client, vendor, rows)
    year = cells(client, publisher, kpi="ACT-09", period="2023")[("NL01", "2023", None)]
    quarters = cells(client, publisher, kpi="ACT-09", **{"from": "2023-Q1", "to": "2023-Q4"})
    q4 = quarters[("NL01", "2023-Q4", None)]
    assert q4["suppression_reason"] == "too_few_organisations"
    published = [c for c in quarters.values() if not c["suppressed"]]
    assert year["suppressed"] or len(published) < 3, (year, quarters)
    # The months are in the same linked table: none of them gives Q4 away either.
    months = cells(client, publisher, kpi="ACT-09", **{"from": "2023-10", "to": "2023-12"})
    assert all(c["suppressed"] for c in months.values())


def test_numbers_mean_what_they_are(client, vendor, publisher):
    """Amounts exact to the cent, counts as integers, no float noise in JSON or CSV."""
    send(
        client,
        vendor,
        [
            m("T-ROT-1", "GM0599", "2025-Q1", kpi="ACT-02", value=0.1),
            m("T-ROT-2", "GM0599", "2025-Q1", kpi="ACT-02", value=0.2),
            m("T-ROT-1", "GM0599", "2025-Q1", value=20),
            m("T-ROT-2", "GM0599", "2025-Q1", value=20),
        ],
    )
    amount = cells(client, publisher, kpi="ACT-02", period="2025-Q1")[("NL01", "2025-Q1", None)]
    assert amount["value"] == 0.3 and repr(amount["value"]) == "0.3"
    count = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2025-Q1"}, headers=publisher
    ).text
    assert '"value":40,' in count
    text = client.get(
        "/v1/aggregates/ACT-02", params={"period": "2025-Q1", "format": "csv"}, headers=publisher
    ).text
    line = next(csv.DictReader(io.StringIO(text)))
    assert line["value"] == "0.30"
    assert "inf" not in text and "nan" not in text


@pytest.mark.parametrize("value", [1e308, 1e30, 10**12])
def test_no_accepted_value_can_overflow_a_figure(client, vendor, publisher, value):
    """Values beyond a KPI's documented bound are refused with a rule code, so an aggregate
    (and its history ``as_of``) never overflows."""
    body = send(client, vendor, [m("T-ROT-1", "GM0599", "2025-Q1", value=value)], status=422)
    codes = {e["code"] for e in body["submission"]["errors"]}
    assert codes & {"value_too_large", "value_out_of_range"}, codes
    response = client.get("/v1/aggregates/ACT-01", params={"period": "2025"}, headers=publisher)
    assert response.status_code == 200 and response.json()["cells"] == []
