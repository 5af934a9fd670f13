"""Agreements over HTTP, on SQLite and PostgreSQL: from a standard set, validation, versions and
immutability, progress against targets (a correction changes the status), KPIs without a
direction, interpretation threads and completeness."""

from __future__ import annotations

import uuid

from tests.agreements.conftest import activate, active, body, create, created, reach
from tests.submissions.conftest import row, submit


def pointers(response) -> dict[str, str]:
    return {e["pointer"]: e["code"] for e in response.json().get("errors", [])}


# --- the agreement ----------------------------------------------------------------------------


def test_an_agreement_from_the_work_fields_standard_set(client, keys):
    sets = client.get("/v1/kpi-sets", params={"work_field": "ouderenwerk"}).json()["items"]
    standard = next(s for s in sets if s["work_field"] == "ouderenwerk")
    response = create(client, keys.vendor_a, kpi_set=standard["code"], kpis=[body()["kpis"][0]])
    assert response.status_code == 201, response.text
    agreement = response.json()
    assert response.headers["Location"] == f"/v1/agreements/{agreement['id']}"
    assert response.headers["ETag"] == '"1"'
    assert (agreement["version"], agreement["status"]) == (1, "draft")
    assert agreement["kpi_set"] == standard["code"]
    codes = [k["kpi"] for k in agreement["kpis"]]
    assert sorted(codes) == sorted(standard["kpis"])  # every KPI of the set, ACT-01 once
    first = agreement["kpis"][0]
    assert first["kpi"] == "ACT-01" and first["goal_nl"] == "Meer ouderen bereiken"
    assert first["direction"] == "higher_is_better" and first["name_en"]
    added = next(k for k in agreement["kpis"] if k["kpi"] == "IMP-SOC-01")
    assert added["goal_nl"] is None and added["baseline"] is None and added["target"] is None
    assert added["rhythm"] == "year"  # measured per year only
    assert next(k for k in agreement["kpis"] if k["kpi"] == "ACT-03")["rhythm"] == "quarter"
    # Incomplete KPIs of the set keep it from being signed off, naming each gap.
    refused = activate(client, keys.vendor_a, agreement["id"])
    assert refused.status_code == 422 and refused.json()["code"] == "agreement_incomplete"
    i = codes.index("IMP-SOC-01")
    assert pointers(refused)[f"/kpis/{i}/goal_nl"] == "field_required"
    assert pointers(refused)[f"/kpis/{i}/target"] == "field_required"  # lower is better


def test_every_field_is_checked_naming_the_field_and_its_rule(client, keys):
    kpis = [
        {"kpi": "NOPE-99"},
        {"kpi": "IMP-SOC-01", "rhythm": "quarter"},
        {"kpi": "ACT-01", "breakdown": {"dimension": "age_band", "code": "200+"}},
        {"kpi": "ACT-01", "breakdown": {"dimension": "colour", "code": "red"}},
        {
            "kpi": "IMP-FIN-01",
            "rhythm": "quarter",
            "baseline": {"period": "2024", "value": 150},
            "target": {"period": "2027-Q4", "value": 50},
        },
        {"kpi": "ACT-03", "kpi_version": 999},
    ]
    response = create(
        client,
        keys.publisher,
        kpis=kpis,
        municipalities=["GM0363", "GM0599", "GM9999"],
        work_field="astrology",
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "agreement_invalid"
    assert pointers(response) == {
        "/work_field": "work_field_unknown",
        "/municipalities/1": "municipality_not_served",
        "/municipalities/2": "municipality_unknown",
        "/kpis/0/kpi": "kpi_unknown",
        "/kpis/1/rhythm": "rhythm_not_available",
        "/kpis/2/breakdown/code": "breakdown_code_unknown",
        "/kpis/3/breakdown/dimension": "breakdown_not_allowed",
        "/kpis/4/baseline/period": "period_type_mismatch",
        "/kpis/4/baseline/value": "value_out_of_range",
        "/kpis/4/target/period": "target_outside_term",
        "/kpis/5/kpi_version": "kpi_version_unknown",
    }
    # Dutch on request.
    dutch = create(client, {**keys.publisher, "Accept-Language": "nl"}, work_field="astrology")
    assert dutch.json()["detail"] == "De afspraak is niet geldig; zie errors."
    # Shape rules come from the schema, with their pointer too.
    bad = create(
        client,
        keys.publisher,
        term={"start": "2026-01-01", "end": "2025-01-01"},
        kpis=[{"kpi": "ACT-01", "baseline": {"period": "2024-Q4", "value": 1, "from_data": True}}],
    )
    assert bad.status_code == 422
    assert {"/term/end", "/kpis/0/baseline/value"} <= set(pointers(bad))
    assert create(client, keys.publisher, organisations=["ORG-A", "ORG-A"]).status_code == 422


def test_versions_history_and_immutability(client, keys):
    agreement = created(client, keys.org_a)
    url = f"/v1/agreements/{agreement['id']}"
    changed = client.put(
        url,
        json=body(title="Ouderenwerk Amsterdam 2025 (herzien)", change_note="titel"),
        headers=keys.org_a | {"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.headers["ETag"] == '"2"'
    stale = client.put(url, json=body(), headers=keys.org_a | {"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["code"] == "version_mismatch"
    signed = client.post(
        f"{url}/status", json={"status": "active", "note": "getekend"}, headers=keys.org_a
    )
    assert signed.status_code == 200, signed.text
    assert (signed.json()["version"], signed.json()["status"]) == (3, "active")
    assert signed.json()["version_created_by"]["role"] == "organisation"
    # Who signed says whom it spoke for: the organisation's code (the publisher speaks for none).
    assert signed.json()["version_created_by"]["party"] == ["ORG-A"]
    # A signed-off version never changes: no edit, no going back.
    refused = client.put(url, json=body(), headers=keys.org_a)
    assert refused.status_code == 409 and refused.json()["code"] == "agreement_active"
    again = client.post(f"{url}/status", json={"status": "active"}, headers=keys.org_a)
    assert again.status_code == 409 and again.json()["code"] == "status_transition_invalid"
    draft = client.post(f"{url}/status", json={"status": "draft"}, headers=keys.org_a)
    assert draft.status_code == 422
    ended = client.post(f"{url}/status", json={"status": "ended"}, headers=keys.publisher)
    assert ended.status_code == 200 and ended.json()["version"] == 4
    assert ended.json()["version_created_by"]["party"] == []
    assert client.put(url, json=body(), headers=keys.org_a).json()["code"] == "agreement_ended"
    history = client.get(f"{url}/versions", headers=keys.amsterdam).json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [
        (1, "draft"),
        (2, "draft"),
        (3, "active"),
        (4, "ended"),
    ]
    assert history[0]["title"] == "Ouderenwerk Amsterdam 2025"
    assert history[1]["change_note"] == "titel" and history[2]["change_note"] == "getekend"
    one = client.get(f"{url}/versions/1", headers=keys.org_a).json()
    assert one == history[0]
    current = client.get(url, headers=keys.org_a)
    assert current.json() == history[3] and current.headers["ETag"] == '"4"'
    missing = client.get(f"{url}/versions/9", headers=keys.org_a)
    assert missing.status_code == 404 and missing.json()["code"] == "agreement_version_not_found"


def test_a_baseline_taken_from_the_data_is_fixed_at_sign_off(client, keys):
    reach(client, keys.world, {"2024-Q4": 100})
    baseline = {"period": "2024-Q4", "from_data": True}
    kpis = [{**body()["kpis"][0], "baseline": baseline}]
    agreement = created(client, keys.vendor_a, kpis=kpis)
    assert agreement["kpis"][0]["baseline"] == {"period": "2024-Q4", "value": 100, "source": "data"}
    reach(client, keys.world, {"2024-Q4": 90})  # corrected before sign-off: taken again
    signed = activate(client, keys.vendor_a, agreement["id"]).json()
    assert signed["kpis"][0]["baseline"]["value"] == 90
    reach(client, keys.world, {"2024-Q4": 95})  # after sign-off: the agreement keeps 90
    progress = client.get(f"/v1/agreements/{agreement['id']}/progress", headers=keys.amsterdam)
    kpi = progress.json()["kpis"][0]
    assert kpi["baseline"]["value"] == 90 and kpi["baseline_figure"]["value"] == 95
    no_data = create(
        client,
        keys.vendor_a,
        kpis=[{**kpis[0], "baseline": {"period": "2024-Q3", "from_data": True}}],
    )
    assert no_data.status_code == 422
    assert pointers(no_data) == {"/kpis/0/baseline/from_data": "baseline_no_data"}


def test_listing_and_filters(client, keys):
    mine = created(client, keys.vendor_a)
    other = created(client, keys.vendor_b, organisations=["ORG-B"])
    everything = client.get("/v1/agreements", headers=keys.publisher).json()["items"]
    assert {a["id"] for a in everything} >= {mine["id"], other["id"]}
    for headers, expected in ((keys.vendor_a, {mine["id"]}), (keys.org_b, {other["id"]})):
        listed = client.get("/v1/agreements", headers=headers).json()["items"]
        assert {a["id"] for a in listed} == expected
    both = client.get("/v1/agreements", headers=keys.amsterdam).json()["items"]
    assert {a["id"] for a in both} == {mine["id"], other["id"]}
    assert client.get("/v1/agreements", headers=keys.elsewhere).json()["items"] == []
    by_org = client.get(
        "/v1/agreements", params={"organisation": "ORG-B"}, headers=keys.publisher
    ).json()["items"]
    assert [a["id"] for a in by_org] == [other["id"]]
    drafts = client.get(
        "/v1/agreements", params={"status": "active"}, headers=keys.publisher
    ).json()["items"]
    assert drafts == []
    first = client.get("/v1/agreements", params={"limit": 1}, headers=keys.publisher).json()
    assert len(first["items"]) == 1 and first["next"]
    rest = client.get(
        "/v1/agreements", params={"limit": 1, "cursor": first["next"]}, headers=keys.publisher
    ).json()
    assert rest["items"][0]["id"] != first["items"][0]["id"]


# --- progress -----------------------------------------------------------------------------------


def test_progress_against_the_target_and_a_correction_changes_the_status(client, keys):
    agreement = active(client, keys.vendor_a)
    url = f"/v1/agreements/{agreement['id']}/progress"
    # 100 (2024-Q4) to 121 (2025-Q4) needs 21 % a year; 110 half a year on is exactly that.
    reach(client, keys.world, {"2024-Q4": 100, "2025-Q1": 104, "2025-Q2": 110}, note="zomer")
    first = client.get(url, headers=keys.amsterdam)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["figures"] == "live" and answer["disclaimer"]["nl"] and answer["disclaimer"]["en"]
    assert "indicatief" in answer["disclaimer"]["nl"] and "indicative" in answer["disclaimer"]["en"]
    assert "Statistics Canada" in answer["method"]["name"]
    kpi = answer["kpis"][0]
    assert kpi["kpi"] == "ACT-01" and kpi["direction"] == "higher_is_better"
    by_period = {f["period"]: f for f in kpi["figures"]}
    assert list(by_period) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    q2 = by_period["2025-Q2"]
    assert q2["value"] == 110 and q2["change"] == "up" and q2["change_favourable"] is True
    assert q2["assessment"]["status"] == "on_track"
    assert q2["assessment"]["ratio"] == 1.0 or abs(q2["assessment"]["ratio"] - 1) < 1e-9
    assert q2["coverage"] == {
        "organisations": 1,
        "organisations_total": 1,
        "municipalities": 1,
        "municipalities_total": 1,
        "missing_organisations": [],
        "missing_municipalities": [],
    }
    assert [n["text"] for n in q2["notes"]] == ["zomer"]
    assert by_period["2025-Q3"]["value"] is None
    assert by_period["2025-Q3"]["assessment"]["reason"] == "no_figure"
    assert by_period["2025-Q3"]["coverage"]["missing_organisations"] == ["ORG-A"]
    assert (kpi["latest"]["status"], kpi["latest_period"]) == ("on_track", "2025-Q2")
    assert kpi["baseline_figure"]["value"] == 100

    # A correction of the data changes the figure and the status.
    reach(client, keys.world, {"2025-Q2": 104})
    kpi = client.get(url, headers=keys.org_a).json()["kpis"][0]
    q2 = next(f for f in kpi["figures"] if f["period"] == "2025-Q2")
    assert q2["value"] == 104 and q2["assessment"]["status"] == "limited_progress"
    assert kpi["latest"]["status"] == "limited_progress"
    reach(client, keys.world, {"2025-Q2": 95})
    kpi = client.get(url, headers=keys.amsterdam).json()["kpis"][0]
    assert kpi["latest"]["status"] == "moving_away"
    reach(client, keys.world, {"2025-Q3": 125})
    kpi = client.get(url, headers=keys.vendor_a).json()["kpis"][0]
    assert (kpi["latest"]["status"], kpi["latest_period"]) == ("target_reached", "2025-Q3")


def test_the_figures_are_the_parties_own_only_and_unsuppressed(client, keys):
    """One organisation in one municipality: a public figure would be suppressed; the parties
    see it. ORG-B's data in the same municipality are not in ORG-A's agreement."""
    agreement = active(client, keys.vendor_a)
    reach(client, keys.world, {"2025-Q1": 7})
    other = submit(client, keys.world.b, [row(organisation="ORG-B", period="2025-Q1", value=500)])
    assert other.status_code == 201
    kpi = client.get(f"/v1/agreements/{agreement['id']}/progress", headers=keys.amsterdam).json()[
        "kpis"
    ][0]
    assert kpi["figures"][0]["value"] == 7  # not 507, and not hidden


def test_a_kpi_without_direction_has_figures_but_no_status(client, keys):
    agreement = active(client, keys.vendor_a)  # ACT-03 has no target: it has no direction
    signals = [row(kpi="ACT-03", period="2025-Q1", value=14, record_id="s")]
    assert submit(client, keys.world.a, signals).status_code == 201
    answer = client.get(f"/v1/agreements/{agreement['id']}/progress", headers=keys.org_a).json()
    kpi = next(k for k in answer["kpis"] if k["kpi"] == "ACT-03")
    assert kpi["direction"] == "none" and kpi["target"] is None
    q1 = kpi["figures"][0]
    assert q1["value"] == 14 and q1["change"] == "up" and q1["change_favourable"] is None
    assert q1["assessment"] == {
        "status": None,
        "reason": "no_direction",
        "method": None,
        "observed_growth": None,
        "required_growth": None,
        "ratio": None,
    }
    assert kpi["latest"]["reason"] == "no_direction"


def test_an_agreement_is_judged_by_the_direction_of_the_version_it_agreed(client, keys):
    """The catalogue states a direction per KPI version (ACT-03, signals: none); a later version
    may state another, which agreements made from then on take, and earlier ones do not."""
    turned = client.post(
        "/v1/kpis/ACT-03/versions", json={"direction": "higher_is_better"}, headers=keys.publisher
    )
    assert turned.status_code == 201, turned.text
    release = {"id": "2099.01", "title_nl": "Richting", "title_en": "Direction"}
    published = client.post("/v1/releases", json=release, headers=keys.publisher)
    assert published.status_code == 201, published.text
    latest = created(client, keys.vendor_a)  # ACT-03 without a version: the current release's
    signals = next(k for k in latest["kpis"] if k["kpi"] == "ACT-03")
    assert (signals["kpi_version"], signals["direction"]) == (2, "higher_is_better")
    refused = activate(client, keys.vendor_a, latest["id"])  # a direction needs a target
    assert refused.status_code == 422 and pointers(refused) == {"/kpis/1/target": "field_required"}
    kpis = body()["kpis"]
    kpis[1] |= {"kpi_version": 1}
    pinned = created(client, keys.vendor_a, kpis=kpis)
    signals = next(k for k in pinned["kpis"] if k["kpi"] == "ACT-03")
    assert (signals["kpi_version"], signals["direction"]) == (1, "none")
    assert activate(client, keys.vendor_a, pinned["id"]).status_code == 200


def test_a_breakdown_is_its_own_figure(client, keys):
    kpi = {
        **body()["kpis"][0],
        "breakdown": {"dimension": "age_band", "code": "65-74"},
        "baseline": {"period": "2024-Q4", "value": 20},
        "target": {"period": "2025-Q4", "value": 30},
    }
    agreement = active(client, keys.vendor_a, kpis=[kpi])
    rows = [
        row(period="2025-Q1", value=100, record_id="t"),
        row(period="2025-Q1", value=25, disaggregation={"age_band": "65-74"}, record_id="b"),
    ]
    assert submit(client, keys.world.a, rows).status_code == 201
    got = client.get(f"/v1/agreements/{agreement['id']}/progress", headers=keys.org_a).json()
    figure = got["kpis"][0]["figures"][0]
    assert got["kpis"][0]["breakdown"] == {"dimension": "age_band", "code": "65-74"}
    assert figure["value"] == 25


# --- interpretation -------------------------------------------------------------------------------


def test_interpretation_threads(client, keys):
    draft = created(client, keys.vendor_a)
    note = {"kpi": "ACT-01", "period": "2025-Q1", "text": "Minder bereik door verbouwing."}
    refused = client.post(
        f"/v1/agreements/{draft['id']}/explanations", json=note, headers=keys.amsterdam
    )
    assert refused.status_code == 409 and refused.json()["code"] == "agreement_draft"
    agreement = active(client, keys.vendor_a)
    url = f"/v1/agreements/{agreement['id']}/explanations"
    first = client.post(url, json=note, headers=keys.org_a)
    assert first.status_code == 201, first.text
    assert first.json()["author"] == {
        "name": "ORG-A itself",
        "role": "organisation",
        "party": ["ORG-A"],
    }
    reply = client.post(
        url, json={**note, "text": "Herkenbaar; de wijk is in beweging."}, headers=keys.amsterdam
    )
    assert reply.status_code == 201
    assert reply.json()["author"]["party"] == ["GM0363"]
    by_vendor = client.post(url, json={**note, "period": "2025-Q2"}, headers=keys.vendor_a)
    assert by_vendor.status_code == 201 and by_vendor.json()["author"]["party"] == ["ORG-A"]
    thread = client.get(url, params={"period": "2025-Q1"}, headers=keys.amsterdam).json()["items"]
    assert [e["text"] for e in thread] == [note["text"], "Herkenbaar; de wijk is in beweging."]
    assert thread[0]["created_at"] <= thread[1]["created_at"]
    # Beside the figure in progress, in its period.
    kpi = client.get(f"/v1/agreements/{agreement['id']}/progress", headers=keys.org_a).json()
    q1 = kpi["kpis"][0]["figures"][0]
    assert [e["text"] for e in q1["explanations"]] == [e["text"] for e in thread]
    # The thread's rules.
    for bad, pointer, code in (
        ({**note, "kpi": "ACT-02"}, "/kpi", "kpi_not_agreed"),
        ({**note, "period": "2026-Q1"}, "/period", "period_not_monitored"),
        ({**note, "period": "2025"}, "/period", "period_not_monitored"),
    ):
        response = client.post(url, json=bad, headers=keys.org_a)
        assert response.status_code == 422 and pointers(response) == {pointer: code}
    too_long = client.post(url, json={**note, "text": "x" * 4001}, headers=keys.org_a)
    assert too_long.status_code == 422 and "/text" in pointers(too_long)
    for headers in (keys.publisher, keys.analyst):
        response = client.post(url, json=note, headers=headers)
        assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"
    baseline_note = client.post(url, json={**note, "period": "2024-Q4"}, headers=keys.org_a)
    assert baseline_note.status_code == 201


# --- completeness ---------------------------------------------------------------------------------


def test_completeness_per_agreement_organisation_and_vendor(client, keys):
    agreement = active(client, keys.vendor_a, municipalities=["GM0363", "GM0014"])
    reach(client, keys.world, {"2025-Q1": 50, "2025-Q2": 60})
    reach(client, keys.world, {"2025-Q1": 5}, municipality="GM0014")
    url = f"/v1/agreements/{agreement['id']}/completeness"
    answer = client.get(url, headers=keys.vendor_a).json()
    due = {(i["kpi"], i["period"]): i["missing"] for i in answer["items"]}
    # ORG-A submits through Vendor A, and (with its own key) through its own registration.
    vendors = ["ORG-A (own registration)", "Vendor A"]
    assert due[("ACT-01", "2025-Q2")] == [
        {"organisation": "ORG-A", "municipalities": ["GM0014"], "vendors": vendors}
    ]
    assert due[("ACT-01", "2025-Q3")][0]["municipalities"] == ["GM0014", "GM0363"]
    assert ("ACT-01", "2025-Q1") not in due
    assert {p for k, p in due if k == "ACT-03"} == {"2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"}
    # Across agreements: a vendor sees its organisations' gaps, another vendor none of them.
    mine = client.get("/v1/agreements/completeness", headers=keys.vendor_a).json()["items"]
    assert {i["agreement"] for i in mine} == {agreement["id"]}
    assert client.get("/v1/agreements/completeness", headers=keys.vendor_b).json()["items"] == []
    assert client.get("/v1/agreements/completeness", headers=keys.org_b).json()["items"] == []
    by_org = client.get(
        "/v1/agreements/completeness", params={"organisation": "ORG-A"}, headers=keys.publisher
    ).json()["items"]
    assert len(by_org) == len(mine)
    # Drafts are not due.
    draft = created(client, keys.vendor_a)
    assert (
        client.get(f"/v1/agreements/{draft['id']}/completeness", headers=keys.vendor_a).json()[
            "items"
        ]
        == []
    )
    ghost = client.get(f"/v1/agreements/{uuid.uuid4()}/completeness", headers=keys.vendor_a)
    assert ghost.status_code == 404
