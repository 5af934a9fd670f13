"""Turn a request body (JSON or CSV) into raw rows; anything unreadable is a request error."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from kpi_api.errors import KpiApiError
from kpi_api.submissions.rules import RULES

#: CSV columns, in the documented order; `disaggregation` holds `dimension=code;dimension=code`.
CSV_COLUMNS = (
    "kpi",
    "kpi_version",
    "release",
    "organisation",
    "municipality",
    "period",
    "disaggregation",
    "value",
    "numerator",
    "denominator",
    "mean",
    "n",
    "note",
    "record_id",
    "withdraw",
)
REQUIRED_CSV_COLUMNS = ("kpi", "organisation", "municipality", "period")


def _fail(code: str, lang: str, status: int = 400, **params: object) -> KpiApiError:
    return KpiApiError(RULES[code].message(lang, **params), code=code, status=status)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _text(body: bytes, lang: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail("invalid_encoding", lang) from exc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(body: bytes, lang: str) -> list[Any]:
    text = _text(body, lang)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _fail("malformed_json", lang, detail=str(exc)[:200]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("measurements"), list):
        raise _fail("malformed_json", lang, detail='expected {"measurements": [...]}')
    extra = sorted(set(data) - {"measurements"})
    if extra:
        raise _fail("malformed_json", lang, detail=f"unknown top-level field(s) {extra}")
    return data["measurements"]


def _disaggregation(cell: str) -> dict[str, str] | str:
    """Parse `age_band=12-17;gender=V`; return the cell itself when it is malformed."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        dimension, sep, code = part.partition("=")
        if not sep or not dimension.strip() or dimension.strip() in out:
            return cell
        out[dimension.strip()] = code.strip()
    return out


def parse_csv(body: bytes, lang: str) -> list[Any]:
    text = _text(body, lang)
    if "\x00" in text:
        raise _fail("malformed_csv", lang, detail="NUL byte")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _fail("malformed_csv", lang, detail="no header row") from None
    except csv.Error as exc:
        raise _fail("malformed_csv", lang, detail=str(exc)) from exc
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise _fail(
            "malformed_csv",
            lang,
            detail=f"header must use columns {', '.join(CSV_COLUMNS)} "
            f"(unknown: {unknown}, missing: {missing})",
        )
    rows: list[Any] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if len(record) != len(header):
                raise _fail(
                    "malformed_csv",
                    lang,
                    detail=f"line {reader.line_num} has {len(record)} cells, header {len(header)}",
                )
            row: dict[str, Any] = {}
            for name, cell in zip(header, record, strict=True):
                if cell.strip() == "":
                    continue  # an empty cell is an absent field
                row[name] = _disaggregation(cell) if name == "disaggregation" else cell
            rows.append(row)
    except csv.Error as exc:
        raise _fail("malformed_csv", lang, detail=str(exc)) from exc
    return rows


def parse_body(body: bytes, content_type: str | None, lang: str) -> list[Any]:
    kind = media_type(content_type)
    if kind == "application/json":
        return parse_json(body, lang)
    if kind in ("text/csv", "application/csv"):
        return parse_csv(body, lang)
    raise _fail("unsupported_media_type", lang, status=415)
