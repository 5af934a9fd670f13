"""Validate measurements against the KPI definition they name: plain functions, no I/O.

Everything a row is checked against is loaded once per batch into a ``Context``; each check
below enforces the rules it names (``rules.PERIOD_IN_FUTURE``), each in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kpi_api.catalogue.service import (
    CodeListSpec,
    KpiSpec,
    effective_count_max,
    effective_value_max,
)
from kpi_api.disaggregation import disaggregation_key
from kpi_api.errors import Forbidden
from kpi_api.periods import Period, parse_period
from kpi_api.reference.service import MunicipalityInfo
from kpi_api.registry.service import OrganisationInfo
from kpi_api.strict import has_nul
from kpi_api.submissions import rules
from kpi_api.submissions.parsing import Cell, CsvRow
from kpi_api.submissions.rules import JSON_TYPES, Rule
from kpi_api.submissions.schemas import MeasurementIn, RowError
from kpi_api.vocabulary import Aggregation, PeriodType, ValueType

MAX_N = 1_000_000_000  # observations behind one mean; the column is a 32-bit integer
_AMOUNT_DECIMALS = 2  # amounts are exact to the cent
# Members compared with per row, bound once (see ``kpi_api.vocabulary``).
_SUM, _RATIO, _MEAN = Aggregation.sum, Aggregation.ratio_of_sums, Aggregation.weighted_mean
_COUNT, _AMOUNT = ValueType.count, ValueType.amount_eur
_VALUE_FIELDS = ("value", "numerator", "denominator", "mean", "n")
_EXPECTED: dict[str, tuple[str, ...]] = {
    _SUM: ("value",),
    _RATIO: ("numerator", "denominator"),
    _MEAN: ("mean", "n"),
}
_PERIOD_WORDS = {
    "en": {PeriodType.year: "year", PeriodType.quarter: "quarter", PeriodType.month: "month"},
    "nl": {PeriodType.year: "jaar", PeriodType.quarter: "kwartaal", PeriodType.month: "maand"},
}
#: Pydantic's error types, the rule each breaks, and whether its message shows pydantic's
#: detail; any other type breaks ``field_invalid``.
_PYDANTIC_RULES: dict[str, tuple[Rule, bool]] = {
    "missing": (rules.FIELD_MISSING, False),
    "extra_forbidden": (rules.FIELD_UNKNOWN, False),
    "string_too_long": (rules.FIELD_TOO_LONG, True),
    "too_long": (rules.FIELD_TOO_LONG, True),
}


@dataclass
class Context:
    """What a batch is validated against, loaded once."""

    lang: str
    today: date
    specs: dict[str, dict[int, KpiSpec]]
    current_release: tuple[str, dict[str, int]] | None
    releases: dict[str, dict[str, int] | None]
    code_lists: dict[str, CodeListSpec]
    municipalities: dict[str, MunicipalityInfo]
    organisations: dict[str, OrganisationInfo]
    locks: list[Period]


@dataclass
class ValidRow:
    """A row that passed every rule that needs no stored measurements."""

    row: int
    organisation_id: str
    kpi: str
    kpi_version: int
    period: Period
    municipality: str
    disaggregation: dict[str, str]
    withdraw: bool
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int | None
    note: str | None
    record_id: str | None

    natural_key: tuple[str, str, str, str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.natural_key = (
            self.organisation_id,
            self.kpi,
            self.period.code,
            self.municipality,
            disaggregation_key(self.disaggregation),
        )

    def payload(self) -> tuple[Any, ...]:
        """What makes two versions the same measurement value."""
        return (
            self.kpi_version,
            self.withdraw,
            self.value,
            self.numerator,
            self.denominator,
            self.n,
            self.note,
        )


def percentage(numerator: float, denominator: float) -> float:
    """The value stored for a ratio of sums: ``numerator`` as a percentage (0 to 100) of
    ``denominator``, both counts.

    Raises ``ValueError`` unless ``0 <= numerator <= denominator`` and ``denominator > 0``
    (the rules ``negative_count``, ``denominator_not_positive`` and
    ``numerator_exceeds_denominator``, which ``_value`` reports as row errors before it asks).
    """
    if not (denominator > 0 and 0 <= numerator <= denominator):
        raise ValueError(f"not a ratio of counts: {numerator} / {denominator}")
    return 100.0 * numerator / denominator


class _Row:
    """The row being checked and its errors (a plain class: one is made per row)."""

    __slots__ = ("ctx", "errors", "row")

    def __init__(self, row: int, ctx: Context) -> None:
        self.row = row
        self.ctx = ctx
        self.errors: list[RowError] = []

    def fail(self, rule: Rule, field_name: str | None = None, /, **params: object) -> None:
        """Report ``rule``, about ``field_name`` (default: the rule's field); ``params`` are
        exactly those its message names."""
        self.errors.append(
            RowError(
                row=self.row,
                field=field_name if field_name is not None else rule.field,
                code=rule.code,
                message=rule.render(self.ctx.lang, **params),
            )
        )


_TEXT_FIELDS = (
    "kpi",
    "release",
    "organisation",
    "municipality",
    "period",
    "note",
    "record_id",
    "disaggregation",
)
_ROWS = TypeAdapter(list[MeasurementIn])


def _nul_field(m: MeasurementIn) -> str | None:
    """The first text field holding NUL, which PostgreSQL could neither store nor compare."""
    return next((name for name in _TEXT_FIELDS if has_nul(getattr(m, name))), None)


def _shape(
    raw: Any, row: _Row, parsed: MeasurementIn | None, check_nul: bool
) -> MeasurementIn | None:
    """The row as a measurement (``parsed``, or ``raw`` parsed), or None after reporting why it
    is none: cells that cannot be read, fields missing, unknown, too long or invalid, NUL."""
    if parsed is None:
        raw, unreadable = read_cells(raw)
        for name, why in unreadable:  # CSV cells that are no number (etc.) in the file's dialect
            row.fail(rules.FIELD_INVALID, name, field=name, detail=why)
        if not isinstance(raw, dict):
            row.fail(rules.FIELD_INVALID, "", field="measurement", detail="expected an object")
            return None
        try:
            parsed = MeasurementIn.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"]) or "measurement"
                rule, shows_detail = _PYDANTIC_RULES.get(err["type"], (rules.FIELD_INVALID, True))
                if shows_detail:
                    detail = _detail(err, row.ctx.lang)
                    row.fail(rule, loc.split(".")[0], field=loc, detail=detail)
                else:
                    row.fail(rule, loc.split(".")[0], field=loc)
            return None
        if unreadable:
            return None
    if check_nul and (nul := _nul_field(parsed)) is not None:
        detail = "text may not contain NUL characters"
        row.fail(rules.FIELD_INVALID, nul, field=nul, detail=detail)
        return None
    return parsed


def read_cells(raw: Any) -> tuple[Any, list[tuple[str, str]]]:
    """A CSV row with each ``Cell`` replaced by what it reads as (a number, a boolean, a
    disaggregation), and the cells that cannot be read: (column, why). Other rows as they are:
    a JSON value is never converted."""
    if not isinstance(raw, CsvRow):
        return raw, []
    out: dict[str, Any] = {}
    bad: list[tuple[str, str]] = []
    for name, cell in raw.items():
        if not isinstance(cell, Cell):
            out[name] = cell
        elif cell.problem is not None:
            bad.append((name, cell.problem))
        else:
            out[name] = cell.value
    return out, bad


#: Pydantic's type errors, and the JSON type the field takes.
_TYPE_ERRORS = {
    "float_type": "number",
    "int_type": "integer",
    "bool_type": "boolean",
    "string_type": "string",
    "dict_type": "object",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _detail(err: Any, lang: str) -> str:
    """Pydantic's message, or for a value of the wrong JSON type what was expected instead."""
    expected = _TYPE_ERRORS.get(err["type"])
    if expected is None:
        return str(err["msg"])
    given = _json_type(err.get("input"))
    if expected == "number" and given == "integer":  # a whole number beyond any float
        shown = str(err["input"])
        shown = shown if len(shown) <= 24 else f"{shown[:20]}...({len(shown)} digits)"
        return rules.NUMBER_TOO_LARGE.render(lang, cell=shown)
    words = JSON_TYPES[lang if lang in JSON_TYPES else "en"]
    return rules.JSON_TYPE.render(lang, expected=words[expected], given=words[given])


def _spec(m: MeasurementIn, row: _Row) -> KpiSpec | None:
    ctx = row.ctx
    versions = ctx.specs.get(m.kpi)
    if not versions:
        row.fail(rules.KPI_UNKNOWN, kpi=m.kpi)
        return None
    number = m.kpi_version
    if number is None:
        if m.release is not None:
            members = ctx.releases.get(m.release)
            if members is None:
                row.fail(rules.RELEASE_UNKNOWN, release=m.release)
                return None
            release_id = m.release
        elif ctx.current_release is not None:
            release_id, members = ctx.current_release
        else:
            row.fail(rules.KPI_NOT_IN_RELEASE, kpi=m.kpi, release="-")
            return None
        number = members.get(m.kpi)
        if number is None:
            row.fail(rules.KPI_NOT_IN_RELEASE, kpi=m.kpi, release=release_id)
            return None
        if m.release is None:
            number = _in_force(versions, number, m.period)
    spec = versions.get(number)
    if spec is None:
        row.fail(rules.KPI_VERSION_UNKNOWN, kpi=m.kpi, version=number)
        return None
    if not spec.published:
        row.fail(rules.KPI_NOT_PUBLISHED, kpi=m.kpi, version=number)
        return None
    return spec


def _governing(versions: dict[int, KpiSpec], day: date) -> int | None:
    """The latest published version whose definition governs periods starting on ``day``."""
    return max(
        (v.version for v in versions.values() if v.published and v.governs(day)), default=None
    )


def _in_force(versions: dict[int, KpiSpec], number: int, period_code: str) -> int:
    """The version a row without one is read under: the current release's, unless a series
    break puts the period under another definition; then that definition's latest version."""
    try:
        start = parse_period(period_code).start
    except ValueError:
        return number  # the period rule reports it
    spec = versions.get(number)
    if spec is None or spec.governs(start):
        return number
    governing = _governing(versions, start)
    return number if governing is None else governing


def _period(m: MeasurementIn, spec: KpiSpec, row: _Row) -> Period | None:
    try:
        period = parse_period(m.period)
    except ValueError:
        row.fail(rules.PERIOD_INVALID, period=m.period)
        return None
    ok = True
    if period.type not in spec.period_types:
        words = _PERIOD_WORDS[row.ctx.lang]
        allowed = "/".join(words[t] for t in PeriodType.coarsest_first(spec.period_types))
        row.fail(
            rules.PERIOD_TYPE_NOT_ALLOWED, kpi=spec.code, allowed=allowed, type=words[period.type]
        )
        ok = False
    if period.end >= row.ctx.today:
        row.fail(rules.PERIOD_IN_FUTURE, period=period.code, end=period.end.isoformat())
        ok = False
    if not m.withdraw and not spec.governs(period.start):
        # A series break puts the period under another definition: name the version to use.
        # (A withdrawal may name the version a measurement was made under, across a break.)
        use = _governing(row.ctx.specs.get(spec.code, {}), period.start)
        named = "release" if m.release is not None and m.kpi_version is None else None
        if spec.definition_end is not None and period.start >= spec.definition_end:
            row.fail(
                rules.KPI_VERSION_REPLACED,
                named,
                kpi=spec.code,
                version=spec.version,
                period=period.code,
                since=spec.definition_end.isoformat(),
                governing=use,
            )
        else:
            row.fail(
                rules.KPI_VERSION_NOT_IN_FORCE,
                named,
                kpi=spec.code,
                version=spec.version,
                period=period.code,
                since=(spec.definition_start or period.start).isoformat(),
                governing=use,
            )
        ok = False
    if spec.deprecated_from is not None and period.start >= spec.deprecated_from:
        word = "gebruik" if row.ctx.lang == "nl" else "use"
        successor = f"; {word} {spec.successor}" if spec.successor else ""
        row.fail(
            rules.KPI_DEPRECATED,
            kpi=spec.code,
            since=spec.deprecated_from.isoformat(),
            successor=successor,
        )
        ok = False
    for lock in row.ctx.locks:
        if lock.overlaps(period):
            row.fail(rules.PERIOD_LOCKED, period=period.code, lock=lock.code)
            ok = False
            break
    return period if ok else None


def _place(m: MeasurementIn, period: Period | None, org: OrganisationInfo, row: _Row) -> bool:
    info = row.ctx.municipalities.get(m.municipality)
    if info is None:
        row.fail(rules.MUNICIPALITY_UNKNOWN, municipality=m.municipality)
        return False
    ok = True
    if period is not None and not info.overlaps(period.start, period.end):
        row.fail(rules.MUNICIPALITY_NOT_VALID, municipality=m.municipality, period=period.code)
        ok = False
    if m.municipality not in org.municipalities:
        row.fail(
            rules.ORGANISATION_NOT_IN_MUNICIPALITY,
            organisation=org.code,
            municipality=m.municipality,
        )
        ok = False
    return ok


_AREA_PREFIX = {"neighbourhood": "BU", "district": "WK"}


def _dimensions(m: MeasurementIn, spec: KpiSpec, row: _Row) -> bool:
    ok = True
    for dimension, code in m.disaggregation.items():
        if dimension not in spec.dimensions:
            allowed = ", ".join(spec.dimensions) or "none"
            row.fail(
                rules.DIMENSION_NOT_ALLOWED, kpi=spec.code, dimension=dimension, allowed=allowed
            )
            ok = False
        elif code == "":
            row.fail(rules.DIMENSION_CODE_MISSING, dimension=dimension)
            ok = False
        elif (code_list := row.ctx.code_lists.get(dimension)) is None or not code_list.accepts(
            code
        ):
            row.fail(rules.DIMENSION_CODE_UNKNOWN, dimension=dimension, code=code)
            ok = False
        elif dimension in _AREA_PREFIX and code[2:6] != m.municipality[2:6]:
            row.fail(rules.AREA_OUTSIDE_MUNICIPALITY, code=code, municipality=m.municipality)
            ok = False
    return ok


def _whole(x: float) -> bool:
    return math.isfinite(x) and x == int(x)


def _shown(x: float) -> float | int | str:
    """A number as a message shows it: whole numbers without ``.0``, others to 4 decimals,
    very large ones in exponent notation (1e+308, not its 309 digits)."""
    if math.isfinite(x) and abs(x) >= 1e15:
        return f"{x:g}"
    return int(x) if _whole(x) else round(x, 4)


#: What ``_value`` answers for a row that breaks a value rule (a withdrawal's value is None).
_INVALID = object()


def _value(m: MeasurementIn, spec: KpiSpec, row: _Row) -> float | object | None:
    """The value to store (None for a withdrawal), or ``_INVALID`` after reporting why not.

    Every number is bounded (``count_max`` for counts, numerators, denominators and n; the
    range for values and means), so no accepted input can overflow an aggregate.
    """
    given = {f for f in _VALUE_FIELDS if getattr(m, f) is not None}
    if m.withdraw:
        if given:
            row.fail(rules.VALUE_FORM, "value", value_type="withdrawal", expected="no value fields")
            return _INVALID
        return None
    expected = _EXPECTED[spec.aggregation]
    if given != set(expected):
        row.fail(
            rules.VALUE_FORM, "value", value_type=spec.value_type, expected=" and ".join(expected)
        )
        return _INVALID
    count_max = effective_count_max(spec)
    ok = True
    if spec.aggregation == _SUM:
        assert m.value is not None
        value = m.value
        if spec.value_type == _COUNT:
            if not _whole(value):
                row.fail(rules.VALUE_NOT_INTEGER, "value", field="value")
                return _INVALID
            if value > count_max:
                row.fail(
                    rules.VALUE_TOO_LARGE, "value", field="value", limit=count_max, kpi=spec.code
                )
                return _INVALID
    elif spec.aggregation == _RATIO:
        num, den = m.numerator, m.denominator
        assert num is not None and den is not None
        for name, x in (("numerator", num), ("denominator", den)):
            if not _whole(x):
                row.fail(rules.VALUE_NOT_INTEGER, name, field=name)
                ok = False
            elif x < 0:
                row.fail(rules.NEGATIVE_COUNT, name, field=name)
                ok = False
            elif x > count_max:
                row.fail(rules.VALUE_TOO_LARGE, name, field=name, limit=count_max, kpi=spec.code)
                ok = False
        if not ok:
            return _INVALID
        if den <= 0:
            row.fail(rules.DENOMINATOR_NOT_POSITIVE)
            return _INVALID
        if num > den:
            row.fail(rules.NUMERATOR_EXCEEDS_DENOMINATOR, numerator=int(num), denominator=int(den))
            return _INVALID
        value = percentage(num, den)
    else:
        assert m.mean is not None and m.n is not None
        if not _whole(m.n) or m.n < 1:
            row.fail(rules.N_NOT_POSITIVE)
            return _INVALID
        limit = min(MAX_N, count_max)
        if m.n > limit:
            row.fail(rules.N_TOO_LARGE, limit=limit, kpi=spec.code)
            return _INVALID
        value = m.mean
    field_name = "mean" if spec.aggregation == _MEAN else "value"
    # Amounts are exact to the cent, never rounded here: a value with more decimals is refused.
    # round() is correctly rounded, so it keeps exactly the floats written with <= 2 decimals.
    if spec.value_type == _AMOUNT and round(value, _AMOUNT_DECIMALS) != value:
        row.fail(rules.VALUE_TOO_PRECISE, field_name, field=field_name, decimals=_AMOUNT_DECIMALS)
        return _INVALID
    low = spec.range_min if spec.range_min is not None else -math.inf
    high = effective_value_max(spec)
    if not low <= value <= high:
        row.fail(
            rules.VALUE_OUT_OF_RANGE,
            field_name,
            value=_shown(value),
            low=_shown(low),
            high=_shown(high),
        )
        return _INVALID
    return value


def may_hold_nul(body: bytes) -> bool:
    """Whether a JSON or CSV body can hold a NUL character at all (raw, or as ``\\u0000``)."""
    return b"\x00" in body or b"\\u0000" in body


def validate_rows(
    raw_rows: list[Any], ctx: Context, *, check_nul: bool = True
) -> tuple[list[ValidRow], list[RowError]]:
    """Check every row of a batch against every rule that needs no stored measurements.

    The shapes of the whole batch are parsed in one pydantic call (a third of the time of one
    call per row), CSV cells read first (``read_cells``); only a batch with a malformed row is
    parsed again row by row, so that each row gets its own errors. ``check_nul=False`` skips
    looking for NUL in every text field, for a body that cannot hold one (``may_hold_nul``).
    """
    read = [read_cells(raw) for raw in raw_rows]
    try:
        parsed: list[MeasurementIn | None] = list(_ROWS.validate_python([r for r, _ in read]))
    except ValidationError:
        parsed = [None] * len(raw_rows)
    for index, (_, unreadable) in enumerate(read):
        if unreadable:
            parsed[index] = None  # parsed again by the row, to report its cells
    valid: list[ValidRow] = []
    errors: list[RowError] = []
    for index, (raw, m) in enumerate(zip(raw_rows, parsed, strict=True)):
        row, row_errors = validate_row(index, raw, ctx, parsed=m, check_nul=check_nul)
        errors += row_errors
        if row is not None:
            valid.append(row)
    return valid, errors


def validate_row(
    index: int,
    raw: Any,
    ctx: Context,
    *,
    parsed: MeasurementIn | None = None,
    check_nul: bool = True,
) -> tuple[ValidRow | None, list[RowError]]:
    """Check one row against every rule that needs no stored measurements.

    ``parsed`` is the row already parsed (by ``validate_rows``); without it ``raw`` is parsed.
    """
    row = _Row(row=index + 1, ctx=ctx)
    m = _shape(raw, row, parsed, check_nul)
    if m is None:
        return None, row.errors
    org = ctx.organisations.get(m.organisation)
    if org is None:
        # Authorisation looked at the raw codes; a code that only differs after parsing (e.g.
        # by a control character) is refused the same way.
        raise Forbidden(rules.ORGANISATION_NOT_AUTHORISED, params={"organisation": m.organisation})
    spec = _spec(m, row)
    if spec is None:
        _place(m, None, org, row)
        return None, row.errors
    period = _period(m, spec, row)
    placed, split = _place(m, period, org, row), _dimensions(m, spec, row)
    value = _value(m, spec, row)
    if period is None or not (placed and split) or value is _INVALID:
        return None, row.errors
    assert value is None or isinstance(value, float)
    return ValidRow(
        row=row.row,
        organisation_id=org.id,
        kpi=spec.code,
        kpi_version=spec.version,
        period=period,
        municipality=m.municipality,
        disaggregation=dict(m.disaggregation),
        withdraw=m.withdraw,
        value=value,
        numerator=m.numerator,
        denominator=m.denominator,
        n=int(m.n) if m.n is not None else None,
        note=m.note,
        record_id=m.record_id,
    ), row.errors


def organisation_codes(rows: Iterable[Any]) -> set[str]:
    """Organisation codes named by the rows, read before full validation (for authorisation)."""
    out = set()
    for raw in rows:
        if isinstance(raw, dict) and isinstance(raw.get("organisation"), str):
            out.add(raw["organisation"].strip())
    return out


def mark_duplicates(rows: list[ValidRow], ctx: Context) -> tuple[list[ValidRow], list[RowError]]:
    """Keep the first row of each natural key; reject the rest."""
    first: dict[tuple[str, ...], int] = {}
    kept, errors = [], []
    for r in rows:
        key = r.natural_key
        if key in first:
            rule = rules.DUPLICATE_IN_BATCH
            errors.append(
                RowError(
                    row=r.row,
                    field=rule.field,
                    code=rule.code,
                    message=rule.render(ctx.lang, first=first[key]),
                )
            )
        else:
            first[key] = r.row
            kept.append(r)
    return kept, errors
