"""Catalogue rules: versions are immutable once published, releases are immutable sets."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from kpi_api.catalogue import comparability as comparing
from kpi_api.catalogue import repository as repo
from kpi_api.catalogue.models import (
    CodeList,
    Kpi,
    LifeDomain,
    Release,
    ReleaseKpi,
    WorkField,
)

# A KPI version, as this service returns it to other domains (they may not import models).
from kpi_api.catalogue.models import KpiVersion as KpiVersion
from kpi_api.catalogue.schemas import (
    DEFAULT_COUNT_MAX,
    DEFAULT_DECIMALS,
    CodeListItemRead,
    CodeListRead,
    Comparability,
    ComparabilityStatement,
    Deprecation,
    DeprecationCreate,
    FieldChange,
    KpiChange,
    KpiCreate,
    KpiDefinition,
    KpiDefinitionPatch,
    KpiDetail,
    KpiPage,
    KpiRead,
    KpiSetRead,
    KpiVersionSummary,
    LifeDomainRead,
    ReleaseCreate,
    ReleaseDetail,
    ReleaseDiff,
    ReleaseMember,
    ReleasePage,
    ReleaseRead,
    SeriesBreak,
    WorkFieldRead,
)
from kpi_api.db import utcnow
from kpi_api.errors import Conflict, FieldError, NotFound, Unprocessable, validation_errors
from kpi_api.messages import Message
from kpi_api.vocabulary import Layer, ValueType
from kpi_api.web.pagination import decode_cursor, page

DRAFT = "draft"
PUBLISHED = "published"


# --- messages --------------------------------------------------------------------------------

RELEASE_NOT_FOUND = Message(
    "release_not_found", "Release {release!r} does not exist.", "Release {release!r} bestaat niet."
)
NO_RELEASE_YET = Message(
    "release_not_found",
    "No release has been published yet.",
    "Er is nog geen release gepubliceerd.",
)
KPI_NOT_FOUND = Message("kpi_not_found", "KPI {kpi!r} does not exist.", "KPI {kpi!r} bestaat niet.")
NO_PUBLISHED_VERSION = Message(
    "kpi_not_found",
    "KPI {kpi!r} has no published version.",
    "KPI {kpi!r} heeft geen gepubliceerde versie.",
)
KPI_VERSION_NOT_FOUND = Message(
    "kpi_version_not_found",
    "KPI {kpi!r} has no version {version}.",
    "KPI {kpi!r} heeft geen versie {version}.",
)
INVALID_DEFINITION = Message(
    "invalid_definition",
    "The KPI definition breaks a catalogue rule; see errors.",
    "De KPI-definitie overtreedt een regel van de catalogus; zie errors.",
)
UNKNOWN_REFERENCE = Message(
    "unknown_reference",
    "The KPI definition refers to unknown codes.",
    "De KPI-definitie verwijst naar onbekende codes.",
)
UNKNOWN_LIFE_DOMAIN = Message(
    "unknown_reference",
    "{life_domain!r} is not a life domain.",
    "{life_domain!r} is geen leefgebied.",
)
UNKNOWN_SUCCESSOR = Message(
    "unknown_reference",
    "Successor {successor!r} is not another existing KPI.",
    "Opvolger {successor!r} is geen andere bestaande KPI.",
)
KPI_EXISTS = Message(
    "kpi_exists",
    "KPI {kpi!r} exists; add a version instead.",
    "KPI {kpi!r} bestaat al; voeg in plaats daarvan een versie toe.",
)
DRAFT_EXISTS = Message(
    "draft_exists",
    "KPI {kpi!r} already has a draft; edit that one.",
    "KPI {kpi!r} heeft al een concept; bewerk dat concept.",
)
VERSION_IMMUTABLE = Message(
    "version_immutable",
    "Version {version} of {kpi!r} is published and can never change; create a new version instead.",
    "Versie {version} van {kpi!r} is gepubliceerd en kan nooit meer veranderen; "
    "maak in plaats daarvan een nieuwe versie.",
)
KPI_ALREADY_DEPRECATED = Message(
    "kpi_already_deprecated",
    "KPI {kpi!r} is already deprecated.",
    "KPI {kpi!r} is al uitgefaseerd.",
)
KPI_NOT_PUBLISHED = Message(
    "kpi_not_published",
    "KPI {kpi!r} was never published; delete its draft instead.",
    "KPI {kpi!r} is nooit gepubliceerd; verwijder in plaats daarvan het concept.",
)
RELEASE_EXISTS = Message(
    "release_exists",
    "Release {release!r} exists and is immutable.",
    "Release {release!r} bestaat al en kan niet meer veranderen.",
)
RELEASE_OUT_OF_ORDER = Message(
    "release_out_of_order",
    "Release {release!r} must come after the current release {current!r}.",
    "Release {release!r} moet na de huidige release {current!r} komen.",
)
NO_DRAFT = Message(
    "no_draft",
    "Some listed KPIs have no draft to publish.",
    "Enkele opgegeven KPI's hebben geen concept om te publiceren.",
)
NOT_IN_RELEASE = Message(
    "not_in_release",
    "Only KPIs of the current release can be removed.",
    "Alleen KPI's uit de huidige release kunnen worden verwijderd.",
)
PUBLISHED_AND_REMOVED = Message(
    "published_and_removed",
    "A KPI cannot be published and removed in one release.",
    "Een KPI kan niet in één release worden gepubliceerd én verwijderd.",
)
RELEASE_EMPTY = Message(
    "release_empty",
    "Nothing to release: no drafts and no removals.",
    "Niets om uit te brengen: geen concepten en geen verwijderingen.",
)
#: Its code is the one rule broken, if only one is (``errors`` name each).
COMPARABILITY_INVALID = Message(
    "comparability_invalid",
    "A new version's comparability with the version before it is not right; see errors.",
    "De vergelijkbaarheid van een nieuwe versie met de versie ervoor klopt niet; zie errors.",
)
CODE_LIST_NOT_FOUND = Message(
    "code_list_not_found",
    "Code list {code_list!r} does not exist.",
    "Codelijst {code_list!r} bestaat niet.",
)


# --- reading -------------------------------------------------------------------------------


def deprecation_of(kpi: Kpi) -> Deprecation | None:
    """A KPI's deprecation as the API shows it, or None while it is not deprecated."""
    if kpi.deprecated_at is None or kpi.deprecated_from is None:
        return None
    return Deprecation(
        deprecated_at=kpi.deprecated_at,
        effective_from=kpi.deprecated_from,
        reason=kpi.deprecation_reason,
        successor=kpi.successor_code,
    )


def to_read(v: KpiVersion) -> KpiRead:
    """A version as the API reads it, with the effective ``decimals`` and ``count_max`` (not None
    for the default)."""
    # A read shows the effective precision and limit, not NULL for "the default".
    definition = dict(KpiDefinition.from_version(v))
    definition.update(decimals=published_decimals(v), count_max=effective_count_max(v))
    return KpiRead.model_construct(
        **definition,
        code=v.kpi_code,
        layer=Layer(v.kpi.layer),
        life_domain=v.kpi.life_domain_code,
        version=v.version,
        status=v.status,
        release=v.release_id,
        published_at=v.published_at,
        deprecation=deprecation_of(v.kpi),
        comparability=Comparability(v.comparability) if v.comparability else None,
        effective_from=v.effective_from,
        change_note_nl=v.change_note_nl or "",
        change_note_en=v.change_note_en or "",
    )


def _release_or_current(session: Session, release_id: str | None) -> Release | None:
    if release_id is None:
        return repo.current_release(session)
    release = repo.get_release(session, release_id)
    if release is None:
        raise NotFound(RELEASE_NOT_FOUND, params={"release": release_id})
    return release


def list_kpis(
    session: Session,
    *,
    release_id: str | None = None,
    layer: str | None = None,
    life_domain: str | None = None,
    work_field: str | None = None,
    core: bool | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> KpiPage:
    """A page of a release's KPIs (the current release by default), by code; empty before the
    first release. Raises NotFound (404 ``release_not_found``) and KpiApiError (400
    ``invalid_cursor``)."""
    release = _release_or_current(session, release_id)
    if release is None:
        return KpiPage(items=[], next=None, release=None)
    after = decode_cursor(cursor, "kpis", str)
    rows = repo.search_release(
        session,
        release_id=release.id,
        layer=layer,
        life_domain=life_domain,
        work_field=work_field,
        core=core,
        q=q,
        after_code=after,
        limit=limit + 1,
    )
    rows, after_last = page(rows, limit, "kpis", lambda v: v.kpi_code)
    return KpiPage(items=[to_read(v) for v in rows], next=after_last, release=release.id)


def _kpi(session: Session, code: str) -> Kpi:
    kpi = repo.get_kpi(session, code)
    if kpi is None:
        raise NotFound(KPI_NOT_FOUND, params={"kpi": code})
    return kpi


def _visible(versions: Sequence[KpiVersion], include_drafts: bool) -> list[KpiVersion]:
    return [v for v in versions if include_drafts or v.status == PUBLISHED]


def get_kpi(session: Session, *, code: str, include_drafts: bool = False) -> KpiDetail:
    """The KPI as the current release has it (else its latest published version), with its versions
    (drafts too with ``include_drafts``) and series breaks. Raises NotFound (404 ``kpi_not_found``:
    no such KPI, or no version to show)."""
    _kpi(session, code)
    versions = _visible(repo.kpi_versions(session, code), include_drafts)
    if not versions:
        raise NotFound(NO_PUBLISHED_VERSION, params={"kpi": code})
    release = repo.current_release(session)
    chosen = None
    if release is not None:
        chosen = repo.release_versions(session, release.id).get(code)
    published = [v for v in versions if v.status == PUBLISHED]
    chosen = chosen or (published[-1] if published else versions[-1])
    return KpiDetail.model_construct(
        **dict(to_read(chosen)),
        versions=[
            KpiVersionSummary(
                version=v.version,
                status=v.status,
                release=v.release_id,
                published_at=v.published_at,
                comparability=Comparability(v.comparability) if v.comparability else None,
                effective_from=v.effective_from,
            )
            for v in versions
        ],
        series_breaks=series_breaks(definitions_of(published)),
    )


def get_version(
    session: Session, *, code: str, version: int, include_drafts: bool = False
) -> KpiRead:
    """One version of a KPI (a draft only with ``include_drafts``). Raises NotFound (404
    ``kpi_not_found``, ``kpi_version_not_found``)."""
    _kpi(session, code)
    found = repo.get_version(session, code, version)
    if found is None or (found.status != PUBLISHED and not include_drafts):
        raise NotFound(KPI_VERSION_NOT_FOUND, params={"kpi": code, "version": version})
    return to_read(found)


def list_versions(session: Session, *, code: str, include_drafts: bool = False) -> list[KpiRead]:
    """Every version of a KPI, oldest first (drafts only with ``include_drafts``). Raises NotFound
    (404 ``kpi_not_found``)."""
    _kpi(session, code)
    return [to_read(v) for v in _visible(repo.kpi_versions(session, code), include_drafts)]


# --- writing drafts ------------------------------------------------------------------------


def _validated(data: dict[str, Any]) -> KpiDefinition:
    try:
        return KpiDefinition.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(
            INVALID_DEFINITION,
            errors=validation_errors(exc.errors(include_url=False)),
        ) from exc


def _check_references(session: Session, definition: KpiDefinition) -> None:
    errors: list[FieldError] = []
    known = repo.existing_codes(session, CodeList, definition.dimensions)
    errors += [
        FieldError(
            location="body",
            pointer=f"/dimensions/{i}",
            code="unknown_code_list",
            message=f"{d!r} is not a code list",
        )
        for i, d in enumerate(definition.dimensions)
        if d not in known
    ]
    known = repo.existing_codes(session, WorkField, definition.work_fields)
    errors += [
        FieldError(
            location="body",
            pointer=f"/work_fields/{i}",
            code="unknown_work_field",
            message=f"{w!r} is not a work field",
        )
        for i, w in enumerate(definition.work_fields)
        if w not in known
    ]
    if errors:
        raise Unprocessable(UNKNOWN_REFERENCE, errors=errors)


def _new_version(
    session: Session, *, code: str, number: int, definition: KpiDefinition, actor: str
) -> KpiVersion:
    version = KpiVersion(
        kpi_code=code, version=number, status=DRAFT, created_by=actor, **definition.columns()
    )
    session.add(version)
    session.flush()
    repo.set_work_fields(session, version)
    return version


def create_kpi(session: Session, *, data: KpiCreate, actor: str) -> KpiRead:
    """Create a KPI with its first version, a draft. Raises Conflict (409 ``kpi_exists``) and
    Unprocessable (422 ``unknown_reference``: an unknown life domain, code list or work field)."""
    if repo.get_kpi(session, data.code) is not None:
        raise Conflict(KPI_EXISTS, params={"kpi": data.code})
    if data.life_domain is not None and session.get(LifeDomain, data.life_domain) is None:
        raise Unprocessable(
            UNKNOWN_LIFE_DOMAIN,
            params={"life_domain": data.life_domain},
            errors=[
                FieldError(
                    location="body",
                    pointer="/life_domain",
                    code="unknown_life_domain",
                    message=f"{data.life_domain!r} is not a life domain",
                )
            ],
        )
    definition = data.definition()
    _check_references(session, definition)
    session.add(Kpi(code=data.code, layer=data.layer.value, life_domain_code=data.life_domain))
    session.flush()
    return to_read(
        _new_version(session, code=data.code, number=1, definition=definition, actor=actor)
    )


def _merge(base: KpiVersion, patch: KpiDefinitionPatch) -> KpiDefinition:
    data = KpiDefinition.from_version(base).model_dump(mode="json")
    data.update(patch.model_dump(mode="json", exclude_unset=True))
    return _validated(data)


def create_version(
    session: Session, *, code: str, patch: KpiDefinitionPatch, actor: str
) -> KpiRead:
    """Start a new draft from the latest version, with the patch applied. Raises NotFound (404
    ``kpi_not_found``), Conflict (409 ``draft_exists``) and Unprocessable (422
    ``invalid_definition``, ``unknown_reference``)."""
    _kpi(session, code)
    versions = repo.kpi_versions(session, code)
    if any(v.status == DRAFT for v in versions):
        raise Conflict(DRAFT_EXISTS, params={"kpi": code})
    definition = _merge(versions[-1], patch)
    _check_references(session, definition)
    number = versions[-1].version + 1
    return to_read(
        _new_version(session, code=code, number=number, definition=definition, actor=actor)
    )


def _draft(session: Session, code: str, version: int) -> KpiVersion:
    _kpi(session, code)
    found = repo.get_version(session, code, version)
    if found is None:
        raise NotFound(KPI_VERSION_NOT_FOUND, params={"kpi": code, "version": version})
    if found.status != DRAFT:
        raise Conflict(VERSION_IMMUTABLE, params={"kpi": code, "version": version})
    return found


def update_draft(
    session: Session, *, code: str, version: int, patch: KpiDefinitionPatch
) -> KpiRead:
    """Apply a patch to a draft; the draft as it then is. Raises NotFound (404 ``kpi_not_found``,
    ``kpi_version_not_found``), Conflict (409 ``version_immutable``: it is published) and
    Unprocessable (422 ``invalid_definition``, ``unknown_reference``)."""
    draft = _draft(session, code, version)
    definition = _merge(draft, patch)
    _check_references(session, definition)
    for column, value in definition.columns().items():
        setattr(draft, column, value)
    session.flush()
    repo.set_work_fields(session, draft)
    return to_read(draft)


def delete_draft(session: Session, *, code: str, version: int) -> None:
    """Delete a draft, and its KPI when that was the KPI's only version. Raises NotFound (404
    ``kpi_not_found``, ``kpi_version_not_found``) and Conflict (409 ``version_immutable``)."""
    draft = _draft(session, code, version)
    kpi = draft.kpi
    session.delete(draft)
    session.flush()
    if not repo.kpi_versions(session, code):
        session.delete(kpi)


def deprecate(session: Session, *, code: str, data: DeprecationCreate, actor: str) -> KpiDetail:
    """Deprecate a published KPI from ``effective_from`` (with a successor, if named); the KPI as it
    then is. Raises NotFound (404 ``kpi_not_found``), Conflict (409 ``kpi_already_deprecated``,
    ``kpi_not_published``) and Unprocessable (422 ``unknown_reference``: the successor is not
    another existing KPI)."""
    kpi = _kpi(session, code)
    if kpi.deprecated_at is not None:
        raise Conflict(KPI_ALREADY_DEPRECATED, params={"kpi": code})
    if data.successor is not None:
        successor = repo.get_kpi(session, data.successor)
        if successor is None or data.successor == code:
            raise Unprocessable(
                UNKNOWN_SUCCESSOR,
                params={"successor": data.successor},
                errors=[
                    FieldError(
                        location="body",
                        pointer="/successor",
                        code="unknown_successor",
                        message="the successor must be another existing KPI",
                    )
                ],
            )
    if not any(v.status == PUBLISHED for v in repo.kpi_versions(session, code)):
        raise Conflict(KPI_NOT_PUBLISHED, params={"kpi": code})
    kpi.deprecated_at = utcnow()
    kpi.deprecated_from = data.effective_from
    kpi.deprecation_reason = f"{data.reason} (by {actor})"
    kpi.successor_code = data.successor
    session.flush()
    return get_kpi(session, code=code)


# --- releases --------------------------------------------------------------------------------


def _release_read(release: Release, size: int, current: Release | None) -> ReleaseRead:
    return ReleaseRead(
        id=release.id,
        title_nl=release.title_nl,
        title_en=release.title_en,
        notes=release.notes,
        published_at=release.published_at,
        published_by=release.published_by,
        kpi_count=size,
        current=current is not None and current.id == release.id,
    )


def _release_key(release_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release_id.split("."))


#: Where a break may not fall: the closed period (code, why) holding a day, if any.
ClosedAt = Callable[[date], "tuple[str, str] | None"]


def publish_release(
    session: Session, *, data: ReleaseCreate, actor: str, closed: ClosedAt | None = None
) -> ReleaseDetail:
    """Publish drafts and freeze the resulting set of KPI versions as a release.

    ``closed``: where measurements are closed (period locks, final figure releases); a series
    break may not take effect in or before such a period, as its measurements could never be
    sent again under the new definition. Raises Conflict (409 ``release_exists``,
    ``release_out_of_order``, ``release_empty``) and Unprocessable (422 ``no_draft``,
    ``not_in_release``, ``published_and_removed``, and ``comparability_invalid`` or the one
    comparability rule broken: see ``_comparability``).
    """
    if repo.get_release(session, data.id) is not None:
        raise Conflict(RELEASE_EXISTS, params={"release": data.id})
    current = repo.current_release(session)
    if current is not None and _release_key(data.id) <= _release_key(current.id):
        raise Conflict(RELEASE_OUT_OF_ORDER, params={"release": data.id, "current": current.id})
    members = repo.release_versions(session, current.id) if current is not None else {}
    to_publish = repo.drafts(session, data.kpis)
    if data.kpis is not None:
        missing = sorted(set(data.kpis) - {v.kpi_code for v in to_publish})
        if missing:
            raise Unprocessable(
                NO_DRAFT,
                errors=[
                    FieldError(
                        location="body",
                        pointer=f"/kpis/{data.kpis.index(c)}",
                        code="no_draft",
                        message=f"{c!r} has no draft version",
                    )
                    for c in missing
                ],
            )
    unknown = [c for c in data.remove if c not in members]
    if unknown:
        raise Unprocessable(
            NOT_IN_RELEASE,
            errors=[
                FieldError(
                    location="body",
                    pointer=f"/remove/{data.remove.index(c)}",
                    code="not_in_release",
                    message=f"{c!r} is not in the current release",
                )
                for c in unknown
            ],
        )
    both = sorted({v.kpi_code for v in to_publish} & set(data.remove))
    if both:
        raise Unprocessable(
            PUBLISHED_AND_REMOVED,
            errors=[
                FieldError(
                    location="body",
                    pointer=f"/remove/{data.remove.index(c)}",
                    code="published_and_removed",
                    message=f"{c!r} has a draft this release publishes",
                )
                for c in both
            ],
        )
    if not to_publish and not data.remove:
        raise Conflict(RELEASE_EMPTY)
    stated = _comparability(session, to_publish, data.comparability, closed)
    now = utcnow()
    release = Release(
        id=data.id,
        sequence=repo.next_release_sequence(session),
        title_nl=data.title_nl,
        title_en=data.title_en,
        notes=data.notes,
        published_at=now,
        published_by=actor,
    )
    session.add(release)
    session.flush()
    for v in to_publish:
        v.status = PUBLISHED
        v.published_at = now
        v.release_id = release.id
        statement = stated.get(v.kpi_code)
        if statement is not None:
            v.comparability = statement.comparability.value
            v.effective_from = statement.effective_from
            v.change_note_nl = statement.change_note_nl
            v.change_note_en = statement.change_note_en
        members[v.kpi_code] = v
    for code in data.remove:
        members.pop(code, None)
    session.add_all(
        ReleaseKpi(release_id=release.id, kpi_code=code, kpi_version_id=v.id)
        for code, v in members.items()
    )
    session.flush()
    return get_release(session, release_id=release.id)


def _dump(v: KpiVersion) -> dict[str, Any]:
    return KpiDefinition.from_version(v).model_dump(mode="json")


def _statement_error(i: int, field_: str, code: str, message: str) -> FieldError:
    return FieldError(
        location="body", pointer=f"/comparability/{i}/{field_}", code=code, message=message
    )


def _comparability(
    session: Session,
    to_publish: Sequence[KpiVersion],
    statements: Sequence[ComparabilityStatement],
    closed: ClosedAt | None = None,
) -> dict[str, ComparabilityStatement]:
    """Each published draft's comparability with the version before it, checked.

    A draft without a statement is published as minor when its field changes allow that; a
    major change must be stated, with 1 January of the year it takes effect, after any earlier
    break. Raises 422 ``comparability_invalid`` (``errors`` name each statement and rule:
    ``comparability_understated``, ``comparability_required``, ``effective_from_required``,
    ``effective_from_not_year_start``, ``effective_from_not_after_break``,
    ``effective_from_too_early`` (more than a year back), ``effective_from_too_late`` (more
    than ten years ahead), ``effective_from_in_closed_period``,
    ``change_note_required`` (a break is explained in Dutch and English),
    ``effective_from_for_minor``, ``comparability_first_version``, ``no_draft``,
    ``duplicate_item``).
    """
    this_year = utcnow().year
    drafts = {v.kpi_code: v for v in to_publish}
    errors: list[FieldError] = []
    by_kpi: dict[str, ComparabilityStatement] = {}
    index: dict[str, int] = {}
    for i, st in enumerate(statements):
        if st.kpi in by_kpi:
            errors.append(_statement_error(i, "kpi", "duplicate_item", f"{st.kpi} twice"))
        elif st.kpi not in drafts:
            errors.append(
                _statement_error(i, "kpi", "no_draft", f"{st.kpi!r} has no draft published here")
            )
        by_kpi.setdefault(st.kpi, st)
        index.setdefault(st.kpi, i)
    out: dict[str, ComparabilityStatement] = {}
    for code, draft in drafts.items():
        published = [v for v in repo.kpi_versions(session, code) if v.status == PUBLISHED]
        stated = by_kpi.get(code)
        i = index.get(code, 0)
        if not published:
            if stated is not None:
                errors.append(
                    _statement_error(
                        i,
                        "comparability",
                        "comparability_first_version",
                        f"{code}'s first version has no earlier version to compare with",
                    )
                )
            continue
        verdicts = comparing.derive(_dump(published[-1]), _dump(draft))
        least = comparing.least(verdicts)
        breaking = ", ".join(
            f"{v.field} ({v.why})" for v in verdicts if v.comparability is Comparability.major
        )
        if stated is None:
            if least is Comparability.major:
                errors.append(
                    FieldError(
                        location="body",
                        pointer="/comparability",
                        code="comparability_required",
                        message=f"{code} version {draft.version} breaks the series: "
                        f"{breaking}; state comparability major with effective_from",
                    )
                )
                continue
            st = ComparabilityStatement(kpi=code, comparability=Comparability.minor)
        else:
            st = stated
        if st.comparability is Comparability.minor and least is Comparability.major:
            errors.append(
                _statement_error(
                    i,
                    "comparability",
                    "comparability_understated",
                    f"{code} version {draft.version} cannot be minor: {breaking}",
                )
            )
            continue
        if st.comparability is Comparability.minor:
            if st.effective_from is not None:
                errors.append(
                    _statement_error(
                        i,
                        "effective_from",
                        "effective_from_for_minor",
                        "a minor change keeps the series and takes no effective_from",
                    )
                )
            out[code] = st
            continue
        day = st.effective_from
        if day is None:
            errors.append(
                _statement_error(
                    i,
                    "effective_from",
                    "effective_from_required",
                    "a major change needs the first day it governs (1 January of a year)",
                )
            )
            continue
        if (day.month, day.day) != (1, 1):
            errors.append(
                _statement_error(
                    i,
                    "effective_from",
                    "effective_from_not_year_start",
                    "a series breaks on 1 January, so every period lies on one side of it",
                )
            )
            continue
        if day.year > this_year + 10:
            errors.append(
                _statement_error(
                    i,
                    "effective_from",
                    "effective_from_too_late",
                    f"a break takes effect at most ten years ahead (by 1 January {this_year + 10})",
                )
            )
            continue
        if day.year < this_year - 1:
            errors.append(
                _statement_error(
                    i,
                    "effective_from",
                    "effective_from_too_early",
                    f"a break takes effect at most a year back (from 1 January {this_year - 1}); "
                    f"{code}'s measurements before it would no longer count",
                )
            )
            continue
        shut = closed(day) if closed is not None else None
        if shut is not None:
            errors.append(
                _statement_error(
                    i,
                    "effective_from",
                    "effective_from_in_closed_period",
                    f"{code}'s break on {day.isoformat()} falls in or before the closed period "
                    f"{shut[0]} ({shut[1]}): its measurements could not be sent again under the "
                    "new definition",
                )
            )
            continue
        missing = [f for f in ("change_note_nl", "change_note_en") if not getattr(st, f).strip()]
        if missing:
            errors.append(
                _statement_error(
                    i,
                    missing[0],
                    "change_note_required",
                    "a series break is explained in Dutch and English: what changed and why",
                )
            )
            continue
        earlier = [b.effective_from for b in series_breaks(definitions_of(published))]
        if earlier and day <= earlier[-1]:
            errors.append(
                _statement_error(
                    i,
                    "effective_from",
                    "effective_from_not_after_break",
                    f"{code} already breaks on {earlier[-1].isoformat()}; a new break comes "
                    "after it",
                )
            )
            continue
        out[code] = st
    if errors:
        codes = {e.code for e in errors}
        raise Unprocessable(
            COMPARABILITY_INVALID,
            code=codes.pop() if len(codes) == 1 else None,
            errors=errors,
        )
    return out


def list_releases(session: Session, *, limit: int = 50, cursor: str | None = None) -> ReleasePage:
    """A page of releases, newest first, each with its number of KPIs. Raises KpiApiError (400
    ``invalid_cursor``)."""
    before = decode_cursor(cursor, "releases", int)
    rows = repo.list_releases(session, limit=limit + 1, before_sequence=before)
    rows, after_last = page(rows, limit, "releases", lambda r: r.sequence)
    sizes = repo.release_sizes(session, [r.id for r in rows])
    current = repo.current_release(session)
    return ReleasePage(
        items=[_release_read(r, sizes.get(r.id, 0), current) for r in rows], next=after_last
    )


def current_release(session: Session) -> ReleaseDetail:
    """The current release with its KPI versions. Raises NotFound (404 ``release_not_found``) before
    the first release."""
    release = repo.current_release(session)
    if release is None:
        raise NotFound(NO_RELEASE_YET)
    return get_release(session, release_id=release.id)


def get_release(session: Session, *, release_id: str) -> ReleaseDetail:
    """A release with its KPI versions, by code. Raises NotFound (404 ``release_not_found``)."""
    release = _release_or_current(session, release_id)
    assert release is not None
    versions = repo.release_versions(session, release.id)
    base = _release_read(release, len(versions), repo.current_release(session))
    return ReleaseDetail(
        **base.model_dump(),
        kpis=[ReleaseMember(code=c, version=v.version) for c, v in sorted(versions.items())],
    )


def diff_releases(session: Session, *, release_id: str, base_id: str | None = None) -> ReleaseDiff:
    """Added, removed and changed KPIs (field by field) from ``base_id`` (by default the release
    before) to ``release_id``. Raises NotFound (404 ``release_not_found``)."""
    new = _release_or_current(session, release_id)
    assert new is not None
    old = _release_or_current(session, base_id) if base_id else repo.previous_release(session, new)
    new_v = repo.release_versions(session, new.id)
    old_v = repo.release_versions(session, old.id) if old is not None else {}
    changed = []
    unchanged = 0
    for code in sorted(new_v.keys() & old_v.keys()):
        a, b = old_v[code], new_v[code]
        if a.id == b.id:
            unchanged += 1
            continue
        da, db = _dump(a), _dump(b)
        verdicts = comparing.derive(da, db)
        changes = [
            FieldChange(
                field=v.field,
                old=da[v.field],
                new=db[v.field],
                comparability=v.comparability,
                why=v.why,
            )
            for v in verdicts
        ]
        published = [v for v in repo.kpi_versions(session, code) if v.status == PUBLISHED]
        breaks = [
            brk
            for brk in series_breaks(definitions_of(published))
            if a.version < brk.to_version <= b.version
        ]
        derived = comparing.least(verdicts)
        if changes or breaks:
            changed.append(
                KpiChange(
                    code=code,
                    old_version=a.version,
                    new_version=b.version,
                    comparability=Comparability.major if breaks else derived,
                    derived_comparability=derived,
                    series_breaks=breaks,
                    changes=changes,
                )
            )
        else:
            unchanged += 1
    return ReleaseDiff(
        old=old.id if old is not None else None,
        new=new.id,
        added=[
            ReleaseMember(code=c, version=new_v[c].version)
            for c in sorted(new_v.keys() - old_v.keys())
        ],
        removed=[
            ReleaseMember(code=c, version=old_v[c].version)
            for c in sorted(old_v.keys() - new_v.keys())
        ],
        changed=changed,
        unchanged=unchanged,
    )


# --- reference lists -------------------------------------------------------------------------


def life_domains(session: Session) -> list[LifeDomainRead]:
    """The life domains of the SWN model, in order, each with the number of KPIs of the current
    release in it."""
    release = repo.current_release(session)
    counts = repo.impact_counts(session, release.id) if release is not None else {}
    return [
        LifeDomainRead(
            code=d.code,
            name_nl=d.name_nl,
            name_en=d.name_en,
            description_nl=d.description_nl,
            description_en=d.description_en,
            kpi_count=counts.get(d.code, 0),
        )
        for d in repo.life_domains(session)
    ]


def work_fields(session: Session) -> list[WorkFieldRead]:
    """The work fields, in order."""
    return [
        WorkFieldRead(code=w.code, name_nl=w.name_nl, name_en=w.name_en)
        for w in repo.work_fields(session)
    ]


def _code_list_read(c: CodeList) -> CodeListRead:
    return CodeListRead(
        code=c.code,
        name_nl=c.name_nl,
        name_en=c.name_en,
        description_nl=c.description_nl,
        description_en=c.description_en,
        pattern=c.pattern,
        items=[
            CodeListItemRead(code=i.code, name_nl=i.name_nl, name_en=i.name_en) for i in c.items
        ],
    )


def code_lists(session: Session) -> list[CodeListRead]:
    """Every code list with its items, in order."""
    return [_code_list_read(c) for c in repo.code_lists(session)]


def code_list(session: Session, *, code: str) -> CodeListRead:
    """One code list with its items. Raises NotFound (404 ``code_list_not_found``)."""
    found = session.get(CodeList, code)
    if found is None:
        raise NotFound(CODE_LIST_NOT_FOUND, params={"code_list": code})
    return _code_list_read(found)


def kpi_sets(session: Session, *, work_field: str | None = None) -> list[KpiSetRead]:
    """The KPI sets (a standard set per work field), in order, of ``work_field`` if given, each with
    its KPI codes."""
    return [
        KpiSetRead(
            code=s.code,
            work_field=s.work_field_code,
            name_nl=s.name_nl,
            name_en=s.name_en,
            description_nl=s.description_nl,
            description_en=s.description_en,
            kpis=[m.kpi_code for m in s.members],
        )
        for s in repo.kpi_sets(session, work_field)
    ]


# --- what other domains need to enforce definitions -----------------------------------------


class _Limits(Protocol):
    """What the effective precision and limits are read from: a KpiVersion or a KpiSpec."""

    @property
    def value_type(self) -> str: ...
    @property
    def decimals(self) -> int | None: ...
    @property
    def count_max(self) -> int | None: ...
    @property
    def range_max(self) -> float | None: ...


def published_decimals(version: _Limits) -> int:
    """Decimals the published figure of this KPI version is rounded to (0..6): of the
    percentage, the mean (score, days) or the euro amount; the declared value, else the value
    type's default (count 0, amount_eur 2, percentage 1, score 2, duration_days 1)."""
    if version.decimals is not None:
        return version.decimals
    return DEFAULT_DECIMALS[ValueType(version.value_type)]


def effective_count_max(version: _Limits) -> int:
    """The largest count one measurement may carry (a count KPI's value, a percentage's
    numerator and denominator, a mean's n): the declared value, else 10,000,000."""
    return version.count_max if version.count_max is not None else DEFAULT_COUNT_MAX


def effective_value_max(version: _Limits) -> float:
    """The largest value (or mean) one measurement may carry, always finite.

    Counts: ``range.max`` capped by the count limit; percentages (0–100, × 100), scores:
    ``range.max`` (100 for a percentage without one); amounts (euros) and durations (days):
    ``range.max``, which every definition must set now. A version published before that rule that
    lacks it is bounded by its count limit.
    """
    count_max = effective_count_max(version)
    if version.range_max is None:
        return 100.0 if version.value_type == ValueType.percentage else float(count_max)
    if version.value_type == ValueType.count:
        return min(version.range_max, count_max)
    return version.range_max


@dataclass(frozen=True)
class KpiSpec:
    """The parts of one KPI version that submissions and aggregates enforce.

    ``decimals`` and ``count_max`` are as stored (None: the default); read them through
    ``published_decimals``, ``effective_count_max`` and ``effective_value_max``.
    """

    code: str
    version: int
    published: bool
    value_type: str
    aggregation: str
    time_aggregation: str
    period_types: frozenset[str]
    dimensions: tuple[str, ...]
    range_min: float | None
    range_max: float | None
    deprecated_from: date | None
    successor: str | None
    decimals: int | None = None
    count_max: int | None = None
    # The definition (series stretch) this version belongs to: periods starting from
    # ``definition_start`` (None: any before) up to ``definition_end`` (exclusive; None: no
    # later break), when ``replaced_by`` opened the next one. Drafts: their own version only.
    definition_start: date | None = None
    definition_end: date | None = None
    replaced_by: int | None = None

    def governs(self, day: date) -> bool:
        """Whether a period starting on ``day`` falls under this version's definition."""
        return (self.definition_start is None or self.definition_start <= day) and (
            self.definition_end is None or day < self.definition_end
        )


@dataclass(frozen=True)
class CodeListSpec:
    """A code list as submissions check it: its codes, or the pattern codes must match (CBS district
    ``WK`` + 6 digits, neighbourhood ``BU`` + 8)."""

    code: str
    items: frozenset[str]
    pattern: re.Pattern[str] | None

    def accepts(self, value: str) -> bool:
        """Whether ``value`` is one of the list's codes, or matches its pattern."""
        if self.pattern is not None:
            return self.pattern.fullmatch(value) is not None
        return value in self.items


def kpi_specs(session: Session, codes: Sequence[str]) -> dict[str, dict[int, KpiSpec]]:
    """Every version of the named KPIs (drafts included), by code and version number; unknown codes
    are absent."""
    out: dict[str, dict[int, KpiSpec]] = {}
    found = repo.versions_of(session, codes)
    stretch: dict[tuple[str, int], tuple[date | None, date | None, int | None]] = {}
    by_kpi: dict[str, list[KpiVersion]] = {}
    for v in found:
        if v.status == PUBLISHED:
            by_kpi.setdefault(v.kpi_code, []).append(v)
    for code, published in by_kpi.items():
        defs = definitions_of(published)
        for i, d in enumerate(defs):
            after = defs[i + 1].versions[0] if i + 1 < len(defs) else None
            for number in d.versions:
                stretch[(code, number)] = (d.start, d.end, after)
    for v in found:
        start, end, after = stretch.get((v.kpi_code, v.version), (None, None, None))
        out.setdefault(v.kpi_code, {})[v.version] = KpiSpec(
            code=v.kpi_code,
            version=v.version,
            published=v.status == PUBLISHED,
            value_type=v.value_type,
            aggregation=v.aggregation,
            time_aggregation=v.time_aggregation,
            period_types=frozenset(v.period_types),
            dimensions=tuple(v.dimensions),
            range_min=v.range_min,
            range_max=v.range_max,
            deprecated_from=v.kpi.deprecated_from,
            successor=v.kpi.successor_code,
            decimals=v.decimals,
            count_max=v.count_max,
            definition_start=start,
            definition_end=end,
            replaced_by=after,
        )
    return out


def release_members(
    session: Session, release_id: str | None = None
) -> tuple[str, dict[str, int]] | None:
    """(release id, code -> version) of a release, the current one by default; None if absent."""
    release = (
        repo.current_release(session)
        if release_id is None
        else repo.get_release(session, release_id)
    )
    if release is None:
        return None
    return release.id, {
        code: v.version for code, v in repo.release_versions(session, release.id).items()
    }


def code_list_specs(session: Session) -> dict[str, CodeListSpec]:
    """Every code list as submissions check it, by code."""
    return {
        c.code: CodeListSpec(
            code=c.code,
            items=frozenset(i.code for i in c.items),
            pattern=re.compile(c.pattern, re.ASCII) if c.pattern else None,
        )
        for c in repo.code_lists(session)
    }


@dataclass(frozen=True)
class Definition:
    """One stretch of a KPI's series: a version that broke the series (or the first) and the
    minor versions after it, comparable with one another. Figures of a period add up only
    measurements made under the definition that governs it."""

    kpi: str
    versions: tuple[int, ...]  # published version numbers, ascending
    start: date | None  # the break that opened it (1 January); None: since the first version
    end: date | None  # the next break (exclusive); None: still governing
    spec: KpiVersion  # its latest version: the rules and maths its figures follow
    previous: int | None = None  # the last version before the break that opened it
    change_note_nl: str = ""
    change_note_en: str = ""

    @property
    def version(self) -> int:
        """The number of the definition's latest version, whose rules its figures follow."""
        return self.spec.version

    def governs(self, day: date) -> bool:
        """Whether a period starting on ``day`` falls under this definition."""
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)


def definitions_of(published: Sequence[KpiVersion]) -> list[Definition]:
    """A KPI's definitions, oldest first, from its published versions (ascending). A version
    published before comparability was recorded (NULL) is read as minor."""
    groups: list[list[KpiVersion]] = []
    for v in sorted(published, key=lambda v: v.version):
        if not groups or v.comparability == Comparability.major:
            groups.append([v])
        else:
            groups[-1].append(v)
    out = []
    for i, group in enumerate(groups):
        head = group[0]
        later = groups[i + 1][0].effective_from if i + 1 < len(groups) else None
        out.append(
            Definition(
                kpi=head.kpi_code,
                versions=tuple(v.version for v in group),
                start=head.effective_from if i > 0 else None,
                end=later,
                spec=group[-1],
                previous=groups[i - 1][-1].version if i > 0 else None,
                change_note_nl=head.change_note_nl or "" if i > 0 else "",
                change_note_en=head.change_note_en or "" if i > 0 else "",
            )
        )
    return out


def definitions(session: Session, code: str, as_of: datetime | None = None) -> list[Definition]:
    """The definitions of a KPI's series, oldest first (empty when nothing is published); as
    the catalogue stood ``as_of`` (versions published by then), when any was published by then."""
    published = [v for v in repo.kpi_versions(session, code) if v.status == PUBLISHED]
    if as_of is not None:
        then = [v for v in published if v.published_at is not None and v.published_at <= as_of]
        published = then or published
    return definitions_of(published)


def governing(defs: Sequence[Definition], day: date) -> Definition:
    """The definition that governs periods starting on ``day`` (``defs`` not empty)."""
    for d in defs:
        if d.governs(day):
            return d
    return defs[0]


def definition_of(defs: Sequence[Definition], version: int | None) -> Definition | None:
    """The definition a version belongs to, if it is one of ``defs``'."""
    return next((d for d in defs if version in d.versions), None)


def series_breaks(defs: Sequence[Definition]) -> list[SeriesBreak]:
    """The breaks between consecutive definitions, oldest first."""
    return [
        SeriesBreak(
            effective_from=d.start,
            from_version=d.previous,
            to_version=d.versions[0],
            change_note_nl=d.change_note_nl,
            change_note_en=d.change_note_en,
        )
        for d in defs
        if d.start is not None and d.previous is not None
    ]


def breaks_between(defs: Sequence[Definition], first: date, second: date) -> list[SeriesBreak]:
    """The series breaks between two periods starting on ``first`` and ``second``: what an
    agreement's progress warns about when its baseline and a current figure lie on
    different sides of one (baseline and figure are then not comparable)."""
    lo, hi = min(first, second), max(first, second)
    return [b for b in series_breaks(defs) if lo < b.effective_from <= hi]


def governing_version(session: Session, code: str) -> KpiVersion | None:
    """The version of a KPI whose rules apply now: the current release's, else the latest
    published one (a KPI removed from the catalogue keeps its last definition)."""
    return repo.governing_version(session, code)
