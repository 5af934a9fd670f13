"""Who may do what with agreements, tried as an attacker would: every agreement endpoint with
another party's key answers exactly like an agreement that does not exist, and changes
nothing; municipality and organisation keys stay inside their own scope elsewhere too."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from tests.agreements.conftest import active, body, create, created, reach
from tests.submissions.conftest import row, submit
from tests.test_access_control import snapshot

NOTE = {"kpi": "ACT-01", "period": "2025-Q1", "text": "Toelichting"}


def endpoints(agreement_id: str) -> list[tuple[str, str, Any]]:
    """Every agreement operation on one agreement, with a plausible body."""
    url = f"/v1/agreements/{agreement_id}"
    return [
        ("GET", url, None),
        ("PUT", url, body(title="Overgenomen")),
        ("POST", f"{url}/status", {"status": "ended"}),
        ("GET", f"{url}/versions", None),
        ("GET", f"{url}/versions/1", None),
        ("GET", f"{url}/progress", None),
        ("GET", f"{url}/completeness", None),
        ("GET", f"{url}/explanations", None),
        ("POST", f"{url}/explanations", NOTE),
        ("GET", f"{url}/report", None),
    ]


def call(client, method: str, url: str, payload: Any, headers: dict[str, str]):
    return client.request(method, url, json=payload, headers=headers)


def normalised(response, identifier: str) -> tuple[int, str, Any]:
    text = re.sub(re.escape(identifier), "<id>", response.text)
    return response.status_code, response.headers["content-type"], json.loads(text)


def test_another_partys_agreement_answers_like_one_that_does_not_exist(client, db, keys):
    agreement = active(client, keys.vendor_a)  # ORG-A with Amsterdam
    reach(client, keys.world, {"2025-Q1": 42}, note="geheim-A")
    assert (
        client.post(
            f"/v1/agreements/{agreement['id']}/explanations", json=NOTE, headers=keys.org_a
        ).status_code
        == 201
    )
    ghost = str(uuid.uuid4())
    before = snapshot(db)
    outsiders = {
        "municipality elsewhere": keys.elsewhere,
        "another organisation": keys.org_b,
        "another vendor": keys.vendor_b,
    }
    for who, headers in outsiders.items():
        for (method, url, payload), (_, ghost_url, _) in zip(
            endpoints(agreement["id"]), endpoints(ghost), strict=True
        ):
            theirs = call(client, method, url, payload, headers)
            missing = call(client, method, ghost_url, payload, headers)
            assert theirs.status_code in (403, 404), (who, method, url, theirs.text)
            assert normalised(theirs, agreement["id"]) == normalised(missing, ghost), (who, url)
            assert "geheim" not in theirs.text and "Toelichting" not in theirs.text
            if theirs.status_code == 403:  # a municipality key never writes an agreement
                assert theirs.json()["code"] == "role_not_allowed", (who, url)
    assert snapshot(db) == before
    for who, headers in outsiders.items():
        listed = client.get("/v1/agreements", headers=headers).json()["items"]
        assert agreement["id"] not in {a["id"] for a in listed}, who
        due = client.get("/v1/agreements/completeness", headers=headers).json()["items"]
        assert all(i["agreement"] != agreement["id"] for i in due), who


def test_analysts_reach_no_agreement_endpoint(client, db, keys):
    agreement = active(client, keys.vendor_a)
    before = snapshot(db)
    for method, url, payload in [
        *endpoints(agreement["id"]),
        ("GET", "/v1/agreements", None),
        ("POST", "/v1/agreements", body()),
        ("GET", "/v1/agreements/completeness", None),
    ]:
        response = call(client, method, url, payload, keys.analyst)
        assert response.status_code == 403, (method, url)
        assert response.json()["code"] == "role_not_allowed"
        anonymous = call(client, method, url, payload, {})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "missing_api_key"
    assert snapshot(db) == before


def test_the_municipality_party_reads_and_explains_but_does_not_draft_or_sign(client, keys):
    draft = created(client, keys.org_a)
    url = f"/v1/agreements/{draft['id']}"
    assert client.get(url, headers=keys.amsterdam).status_code == 200
    # Until the organisation side signs off, its figures are not shared.
    for path in ("/progress", "/report", "/completeness"):
        response = client.get(url + path, headers=keys.amsterdam)
        assert response.status_code == 409 and response.json()["code"] == "agreement_draft"
    for method, path, payload in (
        ("POST", "/v1/agreements", body()),
        ("PUT", url, body()),
        ("POST", f"{url}/status", {"status": "active"}),
    ):
        response = call(client, method, path, payload, keys.amsterdam)
        assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"
    signed = client.post(f"{url}/status", json={"status": "active"}, headers=keys.org_a)
    assert signed.status_code == 200
    assert client.get(f"{url}/progress", headers=keys.amsterdam).status_code == 200
    explained = client.post(f"{url}/explanations", json=NOTE, headers=keys.amsterdam)
    assert explained.status_code == 201


def test_an_organisation_key_manages_only_agreements_of_its_own(client, keys):
    # It cannot name another organisation, alone or beside itself.
    for organisations in (["ORG-B"], ["ORG-A", "ORG-B"], ["ORG-NOPE"]):
        response = create(client, keys.org_a, organisations=organisations)
        assert response.status_code == 403, organisations
        assert response.json()["code"] == "organisation_not_authorised"
    # An agreement with two organisations, made by the publisher: ORG-A reads it (it is a
    # party) but may not change it alone.
    shared = created(client, keys.publisher, organisations=["ORG-A", "ORG-B"])
    assert client.get(f"/v1/agreements/{shared['id']}", headers=keys.org_a).status_code == 200
    for method, path, payload in (
        ("PUT", f"/v1/agreements/{shared['id']}", body()),
        ("POST", f"/v1/agreements/{shared['id']}/status", {"status": "active"}),
    ):
        response = call(client, method, path, payload, keys.org_a)
        assert response.status_code == 403 and response.json()["code"] == "agreement_not_writable"
    # Nor may a vendor that acts for one of them only.
    response = client.put(f"/v1/agreements/{shared['id']}", json=body(), headers=keys.vendor_b)
    assert response.status_code == 403 and response.json()["code"] == "agreement_not_writable"
    assert create(client, keys.vendor_a, organisations=["ORG-B"]).status_code == 403


def test_an_organisation_key_submits_and_reads_its_own_measurements_only(client, keys):
    own = client.post(
        "/v1/submissions",
        json={"measurements": [row(record_id="self", note="eigen invoer")]},
        headers=keys.org_a,
    )
    assert own.status_code == 201, own.text
    stored = client.get(f"/v1/submissions/{own.json()['id']}", headers=keys.org_a)
    assert stored.status_code == 200
    theirs = client.post(
        "/v1/submissions",
        json={"measurements": [row(organisation="ORG-B", value=1)]},
        headers=keys.org_a,
    )
    assert theirs.status_code == 403 and theirs.json()["code"] == "organisation_not_authorised"
    assert submit(client, keys.world.b, [row(organisation="ORG-B", value=3)]).status_code == 201
    listed = client.get("/v1/measurements", headers=keys.org_a).json()["items"]
    assert {i["organisation"] for i in listed} == {"ORG-A"}
    history = client.get(f"/v1/measurements/{listed[0]['id']}/history", headers=keys.org_a)
    assert history.json()["versions"][0]["vendor"] == "ORG-A (own registration)"
    others = client.get("/v1/measurements", headers=keys.org_b).json()["items"]
    assert {i["organisation"] for i in others} == {"ORG-B"}
    # The registry shows it its own organisation only; aggregates are for figure readers.
    assert [
        o["code"] for o in client.get("/v1/organisations", headers=keys.org_a).json()["items"]
    ] == ["ORG-A"]
    assert client.get("/v1/organisations/ORG-B", headers=keys.org_a).status_code == 404
    aggregate = client.get("/v1/aggregates/ACT-01", params={"period": "2025"}, headers=keys.org_a)
    assert aggregate.status_code == 403
    # Its own registration submits for it alone, whatever the publisher tries.
    registration = client.get("/v1/vendors", headers=keys.publisher).json()["items"]
    own_vendor = next(v for v in registration if v["name"] == "ORG-A (own registration)")
    grant = client.put(
        f"/v1/vendors/{own_vendor['id']}/organisations/ORG-B", headers=keys.publisher
    )
    assert grant.status_code == 409 and grant.json()["code"] == "vendor_in_house"


def test_a_municipality_key_reads_released_figures_of_its_own_area_only(client, app, keys):
    app.state.settings = app.state.settings.model_copy(
        update={
            "aggregate_min_organisations": 1,
            "aggregate_min_people": 0,
            "aggregate_dominance": 1.0,
        }
    )
    reach(client, keys.world, {"2025-Q1": 40})
    released = client.post(
        "/v1/figure-releases", json={"period": "2025", "kpis": ["ACT-01"]}, headers=keys.publisher
    )
    assert released.status_code == 201, released.text
    params = {"period": "2025-Q1", "level": "municipality", "area": "GM0363"}
    own = client.get("/v1/aggregates/ACT-01", params=params, headers=keys.amsterdam)
    assert own.status_code == 200, own.text
    assert own.json()["figures"] == "released" and own.json()["cells"][0]["value"] == 40
    for other in (
        {**params, "area": "GM0014"},
        {"period": "2025-Q1"},
        {"period": "2025-Q1", "level": "province"},
        {"period": "2025-Q1", "level": "municipality"},
    ):
        response = client.get("/v1/aggregates/ACT-01", params=other, headers=keys.amsterdam)
        assert response.status_code == 403, other
        assert response.json()["code"] == "area_not_authorised"
    # It submits nothing and reads no submissions.
    assert client.get("/v1/measurements", headers=keys.amsterdam).status_code == 403
    batch = {"measurements": [row()]}
    assert client.post("/v1/submissions", json=batch, headers=keys.amsterdam).status_code == 403


def test_keys_of_the_new_roles_are_checked(client, keys):
    for payload, pointer in (
        ({"name": "x", "role": "organisation"}, "/organisation"),
        ({"name": "x", "role": "municipality"}, "/municipalities"),
        ({"name": "x", "role": "analyst", "organisation": "ORG-A"}, "/organisation"),
        ({"name": "x", "role": "analyst", "municipalities": ["GM0363"]}, "/municipalities"),
        ({"name": "x", "role": "municipality", "municipalities": ["GM9999"]}, "/municipalities/0"),
    ):
        response = client.post("/v1/api-keys", json=payload, headers=keys.publisher)
        assert response.status_code == 422, payload
        assert response.json()["errors"][0]["pointer"] == pointer
    missing = client.post(
        "/v1/api-keys",
        json={"name": "x", "role": "organisation", "organisation": "ORG-NOPE"},
        headers=keys.publisher,
    )
    assert missing.status_code == 404
    listed = client.get("/v1/api-keys", params={"role": "municipality"}, headers=keys.publisher)
    assert {tuple(k["municipalities"]) for k in listed.json()["items"]} == {
        ("GM0363",),
        ("GM0014",),
    }
    orgs = client.get("/v1/api-keys", params={"role": "organisation"}, headers=keys.publisher)
    assert {k["organisation"] for k in orgs.json()["items"]} == {"ORG-A", "ORG-B"}


def test_the_parties_figures_reach_no_one_else(client, keys):
    """An attacker's routes to an organisation's unsuppressed figures, each closed: drafting
    an agreement about it (the publisher), reading a draft's baseline or history (the
    municipality), or reading a draft of several organisations as one of them."""
    reach(client, keys.world, {"2024-Q4": 100, "2025-Q1": 104})
    from_data = {"period": "2024-Q4", "from_data": True}
    kpis = [{**body()["kpis"][0], "baseline": from_data}]
    # The publisher may draft for anyone but sees no figure, and cannot share them by signing.
    draft = created(client, keys.publisher, kpis=kpis)
    assert draft["kpis"][0]["baseline"] == {"period": "2024-Q4", "value": None, "source": "data"}
    url = f"/v1/agreements/{draft['id']}"
    for path in ("progress", "report"):
        refused = client.get(f"{url}/{path}", headers=keys.publisher)
        assert refused.status_code == 403 and refused.json()["code"] == "figures_parties_only"
    signing = client.post(f"{url}/status", json={"status": "active"}, headers=keys.publisher)
    assert signing.status_code == 403 and signing.json()["code"] == "sign_off_by_organisation"
    # The municipality reads the draft's text, never its figure, in no version.
    assert client.get(url, headers=keys.amsterdam).json()["kpis"][0]["baseline"]["value"] is None
    history = client.get(f"{url}/versions", headers=keys.amsterdam).json()["items"]
    assert [v["kpis"][0]["baseline"]["value"] for v in history] == [None]
    # The organisation sees its own figure, and signing off shares it with the municipality.
    assert client.get(url, headers=keys.org_a).json()["kpis"][0]["baseline"]["value"] == 100
    assert client.get(f"{url}/progress", headers=keys.org_a).status_code == 200
    assert client.post(f"{url}/status", json={"status": "active"}, headers=keys.org_a).is_success
    signed = client.get(url, headers=keys.amsterdam).json()
    assert signed["kpis"][0]["baseline"]["value"] == 100
    assert (
        client.get(f"/v1/agreements/{draft['id']}/versions/1", headers=keys.amsterdam).json()[
            "kpis"
        ][0]["baseline"]["value"]
        is None
    )  # the draft version stays the organisation's
    assert client.get(f"{url}/progress", headers=keys.publisher).status_code == 403
    # A draft of two organisations: neither alone (nor a vendor of one) sees their sum.
    shared = created(client, keys.publisher, organisations=["ORG-A", "ORG-B"], kpis=kpis)
    for headers in (keys.org_a, keys.vendor_a, keys.org_b):
        response = client.get(f"/v1/agreements/{shared['id']}/progress", headers=headers)
        assert response.status_code == 409 and response.json()["code"] == "agreement_draft"
        baseline = client.get(f"/v1/agreements/{shared['id']}", headers=headers).json()
        assert baseline["kpis"][0]["baseline"]["value"] is None


def test_a_municipality_cannot_subtract_its_agreements_from_a_figure(client, keys, db):
    """The attack: a municipality knows, from its signed-off agreements, the figures of two of
    the three organisations in its area; the area's figure minus those two would be the third's.
    Signing off makes the municipality one more intruder that disclosure control protects
    against (like a vendor that knows its own organisations), so the figure is suppressed."""
    from tests.submissions.conftest import _party

    third = _party(db, "Vendor C", "ORG-C", ["GM0363"])
    db.commit()
    for party, value in ((keys.world.a, 40), (keys.world.b, 45), (third, 50)):
        rows = [
            row(
                period="2025-Q1",
                value=value,
                organisation=party.organisation,
                record_id=f"c-{party.organisation}",
            )
        ]
        assert submit(client, party, rows).status_code == 201

    def cell() -> dict[str, Any]:
        answer = client.get(
            "/v1/aggregates/ACT-01",
            params={"level": "municipality", "area": "GM0363", "from": "2025-Q1", "to": "2025-Q1"},
            headers=keys.publisher | {"Cache-Control": "no-cache"},
        )
        assert answer.status_code == 200, answer.text
        return next(c for c in answer.json()["cells"] if not c.get("dimension"))

    assert cell()["value"] == 135  # three organisations, none known to anyone but itself
    for org, headers in (("ORG-A", keys.org_a), ("ORG-B", keys.org_b)):
        active(client, headers, organisations=[org])
    hidden = cell()
    assert hidden["value"] is None and hidden["suppressed"], hidden
