"""CSV dialects and encodings: Dutch Excel files just work, and nothing is guessed at.

A ``;``-separated file (Excel on a Dutch machine) writes numbers the Dutch way (``1.234,5``), a
``,``-separated file with a decimal point and no grouping (``1234.5``); a first line ``sep=;``
or ``sep=,`` names the separator. A cell that is no number in its file's notation is a row
error naming the dialect. A declared charset is honoured; an undeclared body that is not UTF-8
is 400 naming the byte. Runs on SQLite and PostgreSQL like every database test.
"""

from __future__ import annotations

import pytest

from tests.submissions.conftest import row, submit


def post_csv(client, party, body: bytes | str, *, content_type="text/csv", **kw):
    return client.post(
        "/v1/submissions",
        content=body.encode() if isinstance(body, str) else body,
        params=kw.get("params") or {},
        headers=party.headers | {"Content-Type": content_type} | (kw.get("headers") or {}),
    )


def stored(client, party) -> dict[tuple[str, str, str], dict]:
    items = client.get("/v1/measurements", headers=party.headers, params={"limit": 500}).json()[
        "items"
    ]
    return {(i["kpi"], i["municipality"], i["period"]): i for i in items}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


def row_errors(response) -> list[tuple[int, str, str]]:
    assert response.status_code == 422, response.text
    return [(e["row"], e["field"], e["code"]) for e in response.json()["submission"]["errors"]]


# --- a Dutch Excel file, as saved ---------------------------------------------------------------

#: Excel on Dutch Windows, "CSV (gescheiden door lijstscheidingsteken)": semicolons, decimal
#: commas, thousands points, windows-1252, capitalised headers, empty columns at the end, CRLF.
DUTCH_EXCEL = (
    "KPI;Organisation;Municipality;Period;Value;Mean;N;Note;;\r\n"
    "ACT-02;ORG-A;GM0363;2025-Q1;1.234,50;;;Café € 1.234,50;;\r\n"
    "IMP-ZEL-02;ORG-A;GM0363;2025-Q1;;3,4;25;;;\r\n"
    "ACT-01;ORG-A;GM0363;2025-03;1.200;;;;;\r\n"
    ";;;;;;;;;\r\n"
).encode("cp1252")


def test_a_dutch_excel_file_just_works(client, world):
    response = post_csv(client, world.a, DUTCH_EXCEL, content_type="text/csv; charset=windows-1252")
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 3
    items = stored(client, world.a)
    amount = items[("ACT-02", "GM0363", "2025-Q1")]
    assert (amount["value"], amount["note"]) == (1234.5, "Café € 1.234,50")
    score = items[("IMP-ZEL-02", "GM0363", "2025-Q1")]
    assert (score["value"], score["n"]) == (3.4, 25)
    assert items[("ACT-01", "GM0363", "2025-03")]["value"] == 1200


def test_the_raw_body_of_a_windows_1252_file_is_kept_and_not_labelled_utf8(client, world):
    response = post_csv(client, world.a, DUTCH_EXCEL, content_type="text/csv; charset=windows-1252")
    raw = client.get(f"/v1/submissions/{response.json()['id']}/raw", headers=world.a.headers)
    assert raw.status_code == 200 and raw.content == DUTCH_EXCEL
    assert raw.headers["content-type"] == "text/csv"


def test_the_same_rows_in_either_dialect_and_as_json_give_one_report(client, world):
    batch = [
        row(kpi="ACT-02", period="2025-Q1", value=1234.5),
        row(kpi="IMP-ZEL-02", period="2025-Q1", value=None, mean=3.4, n=25),
        row(value=1200, record_id=None),
        row(value=1.5, municipality="GM0014", record_id=None),  # not whole: value_not_integer
    ]
    dutch = (
        "sep=;\n"
        "kpi;organisation;municipality;period;value;mean;n;record_id\n"
        "ACT-02;ORG-A;GM0363;2025-Q1;1.234,5;;;r-1\n"
        "IMP-ZEL-02;ORG-A;GM0363;2025-Q1;;3,4;25;r-1\n"
        "ACT-01;ORG-A;GM0363;2025-03;1.200;;;\n"
        "ACT-01;ORG-A;GM0014;2025-03;1,5;;;\n"
    )
    comma = (
        "kpi,organisation,municipality,period,value,mean,n,record_id\n"
        "ACT-02,ORG-A,GM0363,2025-Q1,1234.5,,,r-1\n"
        "IMP-ZEL-02,ORG-A,GM0363,2025-Q1,,3.4,25,r-1\n"
        "ACT-01,ORG-A,GM0363,2025-03,1200,,,\n"
        "ACT-01,ORG-A,GM0014,2025-03,1.5,,,\n"
    )
    dry = {"dry_run": "true"}
    reports = [
        submit(client, world.a, batch, params=dry).json()["submission"],
        post_csv(client, world.a, dutch, params=dry).json()["submission"],
        post_csv(client, world.a, comma, params=dry).json()["submission"],
    ]
    for report in reports:
        report.pop("received_at")
    assert reports[0] == reports[1] == reports[2]
    assert [(e["row"], e["code"]) for e in reports[0]["errors"]] == [(4, "value_not_integer")]


# --- how numbers read -------------------------------------------------------------------------

HEAD = {
    ";": "kpi;organisation;municipality;period;value\n",
    ",": "kpi,organisation,municipality,period,value\n",
}


def one(sep: str, kpi: str, period: str, cell: str) -> str:
    return HEAD[sep] + sep.join([kpi, "ORG-A", "GM0363", period, cell]) + "\n"


@pytest.mark.parametrize(
    ("sep", "kpi", "cell", "value"),
    [
        (";", "ACT-02", "1,5", 1.5),
        (";", "ACT-01", "1.000", 1000),  # a point between thousands
        (";", "ACT-02", "1.234,5", 1234.5),
        (";", "ACT-01", "1.234.567", 1234567),
        (";", "ACT-01", "1234567", 1234567),
        (";", "ACT-02", "0,25", 0.25),
        (";", "ACT-01", "1,2E+3", 1200),  # Excel's scientific format
        (";", "ACT-01", " 12 ", 12),  # spaces around a cell are trimmed
        (",", "ACT-01", "1.000", 1),  # the point is always the decimal point
        (",", "ACT-02", "1234.5", 1234.5),
        (",", "ACT-02", "0.25", 0.25),
        (",", "ACT-01", "1e3", 1000),
        (",", "ACT-01", "0", 0),
        (",", "ACT-02", "1.00", 1),
        (",", "ACT-01", "5e0", 5),
    ],
)
def test_numbers_read_in_their_files_dialect(client, world, sep, kpi, cell, value):
    period = "2025-Q1" if kpi == "ACT-02" else "2025-03"
    response = post_csv(client, world.a, one(sep, kpi, period, cell))
    assert response.status_code == 201, response.text
    assert stored(client, world.a)[(kpi, "GM0363", period)]["value"] == value


DUTCH = "a ;-separated file, which writes numbers the Dutch way"
POINT = "a ,-separated file, which writes numbers with a decimal point"
#: No number in either dialect (the README's table).
NEITHER = ["1.5.0", "1_000", "+5", "007", ".5", "5 000", "5\u00a0", "12abc", "- 5"]


@pytest.mark.parametrize(
    ("sep", "cell", "says"),
    [
        # A decimal point in a Dutch file: it would be misread, so it is refused, with the fix.
        (";", "1.5", [DUTCH, "write 1,5"]),
        (";", "12.34", [DUTCH, "write 12,34"]),
        (";", "1.00", [DUTCH]),  # not a group of three
        (";", "1.5.0", [DUTCH]),
        (";", "1,5,0", [DUTCH]),
        (";", "1.2.3,4", [DUTCH]),
        (";", "1_000", [DUTCH]),
        (";", "+5", [DUTCH]),
        (";", "5\u00a0000", [DUTCH]),  # a non-breaking space between thousands
        (";", "5 000", [DUTCH]),
        (";", "12abc", [DUTCH]),
        (";", "€ 5", [DUTCH]),
        (";", "1,5%", [DUTCH]),
        (";", "007", [DUTCH]),
        # A comma in a comma file can only come quoted; it would be misread, so it is refused.
        (",", '"1,000"', [POINT, "separate the file with ;"]),
        (",", '"1,5"', [POINT, "separate the file with ;"]),
        (",", '"1.234,5"', [POINT, "separate the file with ;"]),
        (",", "1.5.0", [POINT]),
        (",", "1_000", [POINT]),
        (",", "+5", [POINT]),
        (",", "5\u00a0", [POINT]),  # trailing junk, even invisible
        (",", ".5", [POINT]),
        (",", "5.", [POINT]),
        (",", "inf", [POINT]),
        (",", "NaN", [POINT]),
        (",", "0x10", [POINT]),
        (",", "1e400", ["too large to be a number"]),
        (";", "1" + "0" * 400, ["too large to be a number"]),
        *((";", cell, [DUTCH]) for cell in NEITHER),
        *((",", cell, [POINT]) for cell in NEITHER),
    ],
)
def test_a_cell_that_could_be_misread_is_refused_naming_the_dialect(client, world, sep, cell, says):
    response = post_csv(client, world.a, one(sep, "ACT-02", "2025-Q1", cell))
    assert row_errors(response) == [(1, "value", "field_invalid")]
    message = response.json()["submission"]["errors"][0]["message"]
    for words in says:
        assert words in message, message
    assert stored(client, world.a) == {}


def test_an_unquoted_decimal_comma_in_a_comma_file_is_one_cell_too_many(client, world):
    body = "kpi,organisation,municipality,period,value\nACT-01,ORG-A,GM0363,2025-03,1,5\n"
    detail = problem(post_csv(client, world.a, body), 400, "malformed_csv")["detail"]
    assert "line 2 has 6 cells, header 5" in detail


def test_every_number_column_is_read_in_the_dialect(client, world):
    body = (
        "kpi;organisation;municipality;period;numerator;denominator\n"
        "IMP-FIN-01;ORG-A;GM0363;2025-Q1;1.000;2.000\n"
        "IMP-FIN-01;ORG-A;GM0014;2025-Q1;1.5;2,0.0\n"
    )
    response = post_csv(client, world.a, body, params={"mode": "partial"})
    assert response.status_code == 201, response.text
    errors = response.json()["errors"]
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [
        (2, "numerator", "field_invalid"),
        (2, "denominator", "field_invalid"),
    ]
    item = stored(client, world.a)[("IMP-FIN-01", "GM0363", "2025-Q1")]
    assert (item["numerator"], item["denominator"], item["value"]) == (1000, 2000, 50.0)


def test_the_dialect_message_speaks_dutch(client, world):
    response = post_csv(
        client, world.a, one(";", "ACT-02", "2025-Q1", "1.5"), headers={"Accept-Language": "nl"}
    )
    (error,) = response.json()["submission"]["errors"]
    assert error["message"] == (
        "value is ongeldig: '1.5' is geen getal in een bestand met ; als scheidingsteken, dat "
        "getallen op zijn Nederlands schrijft (decimale komma, een punt tussen duizendtallen: "
        "1.234,5): schrijf 1,5."
    )


@pytest.mark.parametrize(
    ("cell", "ok"),
    [("1", True), (" 1 ", True), ("1,0", False), ("1.0", False), ("een", False), ("+1", False)],
)
def test_a_kpi_version_cell_is_a_whole_number(client, world, cell, ok):
    body = "kpi;kpi_version;organisation;municipality;period;value\n"
    body += f"ACT-01;{cell};ORG-A;GM0363;2025-03;5\n"
    response = post_csv(client, world.a, body)
    if ok:
        assert response.status_code == 201, response.text
    else:
        assert row_errors(response) == [(1, "kpi_version", "field_invalid")]


def test_withdraw_takes_true_false_and_dutch_excel_booleans(client, world):
    assert submit(client, world.a, [row(value=5)]).status_code == 201
    keep = "kpi;organisation;municipality;period;value;withdraw\n"
    keep += "ACT-01;ORG-A;GM0363;2025-03;5;ONWAAR\n"
    response = post_csv(client, world.a, keep)
    assert response.status_code == 201 and response.json()["unchanged"] == 1, response.text
    bad = "kpi;organisation;municipality;period;withdraw\nACT-01;ORG-A;GM0363;2025-03;misschien\n"
    assert row_errors(post_csv(client, world.a, bad)) == [(1, "withdraw", "field_invalid")]
    gone = "kpi;organisation;municipality;period;withdraw\nACT-01;ORG-A;GM0363;2025-03;WAAR\n"
    response = post_csv(client, world.a, gone)
    assert response.status_code == 201 and response.json()["withdrawn"] == 1, response.text


# --- separators, headers and columns ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "sep=;\nkpi;organisation;municipality;period;value\nACT-01;ORG-A;GM0363;2025-03;1.200\n",
        "SEP=;\r\nkpi;organisation;municipality;period;value\r\nACT-01;ORG-A;GM0363;2025-03;1.200\r\n",
        # Excel writes a sep=; typed in cell A1 as a quoted cell, then the empty columns.
        '"sep=;";;;;\nkpi;organisation;municipality;period;value\nACT-01;ORG-A;GM0363;2025-03;1.200\n',
        "sep=,\nkpi,organisation,municipality,period,value\nACT-01,ORG-A,GM0363,2025-03,1200\n",
    ],
)
def test_a_sep_line_names_the_separator(client, world, body):
    response = post_csv(client, world.a, body)
    assert response.status_code == 201, response.text
    assert stored(client, world.a)[("ACT-01", "GM0363", "2025-03")]["value"] == 1200


def test_headers_are_trimmed_and_case_insensitive_and_empty_trailing_columns_ignored(client, world):
    body = (
        "\ufeff KPI ;ORGANISATION; Municipality ;Period;Value;;;\r\n"
        "ACT-01;ORG-A;GM0363;2025-03;7;;;\r\n"
        "ACT-01;ORG-A;GM0014;2025-03;8\r\n"  # without the empty trailing cells: fine too
    )
    response = post_csv(client, world.a, body.encode())
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # A value under an empty header: a column without a name.
        (
            "kpi;organisation;municipality;period;value;;\nACT-01;ORG-A;GM0363;2025-03;7;;x\n",
            "line 2",
        ),
        (
            "kpi;organisation;municipality;period,value\nACT-01;ORG-A;GM0363;2025-03,7\n",
            "both ; and ,",
        ),
        ("sep=|\nkpi|organisation|municipality|period\n", "use sep=; or sep=,"),
        ("sep=;x\nkpi;organisation;municipality;period\n", "use sep=; or sep=,"),
        ("kpi;Kpi;organisation;municipality;period\n", "repeated: ['kpi']"),
        ("kpi;organisation;;municipality;period\n", "unknown: ['']"),
        # sep=, but the file is ;-separated: one unknown column.
        ("sep=,\nkpi;organisation;municipality;period\n", "unknown"),
    ],
)
def test_an_unreadable_layout_is_400_malformed_csv(client, world, body, says):
    detail = problem(post_csv(client, world.a, body), 400, "malformed_csv")["detail"]
    assert says in detail, detail


# --- charsets -------------------------------------------------------------------------------

CAFE = "kpi;organisation;municipality;period;value;note\nACT-01;ORG-A;GM0363;2025-03;1;{}\n"


@pytest.mark.parametrize(
    ("content_type", "body", "note"),
    [
        ("text/csv; charset=windows-1252", CAFE.format("café €").encode("cp1252"), "café €"),
        ("text/csv; charset=cp1252", CAFE.format("café").encode("cp1252"), "café"),
        ('text/csv; charset="Windows-1252"', CAFE.format("café").encode("cp1252"), "café"),
        ("text/csv; charset=latin-1", CAFE.format("café").encode("latin-1"), "café"),
        ("text/csv; charset=ISO-8859-1", CAFE.format("café").encode("latin-1"), "café"),
        # Labelled latin-1, written by Excel: 0x80 is the euro sign, as browsers read it.
        ("text/csv; charset=iso-8859-1", CAFE.format("€").encode("cp1252"), "€"),
        ("text/csv; charset=utf-8", CAFE.format("café €").encode(), "café €"),
        ("text/csv", CAFE.format("café €").encode(), "café €"),
        ("text/csv", b"\xef\xbb\xbf" + CAFE.format("café").encode(), "café"),
        # A UTF-8 BOM says UTF-8, whatever the label (as browsers decode).
        ("text/csv; charset=windows-1252", b"\xef\xbb\xbf" + CAFE.format("café").encode(), "café"),
        ("application/csv; charset=windows-1252", CAFE.format("é").encode("cp1252"), "é"),
    ],
)
def test_a_declared_charset_is_honoured(client, world, content_type, body, note):
    response = post_csv(client, world.a, body, content_type=content_type)
    assert response.status_code == 201, response.text
    assert stored(client, world.a)[("ACT-01", "GM0363", "2025-03")]["note"] == note


@pytest.mark.parametrize("charset", ["koi8-r", "utf-16", "nonsense", "", "rot13"])
def test_an_unknown_charset_is_415(client, world, charset):
    response = post_csv(
        client, world.a, CAFE.format("x"), content_type=f"text/csv; charset={charset}"
    )
    body = problem(response, 415, "unsupported_charset")
    assert "utf-8, windows-1252 or iso-8859-1" in body["detail"]


def test_an_undeclared_body_that_is_not_utf8_names_the_byte_and_the_fix(client, world):
    body = CAFE.format("café").encode("cp1252")
    offset = body.index(b"\xe9")
    response = post_csv(client, world.a, body)
    problem_body = problem(response, 400, "invalid_encoding")
    assert problem_body["detail"] == "The body is not valid UTF-8."
    (error,) = problem_body["errors"]
    assert error["pointer"] == "" and error["code"] == "invalid_encoding"
    assert f"byte {offset} (0xE9, line 2) is not UTF-8" in error["message"]
    assert "save the file as UTF-8" in error["message"]
    assert "charset=windows-1252" in error["message"]
    dutch = post_csv(client, world.a, body, headers={"Accept-Language": "nl"})
    assert "sla het bestand op als UTF-8" in dutch.json()["errors"][0]["message"]


def test_a_byte_windows_1252_does_not_define_is_refused_naming_it(client, world):
    body = CAFE.format("x\x81").encode("latin-1")
    response = post_csv(client, world.a, body, content_type="text/csv; charset=windows-1252")
    problem_body = problem(response, 400, "invalid_encoding")
    assert problem_body["detail"] == "The body is not valid windows-1252."
    offset = body.index(b"\x81")
    assert f"byte {offset} (0x81, line 2)" in problem_body["errors"][0]["message"]


def test_a_bom_counts_in_the_byte_offset(client, world):
    body = b"\xef\xbb\xbf" + CAFE.format("café").encode("cp1252")
    response = post_csv(client, world.a, body)
    error = problem(response, 400, "invalid_encoding")["errors"][0]
    offset = body.index(b"\xe9")
    assert f"byte {offset} (0xE9, line 2)" in error["message"]
