"""Aggregates as CSV in the Dutch Excel dialect (`format=csv-nl`), beside the plain CSV.

`csv-nl` is `;`-separated with a decimal comma, CRLF and a UTF-8 BOM, so it opens in columns in
Excel on a Dutch machine; counts stay integers. `format=csv` is unchanged. Runs on SQLite and
PostgreSQL like every database test.
"""

from __future__ import annotations

import csv
import io

import pytest

from kpi_api.aggregates.routes import CSV_COLUMNS
from tests.submissions.conftest import row, submit


@pytest.fixture
def figures(app, client, world):
    """ORG-A and ORG-B in Amsterdam, 2025-Q1: a count, a percentage and an amount; no
    suppression thresholds, so every value shows."""
    app.state.settings = app.state.settings.model_copy(
        update={
            "aggregate_min_organisations": 1,
            "aggregate_min_people": 0,
            "aggregate_dominance": 1.0,
        }
    )
    q1 = {"period": "2025-Q1", "value": None}
    for party, count, (num, den), amount in (
        (world.a, 60, (12, 40), 1250.5),
        (world.b, 40, (13, 41), 10.25),
    ):
        org = party.organisation
        rows = [
            row(organisation=org, **q1 | {"value": count}),
            row(organisation=org, kpi="IMP-FIN-01", numerator=num, denominator=den, **q1),
            row(organisation=org, kpi="ACT-02", **q1 | {"value": amount}),
        ]
        response = submit(client, party, rows)
        assert response.status_code == 201, response.text
    return world.publisher


def fetch(client, headers, kpi: str, fmt: str, **params):
    response = client.get(
        f"/v1/aggregates/{kpi}",
        params={"period": "2025-Q1", "format": fmt} | params,
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response


def lines(text: str, delimiter: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


@pytest.mark.parametrize(
    ("kpi", "value", "numbers"),
    [
        ("ACT-01", "100", {"value": "100"}),  # a count: an integer, no ",0"
        ("IMP-FIN-01", "30,9", {"numerator": "25", "denominator": "81"}),  # 25/81, 1 decimal
        ("ACT-02", "1260,75", {}),  # euros to the cent, no thousands separator
    ],
)
def test_dutch_csv_has_semicolons_decimal_commas_and_a_bom(client, figures, kpi, value, numbers):
    response = fetch(client, figures, kpi, "csv-nl")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")  # so Excel reads UTF-8
    text = raw.decode("utf-8")[1:]
    assert text.split("\r\n")[0] == ";".join(CSV_COLUMNS)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    (national,) = lines(text, ";")
    assert (national["kpi"], national["area"], national["value"]) == (kpi, "NL01", value)
    for name, expected in numbers.items():
        assert national[name] == expected
    assert national["coverage"].startswith("0,") and "." not in national["coverage"]


def test_dutch_csv_holds_the_same_cells_as_the_plain_csv(client, figures):
    for kpi in ("ACT-01", "IMP-FIN-01", "ACT-02"):
        for level in ("national", "province", "municipality"):
            plain = fetch(client, figures, kpi, "csv", level=level).text
            dutch = fetch(client, figures, kpi, "csv-nl", level=level).content.decode("utf-8-sig")
            ours, theirs = lines(dutch, ";"), lines(plain, ",")
            assert len(ours) == len(theirs) > 0
            for nl, en in zip(ours, theirs, strict=True):
                for name in CSV_COLUMNS:
                    if name in ("value", "coverage"):
                        assert nl[name] == en[name].replace(".", ","), name
                    else:
                        assert nl[name] == en[name], name


def test_the_plain_csv_is_unchanged(client, figures):
    text = fetch(client, figures, "IMP-FIN-01", "csv").text
    assert not text.startswith("\ufeff")
    assert text.split("\n")[0] == ",".join(CSV_COLUMNS)
    (national,) = lines(text, ",")
    assert national["value"] == "30.9" and national["coverage"].startswith("0.")
    by_accept = client.get(
        "/v1/aggregates/IMP-FIN-01",
        params={"period": "2025-Q1"},
        headers=figures | {"Accept": "text/csv"},
    )
    assert by_accept.text == text


def test_an_unknown_format_is_422(client, figures):
    response = client.get(
        "/v1/aggregates/ACT-01", params={"period": "2025-Q1", "format": "xlsx"}, headers=figures
    )
    assert response.status_code == 422
