"""Figures never mix incomparable definitions: a series break, as vendors and analysts meet it.

A KPI's new major version governs periods from 1 January of a year. Here the breaks are
published *after* some measurements under the old definition arrived for periods the new one
governs (the realistic case: a handbook published in spring, effective from January), so each
figure must leave those out, count them, and mark the break.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from tests.aggregates.test_trust import ORGS, cells, m, send, vendor  # noqa: F401

PROVINCE = {
    "GM0599": "PV28",
    "GM0014": "PV20",
    "GM0687": "PV29",
    "GM0363": "PV27",
    "GM0392": "PV27",
}


def new_major(client, publisher, code, effective_from, release_id, **patch):
    draft = client.post(f"/v1/kpis/{code}/versions", json=patch, headers=publisher)
    assert draft.status_code == 201, draft.text
    said = {"kpi": code, "comparability": "major", "effective_from": effective_from}
    said |= {"change_note_nl": "Aangescherpt (test).", "change_note_en": "Sharpened (test)."}
    body = {"id": release_id, "title_nl": "Breuk", "title_en": "Break", "comparability": [said]}
    published = client.post("/v1/releases", json=body, headers=publisher)
    assert published.status_code == 201, published.text
    return draft.json()["version"]


def by_key(body):
    return {(c["area"], c["period"]): c for c in body["cells"] if c["dimension_code"] is None}


def test_a_break_splits_the_series_for_vendors_and_analysts(client, vendor, publisher, analyst):  # noqa: F811
    quarters_2024 = [f"2024-Q{q}" for q in range(1, 5)]
    v1 = [
        m(org, "GM0599" if org.startswith("T-ROT") else "GM0363", q, value=20 + i)
        for i, org in enumerate(["T-ROT-1", "T-ROT-2", "T-AMS-1", "T-AMS-2"])
        for q in quarters_2024
    ]
    v1 += [m("T-ROT-1", "GM0599", "2025-Q1", value=30), m("T-ROT-2", "GM0599", "2025-Q1", value=31)]
    send(client, vendor, v1)
    before_break = datetime.now(UTC)
    version = new_major(
        client, publisher, "ACT-01", "2025-01-01", "2099.01", counts="Only adults (18+) count."
    )
    # ACT-01: version 1 (2026.11), 2 (2027.01, its direction: minor), 3 breaks the series.
    assert version == 3

    # A vendor: rows default to the version in force for their period; the old definition no
    # longer applies from the break, the new one not before it.
    report = send(
        client,
        vendor,
        [
            m("T-AMS-1", "GM0363", "2025-Q1", value=15),
            m("T-AMS-2", "GM0363", "2025-Q1", value=16),
            m("T-HLM", "GM0392", "2025-Q1", value=17),
            m("T-AMS-2", "GM0392", "2025-Q1", value=18),
            m("T-ROT-1", "GM0599", "2024-Q4", value=23),  # a correction, under version 1
        ],
    )
    assert report["accepted"] == 5, report
    stored = client.get(
        "/v1/measurements",
        params={"kpi": "ACT-01", "organisation": "T-ROT-1", "period": "2024-Q4"},
        headers=vendor,
    )
    assert stored.status_code == 200, stored.text
    [correction] = stored.json()["items"]
    assert (correction["value"], correction["kpi_version"]) == (23, 2)
    later = client.get(
        "/v1/measurements",
        params={"kpi": "ACT-01", "organisation": "T-HLM", "period": "2025-Q1"},
        headers=vendor,
    ).json()["items"]
    assert [x["kpi_version"] for x in later] == [3]
    rejected = client.post(
        "/v1/submissions",
        json={
            "measurements": [
                m("T-GRO", "GM0014", "2025-Q1", value=40) | {"kpi_version": 1},
                m("T-GRO", "GM0014", "2024-Q4", value=40) | {"kpi_version": 3},
            ]
        },
        headers=vendor | {"Accept-Language": "nl"},
    )
    assert rejected.status_code == 422, rejected.text
    rows = {e["row"]: e for e in rejected.json()["submission"]["errors"]}
    assert rows[1]["code"] == "kpi_version_replaced" and rows[1]["field"] == "kpi_version"
    assert "versie 3" in rows[1]["message"] and "2025-01-01" in rows[1]["message"]
    assert "versie 2" in rows[2]["message"]
    assert "trendbreuk" in rows[1]["message"]
    assert rows[2]["code"] == "kpi_version_not_in_force" and "2025-01-01" in rows[2]["message"]

    # The publisher's live series: 2024 adds versions 1 and 2, 2025 version 3 only.
    params = {"from": "2024-Q1", "to": "2025-Q1"}
    live = client.get("/v1/aggregates/ACT-01", params=params, headers=publisher).json()
    national = by_key(live)
    assert [national[("NL01", q)]["value"] for q in quarters_2024] == [86, 86, 86, 86 + 3]
    after = national[("NL01", "2025-Q1")]
    assert after["value"] == 15 + 16 + 17 + 18, str(
        after
    )  # not + 30 + 31: those follow the old definition
    assert (after["organisations"], after["organisations_other_definition"]) == (3, 2)
    assert after["municipalities_other_definition"] == 1
    assert [national[("NL01", q)]["series_break"] for q in [*quarters_2024, "2025-Q1"]] == [
        False,
        False,
        False,
        False,
        True,
    ]
    assert [national[("NL01", q)]["kpi_version"] for q in ("2024-Q4", "2025-Q1")] == [2, 3]
    assert national[("NL01", "2024-Q4")]["organisations_other_definition"] == 0
    [brk] = live["series_breaks"]
    assert (brk["period"], brk["effective_from"], brk["from_version"], brk["to_version"]) == (
        "2025-Q1",
        "2025-01-01",
        2,
        3,
    )
    assert brk["change_note_nl"] == "Aangescherpt (test)."
    assert live["kpi_version"] == 3
    # Where only the old definition was reported: missing under the new one, and why.
    towns = by_key(
        client.get(
            "/v1/aggregates/ACT-01",
            params={"period": "2025-Q1", "level": "municipality"},
            headers=publisher,
        ).json()
    )
    rotterdam = towns[("GM0599", "2025-Q1")]
    assert (rotterdam["value"], rotterdam["suppressed"], rotterdam["organisations"]) == (
        None,
        False,
        0,
    )
    assert rotterdam["organisations_other_definition"] == 2 and rotterdam["kpi_versions"] == []
    # As the catalogue and data stood before the break was published: one definition.
    then = client.get(
        "/v1/aggregates/ACT-01",
        params={"period": "2025-Q1", "as_of": before_break.isoformat()},
        headers=publisher,
    ).json()
    assert by_key(then)[("NL01", "2025-Q1")]["value"] == 61 and then["series_breaks"] == []
    months = client.get(
        "/v1/aggregates/ACT-01", params={"from": "2024-11", "to": "2025-02"}, headers=publisher
    ).json()
    assert [b["period"] for b in months["series_breaks"]] == ["2025-01"]

    # The same as CSV: a column per cell for the definition and the break.
    text = client.get(
        "/v1/aggregates/ACT-01", params=params | {"format": "csv"}, headers=publisher
    ).text
    table = list(csv.DictReader(io.StringIO(text)))
    marked = {
        r["period"]: (r["series_break"], r["kpi_version"]) for r in table if r["area"] == "NL01"
    }
    assert marked["2025-Q1"] == ("true", "3") and marked["2024-Q4"] == ("false", "2")
    assert (
        next(r for r in table if r["period"] == "2025-Q1")["organisations_other_definition"] == "2"
    )

    # Asked for (by any of its versions), the figure under the old definition: only what was
    # measured under it.
    old = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2025-Q1", "definition": 1}, headers=publisher
    ).json()
    cell = by_key(old)[("NL01", "2025-Q1")]
    assert (cell["value"], cell["kpi_version"], cell["organisations_other_definition"]) == (
        61,
        2,
        3,
    )
    assert old["series_breaks"] == [] and not cell["series_break"]
    unknown = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2025-Q1", "definition": 9}, headers=publisher
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "definition_unknown"

    # Released, as analysts read them: the same split, the same marks.
    for period in ("2024", "2025-Q1"):
        released = client.post("/v1/figure-releases", json={"period": period}, headers=publisher)
        assert released.status_code == 201, released.text
    kpis = {k["kpi"]: k["kpi_version"] for k in released.json()["kpis"]}
    assert kpis["ACT-01"] == 3
    read = client.get("/v1/aggregates/ACT-01", params=params, headers=analyst).json()
    shown = by_key(read)
    assert shown[("NL01", "2025-Q1")]["value"] == 66
    assert shown[("NL01", "2025-Q1")]["series_break"] is True
    assert shown[("NL01", "2025-Q1")]["organisations_other_definition"] == 2
    assert shown[("NL01", "2024-Q4")]["kpi_version"] == 2
    released_towns = by_key(
        client.get(
            "/v1/aggregates/ACT-01",
            params={"period": "2025-Q1", "level": "municipality"},
            headers=analyst,
        ).json()
    )
    assert released_towns[("GM0599", "2025-Q1")]["organisations_other_definition"] == 2
    assert released_towns[("GM0599", "2025-Q1")]["suppressed"] is False
    assert [b["period"] for b in read["series_breaks"]] == ["2025-Q1"]
    live_only = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2025-Q1", "definition": 1}, headers=analyst
    )
    assert live_only.status_code == 422 and live_only.json()["code"] == "definition_live_only"


def _expected(rows, definition, level, aggregation):
    """An independent computation per definition: exact sums over the rows of the definition,
    per area and period (quarters, and years as the sum of their quarters)."""
    parts: dict[tuple[str, str], list] = defaultdict(list)
    other: dict[tuple[str, str], set] = defaultdict(set)
    for r in rows:
        area = {"national": "NL01", "province": PROVINCE[r["municipality"]]}.get(
            level, r["municipality"]
        )
        for period in (r["period"], r["period"][:4]):
            if r["version"] == definition[r["period"][:4]]:
                parts[(area, period)].append(r)
            else:
                other[(area, period)].add(r["organisation"])
    out = {}
    for key, found in parts.items():
        if aggregation[key[1][:4]] == "sum":
            out[key] = sum(Decimal(r["value"]) for r in found)
        else:
            weighted = sum(Decimal(r["mean"]) * r["n"] for r in found)
            total = sum(r["n"] for r in found)
            out[key] = (weighted / total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return out, other


def test_figures_across_a_break_equal_an_independent_computation(client, vendor, publisher):  # noqa: F811
    """Expenditure (a sum) becomes expenditure per participant (a weighted mean) from 2025: on
    generated data, every published figure on each side equals a computation per definition."""
    rng = random.Random(19)
    units = [(org, muni) for org, munis in ORGS.items() for muni in munis]
    rows = []

    def amount() -> str:
        return f"{rng.randint(100_000, 900_000) / 100:.2f}"

    for org, muni in units:
        for q in range(1, 5):
            rows.append(
                dict(
                    organisation=org,
                    municipality=muni,
                    period=f"2024-Q{q}",
                    version=1,
                    value=amount(),
                )
            )
        rows.append(
            dict(organisation=org, municipality=muni, period="2025-Q1", version=1, value=amount())
        )
    send(
        client,
        vendor,
        [
            {
                "kpi": "ACT-02",
                "organisation": r["organisation"],
                "municipality": r["municipality"],
                "period": r["period"],
                "value": float(r["value"]),
            }
            for r in rows
        ],
    )
    new_major(
        client,
        publisher,
        "ACT-02",
        "2025-01-01",
        "2099.01",
        name_en="Expenditure per participant",
        aggregation="weighted_mean",
        unit="euro per participant",
    )
    resent = [u for u in units if rng.random() < 0.6]
    newer = []
    for org, muni in units:
        periods = ["2025-Q2"] + (["2025-Q1"] if (org, muni) in resent else [])
        for period in periods:
            newer.append(
                dict(
                    organisation=org,
                    municipality=muni,
                    period=period,
                    version=2,
                    mean=amount(),
                    n=rng.randint(5, 60),
                )
            )
    send(
        client,
        vendor,
        [
            {
                "kpi": "ACT-02",
                "organisation": r["organisation"],
                "municipality": r["municipality"],
                "period": r["period"],
                "mean": float(r["mean"]),
                "n": r["n"],
            }
            for r in newer
        ],
    )
    # What stands: a resent 2025-Q1 supersedes the one under version 1.
    current = {(r["organisation"], r["municipality"], r["period"]): r for r in rows + newer}
    standing = list(current.values())
    definition = {"2024": 1, "2025": 2}
    aggregation = {"2024": "sum", "2025": "weighted_mean"}
    compared = 0
    for level in ("national", "province", "municipality"):
        for params in ({"from": "2024-Q1", "to": "2025-Q2"}, {"from": "2024", "to": "2025"}):
            body = client.get(
                "/v1/aggregates/ACT-02", params=params | {"level": level}, headers=publisher
            ).json()
            expected, other = _expected(standing, definition, level, aggregation)
            for (area, period), cell in by_key(body).items():
                assert cell["kpi_version"] == definition[period[:4]]
                assert cell["organisations_other_definition"] == len(other[(area, period)])
                if cell["suppressed"]:
                    continue
                assert Decimal(str(cell["value"])) == expected[(area, period)], (
                    level,
                    area,
                    period,
                )
                compared += 1
            if params["from"] == "2024-Q1":
                assert [b["period"] for b in body["series_breaks"]] == ["2025-Q1"]
    assert compared >= 12  # national and provincial figures on both sides of the break


def test_a_release_leaves_out_a_kpi_whose_data_all_follow_an_earlier_definition(
    client,
    vendor,  # noqa: F811
    publisher,
):
    send(
        client,
        vendor,
        [m(org, "GM0599", "2025-Q1", kpi="ACT-04", value=20) for org in ("T-ROT-1", "T-ROT-2")],
    )
    new_major(client, publisher, "ACT-04", "2025-01-01", "2099.01", unit="sessions (test)")
    nothing = client.post("/v1/figure-releases", json={"period": "2025-Q1"}, headers=publisher)
    assert nothing.status_code == 422 and nothing.json()["code"] == "nothing_to_release"
    named = client.post(
        "/v1/figure-releases", json={"period": "2025-Q1", "kpis": ["ACT-04"]}, headers=publisher
    )
    assert named.status_code == 422 and "definition" in named.json()["detail"]
    send(
        client,
        vendor,
        [m(org, "GM0599", "2025-Q1", value=20) for org in ("T-ROT-1", "T-ROT-2")],
    )
    done = client.post("/v1/figure-releases", json={"period": "2025-Q1"}, headers=publisher)
    assert done.status_code == 201, done.text
    assert [k["kpi"] for k in done.json()["kpis"]] == ["ACT-01"]


def test_figures_released_before_a_break_keep_the_definition_they_follow(
    client,
    vendor,  # noqa: F811
    publisher,
    analyst,
):
    send(
        client,
        vendor,
        [m(org, "GM0599", "2025-Q1", value=20 + i) for i, org in enumerate(("T-ROT-1", "T-ROT-2"))],
    )
    released = client.post("/v1/figure-releases", json={"period": "2025-Q1"}, headers=publisher)
    assert released.status_code == 201, released.text
    new_major(client, publisher, "ACT-01", "2025-01-01", "2099.01", unit="adults")
    body = client.get("/v1/aggregates/ACT-01", params={"period": "2025-Q1"}, headers=analyst).json()
    cell = by_key(body)[("NL01", "2025-Q1")]
    assert (cell["value"], cell["kpi_version"], cell["series_break"]) == (41, 2, False)
    assert (body["kpi_version"], body["unit"], body["series_breaks"]) == (2, "persons", [])


def test_months_notes_and_withdrawals_under_the_old_definition(
    client,
    vendor,  # noqa: F811
    publisher,
):
    """The new definition drops months and the age breakdown: the old monthly measurements
    still count as reported under another definition, their notes stay with their own
    definition, and a vendor can still withdraw an old breakdown by naming its version."""
    old = [
        m(org, "GM0599", f"2025-0{month}", value=10 + month, note="OLD DEFINITION")
        for org in ("T-ROT-1", "T-ROT-2")
        for month in (1, 2, 3)
    ]
    old.append(
        m("T-ROT-1", "GM0599", "2025-01", value=5) | {"disaggregation": {"age_band": "12-17"}}
    )
    send(client, vendor, old)
    new_major(
        client,
        publisher,
        "ACT-01",
        "2025-01-01",
        "2099.01",
        counts="Only adults (18+) count.",
        period_types=["quarter", "year"],
        dimensions=["gender"],
    )
    send(
        client,
        vendor,
        [
            m(org, muni, "2025-Q1", value=30, note="NEW DEFINITION")
            for org, muni in (("T-AMS-1", "GM0363"), ("T-AMS-2", "GM0363"), ("T-HLM", "GM0392"))
        ],
    )
    q1 = {"period": "2025-Q1", "notes": "true"}
    cell = by_key(client.get("/v1/aggregates/ACT-01", params=q1, headers=publisher).json())[
        ("NL01", "2025-Q1")
    ]
    assert (cell["value"], cell["organisations"], cell["organisations_other_definition"]) == (
        90,
        3,
        2,
    )
    assert cell["notes"] == ["NEW DEFINITION"]
    older = client.get(
        "/v1/aggregates/ACT-01", params=q1 | {"definition": 1}, headers=publisher
    ).json()
    old_cell = by_key(older)[("NL01", "2025-Q1")]
    assert (old_cell["value"], old_cell["notes"]) == (2 * (11 + 12 + 13), ["OLD DEFINITION"])
    withdrawal = {
        "kpi": "ACT-01",
        "kpi_version": 1,
        "organisation": "T-ROT-1",
        "municipality": "GM0599",
        "period": "2025-01",
        "disaggregation": {"age_band": "12-17"},
        "withdraw": True,
    }
    assert send(client, vendor, [withdrawal])["withdrawn"] == 1
