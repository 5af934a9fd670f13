"""The boundary: text, times, cursors, HEAD, compressed bodies and JSON read literally."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json

import pytest

from kpi_api.web.boundary import Boundary
from kpi_api.web.pagination import encode_cursor


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


# --- text that cannot be stored -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "location", "pointer"),
    [
        ("/v1/kpis?q=a%00b", "query", "/q"),
        ("/v1/kpis?q=ACT-%ED%A0%80", "query", ""),  # a lone surrogate's would-be UTF-8
        ("/v1/kpis?q=%FF", "query", ""),
        ("/v1/kpis/ACT-%00", "path", ""),
        ("/v1/kpis/ACT-%ED%A0%80", "path", ""),
        ("/v1/measurements?cursor=%00", "query", "/cursor"),
    ],
)
def test_unreadable_text_in_the_url_is_400_before_any_query(client, url, location, pointer):
    body = problem(client.get(url), 400, "invalid_text")
    assert body["errors"][0]["location"] == location
    assert body["errors"][0]["pointer"] == pointer


def test_unreadable_text_in_a_json_body_is_400_naming_the_member(client, publisher):
    sent = json.dumps({"name": "Vendor \ud800"}).encode()  # "\ud800" escaped, as JSON allows
    body = problem(
        client.post(
            "/v1/vendors", content=sent, headers=publisher | {"Content-Type": "application/json"}
        ),
        400,
        "invalid_text",
    )
    assert body["errors"][0]["pointer"] == "/name"


# --- JSON taken literally ---------------------------------------------------------------------


def test_duplicate_members_are_refused_naming_their_pointer(client, publisher):
    sent = b'{"id": "2099.01", "title_nl": "a", "title_en": "b", "title_en": "c"}'
    body = problem(
        client.post(
            "/v1/releases", content=sent, headers=publisher | {"Content-Type": "application/json"}
        ),
        400,
        "duplicate_member",
    )
    assert body["errors"][0] == {
        "location": "body",
        "pointer": "/title_en",
        "code": "duplicate_member",
        "message": "member 'title_en' appears twice; JSON is taken literally, so send it once",
    }


def test_nan_in_a_json_body_is_refused(client, publisher):
    sent = b'{"period": "2024", "note": NaN}'
    problem(
        client.post(
            "/v1/figure-releases",
            content=sent,
            headers=publisher | {"Content-Type": "application/json"},
        ),
        400,
        "invalid_number",
    )


# --- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of", ["2026-01-01T00:00:00", "2026-01-01", "2026-01-01T01:00:00+01:00", "2026-01-01T00:00Z"]
)
def test_a_moment_without_a_zone_or_a_date_is_read_as_utc(client, publisher, as_of):
    response = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2024", "as_of": as_of}, headers=publisher
    )
    assert response.status_code == 200, response.text
    assert response.json()["as_of"] in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize(
    "as_of", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "2026-13-01", "soon"]
)
def test_a_moment_out_of_range_is_422_naming_as_of(client, publisher, as_of):
    body = problem(
        client.get(
            "/v1/aggregates/ACT-01", params={"period": "2024", "as_of": as_of}, headers=publisher
        ),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["pointer"] == "/as_of"


# --- cursors ------------------------------------------------------------------------------------


def _unsigned(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(["measurements", value]).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _unsigned(2**63),  # unsigned: never given out
        _unsigned(5),
        _unsigned(5) + ".AAAAAAAAAAAAAAAAAAAAAA",  # a forged signature
        encode_cursor("measurements", 2**63),  # signed, but out of its domain
        encode_cursor("measurements", "5"),  # of another type
        encode_cursor("organisations", 5),  # of another list
        "x" * 400,
        "..",
    ],
)
def test_a_cursor_not_given_out_is_400_invalid_cursor(client, world, cursor):
    problem(
        client.get("/v1/measurements", params={"cursor": cursor}, headers=world.a.headers),
        400,
        "invalid_cursor",
    )


def test_cursors_given_out_work(client):
    first = client.get("/v1/kpis", params={"limit": 5}).json()
    second = client.get("/v1/kpis", params={"limit": 5, "cursor": first["next"]})
    assert second.status_code == 200
    assert second.json()["items"][0]["code"] > first["items"][-1]["code"]
    assert "." in first["next"]  # payload.signature


# --- HTTP as clients expect it ------------------------------------------------------------------


def test_head_works_wherever_get_does(client, analyst):
    for url, headers in (("/v1/kpis", {}), ("/health", {}), ("/v1/kpis/ACT-01", {})):
        got, head = client.get(url, headers=headers), client.head(url, headers=headers)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers.get("etag") == got.headers.get("etag")
    assert client.head("/v1/kpis/NOPE-99").status_code == 404
    assert client.head("/v1/submissions").status_code == 405  # POST only


def test_a_gzip_body_is_taken(client, world):
    rows = {"measurements": [{"kpi": "ACT-01", "organisation": "ORG-A", "municipality": "GM0363",
                              "period": "2025-03", "value": 40}]}  # fmt: skip
    response = client.post(
        "/v1/submissions",
        content=gzip.compress(json.dumps(rows).encode()),
        headers=world.a.headers | {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 1


def test_a_gzip_bomb_is_413_and_other_codings_415(client, world, app):
    limit = app.state.settings.max_body_bytes
    bomb = gzip.compress(b"kpi,organisation\n" + b"0" * (limit + 1))
    assert len(bomb) < limit // 100
    headers = world.a.headers | {"Content-Type": "text/csv", "Content-Encoding": "gzip"}
    problem(client.post("/v1/submissions", content=bomb, headers=headers), 413, "body_too_large")
    broken = client.post("/v1/submissions", content=b"not gzip at all", headers=headers)
    problem(broken, 400, "invalid_content_encoding")
    other = headers | {"Content-Encoding": "br"}
    problem(
        client.post("/v1/submissions", content=b"x", headers=other),
        415,
        "unsupported_content_encoding",
    )


def test_every_member_of_a_gzip_body_is_read_and_trailing_garbage_refused(client, world):
    header = b"kpi,organisation,municipality,period,value\n"
    rows = [f"ACT-01,ORG-A,GM0363,2025-0{m},{40 + m}\n".encode() for m in (1, 2, 3)]
    body = gzip.compress(header + rows[0]) + gzip.compress(rows[1] + rows[2])
    headers = world.a.headers | {"Content-Type": "text/csv", "Content-Encoding": "gzip"}
    response = client.post("/v1/submissions", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert (response.json()["rows"], response.json()["accepted"]) == (3, 3)
    garbage = gzip.compress(header + rows[0]) + b"garbage"
    problem(
        client.post("/v1/submissions", content=garbage, headers=headers),
        400,
        "invalid_content_encoding",
    )
    truncated = gzip.compress(header + rows[0])[:-6]
    problem(
        client.post("/v1/submissions", content=truncated, headers=headers),
        400,
        "invalid_content_encoding",
    )


@pytest.mark.parametrize(
    "header", [b"idempotency-key", b"accept-language", b"if-none-match", b"x-request-id"]
)
def test_a_header_the_service_reads_must_be_utf8(header):
    """Sent as raw bytes to the middleware (the test client re-encodes header values)."""
    answers = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the request reached the app")

    async def send(message):
        answers.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/kpis",
        "raw_path": b"/v1/kpis",
        "query_string": b"",
        "headers": [(header, b"\xff\xfeK1"), (b"user-agent", b"\xff ok: not read")],
    }
    asyncio.run(Boundary(app, max_bytes=1000)(scope, receive, send))
    assert answers[0]["status"] == 400
    body = json.loads(answers[1]["body"])
    assert body["code"] == "invalid_text"
    assert body["errors"][0]["pointer"] == f"/{header.decode()}"


@pytest.mark.parametrize("as_of", ["20260101", "0", "-1", "1.5", "1700000000000"])
def test_a_number_is_no_moment(client, publisher, as_of):
    """Pydantic reads numbers as Unix timestamps: 20260101 would be 23 August 1970."""
    body = problem(
        client.get(
            "/v1/aggregates/ACT-01", params={"period": "2024", "as_of": as_of}, headers=publisher
        ),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["pointer"] == "/as_of"
    problem(client.get("/v1/municipalities", params={"valid_on": as_of}), 422, "validation_failed")


def test_a_query_is_taken_literally(client, publisher):
    typo = client.get("/v1/aggregates/ACT-01", params={"period": "2024", "levl": "province"},
                      headers=publisher)  # fmt: skip
    body = problem(typo, 422, "unknown_parameter")
    assert body["errors"][0]["pointer"] == "/levl" and "level" in body["errors"][0]["message"]
    twice = client.get("/v1/aggregates/ACT-01?period=2025-Q1&period=2024-Q1", headers=publisher)
    assert problem(twice, 422, "repeated_parameter")["errors"][0]["pointer"] == "/period"
    assert client.get("/v1/kpis", params={"limit": 5}).status_code == 200
