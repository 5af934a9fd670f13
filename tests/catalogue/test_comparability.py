"""Comparable versions: what each kind of change amounts to, and what a publisher may call it."""

from __future__ import annotations

from datetime import date

import pytest

from kpi_api.catalogue import comparability, service
from kpi_api.catalogue.loader import read_files
from kpi_api.catalogue.schemas import Comparability, KpiDefinition

FILES = read_files()
COUNT = next(k for k in FILES.kpis if k.code == "ACT-01").definition()
AMOUNT = next(k for k in FILES.kpis if k.code == "ACT-02").definition()
MINOR, MAJOR = Comparability.minor, Comparability.major


def verdict(base: KpiDefinition, **change) -> tuple[Comparability, list[str]]:
    old = base.model_dump(mode="json")
    new = KpiDefinition.model_validate(old | change).model_dump(mode="json")
    found = comparability.derive(old, new)
    assert found, "the change changes nothing"
    return comparability.least(found), sorted(v.field for v in found)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # wording, translation, flags, publication precision: the series goes on
        ({"name_nl": "Bereikte deelnemers"}, MINOR),
        ({"name_en": "Participants reached (people)"}, MINOR),
        ({"definition_nl": "Een andere formulering van hetzelfde."}, MINOR),
        ({"definition_en": "Other words for the same thing."}, MINOR),
        ({"core": False}, MINOR),
        ({"work_fields": ["jongerenwerk"]}, MINOR),
        ({"period_types": ["month", "quarter", "year"]}, MINOR),  # months added
        ({"range": {"min": 0, "max": 1_000_000}}, MINOR),
        ({"count_max": 20_000_000}, MINOR),
        # how progress judges a figure, not what it counts
        ({"direction": "lower_is_better"}, MINOR),
        ({"direction": "none"}, MINOR),
        # what counts, and the maths: the series breaks
        ({"counts": "Only people aged 18 and over."}, MAJOR),
        ({"excludes": "Nothing is excluded."}, MAJOR),
        ({"unit": "households"}, MAJOR),
        ({"time_aggregation": "last"}, MAJOR),
        ({"instrument": "ZRM"}, MAJOR),
        ({"period_types": ["year"]}, MAJOR),  # narrowed
        ({"dimensions": []}, MAJOR),  # breakdowns (their code lists) removed
    ],
)
def test_comparability_derived_from_each_kind_of_field_change(change, expected):
    base = COUNT
    if change == {"period_types": ["month", "quarter", "year"]}:
        base = KpiDefinition.model_validate(
            COUNT.model_dump(mode="json") | {"period_types": ["quarter", "year"]}
        )
    least, fields = verdict(base, **change)
    assert least is expected, (change, fields)


def test_an_added_breakdown_is_minor_and_a_replaced_one_major():
    assert verdict(COUNT, dimensions=[*COUNT.dimensions, "contact_type"])[0] is MINOR
    replaced = [d for d in COUNT.dimensions if d != "age_band"] + ["contact_type"]
    assert verdict(COUNT, dimensions=replaced)[0] is MAJOR


def test_a_change_of_aggregation_or_value_type_is_never_minor():
    # An amount summed turned into a weighted mean: the sum KPI of the issue.
    assert verdict(AMOUNT, aggregation="weighted_mean")[0] is MAJOR
    as_percentage = {
        "value_type": "percentage",
        "aggregation": "ratio_of_sums",
        "numerator": "people who ...",
        "denominator": "people ...",
        "range": {"min": 0, "max": 100},
        "decimals": 1,
        "count_max": None,
    }
    least, fields = verdict(COUNT, **as_percentage)
    assert least is MAJOR and {"value_type", "aggregation", "numerator"} <= set(fields)
    # however small the rest of the change is
    least, _ = verdict(AMOUNT, aggregation="weighted_mean", name_en="Spending per participant")
    assert least is MAJOR


def test_every_definition_field_has_a_rule():
    known = set(comparability.BREAKING) | set(comparability.KEEPING)
    known |= {"period_types", "dimensions", "range", "count_max"}
    assert set(KpiDefinition.model_fields) == known


# --- publishing through the API ------------------------------------------------------------


def new_version(client, publisher, code, **patch):
    response = client.post(f"/v1/kpis/{code}/versions", json=patch, headers=publisher)
    assert response.status_code == 201, response.text
    return response.json()


NOTES = {"change_note_nl": "Wat telt is veranderd.", "change_note_en": "What counts changed."}


def major(code, effective_from, **extra):
    return {"kpi": code, "comparability": "major", "effective_from": effective_from} | NOTES | extra


def publish(client, publisher, release_id="2099.01", **body):
    body = {"id": release_id, "title_nl": "Test", "title_en": "Test"} | body
    return client.post("/v1/releases", json=body, headers=publisher)


def test_a_publication_calling_a_breaking_change_minor_is_refused(client, publisher):
    new_version(client, publisher, "ACT-01", counts="Only people aged 18 and over.")
    said = [{"kpi": "ACT-01", "comparability": "minor"}]
    refused = publish(client, publisher, comparability=said)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "comparability_understated"
    assert body["errors"][0]["pointer"] == "/comparability/0/comparability"
    assert "counts" in body["errors"][0]["message"]
    # Left out, it is not taken as minor either: a break must be stated, with its date.
    unstated = publish(client, publisher)
    assert unstated.status_code == 422 and unstated.json()["code"] == "comparability_required"
    no_date = publish(
        client, publisher, comparability=[{"kpi": "ACT-01", "comparability": "major"}]
    )
    assert no_date.json()["code"] == "effective_from_required"
    mid_year = publish(client, publisher, comparability=[major("ACT-01", "2027-07-01")])
    assert mid_year.json()["code"] == "effective_from_not_year_start"
    # A break reaches back at most a year: older measurements would silently stop counting.
    ancient = publish(client, publisher, comparability=[major("ACT-01", "1900-01-01")])
    assert ancient.json()["code"] == "effective_from_too_early"
    # ... and at most ten years ahead, so a later break stays possible.
    distant = publish(client, publisher, comparability=[major("ACT-01", "9999-01-01")])
    assert distant.json()["code"] == "effective_from_too_late"
    # A break is explained, in Dutch and English.
    unexplained = {"kpi": "ACT-01", "comparability": "major", "effective_from": "2027-01-01"}
    silent = publish(client, publisher, comparability=[unexplained | {"change_note_en": "x"}])
    assert silent.json()["code"] == "change_note_required"
    assert silent.json()["errors"][0]["pointer"] == "/comparability/0/change_note_nl"
    # Nothing was published: ACT-01 is as 2027.01 left it (version 2, its direction stated).
    assert client.get("/v1/kpis/ACT-01").json()["version"] == 2

    ok = publish(client, publisher, comparability=[major("ACT-01", "2027-01-01")])
    assert ok.status_code == 201, ok.text
    kpi = client.get("/v1/kpis/ACT-01").json()
    assert (kpi["version"], kpi["comparability"], kpi["effective_from"]) == (
        3,
        "major",
        "2027-01-01",
    )
    assert kpi["series_breaks"] == [
        {
            "effective_from": "2027-01-01",
            "from_version": 2,
            "to_version": 3,
            **NOTES,
        }
    ]
    assert [v["comparability"] for v in kpi["versions"]] == [None, "minor", "major"]

    # A next break comes after this one.
    new_version(client, publisher, "ACT-01", unit="households")
    early = publish(client, publisher, "2099.02", comparability=[major("ACT-01", "2027-01-01")])
    assert early.status_code == 422 and early.json()["code"] == "effective_from_not_after_break"


def test_a_minor_change_keeps_the_series_and_may_be_stated_major(client, publisher):
    new_version(client, publisher, "ACT-01", name_en="People reached")
    new_version(client, publisher, "ACT-04", name_en="Reworded")
    dated = publish(
        client,
        publisher,
        comparability=[{"kpi": "ACT-01", "comparability": "minor", "effective_from": "2027-01-01"}],
    )
    assert dated.status_code == 422 and dated.json()["code"] == "effective_from_for_minor"
    stray = publish(client, publisher, comparability=[{"kpi": "ACT-05", "comparability": "minor"}])
    assert (
        stray.status_code == 422 and stray.json()["errors"][0]["pointer"] == "/comparability/0/kpi"
    )
    ok = publish(
        client,
        publisher,
        comparability=[
            # The publisher knows the new words change practice.
            major("ACT-04", "2028-01-01", change_note_en="Reworded; recorded differently.")
        ],
    )
    assert ok.status_code == 201, ok.text
    one = client.get("/v1/kpis/ACT-01").json()
    assert (one["comparability"], one["effective_from"], one["series_breaks"]) == (
        "minor",
        None,
        [],
    )
    diff = client.get("/v1/releases/2099.01/diff").json()
    changes = {c["code"]: c for c in diff["changed"]}
    assert (changes["ACT-01"]["comparability"], changes["ACT-01"]["derived_comparability"]) == (
        "minor",
        "minor",
    )
    assert changes["ACT-04"]["comparability"] == "major"
    assert changes["ACT-04"]["derived_comparability"] == "minor"
    [brk] = changes["ACT-04"]["series_breaks"]
    assert (brk["effective_from"], brk["change_note_en"]) == (
        "2028-01-01",
        "Reworded; recorded differently.",
    )
    assert changes["ACT-01"]["series_breaks"] == []


def test_a_kpi_is_not_published_and_removed_at_once(client, publisher):
    new_version(client, publisher, "ACT-01", counts="Only people aged 18 and over.")
    both = publish(
        client, publisher, remove=["ACT-01"], comparability=[major("ACT-01", "2027-01-01")]
    )
    assert both.status_code == 422 and both.json()["code"] == "published_and_removed"
    assert both.json()["errors"][0]["pointer"] == "/remove/0"


def test_a_break_never_reaches_into_a_closed_period(client, publisher):
    """Measurements of a closed period (a lock, a final figure release) could never be sent
    again under the new definition: the break must come after it."""
    locked = client.post(
        "/v1/period-locks",
        json={"period": "2026-03", "reason": "reporting deadline"},
        headers=publisher,
    )
    assert locked.status_code == 201, locked.text
    new_version(client, publisher, "ACT-01", counts="Only people aged 18 and over.")
    refused = publish(client, publisher, comparability=[major("ACT-01", "2026-01-01")])
    assert (
        refused.status_code == 422 and refused.json()["code"] == "effective_from_in_closed_period"
    )
    assert "2026-03" in refused.json()["errors"][0]["message"]
    assert (
        publish(client, publisher, comparability=[major("ACT-01", "2027-01-01")]).status_code == 201
    )


def test_the_canonical_catalogue_ships_a_break_and_a_wording_fix(client):
    contacts = client.get("/v1/kpis/ACT-09").json()
    assert contacts["version"] == 2 and contacts["comparability"] == "major"
    assert contacts["effective_from"] == "2027-01-01"
    assert contacts["dimensions"][0] == "in_person_contact_type"
    [brk] = contacts["series_breaks"]
    assert (brk["from_version"], brk["to_version"]) == (1, 2)
    assert "Trendbreuk" in brk["change_note_nl"] and "Series break" in brk["change_note_en"]
    sessions = client.get("/v1/kpis/ACT-10").json()
    assert (sessions["version"], sessions["comparability"]) == (2, "minor")
    assert sessions["series_breaks"] == []
    diff = client.get("/v1/releases/2026.12/diff").json()
    assert diff["old"] == "2026.11"
    assert {c["code"]: c["comparability"] for c in diff["changed"]} == {
        "ACT-09": "major",
        "ACT-10": "minor",
    }
    fields = {c["field"]: c["comparability"] for c in diff["changed"][0]["changes"]}
    assert fields["counts"] == "major" and fields["name_en"] == "minor"


def test_the_canonical_catalogue_states_each_kpis_direction_as_a_minor_change(client):
    diff = client.get("/v1/releases/2027.01/diff").json()
    assert (diff["old"], diff["added"], diff["removed"], diff["unchanged"]) == (
        "2026.12",
        [],
        [],
        8,  # the KPIs without a direction keep their version
    )
    assert len(diff["changed"]) == 52
    for change in diff["changed"]:
        assert change["comparability"] == change["derived_comparability"] == "minor"
        assert change["series_breaks"] == []
        [field] = change["changes"]
        assert (field["field"], field["old"], field["comparability"]) == (
            "direction",
            "none",
            "minor",
        )
        assert field["new"] in ("higher_is_better", "lower_is_better")
        assert "not what counts" in field["why"]
    waiting = client.get("/v1/kpis/ACT-05").json()
    assert (waiting["direction"], waiting["version"], waiting["release"]) == (
        "lower_is_better",
        2,
        "2027.01",
    )
    assert waiting["comparability"] == "minor" and waiting["series_breaks"] == []
    assert "lower is better" in waiting["change_note_en"]
    # A published version keeps what it stated: version 1 had no direction.
    assert client.get("/v1/kpis/ACT-05/versions/1").json()["direction"] == "none"
    referrals = client.get("/v1/kpis/ACT-04").json()
    assert (referrals["direction"], referrals["version"]) == ("none", 1)
    listed = client.get("/v1/kpis", params={"limit": 100}).json()
    assert listed["release"] == "2027.01"
    assert {k["code"]: k["direction"] for k in listed["items"]}["IMP-ZEL-01"] == (
        "higher_is_better"
    )


def test_breaks_between_two_periods_for_agreements(db):
    """What an agreement's progress asks: do a baseline and a figure lie on different sides
    of a break? (The agreements issue shows the warning; this is the function it calls.)"""
    defs = service.definitions(db, "ACT-09")
    assert [d.versions for d in defs] == [(1,), (2,)]
    assert service.governing(defs, date(2026, 10, 1)).version == 1
    assert service.governing(defs, date(2027, 1, 1)).version == 2
    [brk] = service.breaks_between(defs, date(2026, 1, 1), date(2027, 4, 1))
    assert brk.effective_from == date(2027, 1, 1)
    assert service.breaks_between(defs, date(2027, 1, 1), date(2027, 10, 1)) == []
    assert service.breaks_between(defs, date(2025, 1, 1), date(2026, 10, 1)) == []
    assert (
        service.breaks_between(
            service.definitions(db, "ACT-10"), date(2020, 1, 1), date(2030, 1, 1)
        )
        == []
    )
