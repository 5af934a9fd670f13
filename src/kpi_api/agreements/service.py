"""Agreements (prestatieafspraken): versions, sign-off, progress, interpretation, completeness.

Rules:

- An agreement is versioned like everything else: every change, and every change of status,
  adds a version that is never changed again; ``draft`` → ``active`` (signed off) → ``ended``.
  Only a draft's content changes (409 ``agreement_active`` / ``agreement_ended`` otherwise).
- Who reads what is decided once (``repository.readable``); an agreement a key may not read is
  404, like one that does not exist. Writing (creating, changing, signing off, ending) is for
  the organisation side and the publisher: an organisation key for agreements whose only
  organisation is its own, a vendor for agreements of organisations it acts for, all of them.
  Municipality keys read, and explain; they do not draft (a draft shows the organisations'
  own figures, which they share by signing off: until then a municipality sees the text only).
- Progress shows the parties' own live figures, unsuppressed (``aggregates.party_figures``),
  with coverage, the notes sent with the measurements and the parties' explanations, against
  baseline and target, judged by the method in ``progress``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from kpi_api import freshness
from kpi_api.aggregates import service as aggregates
from kpi_api.agreements import progress as method
from kpi_api.agreements import repository as repo
from kpi_api.agreements.models import (
    Agreement,
    AgreementExplanation,
    AgreementKpi,
    AgreementMunicipality,
    AgreementOrganisation,
    AgreementVersion,
)
from kpi_api.agreements.schemas import (
    AgreedKpiIn,
    AgreedKpiRead,
    AgreementIn,
    AgreementPage,
    AgreementRead,
    AgreementVersions,
    AssessmentRead,
    Author,
    BaselineRead,
    Breakdown,
    Completeness,
    Coverage,
    Disclaimer,
    DueItem,
    ExplanationIn,
    ExplanationList,
    ExplanationRead,
    FigureRead,
    KpiProgress,
    MethodRead,
    MissingOrganisation,
    ProgressRead,
    Source,
    Status,
    StatusChange,
    TargetRead,
    Term,
    VendorNote,
)
from kpi_api.auth import Principal, Role
from kpi_api.catalogue import service as catalogue
from kpi_api.catalogue.schemas import KpiRead
from kpi_api.db import utcnow
from kpi_api.errors import Conflict, FieldError, Forbidden, KpiApiError, NotFound, Unprocessable
from kpi_api.messages import Message
from kpi_api.periods import Period, parse_period, periods_within
from kpi_api.reference import service as reference
from kpi_api.vocabulary import Aggregation, Direction, PeriodType
from kpi_api.web.pagination import decode_cursor, page

# --- messages ------------------------------------------------------------------------------------

AGREEMENT_NOT_FOUND = Message(
    "agreement_not_found",
    "Agreement {agreement} does not exist.",
    "Afspraak {agreement} bestaat niet.",
)
AGREEMENT_VERSION_NOT_FOUND = Message(
    "agreement_version_not_found",
    "Agreement {agreement} has no version {version}.",
    "Afspraak {agreement} heeft geen versie {version}.",
)
AGREEMENT_ACTIVE = Message(
    "agreement_active",
    "Agreement {agreement} was signed off in version {version} and cannot change; end it and "
    "make a new agreement.",
    "Afspraak {agreement} is in versie {version} vastgesteld en kan niet meer veranderen; "
    "beëindig haar en maak een nieuwe afspraak.",
)
AGREEMENT_ENDED = Message(
    "agreement_ended",
    "Agreement {agreement} has ended (version {version}) and cannot change.",
    "Afspraak {agreement} is beëindigd (versie {version}) en kan niet meer veranderen.",
)
AGREEMENT_DRAFT = Message(
    "agreement_draft",
    "Agreement {agreement} is a draft: its figures are shared once it is signed off.",
    "Afspraak {agreement} is een concept: de cijfers worden gedeeld zodra zij is vastgesteld.",
)
FIGURES_PARTIES_ONLY = Message(
    "figures_parties_only",
    "The figures of agreement {agreement} are its parties' own: only the organisations (or "
    "their vendors) and, once signed off, the municipalities see them.",
    "De cijfers van afspraak {agreement} zijn van de partijen zelf: alleen de organisaties (of "
    "hun leveranciers) en, na vaststelling, de gemeenten zien ze.",
)
SIGN_OFF_BY_ORGANISATION = Message(
    "sign_off_by_organisation",
    "Agreement {agreement} is signed off by its organisation side (the organisation, or a vendor "
    "acting for every organisation in it): signing off shares their figures.",
    "Afspraak {agreement} wordt vastgesteld door de kant van de organisatie (de organisatie, of "
    "een leverancier die voor alle organisaties erin optreedt): vaststellen deelt hun cijfers.",
)
STATUS_TRANSITION = Message(
    "status_transition_invalid",
    "An agreement goes from draft to active to ended; it cannot go from {current} to {requested}.",
    "Een afspraak gaat van concept naar actief naar beëindigd; zij kan niet van {current} naar "
    "{requested}.",
)
VERSION_MISMATCH = Message(
    "version_mismatch",
    "If-Match names version {given}, but agreement {agreement} is at version {current}; read "
    "it again and reapply the change.",
    "If-Match noemt versie {given}, maar afspraak {agreement} is bij versie {current}; lees "
    "haar opnieuw en breng de wijziging opnieuw aan.",
)
NOT_WRITABLE = Message(
    "agreement_not_writable",
    "This key may read agreement {agreement} but not change it: that is for the organisation "
    "(or the vendor acting for all its organisations) and the publisher.",
    "Deze sleutel mag afspraak {agreement} lezen maar niet wijzigen: dat doen de organisatie "
    "(of de leverancier die voor al haar organisaties optreedt) en de uitgever.",
)
NOT_A_PARTY = Message(
    "not_a_party",
    "Only the parties to agreement {agreement} write its explanations.",
    "Alleen de partijen bij afspraak {agreement} schrijven de duiding ervan.",
)
ORGANISATION_NOT_AUTHORISED = Message(
    "organisation_not_authorised",
    "This key may not make agreements for organisation {organisation!r}.",
    "Deze sleutel mag geen afspraken maken voor organisatie {organisation!r}.",
)
AGREEMENT_INVALID = Message(
    "agreement_invalid",
    "The agreement is not valid; see errors.",
    "De afspraak is niet geldig; zie errors.",
)
AGREEMENT_INCOMPLETE = Message(
    "agreement_incomplete",
    "The agreement cannot be signed off before every agreed KPI has a goal, a baseline and (for "
    "a KPI with a desired direction) a target; see errors.",
    "De afspraak kan pas worden vastgesteld als elke afgesproken KPI een doelstelling, een "
    "beginsituatie en (bij een KPI met een gewenste richting) een streefwaarde heeft; zie "
    "errors.",
)
EXPLANATION_INVALID = Message(
    "explanation_invalid",
    "The explanation does not fit the agreement; see errors.",
    "De toelichting past niet bij de afspraak; zie errors.",
)
ORGANISATION_UNKNOWN = Message(
    "organisation_unknown",
    "No organisation {organisation!r}.",
    "Geen organisatie {organisation!r}.",
)

#: Field rules (``errors[].code``), English and Dutch.
RULES: dict[str, Message] = {
    m.code: m
    for m in (
        Message("work_field_unknown", "no work field {value!r}", "geen werkveld {value!r}"),
        Message("kpi_set_unknown", "no KPI set {value!r}", "geen KPI-set {value!r}"),
        Message(
            "kpi_set_other_work_field",
            "KPI set {value!r} belongs to work field {other!r}",
            "KPI-set {value!r} hoort bij werkveld {other!r}",
        ),
        Message("organisation_unknown", "no organisation {value!r}", "geen organisatie {value!r}"),
        Message("municipality_unknown", "no municipality {value!r}", "geen gemeente {value!r}"),
        Message(
            "organisation_not_in_municipality",
            "{value!r} works in none of the agreement's municipalities",
            "{value!r} werkt in geen van de gemeenten van de afspraak",
        ),
        Message(
            "municipality_not_served",
            "no organisation of the agreement works in {value!r}",
            "geen organisatie van de afspraak werkt in {value!r}",
        ),
        Message(
            "term_too_long",
            "a term lasts at most {years} years",
            "een looptijd duurt ten hoogste {years} jaar",
        ),
        Message("kpi_unknown", "no published KPI {value!r}", "geen gepubliceerde KPI {value!r}"),
        Message(
            "kpi_version_unknown",
            "{value!r} has no published version {version}",
            "{value!r} heeft geen gepubliceerde versie {version}",
        ),
        Message(
            "kpi_listed_twice",
            "{value!r} is agreed twice with the same scope",
            "{value!r} is twee keer met dezelfde afbakening afgesproken",
        ),
        Message(
            "rhythm_not_available",
            "{value!r} has figures per {types} only",
            "{value!r} heeft alleen cijfers per {types}",
        ),
        Message(
            "breakdown_not_allowed",
            "{value!r} can be split by {dimensions}",
            "{value!r} kan worden uitgesplitst naar {dimensions}",
        ),
        Message(
            "breakdown_code_unknown",
            "{value!r} is not a code of {dimension!r}",
            "{value!r} is geen code van {dimension!r}",
        ),
        Message(
            "period_type_mismatch",
            "{value!r} is not a {rhythm}: the monitoring rhythm",
            "{value!r} is geen {rhythm}: het monitoringsritme",
        ),
        Message(
            "target_not_after_baseline",
            "the target period {value!r} must come after the baseline period",
            "de periode van de streefwaarde {value!r} moet na die van de beginsituatie liggen",
        ),
        Message(
            "target_outside_term",
            "the target period {value!r} lies outside the term",
            "de periode van de streefwaarde {value!r} ligt buiten de looptijd",
        ),
        Message(
            "value_out_of_range",
            "{value} lies outside the KPI's range {low} to {high}",
            "{value} ligt buiten het bereik van de KPI, {low} tot {high}",
        ),
        Message(
            "baseline_not_ended",
            "the baseline period {value!r} has not ended: there is no figure to take",
            "de periode van de beginsituatie {value!r} is nog niet voorbij: er is geen cijfer",
        ),
        Message(
            "baseline_no_data",
            "the parties have no data for {value!r}; type the baseline in",
            "de partijen hebben geen gegevens over {value!r}; vul de beginsituatie in",
        ),
        Message(
            "field_required",
            "{value} is required to sign off",
            "{value} is nodig om vast te stellen",
        ),
        Message("no_kpis", "agree at least one KPI", "spreek ten minste één KPI af"),
        Message(
            "kpi_not_agreed",
            "{value!r} with this scope is not agreed in this agreement",
            "{value!r} met deze afbakening is niet in deze afspraak afgesproken",
        ),
        Message(
            "period_not_monitored",
            "{value!r} is not a monitoring period of this KPI in this agreement",
            "{value!r} is geen monitoringsperiode van deze KPI in deze afspraak",
        ),
    )
}

#: The standing disclaimer on every progress answer and report.
DISCLAIMER = Disclaimer(
    nl="De streefwaarden in deze afspraak zijn indicatief. Of ze worden gehaald, hangt ook af "
    "van ontwikkelingen waarop de organisatie geen invloed heeft. De cijfers zijn een "
    "hulpmiddel voor het gesprek tussen organisatie en gemeente, geen afrekeninstrument.",
    en="The targets in this agreement are indicative. Whether they are reached also depends on "
    "developments outside the organisation's control. The figures are a tool for the "
    "conversation between organisation and municipality, not an accounting tool.",
)
METHOD = MethodRead(
    name="Statistics Canada progress measure, as computed by Open SDG (compound annual growth; "
    "linear change where the baseline is zero or values change sign)",
    source="https://open-sdg.readthedocs.io/en/latest/progress/ "
    "(open-sdg/sdg-build sdg/ProgressMeasure.py)",
    thresholds_with_target={
        "on_track": method.WITH_TARGET.on_track,
        "moderate_progress": method.WITH_TARGET.moderate,
        "limited_progress": method.WITH_TARGET.limited,
    },
    thresholds_without_target={
        "on_track": method.WITHOUT_TARGET.on_track,
        "moderate_progress": method.WITHOUT_TARGET.moderate,
        "limited_progress": method.WITHOUT_TARGET.limited,
    },
)
MAX_TERM_YEARS = 10
WRITERS = frozenset({Role.publisher, Role.vendor, Role.organisation})


# --- the catalogue: a KPI as agreed --------------------------------------------------------------


class _Kpis:
    """KPI versions read from the catalogue once per call. An agreed KPI is read at its agreed
    version, its desired direction too: a later version may state another (a minor change), but
    what was signed off is judged as it was signed off."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.found: dict[tuple[str, int | None], KpiRead | None] = {}

    def get(self, code: str, version: int | None = None) -> KpiRead | None:
        key = (code, version)
        if key not in self.found:
            try:
                if version is None:
                    self.found[key] = catalogue.get_kpi(self.session, code=code)
                else:
                    self.found[key] = catalogue.get_version(
                        self.session, code=code, version=version
                    )
            except NotFound:
                self.found[key] = None
        return self.found[key]

    def of(self, k: AgreementKpi) -> KpiRead:
        found = self.get(k.kpi_code, k.kpi_version)
        assert found is not None  # an agreed version is a published one, never removed
        return found


# --- who may do what -----------------------------------------------------------------------------


def _not_found(agreement_id: str) -> NotFound:
    return NotFound(AGREEMENT_NOT_FOUND, params={"agreement": agreement_id})


def _readable(session: Session, principal: Principal, agreement_id: str) -> Agreement:
    found = repo.get_readable(session, principal, agreement_id)
    if found is None:
        raise _not_found(agreement_id)
    return found


def _writable_ids(session: Session, principal: Principal) -> set[str] | None:
    """Ids of the organisations the principal makes agreements for (None: any)."""
    if principal.role is Role.publisher:
        return None
    if principal.role is Role.vendor and principal.vendor_id is not None:
        return repo.vendor_organisations(session, principal.vendor_id)
    if principal.role is Role.organisation and principal.organisation_id is not None:
        return {principal.organisation_id}
    return set()


def _may_write(session: Session, principal: Principal, organisation_ids: Iterable[str]) -> bool:
    allowed = _writable_ids(session, principal)
    ids = set(organisation_ids)
    if principal.role is Role.organisation:
        return ids == allowed  # its own agreements: it is the only organisation
    return allowed is None or ids <= allowed


def _writable(session: Session, principal: Principal, agreement_id: str) -> Agreement:
    agreement = repo.lock(session, agreement_id)
    if agreement is None or repo.get_readable(session, principal, agreement_id) is None:
        raise _not_found(agreement_id)
    current = _current(session, agreement)
    if principal.role not in WRITERS or not _may_write(
        session, principal, (o.organisation_id for o in current.organisations)
    ):
        raise Forbidden(NOT_WRITABLE, params={"agreement": agreement_id})
    return agreement


def _check_version(agreement: Agreement, if_match: int | None) -> None:
    if if_match is not None and if_match != agreement.current_version:
        raise KpiApiError(
            VERSION_MISMATCH,
            params={
                "given": if_match,
                "agreement": agreement.id,
                "current": agreement.current_version,
            },
            status=412,
        )


def _current(session: Session, agreement: Agreement) -> AgreementVersion:
    found = repo.version(session, agreement.id, agreement.current_version)
    assert found is not None
    return found


def _speaks_for(session: Session, principal: Principal, parties: _Parties) -> list[str]:
    """The party a key speaks for in an agreement, as the codes of its organisations or
    municipalities there (empty for the publisher): the author of a version or explanation."""
    if principal.role is Role.municipality:
        return sorted(set(principal.municipalities) & set(parties.municipalities))
    if principal.role is Role.vendor and principal.vendor_id is not None:
        mine = repo.vendor_organisations(session, principal.vendor_id)
        return sorted(o.code for o in parties.orgs.values() if o.id in mine)
    if principal.role is Role.organisation:
        return sorted(o.code for o in parties.orgs.values() if o.id == principal.organisation_id)
    return []


# --- validating an agreement ---------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, pointer: str, code: str, **params: object) -> None:
        rule = RULES[code]
        self.items.append(
            FieldError(
                location="body", pointer=pointer, code=code, message=rule.render("en", **params)
            )
        )

    def period_of(self, pointer: str, code: str, rhythm: PeriodType) -> Period:
        """The period ``code`` names; ``period_type_mismatch`` unless it is of the rhythm."""
        period = parse_period(code)
        if period.type != rhythm:
            self.add(pointer, "period_type_mismatch", value=code, rhythm=rhythm.value)
        return period

    def check_range(self, pointer: str, value: float | int, detail: KpiRead) -> None:
        """``value_out_of_range`` unless ``value`` lies within the KPI's range."""
        if not _in_range(value, detail):
            low, high = _range_text(detail)
            self.add(pointer, "value_out_of_range", value=value, low=low, high=high)

    def raise_if_any(self, message: Message = AGREEMENT_INVALID) -> None:
        if self.items:
            raise Unprocessable(message, errors=self.items[:200])


@dataclass
class _Content:
    """A validated agreement, ready to be stored as a version."""

    data: AgreementIn
    organisations: dict[str, repo.Org]  # by code
    kpis: list[AgreementKpi]


def _default_rhythm(detail: KpiRead) -> PeriodType:
    types = {PeriodType(t) for t in detail.period_types}
    if any(t.finer_or_equal(PeriodType.quarter) for t in types):
        return PeriodType.quarter
    return PeriodType.year


def _breakdown_key(b: Breakdown | None) -> str:
    return "" if b is None else f"{b.dimension}={b.code}"


def _breakdown(key: str) -> Breakdown | None:
    if not key:
        return None
    dimension, _, code = key.partition("=")
    return Breakdown.model_construct(dimension=dimension, code=code)


def _in_range(value: float | int, detail: KpiRead) -> bool:
    low, high = detail.range.min, detail.range.max
    return (low is None or value >= low) and (high is None or value <= high)


def _range_text(detail: KpiRead) -> tuple[str, str]:
    low, high = detail.range.min, detail.range.max
    return ("-∞" if low is None else f"{low:g}", "∞" if high is None else f"{high:g}")


def _validate(
    session: Session, data: AgreementIn, principal: Principal, *, today: date
) -> _Content:
    errors = _Errors()
    fields = {w.code for w in catalogue.work_fields(session)}
    if data.work_field not in fields:
        errors.add("/work_field", "work_field_unknown", value=data.work_field)
    set_kpis: list[str] = []
    if data.kpi_set is not None:
        found = next((s for s in catalogue.kpi_sets(session) if s.code == data.kpi_set), None)
        if found is None:
            errors.add("/kpi_set", "kpi_set_unknown", value=data.kpi_set)
        elif found.work_field != data.work_field:
            errors.add(
                "/kpi_set", "kpi_set_other_work_field", value=data.kpi_set, other=found.work_field
            )
        else:
            set_kpis = found.kpis
    orgs = repo.organisations_by_code(session, data.organisations)
    writable = _writable_ids(session, principal)
    for i, code in enumerate(data.organisations):
        org = orgs.get(code)
        if principal.role is not Role.publisher and (
            org is None or writable is None or org.id not in writable
        ):
            # An organisation the key does not act for reads exactly like one that is unknown.
            raise Forbidden(
                ORGANISATION_NOT_AUTHORISED,
                params={"organisation": code},
                errors=[
                    FieldError(
                        location="body",
                        pointer=f"/organisations/{i}",
                        code=ORGANISATION_NOT_AUTHORISED.code,
                        message=ORGANISATION_NOT_AUTHORISED.render("en", organisation=code),
                    )
                ],
            )
        if org is None:
            errors.add(f"/organisations/{i}", "organisation_unknown", value=code)
    known = reference.municipalities(session)
    munis = set(data.municipalities)
    for i, code in enumerate(data.municipalities):
        if code not in known:
            errors.add(f"/municipalities/{i}", "municipality_unknown", value=code)
    for i, code in enumerate(data.organisations):
        org = orgs.get(code)
        if org is not None and not org.municipalities & munis:
            errors.add(f"/organisations/{i}", "organisation_not_in_municipality", value=code)
    served = {m for o in orgs.values() for m in o.municipalities}
    for i, code in enumerate(data.municipalities):
        if code in known and orgs and code not in served:
            errors.add(f"/municipalities/{i}", "municipality_not_served", value=code)
    term = data.term
    if term.end.year - term.start.year > MAX_TERM_YEARS or (
        term.end.year - term.start.year == MAX_TERM_YEARS
        and (term.end.month, term.end.day) >= (term.start.month, term.start.day)
    ):
        errors.add("/term/end", "term_too_long", years=MAX_TERM_YEARS)
    items = list(data.kpis)
    listed = {k.kpi for k in items if k.breakdown is None}
    items += [AgreedKpiIn(kpi=code) for code in set_kpis if code not in listed]
    kpis = _Kpis(session)
    seen: set[tuple[str, str]] = set()
    rows: list[AgreementKpi] = []
    for i, item in enumerate(items):
        at = f"/kpis/{i}"
        detail = kpis.get(item.kpi, item.kpi_version)
        if detail is None:
            if item.kpi_version is not None and kpis.get(item.kpi) is not None:
                errors.add(
                    f"{at}/kpi_version",
                    "kpi_version_unknown",
                    value=item.kpi,
                    version=item.kpi_version,
                )
            else:
                errors.add(f"{at}/kpi", "kpi_unknown", value=item.kpi)
            continue
        key = _breakdown_key(item.breakdown)
        if (item.kpi, key) in seen:
            errors.add(at, "kpi_listed_twice", value=item.kpi)
        seen.add((item.kpi, key))
        rhythm = item.rhythm or _default_rhythm(detail)
        if not any(PeriodType(t).finer_or_equal(rhythm) for t in detail.period_types):
            errors.add(
                f"{at}/rhythm",
                "rhythm_not_available",
                value=item.kpi,
                types="/".join(PeriodType.coarsest_first(detail.period_types)),
            )
        if item.breakdown is not None:
            b = item.breakdown
            if b.dimension not in detail.dimensions:
                errors.add(
                    f"{at}/breakdown/dimension",
                    "breakdown_not_allowed",
                    value=item.kpi,
                    dimensions=", ".join(detail.dimensions) or "-",
                )
            else:
                spec = catalogue.code_list_specs(session).get(b.dimension)
                if spec is None or not spec.accepts(b.code):
                    errors.add(
                        f"{at}/breakdown/code",
                        "breakdown_code_unknown",
                        value=b.code,
                        dimension=b.dimension,
                    )
        row = AgreementKpi(
            position=i,
            kpi_code=item.kpi,
            kpi_version=detail.version,
            breakdown_key=key,
            goal_nl=item.goal_nl,
            goal_en=item.goal_en,
            rhythm=rhythm.value,
        )
        baseline = target = None
        if item.baseline is not None:
            baseline = errors.period_of(f"{at}/baseline/period", item.baseline.period, rhythm)
            if item.baseline.value is not None:
                errors.check_range(f"{at}/baseline/value", item.baseline.value, detail)
                row.baseline_value = float(item.baseline.value)
                row.baseline_source = Source.entered.value
            row.baseline_period = baseline.code
            if item.baseline.from_data:
                row.baseline_source = Source.data.value
                if baseline.end >= today:
                    errors.add(f"{at}/baseline/period", "baseline_not_ended", value=baseline.code)
        if item.target is not None:
            target = errors.period_of(f"{at}/target/period", item.target.period, rhythm)
            if baseline is not None and target.start <= baseline.start:
                errors.add(f"{at}/target/period", "target_not_after_baseline", value=target.code)
            if target.start > term.end or target.end < term.start:
                errors.add(f"{at}/target/period", "target_outside_term", value=target.code)
            errors.check_range(f"{at}/target/value", item.target.value, detail)
            row.target_period = target.code
            row.target_value = float(item.target.value)
        rows.append(row)
    errors.raise_if_any()
    _take_baselines(
        session,
        rows,
        organisation_ids=[o.id for o in orgs.values()],
        municipalities=data.municipalities,
        errors=errors,
    )
    errors.raise_if_any()
    return _Content(data, orgs, rows)


def _take_baselines(
    session: Session,
    rows: Sequence[AgreementKpi],
    *,
    organisation_ids: Sequence[str],
    municipalities: Sequence[str],
    errors: _Errors,
) -> None:
    """Baselines taken from the data: the parties' figure of the baseline period, now."""
    for i, row in enumerate(rows):
        if row.baseline_source != Source.data.value or row.baseline_period is None:
            continue
        period = parse_period(row.baseline_period)
        figure = aggregates.party_figures(
            session,
            kpi=row.kpi_code,
            organisation_ids=organisation_ids,
            municipalities=municipalities,
            periods=[period],
            breakdown_key=row.breakdown_key,
        )[period.code]
        if figure.value is None:
            errors.add(f"/kpis/{i}/baseline/from_data", "baseline_no_data", value=period.code)
            continue
        row.baseline_value = float(figure.value)


# --- reading -------------------------------------------------------------------------------------


def _number(x: float | None) -> float | int | None:
    """A stored value as the JSON number it was sent as (40, not 40.0)."""
    if x is None:
        return None
    return int(x) if x == int(x) else x


def _kpi_read(k: AgreementKpi, detail: KpiRead, *, shared: bool = True) -> AgreedKpiRead:
    """An agreed KPI as read; a baseline taken from the data shows its value only to a reader
    who sees the parties' figures (``shared``), else it reads ``null``."""
    baseline = None
    if k.baseline_period is not None:
        hidden = not shared and k.baseline_source == Source.data.value
        baseline = BaselineRead(
            period=k.baseline_period,
            value=None if hidden else _number(k.baseline_value),
            source=Source(k.baseline_source) if k.baseline_source else None,
        )
    target = None
    if k.target_period is not None and k.target_value is not None:
        target = TargetRead(period=k.target_period, value=_number(k.target_value) or 0)
    return AgreedKpiRead(
        kpi=k.kpi_code,
        kpi_version=k.kpi_version,
        name_nl=detail.name_nl,
        name_en=detail.name_en,
        unit=detail.unit,
        direction=detail.direction,
        breakdown=_breakdown(k.breakdown_key),
        goal_nl=k.goal_nl,
        goal_en=k.goal_en,
        baseline=baseline,
        target=target,
        rhythm=PeriodType(k.rhythm),
    )


def _read(
    session: Session,
    agreement: Agreement,
    v: AgreementVersion,
    kpis: _Kpis,
    principal: Principal,
) -> AgreementRead:
    orgs = repo.organisations_by_id(session, [o.organisation_id for o in v.organisations])
    shared = _shares_figures(session, principal, v)
    return AgreementRead(
        id=agreement.id,
        version=v.version,
        status=Status(v.status),
        title=v.title,
        work_field=v.work_field_code,
        organisations=sorted(orgs[o.organisation_id].code for o in v.organisations),
        municipalities=[m.municipality_code for m in v.municipalities],
        term=Term.model_construct(start=v.term_start, end=v.term_end),
        kpi_set=v.kpi_set_code,
        kpis=[_kpi_read(k, kpis.of(k), shared=shared) for k in v.kpis],
        change_note=v.change_note,
        created_at=agreement.created_at,
        version_created_at=v.created_at,
        version_created_by=Author(
            name=v.created_by, role=v.created_by_role, party=list(v.created_by_party or [])
        ),
    )


def get(session: Session, *, agreement_id: str, principal: Principal) -> AgreementRead:
    """The current version of an agreement the principal may read. Raises NotFound (404
    ``agreement_not_found``, also for one it may not read)."""
    agreement = _readable(session, principal, agreement_id)
    return _read(session, agreement, _current(session, agreement), _Kpis(session), principal)


def get_version(
    session: Session, *, agreement_id: str, version: int, principal: Principal
) -> AgreementRead:
    """One version of an agreement the principal may read. Raises NotFound (404
    ``agreement_not_found``, ``agreement_version_not_found``)."""
    agreement = _readable(session, principal, agreement_id)
    found = repo.version(session, agreement_id, version)
    if found is None:
        raise NotFound(
            AGREEMENT_VERSION_NOT_FOUND, params={"agreement": agreement_id, "version": version}
        )
    return _read(session, agreement, found, _Kpis(session), principal)


def versions(session: Session, *, agreement_id: str, principal: Principal) -> AgreementVersions:
    """Every version of an agreement the principal may read, oldest first. Raises NotFound (404
    ``agreement_not_found``)."""
    agreement = _readable(session, principal, agreement_id)
    kpis = _Kpis(session)
    return AgreementVersions(
        items=[
            _read(session, agreement, v, kpis, principal)
            for v in repo.versions(session, agreement_id)
        ]
    )


def listing(
    session: Session,
    *,
    principal: Principal,
    status: Status | None = None,
    organisation: str | None = None,
    municipality: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AgreementPage:
    """A page of the agreements the principal may read, by id, each at its current version; filtered
    by status, organisation code and municipality (an unknown organisation: an empty page). Raises
    KpiApiError (400 ``invalid_cursor``)."""
    after = decode_cursor(cursor, "agreements", str)
    org_id = None
    if organisation is not None:
        found = repo.organisations_by_code(session, [organisation]).get(organisation)
        if found is None:
            return AgreementPage(items=[], next=None)
        org_id = found.id
    rows = repo.listing(
        session,
        principal,
        status=status.value if status is not None else None,
        organisation_id=org_id,
        municipality=municipality,
        after=after,
        limit=limit + 1,
    )
    rows_page, next_cursor = page(rows, limit, "agreements", lambda a: a.id)
    kpis = _Kpis(session)
    return AgreementPage(
        items=[_read(session, a, _current(session, a), kpis, principal) for a in rows_page],
        next=next_cursor,
    )


# --- writing -------------------------------------------------------------------------------------


def _add_version(
    session: Session,
    agreement: Agreement,
    *,
    status: Status,
    content: _Content | None,
    base: AgreementVersion | None,
    principal: Principal,
    note: str,
) -> AgreementVersion:
    """Add the next version: new content, or ``base``'s content again (a change of status)."""
    number = agreement.current_version + 1
    if content is not None:
        data = content.data
        v = AgreementVersion(
            agreement_id=agreement.id,
            version=number,
            status=status.value,
            title=data.title,
            work_field_code=data.work_field,
            kpi_set_code=data.kpi_set,
            term_start=data.term.start,
            term_end=data.term.end,
        )
        org_ids = [content.organisations[c].id for c in data.organisations]
        munis = data.municipalities
        kpis = content.kpis
    else:
        assert base is not None
        v = AgreementVersion(
            agreement_id=agreement.id,
            version=number,
            status=status.value,
            title=base.title,
            work_field_code=base.work_field_code,
            kpi_set_code=base.kpi_set_code,
            term_start=base.term_start,
            term_end=base.term_end,
        )
        org_ids = [o.organisation_id for o in base.organisations]
        munis = [m.municipality_code for m in base.municipalities]
        kpis = [_copy(k) for k in base.kpis]
    v.change_note = note
    v.created_at = utcnow()
    v.created_by = principal.name
    v.created_by_role = principal.role.value
    v.organisations = [AgreementOrganisation(organisation_id=o) for o in sorted(set(org_ids))]
    v.municipalities = [AgreementMunicipality(municipality_code=m) for m in sorted(set(munis))]
    v.kpis = kpis
    v.created_by_party = _speaks_for(session, principal, _parties(session, v))
    session.add(v)
    agreement.current_version = v.version
    agreement.status = status.value
    session.flush()
    return v


def _copy(k: AgreementKpi) -> AgreementKpi:
    return AgreementKpi(
        position=k.position,
        kpi_code=k.kpi_code,
        kpi_version=k.kpi_version,
        breakdown_key=k.breakdown_key,
        goal_nl=k.goal_nl,
        goal_en=k.goal_en,
        rhythm=k.rhythm,
        baseline_period=k.baseline_period,
        baseline_value=k.baseline_value,
        baseline_source=k.baseline_source,
        target_period=k.target_period,
        target_value=k.target_value,
    )


def create(
    session: Session, *, data: AgreementIn, principal: Principal, today: date | None = None
) -> AgreementRead:
    """Make a new agreement: version 1, a draft. Raises Forbidden (403
    ``organisation_not_authorised``: an organisation the key does not act for) and Unprocessable
    (422 ``agreement_invalid``; ``errors`` name each rule of ``RULES`` broken)."""
    content = _validate(session, data, principal, today=today or date.today())
    agreement = Agreement(
        id=str(uuid.uuid4()), current_version=0, status=Status.draft.value, created_at=utcnow()
    )
    session.add(agreement)
    session.flush()
    v = _add_version(
        session,
        agreement,
        status=Status.draft,
        content=content,
        base=None,
        principal=principal,
        note=data.change_note,
    )
    return _read(session, agreement, v, _Kpis(session), principal)


def _refuse_change(agreement: Agreement) -> None:
    if agreement.status == Status.active:
        raise Conflict(
            AGREEMENT_ACTIVE,
            params={"agreement": agreement.id, "version": agreement.current_version},
        )
    if agreement.status == Status.ended:
        raise Conflict(
            AGREEMENT_ENDED,
            params={"agreement": agreement.id, "version": agreement.current_version},
        )


def replace(
    session: Session,
    *,
    agreement_id: str,
    data: AgreementIn,
    principal: Principal,
    if_match: int | None = None,
    today: date | None = None,
) -> AgreementRead:
    """Change a draft: its next version holds ``data``. Raises NotFound (404
    ``agreement_not_found``), Forbidden (403 ``agreement_not_writable``,
    ``organisation_not_authorised``), Conflict (409 ``agreement_active``, ``agreement_ended``),
    KpiApiError (412 ``version_mismatch``: ``if_match`` is not the current version) and
    Unprocessable (422 ``agreement_invalid``)."""
    agreement = _writable(session, principal, agreement_id)
    _refuse_change(agreement)
    _check_version(agreement, if_match)
    content = _validate(session, data, principal, today=today or date.today())
    base = _current(session, agreement)
    v = _add_version(
        session,
        agreement,
        status=Status.draft,
        content=content,
        base=base,
        principal=principal,
        note=data.change_note,
    )
    return _read(session, agreement, v, _Kpis(session), principal)


def _complete(session: Session, v: AgreementVersion, kpis: _Kpis) -> None:
    """Every agreed KPI has what sign-off needs (422 ``agreement_incomplete`` otherwise)."""
    errors = _Errors()
    if not v.kpis:
        errors.add("/kpis", "no_kpis")
    for i, k in enumerate(v.kpis):
        at = f"/kpis/{i}"
        if not k.goal_nl:
            errors.add(f"{at}/goal_nl", "field_required", value="goal_nl")
        if k.baseline_period is None:
            errors.add(f"{at}/baseline", "field_required", value="baseline")
        if k.target_period is None and kpis.of(k).direction is not Direction.none:
            errors.add(f"{at}/target", "field_required", value="target")
    errors.raise_if_any(AGREEMENT_INCOMPLETE)


def change_status(
    session: Session,
    *,
    agreement_id: str,
    data: StatusChange,
    principal: Principal,
    if_match: int | None = None,
) -> AgreementRead:
    """Sign off a draft (``active``: its content as the next version, baselines from the data
    taken again now) or end an active agreement (``ended``).

    Raises NotFound (404 ``agreement_not_found``), Forbidden (403 ``agreement_not_writable``),
    Forbidden (403 ``sign_off_by_organisation``: the publisher, or a vendor not acting for every
    organisation, signing off), KpiApiError (412 ``version_mismatch``), Conflict (409
    ``status_transition_invalid``) and
    Unprocessable (422 ``agreement_incomplete``: a KPI without goal, baseline or, with a desired
    direction, target; ``agreement_invalid``: a baseline to take from data that has none).
    """
    agreement = _writable(session, principal, agreement_id)
    _check_version(agreement, if_match)
    requested = Status(data.status)
    current = Status(agreement.status)
    if (current, requested) not in {(Status.draft, Status.active), (Status.active, Status.ended)}:
        raise Conflict(
            STATUS_TRANSITION, params={"current": current.value, "requested": requested.value}
        )
    base = _current(session, agreement)
    kpis = _Kpis(session)
    if requested is Status.active:
        if not _acts_for_all(session, principal, base):
            raise Forbidden(SIGN_OFF_BY_ORGANISATION, params={"agreement": agreement.id})
        _complete(session, base, kpis)
        # Its municipalities now know these organisations' figures: every live figure is
        # protected against them from here on (aggregates.knowers_of), so none stays cached.
        freshness.bump_all_revisions(session)
    v = _add_version(
        session,
        agreement,
        status=requested,
        content=None,
        base=base,
        principal=principal,
        note=data.note,
    )
    if requested is Status.active:
        errors = _Errors()
        _take_baselines(
            session,
            v.kpis,
            organisation_ids=[o.organisation_id for o in v.organisations],
            municipalities=[m.municipality_code for m in v.municipalities],
            errors=errors,
        )
        errors.raise_if_any()
        session.flush()
    return _read(session, agreement, v, kpis, principal)


# --- monitoring periods, figures and progress ----------------------------------------------------


def monitoring_periods(
    rhythm: str, term_start: date, term_end: date, *, before: date | None = None
) -> list[Period]:
    """The periods of the rhythm's type that overlap the term (ended before ``before``)."""
    out = []
    for year in range(term_start.year, term_end.year + 1):
        for p in periods_within(parse_period(f"{year:04d}"), rhythm):
            if p.end < term_start or p.start > term_end:
                continue
            if before is not None and p.end >= before:
                continue
            out.append(p)
    return out


def _period_code(period_type: str, start: date) -> str:
    if period_type == "year":
        return f"{start.year:04d}"
    if period_type == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}-{start.month:02d}"


def _json_number(x: int | Decimal | None) -> int | float | None:
    if x is None or isinstance(x, int):
        return x
    return float(x)


@dataclass
class _Parties:
    orgs: dict[str, repo.Org]  # by id
    municipalities: list[str]

    def expected(self) -> set[tuple[str, str]]:
        """The units (organisation id, municipality) that should report."""
        munis = set(self.municipalities)
        return {(o.id, m) for o in self.orgs.values() for m in o.municipalities & munis}


def _parties(session: Session, v: AgreementVersion) -> _Parties:
    return _Parties(
        repo.organisations_by_id(session, [o.organisation_id for o in v.organisations]),
        [m.municipality_code for m in v.municipalities],
    )


def _coverage(parties: _Parties, units: frozenset[tuple[str, str]]) -> Coverage:
    reporting_orgs = {o for o, _ in units}
    reporting_munis = {m for _, m in units}
    return Coverage(
        organisations=len(reporting_orgs & parties.orgs.keys()),
        organisations_total=len(parties.orgs),
        municipalities=len(reporting_munis & set(parties.municipalities)),
        municipalities_total=len(parties.municipalities),
        missing_organisations=sorted(
            o.code for o in parties.orgs.values() if o.id not in reporting_orgs
        ),
        missing_municipalities=sorted(set(parties.municipalities) - reporting_munis),
    )


def _assessment(a: method.Assessment) -> AssessmentRead:
    return AssessmentRead(
        status=a.status,
        reason=a.reason,
        method=a.method,
        observed_growth=a.observed,
        required_growth=a.required,
        ratio=a.ratio,
    )


def _explanation_read(e: AgreementExplanation) -> ExplanationRead:
    return ExplanationRead(
        id=e.id,
        kpi=e.kpi_code,
        breakdown=_breakdown(e.breakdown_key),
        period=e.period,
        text=e.text,
        author=Author(name=e.author_name, role=e.author_role, party=list(e.author_party or [])),
        created_at=e.created_at,
    )


def _kpi_progress(
    session: Session,
    k: AgreementKpi,
    detail: KpiRead,
    parties: _Parties,
    v: AgreementVersion,
    explanations: dict[tuple[str, str, str], list[ExplanationRead]],
    today: date,
) -> KpiProgress:
    direction = detail.direction
    periods = monitoring_periods(k.rhythm, v.term_start, v.term_end, before=today)
    baseline_period = parse_period(k.baseline_period) if k.baseline_period else None
    target_period = parse_period(k.target_period) if k.target_period else None
    wanted = list(periods)
    if baseline_period is not None and baseline_period.end < today:
        wanted.append(baseline_period)
    figures = (
        aggregates.party_figures(
            session,
            kpi=k.kpi_code,
            organisation_ids=list(parties.orgs),
            municipalities=parties.municipalities,
            periods=wanted,
            breakdown_key=k.breakdown_key,
        )
        if wanted
        else {}
    )
    defs = catalogue.definitions(session, k.kpi_code)
    notes: dict[str, list[VendorNote]] = defaultdict(list)
    if wanted:
        first = min(p.start for p in wanted)
        last = max(p.end for p in wanted)
        for org_id, muni, ptype, start, text in repo.notes(
            session,
            kpi=k.kpi_code,
            organisation_ids=list(parties.orgs),
            municipalities=parties.municipalities,
            breakdown_key=k.breakdown_key,
            start=first,
            end=last,
        ):
            note = VendorNote(
                organisation=parties.orgs[org_id].code,
                municipality=muni,
                period=_period_code(ptype, start),
                text=text,
            )
            for p in wanted:
                if p.start <= start <= p.end:
                    notes[p.code].append(note)

    def figure_read(period: Period) -> FigureRead:
        f = figures[period.code]
        value = f.value
        ratio = value is not None and f.aggregation == Aggregation.ratio_of_sums
        mean = value is not None and f.aggregation == Aggregation.weighted_mean
        comparable = baseline_period is None or not catalogue.breaks_between(
            defs, baseline_period.start, period.start
        )
        if baseline_period is None or period == baseline_period:
            assessment = method.Assessment(
                None,
                method.NoStatus.no_baseline
                if baseline_period is None
                else method.NoStatus.baseline_period,
            )
        elif not comparable:
            assessment = method.Assessment(None, method.NoStatus.series_break)
        else:
            assessment = method.assess(
                baseline=k.baseline_value,
                baseline_period=baseline_period,
                value=value,
                period=period,
                direction=direction,
                target=k.target_value,
                target_period=target_period,
            )
        moved = favourable = None
        if value is not None and k.baseline_value is not None and period != baseline_period:
            moved = method.change(k.baseline_value, value)
            favourable = method.favourable(k.baseline_value, value, direction)
        vals = f.vals
        return FigureRead(
            period=period.code,
            value=_json_number(value),
            numerator=int(vals[1]) if ratio else None,
            denominator=int(vals[2]) if ratio else None,
            n=int(vals[4]) if mean else None,
            kpi_versions=list(f.kpi_versions),
            coverage=_coverage(parties, f.units),
            change=moved,
            change_favourable=favourable,
            comparable=comparable,
            assessment=_assessment(assessment),
            notes=notes.get(period.code, []),
            explanations=explanations.get((k.kpi_code, k.breakdown_key, period.code), []),
        )

    shown = [figure_read(p) for p in periods]
    latest = next((f for f in reversed(shown) if f.value is not None), None)
    baseline_figure = (
        figure_read(baseline_period)
        if baseline_period is not None and baseline_period.code in figures
        else None
    )
    read = _kpi_read(k, detail)
    return KpiProgress(
        kpi=k.kpi_code,
        kpi_version=k.kpi_version,
        name_nl=detail.name_nl,
        name_en=detail.name_en,
        unit=detail.unit,
        decimals=detail.decimals,
        direction=direction,
        breakdown=read.breakdown,
        goal_nl=k.goal_nl,
        goal_en=k.goal_en,
        rhythm=PeriodType(k.rhythm),
        baseline=read.baseline,
        target=read.target,
        baseline_figure=baseline_figure,
        figures=shown,
        latest=latest.assessment
        if latest is not None
        else _assessment(
            method.Assessment(
                None,
                method.NoStatus.no_direction
                if direction is Direction.none
                else method.NoStatus.no_figure,
            )
        ),
        latest_period=latest.period if latest is not None else None,
    )


def _acts_for_all(session: Session, principal: Principal, v: AgreementVersion) -> bool:
    """True when the key speaks for every organisation of a version: the organisation itself
    (its only one), or a vendor authorised for each."""
    ids = {o.organisation_id for o in v.organisations}
    if principal.role is Role.organisation:
        return ids == {principal.organisation_id}
    if principal.role is Role.vendor and principal.vendor_id is not None:
        return ids <= repo.vendor_organisations(session, principal.vendor_id)
    return False


def _shares_figures(session: Session, principal: Principal, v: AgreementVersion) -> bool:
    """Whether a reader of a version sees the parties' own (unsuppressed) figures in it: the
    organisation side always (a key acting for every organisation of it), every party once the
    organisation side has signed it off; the publisher and analysts never."""
    if principal.role is Role.publisher or principal.role is Role.analyst:
        return False
    return v.status != Status.draft or _acts_for_all(session, principal, v)


def _figures_shared(session: Session, agreement: Agreement, principal: Principal) -> None:
    """Raise unless the key sees the agreement's figures (see ``_shares_figures``): Forbidden
    (403 ``figures_parties_only``) for the publisher, Conflict (409 ``agreement_draft``) for a
    party before sign-off."""
    if _shares_figures(session, principal, _current(session, agreement)):
        return
    if principal.role is Role.publisher:
        raise Forbidden(FIGURES_PARTIES_ONLY, params={"agreement": agreement.id})
    raise Conflict(AGREEMENT_DRAFT, params={"agreement": agreement.id})


def progress(
    session: Session, *, agreement_id: str, principal: Principal, today: date | None = None
) -> ProgressRead:
    """Progress of every agreed KPI: the parties' live figures per monitoring period that has
    ended (in the KPI's unit, a percentage on a 0–100 scale), against baseline and target, with
    coverage, notes and explanations, judged by Statistics Canada's method as Open SDG computes it
    (``progress``).

    Raises NotFound (404 ``agreement_not_found``) and, for a municipality key while the agreement is
    a draft, Conflict (409 ``agreement_draft``).
    """
    agreement = _readable(session, principal, agreement_id)
    _figures_shared(session, agreement, principal)
    today = today or date.today()
    v = _current(session, agreement)
    parties = _parties(session, v)
    threads: dict[tuple[str, str, str], list[ExplanationRead]] = defaultdict(list)
    for e in repo.explanations(session, agreement_id):
        threads[(e.kpi_code, e.breakdown_key, e.period)].append(_explanation_read(e))
    kpis = _Kpis(session)
    return ProgressRead(
        agreement=agreement.id,
        version=v.version,
        status=Status(v.status),
        title=v.title,
        generated_at=utcnow(),
        disclaimer=DISCLAIMER,
        method=METHOD,
        kpis=[_kpi_progress(session, k, kpis.of(k), parties, v, threads, today) for k in v.kpis],
    )


@dataclass(frozen=True)
class Report:
    """What the report shows: the agreement, its progress, and names to print."""

    agreement: AgreementRead
    progress: ProgressRead
    organisation_names: dict[str, str]
    municipality_names: dict[str, str]


def report(
    session: Session, *, agreement_id: str, principal: Principal, today: date | None = None
) -> Report:
    """What the report of an agreement shows: its ``progress`` (and raises what that raises), the
    agreement, and the names of its organisations and municipalities (the code where unknown)."""
    found = progress(session, agreement_id=agreement_id, principal=principal, today=today)
    agreement = get(session, agreement_id=agreement_id, principal=principal)
    known = reference.municipalities(session)
    return Report(
        agreement=agreement,
        progress=found,
        organisation_names=repo.organisation_names(session, agreement.organisations),
        municipality_names={
            m: known[m].name if m in known else m for m in agreement.municipalities
        },
    )


# --- interpretation (duiding) --------------------------------------------------------------------


def add_explanation(
    session: Session, *, agreement_id: str, data: ExplanationIn, principal: Principal
) -> ExplanationRead:
    """Add a message to the thread of an agreed KPI in a period (the parties only). Raises NotFound
    (404 ``agreement_not_found``), Forbidden (403 ``not_a_party``), Conflict (409
    ``agreement_draft``) and Unprocessable (422 ``explanation_invalid``: ``kpi_not_agreed``,
    ``period_not_monitored``)."""
    agreement = _readable(session, principal, agreement_id)
    if principal.role not in (Role.organisation, Role.vendor, Role.municipality):
        raise Forbidden(NOT_A_PARTY, params={"agreement": agreement_id})
    if agreement.status == Status.draft:
        raise Conflict(AGREEMENT_DRAFT, params={"agreement": agreement.id})
    v = _current(session, agreement)
    key = _breakdown_key(data.breakdown)
    agreed = next((k for k in v.kpis if (k.kpi_code, k.breakdown_key) == (data.kpi, key)), None)
    errors = _Errors()
    if agreed is None:
        errors.add("/kpi", "kpi_not_agreed", value=data.kpi)
        errors.raise_if_any(EXPLANATION_INVALID)
    assert agreed is not None
    period = parse_period(data.period)
    monitored = {p.code for p in monitoring_periods(agreed.rhythm, v.term_start, v.term_end)}
    if agreed.baseline_period is not None:
        monitored.add(agreed.baseline_period)
    if period.code not in monitored:
        errors.add("/period", "period_not_monitored", value=data.period)
        errors.raise_if_any(EXPLANATION_INVALID)
    row = AgreementExplanation(
        agreement_id=agreement.id,
        kpi_code=data.kpi,
        breakdown_key=key,
        period=period.code,
        text=data.text,
        author_name=principal.name,
        author_role=principal.role.value,
        author_key_id=principal.key_id,
        author_party=_speaks_for(session, principal, _parties(session, v)),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _explanation_read(row)


def explanations(
    session: Session,
    *,
    agreement_id: str,
    principal: Principal,
    kpi: str | None = None,
    period: str | None = None,
) -> ExplanationList:
    """The messages of an agreement's threads, oldest first, of one KPI and period where given.
    Raises NotFound (404 ``agreement_not_found``)."""
    _readable(session, principal, agreement_id)
    return ExplanationList(
        items=[
            _explanation_read(e)
            for e in repo.explanations(session, agreement_id, kpi=kpi, period=period)
        ]
    )


# --- completeness --------------------------------------------------------------------------------


def _scope_ids(session: Session, principal: Principal) -> set[str] | None:
    """Organisations whose gaps a principal is shown (None: every party's)."""
    if principal.role is Role.vendor and principal.vendor_id is not None:
        return repo.vendor_organisations(session, principal.vendor_id)
    if principal.role is Role.organisation and principal.organisation_id is not None:
        return {principal.organisation_id}
    return None


def _due(
    session: Session,
    agreement: Agreement,
    principal: Principal,
    today: date,
    organisation_id: str | None,
) -> list[DueItem]:
    if agreement.status == Status.draft:
        return []
    v = _current(session, agreement)
    parties = _parties(session, v)
    scope = _scope_ids(session, principal)
    orgs = [
        o
        for o in parties.orgs.values()
        if (scope is None or o.id in scope) and organisation_id in (None, o.id)
    ]
    if not orgs:
        return []
    vendors = repo.vendor_names(session, [o.id for o in orgs])
    munis = set(parties.municipalities)
    out = []
    for k in v.kpis:
        periods = monitoring_periods(k.rhythm, v.term_start, v.term_end, before=today)
        if not periods:
            continue
        figures = aggregates.party_figures(
            session,
            kpi=k.kpi_code,
            organisation_ids=[o.id for o in orgs],
            municipalities=parties.municipalities,
            periods=periods,
            breakdown_key=k.breakdown_key,
        )
        for p in periods:
            units = figures[p.code].units
            missing = []
            for o in sorted(orgs, key=lambda o: o.code):
                expected = o.municipalities & munis
                gaps = sorted(m for m in expected if (o.id, m) not in units)
                if gaps:
                    missing.append(
                        MissingOrganisation(
                            organisation=o.code, municipalities=gaps, vendors=vendors.get(o.id, [])
                        )
                    )
            if missing:
                out.append(
                    DueItem(
                        agreement=agreement.id,
                        title=v.title,
                        kpi=k.kpi_code,
                        breakdown=_breakdown(k.breakdown_key),
                        period=p.code,
                        missing=missing,
                    )
                )
    return out


def completeness(
    session: Session,
    *,
    principal: Principal,
    agreement_id: str | None = None,
    organisation: str | None = None,
    today: date | None = None,
) -> Completeness:
    """Agreed KPIs due for periods that have ended, still without data: per agreement, KPI and
    period, the organisations (and their municipalities and vendors) that sent none. A vendor
    sees its own organisations' gaps, an organisation key its own. With ``agreement_id``, raises
    NotFound (404 ``agreement_not_found``) and, for a municipality key on a draft, Conflict (409
    ``agreement_draft``)."""
    today = today or date.today()
    organisation_id = None
    if organisation is not None:
        found = repo.organisations_by_code(session, [organisation]).get(organisation)
        if found is None:
            return Completeness(as_of=today, items=[])
        organisation_id = found.id
    if agreement_id is not None:
        agreements: Sequence[Agreement] = [_readable(session, principal, agreement_id)]
        if principal.role is not Role.publisher:  # which data are missing: no figures
            _figures_shared(session, agreements[0], principal)
    else:
        agreements = repo.due_agreements(session, principal)
    items = [
        item for a in agreements for item in _due(session, a, principal, today, organisation_id)
    ]
    return Completeness(as_of=today, items=items)
