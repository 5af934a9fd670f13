"""JSON submission bodies are taken literally: what the text says is what is stored, or refused.

A member named twice, NUL or a lone surrogate in text refuse the whole body (400, naming the
JSON Pointer); a value of the wrong JSON type (``"value": "40"``) is a row error, never
converted. Runs on SQLite and PostgreSQL like every database test.
"""

from __future__ import annotations

import pytest

from tests.submissions.conftest import row, submit


def post_json(client, party, text: bytes | str, *, content_type="application/json", **kw):
    body = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return client.post(
        "/v1/submissions",
        content=body,
        params=kw.get("params") or {},
        headers=party.headers | {"Content-Type": content_type} | (kw.get("headers") or {}),
    )


def stored(client, party):
    return client.get("/v1/measurements", headers=party.headers, params={"limit": 500}).json()[
        "items"
    ]


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


ROW = '{"kpi": "ACT-01", "organisation": "ORG-A", "municipality": "GM0363", "period": "2025-03"'


# --- duplicate members ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        # Today's bug: the last one won and 4000 was stored.
        ('{"measurements": [' + ROW + ', "value": 40, "value": 4000}]}', "/measurements/0/value"),
        # A second "measurements" silently dropped the first array's rows.
        (
            '{"measurements": [' + ROW + ', "value": 40}], "measurements": []}',
            "/measurements",
        ),
        (
            '{"measurements": [' + ROW + ', "value": 40}, ' + ROW + ', "value": 1, '
            '"disaggregation": {"age_band": "12-17", "age_band": "18-26"}}]}',
            "/measurements/1/disaggregation/age_band",
        ),
        # Names are escaped in the pointer (RFC 6901: ~ as ~0, / as ~1).
        ('{"measurements": [{"a/b~c": 1, "a/b~c": 2}]}', "/measurements/0/a~1b~0c"),
    ],
)
def test_a_member_named_twice_refuses_the_body(client, world, text, pointer):
    body = problem(post_json(client, world.a, text), 400, "duplicate_member")
    assert pointer in body["detail"]
    assert [(e["location"], e["pointer"], e["code"]) for e in body["errors"]] == [
        ("body", pointer, "duplicate_member")
    ]
    assert stored(client, world.a) == []


def test_a_duplicate_member_is_explained_in_dutch(client, world):
    text = '{"measurements": [' + ROW + ', "value": 40, "value": 4000}]}'
    response = post_json(client, world.a, text, headers={"Accept-Language": "nl"})
    body = problem(response, 400, "duplicate_member")
    assert body["detail"] == (
        "Veld 'value' komt twee keer voor op /measurements/0/value; JSON wordt letterlijk "
        "genomen, dus stuur elk veld één keer."
    )


def test_the_same_batch_without_the_duplicate_stores_what_it_says(client, world):
    text = '{"measurements": [' + ROW + ', "value": 40}]}'
    assert post_json(client, world.a, text).status_code == 201
    assert [i["value"] for i in stored(client, world.a)] == [40]


# --- text that cannot be stored -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        (
            '{"measurements": [' + ROW + ', "value": 1, "note": "a\\ud800b"}]}',
            "/measurements/0/note",
        ),
        (
            '{"measurements": [' + ROW + ', "value": 1, "note": "a\\u0000b"}]}',
            "/measurements/0/note",
        ),
        ('{"measurements": [{"kpi": "ACT\\u0000"}]}', "/measurements/0/kpi"),
        ('{"measurements": [{"organisation": "ORG\\u0000A"}]}', "/measurements/0/organisation"),
        (
            '{"measurements": ['
            + ROW
            + ', "value": 1, "disaggregation": {"age_band": "\\udfff"}}]}',
            "/measurements/0/disaggregation/age_band",
        ),
        # A lone surrogate in a member name: the name itself cannot be written in the pointer.
        ('{"measurements": [{"\\ud800": 1}]}', "/measurements/0/?"),
    ],
)
def test_nul_and_lone_surrogates_refuse_the_body_naming_where(client, world, text, pointer):
    body = problem(post_json(client, world.a, text), 400, "invalid_text")
    assert [(e["pointer"], e["code"]) for e in body["errors"]] == [(pointer, "invalid_text")]
    assert pointer in body["detail"] and "NUL" in body["detail"]
    assert stored(client, world.a) == []


@pytest.mark.parametrize(
    "number",
    ["NaN", "Infinity", "39.99999999999999999999", "1e-400", "12345678.999999999999999999"],
)
def test_a_number_not_taken_as_sent_is_refused_naming_where(client, world, number):
    """NaN and Infinity are not JSON; a number no float holds as written would be stored as
    another value (40, 0, 12345679)."""
    text = f'{{"measurements": [{{"kpi": "ACT-02", "value": {number}}}]}}'
    body = problem(post_json(client, world.a, text), 400, "invalid_number")
    assert body["errors"][0]["pointer"] == "/measurements/0/value"
    assert stored(client, world.a) == []


# --- no coercion: each JSON type is its own ---------------------------------------------------


def pct(**kw):
    return row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=30, denominator=120) | kw


def score(**kw):
    return row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=3.4, n=25) | kw


@pytest.mark.parametrize(
    ("measurement", "field", "detail"),
    [
        (row(value="40"), "value", "expected a number, not text"),
        (row(value="40.0"), "value", "expected a number, not text"),
        (row(value=True), "value", "expected a number, not true or false"),
        (row(value=[40]), "value", "expected a number, not an array"),
        (row(value={"amount": 40}), "value", "expected a number, not an object"),
        (pct(numerator="30"), "numerator", "expected a number, not text"),
        (pct(denominator="120"), "denominator", "expected a number, not text"),
        (score(mean="3.4"), "mean", "expected a number, not text"),
        (score(n="25"), "n", "expected a number, not text"),
        (row(kpi_version="1"), "kpi_version", "expected a whole number, not text"),
        (row(kpi_version=1.0), "kpi_version", "expected a whole number, not a decimal number"),
        (row(kpi_version=True), "kpi_version", "expected a whole number, not true or false"),
        (row(withdraw="true", value=None), "withdraw", "expected true or false, not text"),
        (row(withdraw=1, value=None), "withdraw", "expected true or false, not a whole number"),
        (row(withdraw="false"), "withdraw", "expected true or false, not text"),
        (row(kpi=101), "kpi", "expected text, not a whole number"),
        (row(period=2025), "period", "expected text, not a whole number"),
        (row(note=5), "note", "expected text, not a whole number"),
        (row(record_id=7), "record_id", "expected text, not a whole number"),
        (row(disaggregation={"age_band": 12}), "disaggregation", "expected text, not a whole"),
        (row(disaggregation="age_band=12-17"), "disaggregation", "expected an object, not text"),
        (row(value=10**400), "value", "is too large to be a number"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_a_row_error(client, world, measurement, field, detail):
    response = submit(client, world.a, [measurement])
    assert response.status_code == 422, response.text
    errors = response.json()["submission"]["errors"]
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [(1, field, "field_invalid")]
    assert detail in errors[0]["message"]
    assert stored(client, world.a) == []


def test_the_type_message_speaks_dutch(client, world):
    response = submit(client, world.a, [row(value="40")], headers={"Accept-Language": "nl"})
    (error,) = response.json()["submission"]["errors"]
    assert error["message"] == (
        "value is ongeldig: verwacht een getal, niet tekst (JSON wordt letterlijk genomen)."
    )


def test_only_the_mistyped_rows_are_refused_in_partial_mode(client, world):
    batch = [
        row(value=40, record_id="a"),
        row(value="41", municipality="GM0014", record_id="b"),
        row(value=42.0, municipality="GM0457", period="2021-03", record_id="c"),
    ]
    response = submit(client, world.a, batch, params={"mode": "partial"})
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "value")]
    assert sorted(i["value"] for i in stored(client, world.a)) == [40, 42]


def test_json_values_of_the_right_type_are_taken(client, world):
    batch = [
        row(value=40, kpi_version=1),
        pct(numerator=30, denominator=120.0),
        score(mean=3, n=25),
    ]
    response = submit(client, world.a, batch)
    assert response.status_code == 201, response.text
    withdrawal = submit(client, world.a, [row(value=None, withdraw=True)])
    assert withdrawal.status_code == 201 and withdrawal.json()["withdrawn"] == 1


# --- encoding -----------------------------------------------------------------------------------


def test_json_is_utf8_and_says_where_it_is_not(client, world):
    text = ('{"measurements": [' + ROW + ', "value": 1, "note": "caf').encode() + b'\xe9"}]}'
    body = problem(post_json(client, world.a, text), 400, "invalid_encoding")
    offset = text.index(b"\xe9")
    (error,) = body["errors"]
    assert f"byte {offset} (0xE9, line 1)" in error["message"]
    assert "RFC 8259" in error["message"]


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_json_declared_as_utf8_is_read(client, world, charset):
    text = '{"measurements": [' + ROW + ', "value": 1, "note": "café"}]}'
    response = post_json(client, world.a, text, content_type=f"application/json; charset={charset}")
    assert response.status_code == 201, response.text
    assert stored(client, world.a)[0]["note"] == "café"


@pytest.mark.parametrize("charset", ["windows-1252", "iso-8859-1", "koi8-r", "nonsense", ""])
def test_json_declared_in_another_charset_is_415(client, world, charset):
    text = '{"measurements": [' + ROW + ', "value": 1}]}'
    response = post_json(client, world.a, text, content_type=f"application/json; charset={charset}")
    body = problem(response, 415, "unsupported_charset")
    assert "JSON is UTF-8" in body["detail"]
