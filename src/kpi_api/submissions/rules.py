"""Every validation rule of a submission, with its stable code and its messages in NL and EN.

Row rules reject one measurement; request rules refuse the whole request. The codes are a
contract with vendors: never rename one, add new ones. ``TEXTS`` holds the texts that explain an
error further (where an encoding breaks, why a CSV cell or JSON value cannot be read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Rule:
    code: str
    level: Literal["row", "request"]
    field: str | None
    en: str
    nl: str

    def message(self, lang: str, **params: object) -> str:
        return _render(self.nl if lang == "nl" else self.en, params)


def _render(template: str, params: dict[str, object]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


_RULES = [
    # --- the request as a whole ---
    Rule(
        "unsupported_media_type",
        "request",
        None,
        "Send application/json or text/csv.",
        "Stuur application/json of text/csv.",
    ),
    Rule(
        "malformed_json",
        "request",
        None,
        "The body is not valid JSON: {detail}.",
        "De body is geen geldige JSON: {detail}.",
    ),
    Rule(
        "malformed_csv",
        "request",
        None,
        "The body is not valid CSV: {detail}.",
        "De body is geen geldige CSV: {detail}.",
    ),
    Rule(
        "invalid_encoding",
        "request",
        None,
        "The body is not valid {charset}.",
        "De body is geen geldige {charset}.",
    ),
    Rule(
        "unsupported_charset",
        "request",
        None,
        "A body of type {media} cannot be read as charset {charset!r}: declare {supported}, or "
        "save the file as UTF-8.",
        "Een body van type {media} kan niet worden gelezen als charset {charset!r}: geef "
        "{supported} op, of sla het bestand op als UTF-8.",
    ),
    Rule(
        "invalid_number",
        "request",
        None,
        "The number at {pointer} cannot be taken as sent: NaN and Infinity are not JSON, and a "
        "number must fit in 15 significant digits and the range of a number.",
        "Het getal op {pointer} kan niet worden genomen zoals verstuurd: NaN en Infinity zijn "
        "geen JSON, en een getal moet passen in 15 significante cijfers en het bereik van een "
        "getal.",
    ),
    Rule(
        "duplicate_member",
        "request",
        None,
        "Member {name!r} appears twice at {pointer}; JSON is taken literally, so send each member "
        "once.",
        "Veld {name!r} komt twee keer voor op {pointer}; JSON wordt letterlijk genomen, dus stuur "
        "elk veld één keer.",
    ),
    Rule(
        "invalid_text",
        "request",
        None,
        "The text at {pointer} holds a NUL character or a lone surrogate, which cannot be stored.",
        "De tekst op {pointer} bevat een NUL-teken of een losse surrogaat, die niet kan worden "
        "opgeslagen.",
    ),
    Rule(
        "body_too_large",
        "request",
        None,
        "The request body is too large.",
        "De request body is te groot.",
    ),
    Rule(
        "batch_too_large",
        "request",
        None,
        "A batch holds at most {limit} measurements; this one has {rows}.",
        "Een batch bevat hoogstens {limit} metingen; deze heeft er {rows}.",
    ),
    Rule(
        "batch_empty",
        "request",
        None,
        "The batch holds no measurements.",
        "De batch bevat geen metingen.",
    ),
    Rule(
        "organisation_not_authorised",
        "request",
        "organisation",
        "This vendor may not submit for organisation {organisation!r}.",
        "Deze leverancier mag niet aanleveren voor organisatie {organisation!r}.",
    ),
    Rule(
        "idempotency_key_reused",
        "request",
        None,
        "This Idempotency-Key was used for a different request.",
        "Deze Idempotency-Key is gebruikt voor een ander verzoek.",
    ),
    Rule(
        "concurrent_update",
        "request",
        None,
        "Another submission changed the same measurements at the same moment; retry.",
        "Een andere aanlevering wijzigde tegelijk dezelfde metingen; probeer opnieuw.",
    ),
    # --- the shape of a row ---
    Rule("field_missing", "row", None, "{field} is required.", "{field} is verplicht."),
    Rule(
        "field_unknown",
        "row",
        None,
        "{field} is not a field of a measurement.",
        "{field} is geen veld van een meting.",
    ),
    Rule(
        "field_invalid",
        "row",
        None,
        "{field} is not valid: {detail}.",
        "{field} is ongeldig: {detail}.",
    ),
    Rule(
        "field_too_long",
        "row",
        None,
        "{field} is too long: {detail}.",
        "{field} is te lang: {detail}.",
    ),
    # --- the KPI ---
    Rule("kpi_unknown", "row", "kpi", "KPI {kpi!r} does not exist.", "KPI {kpi!r} bestaat niet."),
    Rule(
        "kpi_version_unknown",
        "row",
        "kpi_version",
        "KPI {kpi!r} has no version {version}.",
        "KPI {kpi!r} heeft geen versie {version}.",
    ),
    Rule(
        "kpi_not_published",
        "row",
        "kpi_version",
        "Version {version} of KPI {kpi!r} is a draft, not published.",
        "Versie {version} van KPI {kpi!r} is een concept, niet gepubliceerd.",
    ),
    Rule(
        "release_unknown",
        "row",
        "release",
        "Release {release!r} does not exist.",
        "Release {release!r} bestaat niet.",
    ),
    Rule(
        "kpi_not_in_release",
        "row",
        "kpi",
        "KPI {kpi!r} is not part of release {release!r}.",
        "KPI {kpi!r} maakt geen deel uit van release {release!r}.",
    ),
    Rule(
        "kpi_deprecated",
        "row",
        "period",
        "KPI {kpi!r} is deprecated for periods from {since} on{successor}.",
        "KPI {kpi!r} vervalt voor perioden vanaf {since}{successor}.",
    ),
    Rule(
        "kpi_version_replaced",
        "row",
        "kpi_version",
        "Version {version} of KPI {kpi!r} does not apply to {period}: a series break on {since} "
        "replaced its definition; send {period} under version {governing}.",
        "Versie {version} van KPI {kpi!r} geldt niet voor {period}: een trendbreuk per {since} "
        "verving haar definitie; lever {period} aan onder versie {governing}.",
    ),
    Rule(
        "kpi_version_not_in_force",
        "row",
        "kpi_version",
        "Version {version} of KPI {kpi!r} applies to periods from {since} on (a series break); "
        "send {period} under version {governing}, or leave kpi_version out.",
        "Versie {version} van KPI {kpi!r} geldt voor perioden vanaf {since} (een trendbreuk); "
        "lever {period} aan onder versie {governing}, of laat kpi_version weg.",
    ),
    # --- the period ---
    Rule(
        "period_invalid",
        "row",
        "period",
        "{period!r} is not a period; use 2025, 2025-Q1 or 2025-03.",
        "{period!r} is geen periode; gebruik 2025, 2025-Q1 of 2025-03.",
    ),
    Rule(
        "period_type_not_allowed",
        "row",
        "period",
        "KPI {kpi!r} is measured per {allowed}, not per {type}.",
        "KPI {kpi!r} wordt gemeten per {allowed}, niet per {type}.",
    ),
    Rule(
        "period_in_future",
        "row",
        "period",
        "Period {period} has not ended yet (it ends {end}).",
        "Periode {period} is nog niet afgelopen (eindigt {end}).",
    ),
    Rule(
        "period_locked",
        "row",
        "period",
        "Period {period} falls in the closed period {lock}.",
        "Periode {period} valt in de afgesloten periode {lock}.",
    ),
    # --- where ---
    Rule(
        "municipality_unknown",
        "row",
        "municipality",
        "{municipality!r} is not a CBS municipality code.",
        "{municipality!r} is geen CBS-gemeentecode.",
    ),
    Rule(
        "municipality_not_valid",
        "row",
        "municipality",
        "Municipality {municipality} did not exist during {period}.",
        "Gemeente {municipality} bestond niet in {period}.",
    ),
    Rule(
        "organisation_not_in_municipality",
        "row",
        "municipality",
        "Organisation {organisation!r} is not registered as working in {municipality}.",
        "Organisatie {organisation!r} is niet geregistreerd als werkzaam in {municipality}.",
    ),
    # --- the disaggregation ---
    Rule(
        "dimension_not_allowed",
        "row",
        "disaggregation",
        "KPI {kpi!r} cannot be split by {dimension!r}; allowed: {allowed}.",
        "KPI {kpi!r} kan niet worden uitgesplitst naar {dimension!r}; toegestaan: {allowed}.",
    ),
    Rule(
        "dimension_code_missing",
        "row",
        "disaggregation",
        "Dimension {dimension!r} has no code.",
        "Dimensie {dimension!r} heeft geen code.",
    ),
    Rule(
        "dimension_code_unknown",
        "row",
        "disaggregation",
        "{code!r} is not in code list {dimension!r}.",
        "{code!r} staat niet in codelijst {dimension!r}.",
    ),
    Rule(
        "area_outside_municipality",
        "row",
        "disaggregation",
        "{code} does not lie in municipality {municipality}.",
        "{code} ligt niet in gemeente {municipality}.",
    ),
    # --- the value ---
    Rule(
        "value_form",
        "row",
        "value",
        "A {value_type} KPI takes {expected}.",
        "Een {value_type}-KPI vraagt {expected}.",
    ),
    Rule(
        "value_not_integer",
        "row",
        "value",
        "{field} must be a whole number.",
        "{field} moet een geheel getal zijn.",
    ),
    Rule(
        "value_out_of_range",
        "row",
        "value",
        "{value} lies outside the valid range {low} .. {high}.",
        "{value} ligt buiten het geldige bereik {low} .. {high}.",
    ),
    Rule(
        "value_too_large",
        "row",
        "value",
        "{field} cannot exceed {limit}, the largest count KPI {kpi!r} allows per measurement.",
        "{field} kan niet groter zijn dan {limit}, het grootste aantal dat KPI {kpi!r} per meting "
        "toestaat.",
    ),
    Rule(
        "value_too_precise",
        "row",
        "value",
        "{field} has more than {decimals} decimals; send an amount exact to the cent.",
        "{field} heeft meer dan {decimals} decimalen; stuur een bedrag exact op de cent.",
    ),
    Rule(
        "numerator_exceeds_denominator",
        "row",
        "numerator",
        "The numerator ({numerator}) exceeds the denominator ({denominator}).",
        "De teller ({numerator}) is groter dan de noemer ({denominator}).",
    ),
    Rule(
        "denominator_not_positive",
        "row",
        "denominator",
        "The denominator must be greater than 0.",
        "De noemer moet groter zijn dan 0.",
    ),
    Rule(
        "n_not_positive",
        "row",
        "n",
        "n must be a whole number of at least 1.",
        "n moet een geheel getal van minstens 1 zijn.",
    ),
    Rule(
        "n_too_large",
        "row",
        "n",
        "n cannot exceed {limit}, the largest count KPI {kpi!r} allows per measurement.",
        "n kan niet groter zijn dan {limit}, het grootste aantal dat KPI {kpi!r} per meting "
        "toestaat.",
    ),
    Rule(
        "negative_count",
        "row",
        None,
        "{field} cannot be negative.",
        "{field} kan niet negatief zijn.",
    ),
    # --- the batch and the stored data ---
    Rule(
        "duplicate_in_batch",
        "row",
        None,
        "Row {first} already holds this organisation, KPI, period, municipality and "
        "disaggregation.",
        "Rij {first} bevat al deze organisatie, KPI, periode, gemeente en uitsplitsing.",
    ),
    Rule(
        "nothing_to_withdraw",
        "row",
        None,
        "There is no current measurement to withdraw.",
        "Er is geen actuele meting om in te trekken.",
    ),
]

RULES: dict[str, Rule] = {r.code: r for r in _RULES}


@dataclass(frozen=True)
class Text:
    """A message that explains a rule's error further (an ``errors[]`` entry, or the
    ``detail`` of ``field_invalid``), in NL and EN."""

    en: str
    nl: str

    def message(self, lang: str, **params: object) -> str:
        return _render(self.nl if lang == "nl" else self.en, params)


#: Explanations, by name: where a body's encoding breaks, and why a CSV cell or a JSON value
#: cannot be read.
TEXTS: dict[str, Text] = {
    "encoding_undeclared": Text(
        "byte {offset} ({byte}, line {line}) is not UTF-8: save the file as UTF-8 (in Excel: "
        "CSV UTF-8), or declare the encoding it has, e.g. Content-Type: text/csv; "
        "charset=windows-1252",
        "byte {offset} ({byte}, regel {line}) is geen UTF-8: sla het bestand op als UTF-8 (in "
        "Excel: CSV UTF-8), of geef de codering op die het heeft, bijv. Content-Type: text/csv; "
        "charset=windows-1252",
    ),
    "encoding_declared": Text(
        "byte {offset} ({byte}, line {line}) is not {charset}: declare the encoding the file "
        "has, or save it as UTF-8",
        "byte {offset} ({byte}, regel {line}) is geen {charset}: geef de codering op die het "
        "bestand heeft, of sla het op als UTF-8",
    ),
    "encoding_json": Text(
        "byte {offset} ({byte}, line {line}) is not UTF-8, and JSON is always UTF-8 (RFC 8259)",
        "byte {offset} ({byte}, regel {line}) is geen UTF-8, en JSON is altijd UTF-8 (RFC 8259)",
    ),
    # CSV cells, read under the file's dialect.
    "number_semicolon": Text(
        "{cell!r} is not a number in a ;-separated file, which writes numbers the Dutch way "
        "(decimal comma, a point between thousands: 1.234,5)",
        "{cell!r} is geen getal in een bestand met ; als scheidingsteken, dat getallen op zijn "
        "Nederlands schrijft (decimale komma, een punt tussen duizendtallen: 1.234,5)",
    ),
    "number_semicolon_point": Text(
        "{cell!r} is not a number in a ;-separated file, which writes numbers the Dutch way "
        "(decimal comma, a point between thousands: 1.234,5): write {suggestion}",
        "{cell!r} is geen getal in een bestand met ; als scheidingsteken, dat getallen op zijn "
        "Nederlands schrijft (decimale komma, een punt tussen duizendtallen: 1.234,5): schrijf "
        "{suggestion}",
    ),
    "number_comma": Text(
        "{cell!r} is not a number in a ,-separated file, which writes numbers with a decimal "
        "point and no thousands separator (1234.5)",
        "{cell!r} is geen getal in een bestand met , als scheidingsteken, dat getallen schrijft "
        "met een decimale punt en zonder scheiding van duizendtallen (1234.5)",
    ),
    "number_comma_dutch": Text(
        "{cell!r} is not a number in a ,-separated file, which writes numbers with a decimal "
        "point and no thousands separator (1234.5); for numbers written the Dutch way "
        "(1.234,5), separate the file with ;",
        "{cell!r} is geen getal in een bestand met , als scheidingsteken, dat getallen schrijft "
        "met een decimale punt en zonder scheiding van duizendtallen (1234.5); voor getallen op "
        "zijn Nederlands (1.234,5) scheidt u het bestand met ;",
    ),
    "number_too_large": Text(
        "{cell!r} is too large to be a number",
        "{cell!r} is te groot voor een getal",
    ),
    "number_inexact": Text(
        "{cell!r} cannot be taken as written (more than 15 significant digits, or too close to "
        "zero): write it with fewer digits",
        "{cell!r} kan niet worden genomen zoals geschreven (meer dan 15 significante cijfers, of "
        "te dicht bij nul): schrijf het met minder cijfers",
    ),
    "whole_number": Text(
        "{cell!r} is not a whole number written with digits only (such as 2)",
        "{cell!r} is geen geheel getal van alleen cijfers (zoals 2)",
    ),
    "boolean": Text(
        "{cell!r} is not true or false (also taken: 1/0, yes/no, ja/nee, WAAR/ONWAAR)",
        "{cell!r} is niet true of false (ook goed: 1/0, yes/no, ja/nee, WAAR/ONWAAR)",
    ),
    "disaggregation": Text(
        "expected dimension=code;dimension=code",
        "verwacht dimensie=code;dimensie=code",
    ),
    # JSON values of the wrong type: never converted.
    "json_type": Text(
        "expected {expected}, not {given} (JSON is taken literally)",
        "verwacht {expected}, niet {given} (JSON wordt letterlijk genomen)",
    ),
}

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
