"""The public read API of the catalogue."""

from __future__ import annotations

from kpi_api.catalogue.loader import read_files

FILES = read_files()


def test_kpis_lists_current_release_with_pagination(client):
    seen, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/kpis", params=params)
        assert page.status_code == 200
        body = page.json()
        assert body["release"] == FILES.release.id
        assert len(body["items"]) <= 7
        seen += [k["code"] for k in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(k.code for k in FILES.kpis)


def test_kpi_filters(client):
    impact = client.get("/v1/kpis", params={"layer": "impact", "limit": 500}).json()["items"]
    assert impact and all(k["layer"] == "impact" for k in impact)
    assert len(impact) == sum(1 for k in FILES.kpis if k.layer.value == "impact")

    fin = client.get("/v1/kpis", params={"life_domain": "FIN", "limit": 500}).json()["items"]
    assert {k["code"] for k in fin} == {k.code for k in FILES.kpis if k.life_domain == "FIN"}

    core = client.get("/v1/kpis", params={"core": "true", "limit": 500}).json()["items"]
    assert {k["code"] for k in core} == {k.code for k in FILES.kpis if k.core}

    field = FILES.work_fields[0].code
    by_field = client.get("/v1/kpis", params={"work_field": field, "limit": 500}).json()["items"]
    assert {k["code"] for k in by_field} == {k.code for k in FILES.kpis if field in k.work_fields}


def test_free_text_search_over_dutch_and_english_names(client):
    sample = FILES.kpis[0]
    word_nl = max(sample.name_nl.split(), key=len)
    hits = client.get("/v1/kpis", params={"q": word_nl.upper(), "limit": 500}).json()["items"]
    assert sample.code in {k["code"] for k in hits}
    assert all(word_nl.lower() in (k["name_nl"] + k["name_en"] + k["code"]).lower() for k in hits)
    word_en = max(sample.name_en.split(), key=len)
    hits = client.get("/v1/kpis", params={"q": word_en, "limit": 500}).json()["items"]
    assert sample.code in {k["code"] for k in hits}
    assert client.get("/v1/kpis", params={"q": "%_%zzz"}).json()["items"] == []


def test_one_kpi_states_its_full_definition(client):
    expected = FILES.kpis[0]
    response = client.get(f"/v1/kpis/{expected.code}")
    assert response.status_code == 200
    body = response.json()
    # Published in 2026.11, given its direction in 2027.01 (a minor version).
    assert body["version"] == 2 and body["status"] == "published"
    assert body["release"] == FILES.release.id == "2027.01"
    fields = ("name_nl", "name_en", "value_type", "aggregation", "time_aggregation", "unit")
    for field in (*fields, "direction"):
        assert body[field] == expected.model_dump(mode="json")[field]
    assert body["direction"] == "higher_is_better"
    first = client.get(f"/v1/kpis/{expected.code}/versions/1").json()
    assert body["versions"] == [
        {
            "version": 1,
            "status": "published",
            "release": FILES.releases[0].id,
            "published_at": first["published_at"],
            "comparability": None,
            "effective_from": None,
        },
        {
            "version": 2,
            "status": "published",
            "release": "2027.01",
            "published_at": body["published_at"],
            "comparability": "minor",
            "effective_from": None,
        },
    ]
    assert body["comparability"] == "minor" and body["series_breaks"] == []
    assert first["direction"] == "none"  # a published version keeps what it stated
    again = client.get(f"/v1/kpis/{expected.code}/versions/1")
    assert again.status_code == 200 and again.json()["code"] == expected.code


def test_unknown_kpi_and_version_are_404_problems(client):
    response = client.get("/v1/kpis/NOPE-99")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "kpi_not_found"
    code = FILES.kpis[0].code
    response = client.get(f"/v1/kpis/{code}/versions/99")
    assert response.status_code == 404 and response.json()["code"] == "kpi_version_not_found"


def test_reference_lists(client):
    domains = client.get("/v1/life-domains").json()["items"]
    assert [d["code"] for d in domains] == ["FIN", "SOC", "PAR", "GEZ", "WON", "ZEL", "OPV"]
    assert all(d["kpi_count"] >= 3 for d in domains)

    fields = client.get("/v1/work-fields").json()["items"]
    assert [f["code"] for f in fields] == [w.code for w in FILES.work_fields]

    sets = client.get("/v1/kpi-sets").json()["items"]
    assert len(sets) == len(FILES.kpi_sets)
    one = sets[0]
    only = client.get("/v1/kpi-sets", params={"work_field": one["work_field"]}).json()["items"]
    assert one in only and all(s["work_field"] == one["work_field"] for s in only)

    lists = client.get("/v1/code-lists").json()["items"]
    age = next(c for c in lists if c["code"] == "age_band")
    assert age["items"] and age["pattern"] is None
    assert client.get("/v1/code-lists/age_band").json() == age
    assert client.get("/v1/code-lists/nope").status_code == 404


def test_releases(client):
    releases = client.get("/v1/releases").json()
    assert [r["id"] for r in releases["items"]] == [r.id for r in reversed(FILES.releases)]
    assert releases["items"][0]["current"] is True
    assert releases["items"][0]["kpi_count"] == len(FILES.kpis)
    assert releases["items"][1]["current"] is False
    current = client.get("/v1/releases/current").json()
    assert current["id"] == FILES.release.id
    assert len(current["kpis"]) == len(FILES.kpis)
    assert client.get(f"/v1/releases/{FILES.release.id}").json() == current
    missing = client.get("/v1/releases/1999.01")
    assert missing.status_code == 404 and missing.json()["code"] == "release_not_found"


def test_etag_and_if_none_match(client):
    for path in (
        "/v1/kpis",
        f"/v1/kpis/{FILES.kpis[0].code}",
        "/v1/releases",
        "/v1/life-domains",
        "/v1/work-fields",
        "/v1/kpi-sets",
        "/v1/code-lists",
        "/v1/releases/current",
    ):
        first = client.get(path)
        etag = first.headers["ETag"]
        assert etag.startswith('"')
        cached = client.get(path, headers={"If-None-Match": etag})
        assert cached.status_code == 304, path
        assert cached.content == b"" and cached.headers["ETag"] == etag
        weak = client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
        assert weak.status_code == 304
        stale = client.get(path, headers={"If-None-Match": '"stale"'})
        assert stale.status_code == 200 and stale.json() == first.json()


def test_etag_changes_when_the_catalogue_changes(client, publisher):
    before = client.get("/v1/kpis").headers["ETag"]
    code = FILES.kpis[0].code
    assert (
        client.post(
            f"/v1/kpis/{code}/versions", json={"name_en": "Renamed"}, headers=publisher
        ).status_code
        == 201
    )
    release = {"id": "2099.01", "title_nl": "t", "title_en": "t"}
    assert client.post("/v1/releases", json=release, headers=publisher).status_code == 201
    response = client.get("/v1/kpis", headers={"If-None-Match": before})
    assert response.status_code == 200 and response.headers["ETag"] != before


def test_bad_query_parameters_are_problems_naming_the_field(client):
    response = client.get("/v1/kpis", params={"limit": 0, "layer": "nope"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    pointers = {(e["location"], e["pointer"]) for e in body["errors"]}
    assert ("query", "/limit") in pointers and ("query", "/layer") in pointers
    response = client.get("/v1/kpis", params={"cursor": "not-a-cursor!"})
    assert response.status_code in (400, 422) and response.json()["code"] == "invalid_cursor"
