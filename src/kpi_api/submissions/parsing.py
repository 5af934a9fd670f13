"""Turn a request body (JSON or CSV) into raw rows; anything unreadable is a request error.

JSON is taken literally (``kpi_api.jsontext``): a member named twice, NaN, NUL or a lone
surrogate refuse the body, naming where. Values keep their JSON type; ``validation`` refuses a
value of the wrong type (``"40"`` is text, not a number).

CSV is read in the dialect the file itself shows. A first line ``sep=;`` or ``sep=,`` (Excel's
hint) names the separator; otherwise the header line does (it holds ``;`` or ``,``, not both).

- ``;``-separated (Excel on a Dutch machine): numbers are written the Dutch way, a decimal comma
  and a point between thousands: ``1.234,5`` is 1234.5, ``1,5`` is 1.5, ``1.000`` is 1000.
- ``,``-separated: a decimal point and no thousands separator, as in JSON: ``1234.5``;
  ``1.000`` is 1.

A cell that is no number in its file's dialect is refused with a row error naming the dialect
(``1.5`` in a ``;`` file, ``"1,000"`` in a ``,`` file, ``1.5.0``, ``1_000``, ``+5``, a
non-breaking space), never guessed at. Headers are trimmed and case-insensitive; empty columns
at the end of the header (and their empty cells) are ignored. The body is UTF-8 (a BOM is
fine) unless ``Content-Type`` declares ``charset=windows-1252`` or ``iso-8859-1``.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kpi_api import jsontext
from kpi_api.errors import FieldError, KpiApiError
from kpi_api.submissions import rules
from kpi_api.submissions.rules import Rule, Text

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

#: Charsets a body may declare, by Python codec name, and the codec it is read with. Excel on
#: Dutch Windows saves "CSV (gescheiden door lijstscheidingsteken)" in windows-1252; ISO-8859-1
#: is read as windows-1252, as browsers do (WHATWG Encoding), so a euro sign labelled latin-1
#: is still a euro sign. JSON is always UTF-8 (RFC 8259).
CSV_CHARSETS = {"utf-8": "utf-8", "cp1252": "cp1252", "iso8859-1": "cp1252"}
JSON_CHARSETS = {"utf-8": "utf-8"}
_CSV_SUPPORTED = "utf-8, windows-1252 or iso-8859-1"


class BodyUnreadable(KpiApiError):
    """A body refused whole by ``rule``: answered in the client's language like every error,
    with its ``detail`` in the ``lang`` parsing was given (as its row errors and cells are)."""

    def __init__(
        self,
        rule: Rule,
        lang: str,
        *,
        status: int = 400,
        params: dict[str, object] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(rule, params=params, status=status, errors=errors)
        self.detail = self.detail_in(lang)


def _fail(rule: Rule, lang: str, status: int = 400, **params: object) -> BodyUnreadable:
    return BodyUnreadable(rule, lang, status=status, params=params)


def media_type(content_type: str | None) -> str:
    """``text/csv; charset=windows-1252`` -> ``text/csv``."""
    return (content_type or "").split(";")[0].strip().lower()


def declared_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type, as written (unquoted); None when absent."""
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').strip()
    return None


def _codec(declared: str | None, supported: dict[str, str], media: str, lang: str) -> str:
    """The codec to read a body with. Raises 415 ``unsupported_charset``."""
    if declared is None:
        return "utf-8"
    try:
        name: str | None = codecs.lookup(declared).name
    except (LookupError, ValueError, TypeError):
        name = None
    if name not in supported:
        raise _fail(
            rules.UNSUPPORTED_CHARSET,
            lang,
            status=415,
            media=media,
            charset=declared,
            supported=_CSV_SUPPORTED if supported is CSV_CHARSETS else "utf-8 (JSON is UTF-8)",
        )
    return supported[name]


def _decode(body: bytes, codec: str, declared: str | None, lang: str, *, hint: Text) -> str:
    """The body as text. A UTF-8 BOM means UTF-8, whatever is declared (as WHATWG decodes).

    Raises 400 ``invalid_encoding`` whose ``errors[0]`` names the byte offset (0-based, as sent),
    its line and how to fix it (``hint``, or ``ENCODING_DECLARED`` for a declared charset).
    """
    start = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    if start:
        codec = "utf-8"
    try:
        return str(memoryview(body)[start:], codec)
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        label = "UTF-8" if declared is None or start else declared
        where = {
            "offset": offset,
            "byte": f"0x{body[offset]:02X}",
            "line": body.count(b"\n", 0, offset) + 1,
        }
        if declared is not None and hint is not rules.ENCODING_JSON:
            message = rules.ENCODING_DECLARED.render(lang, charset=label, **where)
        else:
            message = hint.render(lang, **where)
        rule = rules.INVALID_ENCODING
        raise BodyUnreadable(
            rule,
            lang,
            params={"charset": label},
            errors=[FieldError(location="body", pointer="", code=rule.code, message=message)],
        ) from exc


# --- JSON ---------------------------------------------------------------------------------------


#: The rules ``jsontext`` names for a JSON text it refuses, by code (it imports no domain).
_JSON_TEXT_RULES = {
    r.code: r for r in (rules.DUPLICATE_MEMBER, rules.INVALID_TEXT, rules.INVALID_NUMBER)
}


def _json_error(exc: jsontext.JsonTextError, lang: str) -> BodyUnreadable:
    """The problem for a JSON text ``jsontext`` refuses: ``duplicate_member``,
    ``invalid_text`` or ``invalid_number`` (NaN, Infinity, a number no float holds as written)
    naming the JSON Pointer, else ``malformed_json``."""
    rule = _JSON_TEXT_RULES.get(exc.rule)
    if rule is None:
        return _fail(rules.MALFORMED_JSON, lang, detail=str(exc)[:200])
    params: dict[str, object] = {"pointer": exc.pointer or '""'}
    if rule is rules.DUPLICATE_MEMBER:
        params["name"] = exc.pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
    message = rule.render(lang, **params)
    return BodyUnreadable(
        rule,
        lang,
        params=params,
        errors=[FieldError(location="body", pointer=exc.pointer, code=rule.code, message=message)],
    )


def parse_json(body: bytes, lang: str, charset: str | None = None) -> list[Any]:
    """The rows of ``{"measurements": [...]}``, each as JSON has it (nothing converted).

    Raises 400 ``invalid_encoding``, ``malformed_json``, ``duplicate_member``,
    ``invalid_number`` or ``invalid_text``; 415 ``unsupported_charset`` for a declared charset
    other than UTF-8.
    """
    codec = _codec(charset, JSON_CHARSETS, "application/json", lang)
    text = _decode(body, codec, charset, lang, hint=rules.ENCODING_JSON)
    try:
        data = jsontext.loads(text)
    except jsontext.JsonTextError as exc:
        raise _json_error(exc, lang) from exc
    if not isinstance(data, dict) or not isinstance(data.get("measurements"), list):
        raise _fail(rules.MALFORMED_JSON, lang, detail='expected {"measurements": [...]}')
    extra = sorted(set(data) - {"measurements"})
    if extra:
        raise _fail(rules.MALFORMED_JSON, lang, detail=f"unknown top-level field(s) {extra}")
    rows: list[Any] = data["measurements"]
    return rows


# --- CSV ----------------------------------------------------------------------------------------


class CsvRow(dict[str, Any]):
    """A CSV row: column -> its text, or a ``Cell`` for a column whose text is read."""


class Cell(str):
    """A CSV cell of a number, version, boolean or disaggregation column: the text as sent,
    with what it reads as under the file's dialect (``value``) or why it cannot be read
    (``problem``, in the request's language). ``validation`` turns it into one or the other."""

    value: Any
    problem: str | None

    def __new__(cls, text: str, value: Any = None, problem: str | None = None) -> Cell:
        cell = super().__new__(cls, text)
        cell.value = value
        cell.problem = problem
        return cell


@dataclass(frozen=True)
class Dialect:
    """How a CSV file separates its cells and writes its numbers."""

    delimiter: str
    number: re.Pattern[str]  #: a whole number cell (digits are ASCII)
    decimal: str
    grouping: str | None
    wrong: Text  #: for a cell that is no number here
    other: Text  #: for a cell that is a number in the other dialect

    def read(self, text: str) -> float | int | None:
        """A cell matching ``number``, exactly: an int when it is whole, a float when one holds
        it as written (inf when it is too large); None when no float does (``1e-400``, 20
        significant digits), so nothing else than was written is ever stored."""
        if self.grouping:
            text = text.replace(self.grouping, "")
        text = text.replace(self.decimal, ".")
        if text.lstrip("-").isdigit():
            return int(text)
        x = float(text)
        if math.isfinite(x) and Decimal(text) != Decimal(repr(x)):
            return None
        return x


_EXPONENT = r"(?:[eE][-+]?[0-9]+)?"
#: `,`-separated: JSON's number syntax (1234.5, -3, 1e6; no grouping, no `+`, no leading 0s).
COMMA = Dialect(
    ",",
    re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?" + _EXPONENT),
    ".",
    None,
    rules.NUMBER_COMMA,
    rules.NUMBER_COMMA_DUTCH,
)
#: `;`-separated: Dutch notation (1234,5 or 1.234,5; a point only between groups of three).
SEMICOLON = Dialect(
    ";",
    re.compile(r"-?(?:0|[1-9][0-9]*|[1-9][0-9]{0,2}(?:\.[0-9]{3})+)(?:,[0-9]+)?" + _EXPONENT),
    ",",
    ".",
    rules.NUMBER_SEMICOLON,
    rules.NUMBER_SEMICOLON_POINT,
)
DIALECTS = {",": COMMA, ";": SEMICOLON}
_SEP_LINE = re.compile(r'"?sep=(.)"?(?:\1)*', re.IGNORECASE)
_FIRST_LINE = re.compile(r"[^\r\n]*")
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1", "waar", "ja"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0", "onwaar", "nee"})


def _number(cell: str, dialect: Dialect, lang: str) -> Cell:
    text = cell.strip(" \t")
    if dialect.number.fullmatch(text):
        x = dialect.read(text)
        if x is None:
            return Cell(cell, problem=rules.NUMBER_INEXACT.render(lang, cell=text))
        if isinstance(x, int) or math.isfinite(x):
            return Cell(cell, x)
        return Cell(cell, problem=rules.NUMBER_TOO_LARGE.render(lang, cell=text))
    other = SEMICOLON if dialect is COMMA else COMMA
    if not other.number.fullmatch(text):
        return Cell(cell, problem=dialect.wrong.render(lang, cell=text))
    if dialect is SEMICOLON:  # a decimal point in a `;` file: suggest the comma
        suggestion = text.replace(".", ",")
        return Cell(cell, problem=dialect.other.render(lang, cell=text, suggestion=suggestion))
    return Cell(cell, problem=dialect.other.render(lang, cell=text))


def _whole(cell: str, dialect: Dialect, lang: str) -> Cell:
    text = cell.strip(" \t")
    if text.isascii() and text.isdigit():
        if len(text) > 100:
            return Cell(cell, problem=rules.NUMBER_TOO_LARGE.render(lang, cell=text))
        return Cell(cell, int(text))
    return Cell(cell, problem=rules.WHOLE_NUMBER.render(lang, cell=text))


def _boolean(cell: str, dialect: Dialect, lang: str) -> Cell:
    word = cell.strip(" \t").lower()
    if word in _TRUE or word in _FALSE:
        return Cell(cell, word in _TRUE)
    return Cell(cell, problem=rules.BOOLEAN.render(lang, cell=cell.strip(" \t")))


def _disaggregation(cell: str, dialect: Dialect, lang: str) -> dict[str, str] | Cell:
    """Parse `age_band=12-17;gender=V`; a malformed cell comes back with its problem."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        dimension, sep, code = part.partition("=")
        if not sep or not dimension.strip() or dimension.strip() in out:
            return Cell(cell, problem=rules.DISAGGREGATION.render(lang))
        out[dimension.strip()] = code.strip()
    return out


#: Columns whose text is read into a value; the others are text.
_READERS: dict[str, Callable[[str, Dialect, str], Any]] = {
    "kpi_version": _whole,
    "disaggregation": _disaggregation,
    "value": _number,
    "numerator": _number,
    "denominator": _number,
    "mean": _number,
    "n": _number,
    "withdraw": _boolean,
}


def _dialect(text: str, lang: str) -> tuple[Dialect, bool]:
    """The file's dialect, and whether its first line is a ``sep=`` line to skip.

    Raises 400 ``malformed_csv`` for a ``sep=`` line naming another separator, or a header
    line holding both ``;`` and ``,``.
    """
    first = _FIRST_LINE.match(text)
    line = first.group() if first else ""
    sep = _SEP_LINE.fullmatch(line)
    if sep is not None or line.lstrip('"')[:4].lower() == "sep=":
        if sep is None or sep.group(1) not in DIALECTS:
            raise _fail(
                rules.MALFORMED_CSV,
                lang,
                detail=f"the first line {line[:40]!r} names a separator this service does not "
                "read; use sep=; or sep=,",
            )
        return DIALECTS[sep.group(1)], True
    if ";" in line and "," in line:
        raise _fail(
            rules.MALFORMED_CSV,
            lang,
            detail="the header holds both ; and , so the separator is unclear; separate with "
            "one of them, or start the file with a line sep=; (or sep=,)",
        )
    return (SEMICOLON if ";" in line else COMMA), False


def _header(record: list[str], lang: str) -> list[str]:
    """Column names: trimmed, lower case, empty trailing columns dropped. Raises 400
    ``malformed_csv`` for an unknown, missing or repeated column."""
    names = [h.strip().lower() for h in record]
    while names and names[-1] == "":
        names.pop()
    unknown = [h for h in names if h not in CSV_COLUMNS]
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in names]
    repeated = sorted({h for h in names if names.count(h) > 1})
    if unknown or missing or repeated:
        raise _fail(
            rules.MALFORMED_CSV,
            lang,
            detail=f"header must use columns {', '.join(CSV_COLUMNS)} "
            f"(unknown: {unknown}, missing: {missing}, repeated: {repeated})",
        )
    return names


def parse_csv(body: bytes, lang: str, charset: str | None = None) -> list[Any]:
    """The rows of a CSV body as ``CsvRow``s: text cells as sent, the cells of
    ``_READERS`` columns as ``Cell``s; an empty cell is left out (an absent field).

    Raises 400 ``invalid_encoding`` or ``malformed_csv``; 415 ``unsupported_charset``.
    """
    codec = _codec(charset, CSV_CHARSETS, "text/csv", lang)
    text = _decode(body, codec, charset, lang, hint=rules.ENCODING_UNDECLARED)
    if "\x00" in text:
        raise _fail(rules.MALFORMED_CSV, lang, detail="NUL byte")
    dialect, skip = _dialect(text, lang)
    stream = io.StringIO(text, newline="")
    if skip:
        stream.readline()
    reader = csv.reader(stream, delimiter=dialect.delimiter, strict=True)
    try:
        names = _header(next(reader), lang)
    except StopIteration:
        raise _fail(rules.MALFORMED_CSV, lang, detail="no header row") from None
    except csv.Error as exc:
        raise _fail(rules.MALFORMED_CSV, lang, detail=str(exc)) from exc
    width = len(names)
    readers = [_READERS.get(name) for name in names]
    rows: list[Any] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if len(record) < width or any(cell.strip() for cell in record[width:]):
                raise _fail(
                    rules.MALFORMED_CSV,
                    lang,
                    detail=f"line {reader.line_num + skip} has {len(record)} cells, header {width}",
                )
            row = CsvRow()
            for name, read, cell in zip(names, readers, record[:width], strict=True):
                if cell.strip() == "":
                    continue  # an empty cell is an absent field
                row[name] = cell if read is None else read(cell, dialect, lang)
            rows.append(row)
    except csv.Error as exc:
        raise _fail(rules.MALFORMED_CSV, lang, detail=str(exc)) from exc
    return rows


def parse_body(body: bytes, content_type: str | None, lang: str) -> list[Any]:
    """Raw rows of a JSON or CSV body, by its Content-Type (and ``charset``).

    Raises 415 ``unsupported_media_type`` or ``unsupported_charset``, or what ``parse_json`` and
    ``parse_csv`` raise.
    """
    kind = media_type(content_type)
    charset = declared_charset(content_type)
    if kind == "application/json":
        return parse_json(body, lang, charset)
    if kind in ("text/csv", "application/csv"):
        return parse_csv(body, lang, charset)
    raise _fail(rules.UNSUPPORTED_MEDIA_TYPE, lang, status=415)
