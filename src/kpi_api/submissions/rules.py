"""Every validation rule of a submission, with its stable code and its messages in NL and EN.

Row rules reject one measurement; request rules refuse the whole request. The codes are a
contract with vendors: never rename one, add new ones.

Each rule is one object, a module-level constant named after its code
(``PERIOD_IN_FUTURE = Rule("period_in_future", ...)``), and the check that enforces it names
that constant (``row.fail(rules.PERIOD_IN_FUTURE, ...)``), so a rule is found in one hop and a
misspelt one fails mypy (no such attribute), before any request meets it.
Its messages are rendered strictly (:class:`~kpi_api.messages.Message`): a check passes exactly
the parameters they name.

To add a rule: define its constant below, in the group it belongs to (its place is its place
in ``RULES``, which lists the rules at ``GET /v1/validation-rules``); enforce it in one check
in ``validation.py`` (a row rule), ``parsing.py`` or ``service.py``; name it in the README
(``tests/test_readme.py``); and test it (``tests/submissions/test_rule_objects.py`` fails for a
row rule checked in no place or in two, and for a rule no test names).

``Text`` constants explain an error further (where an encoding breaks, why a CSV cell or JSON
value cannot be read); the plain ``Message`` constants are the other answers of submissions
(a submission or lock not found, a period already closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from kpi_api.messages import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule(Message):
    """A validation rule: its message, whether it rejects a ``row`` or the whole ``request``,
    and the field a row error names unless the check names another."""

    level: Literal["row", "request"]
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Text(Message):
    """A message that explains a rule's error further (an ``errors[]`` entry, or the
    ``detail`` of ``field_invalid``); its code names it, and is never shown."""


_M = TypeVar("_M", bound=Message)


def _constants(kind: type[_M]) -> dict[str, _M]:
    """This module's constants of ``kind``, by code, in the order they are defined."""
    found: dict[str, _M] = {}
    for name, value in list(globals().items()):
        if isinstance(value, kind):
            if name != value.code.upper():
                raise NameError(f"{name} holds {value.code!r}: name it {value.code.upper()}")
            found[value.code] = value
    return found


# --- the request as a whole ---
UNSUPPORTED_MEDIA_TYPE = Rule(
    "unsupported_media_type",
    "Send application/json or text/csv.",
    "Stuur application/json of text/csv.",
    level="request",
)
MALFORMED_JSON = Rule(
    "malformed_json",
    "The body is not valid JSON: {detail}.",
    "De body is geen geldige JSON: {detail}.",
    level="request",
)
MALFORMED_CSV = Rule(
    "malformed_csv",
    "The body is not valid CSV: {detail}.",
    "De body is geen geldige CSV: {detail}.",
    level="request",
)
INVALID_ENCODING = Rule(
    "invalid_encoding",
    "The body is not valid {charset}.",
    "De body is geen geldige {charset}.",
    level="request",
)
UNSUPPORTED_CHARSET = Rule(
    "unsupported_charset",
    "A body of type {media} cannot be read as charset {charset!r}: declare {supported}, or "
    "save the file as UTF-8.",
    "Een body van type {media} kan niet worden gelezen als charset {charset!r}: geef "
    "{supported} op, of sla het bestand op als UTF-8.",
    level="request",
)
INVALID_NUMBER = Rule(
    "invalid_number",
    "The number at {pointer} cannot be taken as sent: NaN and Infinity are not JSON, and a "
    "number must fit in 15 significant digits and the range of a number.",
    "Het getal op {pointer} kan niet worden genomen zoals verstuurd: NaN en Infinity zijn "
    "geen JSON, en een getal moet passen in 15 significante cijfers en het bereik van een "
    "getal.",
    level="request",
)
DUPLICATE_MEMBER = Rule(
    "duplicate_member",
    "Member {name!r} appears twice at {pointer}; JSON is taken literally, so send each member "
    "once.",
    "Veld {name!r} komt twee keer voor op {pointer}; JSON wordt letterlijk genomen, dus stuur "
    "elk veld één keer.",
    level="request",
)
INVALID_TEXT = Rule(
    "invalid_text",
    "The text at {pointer} holds a NUL character or a lone surrogate, which cannot be stored.",
    "De tekst op {pointer} bevat een NUL-teken of een losse surrogaat, die niet kan worden "
    "opgeslagen.",
    level="request",
)
BODY_TOO_LARGE = Rule(
    "body_too_large",
    "The request body is too large.",
    "De request body is te groot.",
    level="request",
)
BATCH_TOO_LARGE = Rule(
    "batch_too_large",
    "A batch holds at most {limit} measurements; this one has {rows}.",
    "Een batch bevat hoogstens {limit} metingen; deze heeft er {rows}.",
    level="request",
)
BATCH_EMPTY = Rule(
    "batch_empty",
    "The batch holds no measurements.",
    "De batch bevat geen metingen.",
    level="request",
)
ORGANISATION_NOT_AUTHORISED = Rule(
    "organisation_not_authorised",
    "This vendor may not submit for organisation {organisation!r}.",
    "Deze leverancier mag niet aanleveren voor organisatie {organisation!r}.",
    level="request",
    field="organisation",
)
IDEMPOTENCY_KEY_REUSED = Rule(
    "idempotency_key_reused",
    "This Idempotency-Key was used for a different request.",
    "Deze Idempotency-Key is gebruikt voor een ander verzoek.",
    level="request",
)
CONCURRENT_UPDATE = Rule(
    "concurrent_update",
    "Another submission changed the same measurements at the same moment; retry.",
    "Een andere aanlevering wijzigde tegelijk dezelfde metingen; probeer opnieuw.",
    level="request",
)
# --- the shape of a row ---
FIELD_MISSING = Rule(
    "field_missing",
    "{field} is required.",
    "{field} is verplicht.",
    level="row",
)
FIELD_UNKNOWN = Rule(
    "field_unknown",
    "{field} is not a field of a measurement.",
    "{field} is geen veld van een meting.",
    level="row",
)
FIELD_INVALID = Rule(
    "field_invalid",
    "{field} is not valid: {detail}.",
    "{field} is ongeldig: {detail}.",
    level="row",
)
FIELD_TOO_LONG = Rule(
    "field_too_long",
    "{field} is too long: {detail}.",
    "{field} is te lang: {detail}.",
    level="row",
)
# --- the KPI ---
KPI_UNKNOWN = Rule(
    "kpi_unknown",
    "KPI {kpi!r} does not exist.",
    "KPI {kpi!r} bestaat niet.",
    level="row",
    field="kpi",
)
KPI_VERSION_UNKNOWN = Rule(
    "kpi_version_unknown",
    "KPI {kpi!r} has no version {version}.",
    "KPI {kpi!r} heeft geen versie {version}.",
    level="row",
    field="kpi_version",
)
KPI_NOT_PUBLISHED = Rule(
    "kpi_not_published",
    "Version {version} of KPI {kpi!r} is a draft, not published.",
    "Versie {version} van KPI {kpi!r} is een concept, niet gepubliceerd.",
    level="row",
    field="kpi_version",
)
RELEASE_UNKNOWN = Rule(
    "release_unknown",
    "Release {release!r} does not exist.",
    "Release {release!r} bestaat niet.",
    level="row",
    field="release",
)
KPI_NOT_IN_RELEASE = Rule(
    "kpi_not_in_release",
    "KPI {kpi!r} is not part of release {release!r}.",
    "KPI {kpi!r} maakt geen deel uit van release {release!r}.",
    level="row",
    field="kpi",
)
KPI_DEPRECATED = Rule(
    "kpi_deprecated",
    "KPI {kpi!r} is deprecated for periods from {since} on{successor}.",
    "KPI {kpi!r} vervalt voor perioden vanaf {since}{successor}.",
    level="row",
    field="period",
)
KPI_VERSION_REPLACED = Rule(
    "kpi_version_replaced",
    "Version {version} of KPI {kpi!r} does not apply to {period}: a series break on {since} "
    "replaced its definition; send {period} under version {governing}.",
    "Versie {version} van KPI {kpi!r} geldt niet voor {period}: een trendbreuk per {since} "
    "verving haar definitie; lever {period} aan onder versie {governing}.",
    level="row",
    field="kpi_version",
)
KPI_VERSION_NOT_IN_FORCE = Rule(
    "kpi_version_not_in_force",
    "Version {version} of KPI {kpi!r} applies to periods from {since} on (a series break); "
    "send {period} under version {governing}, or leave kpi_version out.",
    "Versie {version} van KPI {kpi!r} geldt voor perioden vanaf {since} (een trendbreuk); "
    "lever {period} aan onder versie {governing}, of laat kpi_version weg.",
    level="row",
    field="kpi_version",
)
# --- the period ---
PERIOD_INVALID = Rule(
    "period_invalid",
    "{period!r} is not a period; use 2025, 2025-Q1 or 2025-03.",
    "{period!r} is geen periode; gebruik 2025, 2025-Q1 of 2025-03.",
    level="row",
    field="period",
)
PERIOD_TYPE_NOT_ALLOWED = Rule(
    "period_type_not_allowed",
    "KPI {kpi!r} is measured per {allowed}, not per {type}.",
    "KPI {kpi!r} wordt gemeten per {allowed}, niet per {type}.",
    level="row",
    field="period",
)
PERIOD_IN_FUTURE = Rule(
    "period_in_future",
    "Period {period} has not ended yet (it ends {end}).",
    "Periode {period} is nog niet afgelopen (eindigt {end}).",
    level="row",
    field="period",
)
PERIOD_LOCKED = Rule(
    "period_locked",
    "Period {period} falls in the closed period {lock}.",
    "Periode {period} valt in de afgesloten periode {lock}.",
    level="row",
    field="period",
)
# --- where ---
MUNICIPALITY_UNKNOWN = Rule(
    "municipality_unknown",
    "{municipality!r} is not a CBS municipality code.",
    "{municipality!r} is geen CBS-gemeentecode.",
    level="row",
    field="municipality",
)
MUNICIPALITY_NOT_VALID = Rule(
    "municipality_not_valid",
    "Municipality {municipality} did not exist during {period}.",
    "Gemeente {municipality} bestond niet in {period}.",
    level="row",
    field="municipality",
)
ORGANISATION_NOT_IN_MUNICIPALITY = Rule(
    "organisation_not_in_municipality",
    "Organisation {organisation!r} is not registered as working in {municipality}.",
    "Organisatie {organisation!r} is niet geregistreerd als werkzaam in {municipality}.",
    level="row",
    field="municipality",
)
# --- the disaggregation ---
DIMENSION_NOT_ALLOWED = Rule(
    "dimension_not_allowed",
    "KPI {kpi!r} cannot be split by {dimension!r}; allowed: {allowed}.",
    "KPI {kpi!r} kan niet worden uitgesplitst naar {dimension!r}; toegestaan: {allowed}.",
    level="row",
    field="disaggregation",
)
DIMENSION_CODE_MISSING = Rule(
    "dimension_code_missing",
    "Dimension {dimension!r} has no code.",
    "Dimensie {dimension!r} heeft geen code.",
    level="row",
    field="disaggregation",
)
DIMENSION_CODE_UNKNOWN = Rule(
    "dimension_code_unknown",
    "{code!r} is not in code list {dimension!r}.",
    "{code!r} staat niet in codelijst {dimension!r}.",
    level="row",
    field="disaggregation",
)
AREA_OUTSIDE_MUNICIPALITY = Rule(
    "area_outside_municipality",
    "{code} does not lie in municipality {municipality}.",
    "{code} ligt niet in gemeente {municipality}.",
    level="row",
    field="disaggregation",
)
# --- the value ---
VALUE_FORM = Rule(
    "value_form",
    "A {value_type} KPI takes {expected}.",
    "Een {value_type}-KPI vraagt {expected}.",
    level="row",
    field="value",
)
VALUE_NOT_INTEGER = Rule(
    "value_not_integer",
    "{field} must be a whole number.",
    "{field} moet een geheel getal zijn.",
    level="row",
    field="value",
)
VALUE_OUT_OF_RANGE = Rule(
    "value_out_of_range",
    "{value} lies outside the valid range {low} .. {high}.",
    "{value} ligt buiten het geldige bereik {low} .. {high}.",
    level="row",
    field="value",
)
VALUE_TOO_LARGE = Rule(
    "value_too_large",
    "{field} cannot exceed {limit}, the largest count KPI {kpi!r} allows per measurement.",
    "{field} kan niet groter zijn dan {limit}, het grootste aantal dat KPI {kpi!r} per meting "
    "toestaat.",
    level="row",
    field="value",
)
VALUE_TOO_PRECISE = Rule(
    "value_too_precise",
    "{field} has more than {decimals} decimals; send an amount exact to the cent.",
    "{field} heeft meer dan {decimals} decimalen; stuur een bedrag exact op de cent.",
    level="row",
    field="value",
)
NUMERATOR_EXCEEDS_DENOMINATOR = Rule(
    "numerator_exceeds_denominator",
    "The numerator ({numerator}) exceeds the denominator ({denominator}).",
    "De teller ({numerator}) is groter dan de noemer ({denominator}).",
    level="row",
    field="numerator",
)
DENOMINATOR_NOT_POSITIVE = Rule(
    "denominator_not_positive",
    "The denominator must be greater than 0.",
    "De noemer moet groter zijn dan 0.",
    level="row",
    field="denominator",
)
N_NOT_POSITIVE = Rule(
    "n_not_positive",
    "n must be a whole number of at least 1.",
    "n moet een geheel getal van minstens 1 zijn.",
    level="row",
    field="n",
)
N_TOO_LARGE = Rule(
    "n_too_large",
    "n cannot exceed {limit}, the largest count KPI {kpi!r} allows per measurement.",
    "n kan niet groter zijn dan {limit}, het grootste aantal dat KPI {kpi!r} per meting toestaat.",
    level="row",
    field="n",
)
NEGATIVE_COUNT = Rule(
    "negative_count",
    "{field} cannot be negative.",
    "{field} kan niet negatief zijn.",
    level="row",
)
# --- the batch and the stored data ---
DUPLICATE_IN_BATCH = Rule(
    "duplicate_in_batch",
    "Row {first} already holds this organisation, KPI, period, municipality and disaggregation.",
    "Rij {first} bevat al deze organisatie, KPI, periode, gemeente en uitsplitsing.",
    level="row",
)
NOTHING_TO_WITHDRAW = Rule(
    "nothing_to_withdraw",
    "There is no current measurement to withdraw.",
    "Er is geen actuele meting om in te trekken.",
    level="row",
)

#: Every rule by code, in the order defined above (the order ``GET /v1/validation-rules`` lists).
RULES: dict[str, Rule] = _constants(Rule)

# --- other answers of submissions (not rules: not listed) ---
SUBMISSION_NOT_FOUND = Message(
    "submission_not_found",
    "Submission {submission} does not exist.",
    "Aanlevering {submission} bestaat niet.",
)
SUBMISSION_HAS_NO_REPORT = Message(
    "submission_not_found",
    "The submission has no report yet.",
    "De aanlevering heeft nog geen rapport.",
)
SUBMISSION_REJECTED = Message(
    "submission_rejected",
    "{rejected} of {rows} rows were rejected; nothing was stored.",
    "{rejected} van {rows} rijen zijn afgewezen; er is niets opgeslagen.",
)
MEASUREMENT_NOT_FOUND = Message(
    "measurement_not_found",
    "Measurement {measurement} does not exist.",
    "Meting {measurement} bestaat niet.",
)
PERIOD_ALREADY_LOCKED = Message(
    "period_already_locked",
    "Period {period} is already closed.",
    "Periode {period} is al afgesloten.",
)
PERIOD_LOCK_NOT_FOUND = Message(
    "period_lock_not_found",
    "Period {period} is not closed.",
    "Periode {period} is niet afgesloten.",
)

# --- explanations: where a body's encoding breaks, why a CSV cell or JSON value cannot be read
ENCODING_UNDECLARED = Text(
    "encoding_undeclared",
    "byte {offset} ({byte}, line {line}) is not UTF-8: save the file as UTF-8 (in Excel: "
    "CSV UTF-8), or declare the encoding it has, e.g. Content-Type: text/csv; "
    "charset=windows-1252",
    "byte {offset} ({byte}, regel {line}) is geen UTF-8: sla het bestand op als UTF-8 (in "
    "Excel: CSV UTF-8), of geef de codering op die het heeft, bijv. Content-Type: text/csv; "
    "charset=windows-1252",
)
ENCODING_DECLARED = Text(
    "encoding_declared",
    "byte {offset} ({byte}, line {line}) is not {charset}: declare the encoding the file "
    "has, or save it as UTF-8",
    "byte {offset} ({byte}, regel {line}) is geen {charset}: geef de codering op die het "
    "bestand heeft, of sla het op als UTF-8",
)
ENCODING_JSON = Text(
    "encoding_json",
    "byte {offset} ({byte}, line {line}) is not UTF-8, and JSON is always UTF-8 (RFC 8259)",
    "byte {offset} ({byte}, regel {line}) is geen UTF-8, en JSON is altijd UTF-8 (RFC 8259)",
)
# CSV cells, read under the file's dialect.
NUMBER_SEMICOLON = Text(
    "number_semicolon",
    "{cell!r} is not a number in a ;-separated file, which writes numbers the Dutch way "
    "(decimal comma, a point between thousands: 1.234,5)",
    "{cell!r} is geen getal in een bestand met ; als scheidingsteken, dat getallen op zijn "
    "Nederlands schrijft (decimale komma, een punt tussen duizendtallen: 1.234,5)",
)
NUMBER_SEMICOLON_POINT = Text(
    "number_semicolon_point",
    "{cell!r} is not a number in a ;-separated file, which writes numbers the Dutch way "
    "(decimal comma, a point between thousands: 1.234,5): write {suggestion}",
    "{cell!r} is geen getal in een bestand met ; als scheidingsteken, dat getallen op zijn "
    "Nederlands schrijft (decimale komma, een punt tussen duizendtallen: 1.234,5): schrijf "
    "{suggestion}",
)
NUMBER_COMMA = Text(
    "number_comma",
    "{cell!r} is not a number in a ,-separated file, which writes numbers with a decimal "
    "point and no thousands separator (1234.5)",
    "{cell!r} is geen getal in een bestand met , als scheidingsteken, dat getallen schrijft "
    "met een decimale punt en zonder scheiding van duizendtallen (1234.5)",
)
NUMBER_COMMA_DUTCH = Text(
    "number_comma_dutch",
    "{cell!r} is not a number in a ,-separated file, which writes numbers with a decimal "
    "point and no thousands separator (1234.5); for numbers written the Dutch way "
    "(1.234,5), separate the file with ;",
    "{cell!r} is geen getal in een bestand met , als scheidingsteken, dat getallen schrijft "
    "met een decimale punt en zonder scheiding van duizendtallen (1234.5); voor getallen op "
    "zijn Nederlands (1.234,5) scheidt u het bestand met ;",
)
NUMBER_TOO_LARGE = Text(
    "number_too_large",
    "{cell!r} is too large to be a number",
    "{cell!r} is te groot voor een getal",
)
NUMBER_INEXACT = Text(
    "number_inexact",
    "{cell!r} cannot be taken as written (more than 15 significant digits, or too close to "
    "zero): write it with fewer digits",
    "{cell!r} kan niet worden genomen zoals geschreven (meer dan 15 significante cijfers, of "
    "te dicht bij nul): schrijf het met minder cijfers",
)
WHOLE_NUMBER = Text(
    "whole_number",
    "{cell!r} is not a whole number written with digits only (such as 2)",
    "{cell!r} is geen geheel getal van alleen cijfers (zoals 2)",
)
BOOLEAN = Text(
    "boolean",
    "{cell!r} is not true or false (also taken: 1/0, yes/no, ja/nee, WAAR/ONWAAR)",
    "{cell!r} is niet true of false (ook goed: 1/0, yes/no, ja/nee, WAAR/ONWAAR)",
)
DISAGGREGATION = Text(
    "disaggregation",
    "expected dimension=code;dimension=code",
    "verwacht dimensie=code;dimensie=code",
)
# JSON values of the wrong type: never converted.
JSON_TYPE = Text(
    "json_type",
    "expected {expected}, not {given} (JSON is taken literally)",
    "verwacht {expected}, niet {given} (JSON wordt letterlijk genomen)",
)

#: The explanations by code, in the order defined above.
TEXTS: dict[str, Text] = _constants(Text)

#: Names of JSON types for ``json_type``: what a field takes, and what was sent.
JSON_TYPES: dict[str, dict[str, str]] = {
    "en": {
        "number": "a number",
        "integer": "a whole number",
        "decimal": "a decimal number",
        "boolean": "true or false",
        "string": "text",
        "object": "an object",
        "array": "an array",
        "null": "null",
    },
    "nl": {
        "number": "een getal",
        "integer": "een geheel getal",
        "decimal": "een decimaal getal",
        "boolean": "true of false",
        "string": "tekst",
        "object": "een object",
        "array": "een lijst",
        "null": "null",
    },
}
