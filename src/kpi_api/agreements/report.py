"""The agreement report: HTML from a Jinja2 template (``templates/report.html.j2``), in Dutch
or English, with a print stylesheet so it prints to PDF well."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kpi_api.agreements.progress import NoStatus, ProgressStatus
from kpi_api.agreements.service import DISCLAIMER, METHOD, Report
from kpi_api.vocabulary import Direction

_env = Environment(
    loader=PackageLoader("kpi_api.agreements", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

STATUS: dict[str, dict[str, str]] = {
    "nl": {
        ProgressStatus.target_reached: "Streefwaarde bereikt",
        ProgressStatus.on_track: "Op koers",
        ProgressStatus.moderate_progress: "Vooruitgang, versnelling nodig",
        ProgressStatus.limited_progress: "Beperkte vooruitgang",
        ProgressStatus.moving_away: "Beweegt van de streefwaarde af",
    },
    "en": {
        ProgressStatus.target_reached: "Target reached",
        ProgressStatus.on_track: "On track",
        ProgressStatus.moderate_progress: "Progress, acceleration needed",
        ProgressStatus.limited_progress: "Limited progress",
        ProgressStatus.moving_away: "Moving away from the target",
    },
}
REASON: dict[str, dict[str, str]] = {
    "nl": {
        NoStatus.no_direction: "geen gewenste richting",
        NoStatus.no_figure: "geen cijfer",
        NoStatus.baseline_period: "beginsituatie",
        NoStatus.no_baseline: "geen beginsituatie",
        NoStatus.no_scale: "niet te bepalen",
        NoStatus.series_break: "definitie gewijzigd",
    },
    "en": {
        NoStatus.no_direction: "no desired direction",
        NoStatus.no_figure: "no figure",
        NoStatus.baseline_period: "baseline",
        NoStatus.no_baseline: "no baseline",
        NoStatus.no_scale: "cannot be assessed",
        NoStatus.series_break: "definition changed",
    },
}
DIRECTION: dict[str, dict[str, str]] = {
    "nl": {
        Direction.higher_is_better: "hoger is beter",
        Direction.lower_is_better: "lager is beter",
        Direction.none: "geen gewenste richting",
    },
    "en": {
        Direction.higher_is_better: "higher is better",
        Direction.lower_is_better: "lower is better",
        Direction.none: "no desired direction",
    },
}
LABELS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Voortgangsrapportage prestatieafspraak",
        "status": "Status",
        "draft": "concept",
        "active": "vastgesteld",
        "ended": "beëindigd",
        "version": "versie",
        "term": "Looptijd",
        "organisations": "Organisaties",
        "municipalities": "Gemeenten",
        "work_field": "Werkveld",
        "goal": "Doelstelling",
        "indicator": "Indicator",
        "baseline": "Beginsituatie",
        "target": "Streefwaarde (indicatief)",
        "rhythm": "Monitoring per",
        "direction": "Gewenste richting",
        "scope": "Afbakening",
        "total": "totaal",
        "progress": "Voortgang",
        "period": "Periode",
        "figure": "Cijfer",
        "change": "Verandering t.o.v. beginsituatie",
        "coverage": "Dekking",
        "notes": "Toelichting bij de gegevens",
        "explanations": "Duiding",
        "no_data": "geen gegevens",
        "no_figures": "Nog geen monitoringsperioden voorbij.",
        "of_orgs": "organisaties",
        "of_munis": "gemeenten",
        "missing": "ontbreekt",
        "disclaimer": "Let op",
        "method": "Methode",
        "method_name": "de voortgangsmaat van Statistics Canada, zoals Open SDG die berekent "
        "(samengestelde jaarlijkse groei; lineaire verandering waar de beginwaarde nul is of "
        "de waarden van teken wisselen)",
        "role_organisation": "organisatie",
        "role_municipality": "gemeente",
        "role_vendor": "leverancier",
        "role_publisher": "uitgever",
        "generated": "Gemaakt op",
        "live": "Cijfers van de partijen zelf, zoals de gegevens nu staan (niet gepubliceerd).",
        "entered": "ingevoerd",
        "data": "uit de gegevens",
        "month": "maand",
        "quarter": "kwartaal",
        "year": "jaar",
        "latest": "Laatste stand",
        "not_comparable": "niet vergelijkbaar (definitie gewijzigd)",
    },
    "en": {
        "title": "Progress report on a performance agreement",
        "status": "Status",
        "draft": "draft",
        "active": "signed off",
        "ended": "ended",
        "version": "version",
        "term": "Term",
        "organisations": "Organisations",
        "municipalities": "Municipalities",
        "work_field": "Work field",
        "goal": "Goal",
        "indicator": "Indicator",
        "baseline": "Baseline",
        "target": "Target (indicative)",
        "rhythm": "Monitored per",
        "direction": "Desired direction",
        "scope": "Scope",
        "total": "total",
        "progress": "Progress",
        "period": "Period",
        "figure": "Figure",
        "change": "Change since baseline",
        "coverage": "Coverage",
        "notes": "Notes with the data",
        "explanations": "Interpretation",
        "no_data": "no data",
        "no_figures": "No monitoring period has ended yet.",
        "of_orgs": "organisations",
        "of_munis": "municipalities",
        "missing": "missing",
        "disclaimer": "Please note",
        "method": "Method",
        "method_name": "Statistics Canada's progress measure, as Open SDG computes it (compound "
        "annual growth; linear change where the baseline is zero or values change sign)",
        "role_organisation": "organisation",
        "role_municipality": "municipality",
        "role_vendor": "vendor",
        "role_publisher": "publisher",
        "generated": "Generated on",
        "live": "The parties' own figures, as the data stand now (not published).",
        "entered": "entered",
        "data": "from the data",
        "month": "month",
        "quarter": "quarter",
        "year": "year",
        "latest": "Latest",
        "not_comparable": "not comparable (definition changed)",
    },
}


def number(x: float | int | Decimal | None, decimals: int, lang: str) -> str:
    """A figure as printed: its decimals, a decimal comma in Dutch; a dash for none."""
    if x is None:
        return "–"
    text = f"{x:,.{decimals}f}"
    if lang == "nl":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


def signed(x: float | int | None, baseline: float | int | None, decimals: int, lang: str) -> str:
    if x is None or baseline is None:
        return ""
    diff = Decimal(repr(x)) - Decimal(repr(baseline))
    sign = "+" if diff > 0 else ""
    return sign + number(diff, decimals, lang)


def moment(x: datetime | date, lang: str) -> str:
    if isinstance(x, datetime):
        return x.strftime("%Y-%m-%d %H:%M UTC")
    return x.strftime("%d-%m-%Y") if lang == "nl" else x.isoformat()


def render(report: Report, *, lang: str) -> str:
    """The report as an HTML document in ``lang`` (``nl`` or ``en``)."""
    template = _env.get_template("report.html.j2")
    return template.render(
        lang=lang,
        t=LABELS[lang],
        status_label=STATUS[lang],
        reason_label=REASON[lang],
        direction_label=DIRECTION[lang],
        agreement=report.agreement,
        progress=report.progress,
        organisation_names=report.organisation_names,
        municipality_names=report.municipality_names,
        disclaimer=DISCLAIMER.nl if lang == "nl" else DISCLAIMER.en,
        disclaimer_other=DISCLAIMER.en if lang == "nl" else DISCLAIMER.nl,
        method=METHOD,
        number=number,
        signed=signed,
        moment=moment,
    )
