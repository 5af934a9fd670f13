"""Catalogue rules: versions are immutable once published, releases are immutable sets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from kpi_api.catalogue import repository as repo
from kpi_api.catalogue.models import (
    CodeList,
    Kpi,
    KpiVersion,
    LifeDomain,
    Release,
    ReleaseKpi,
    WorkField,
)
from kpi_api.catalogue.schemas import (
    DEFAULT_COUNT_MAX,
    DEFAULT_DECIMALS,
    CodeListItemRead,
    CodeListRead,
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
    Layer,
    LifeDomainRead,
    ReleaseCreate,
    ReleaseDetail,
    ReleaseDiff,
    ReleaseMember,
    ReleasePage,
    ReleaseRead,
    ValueType,
    WorkFieldRead,
)
from kpi_api.db import utcnow
from kpi_api.errors import Conflict, FieldError, NotFound, Unprocessable, validation_errors
from kpi_api.pagination import decode_cursor, page

DRAFT = "draft"
PUBLISHED = "published"


# --- reading -------------------------------------------------------------------------------


def deprecation_of(kpi: Kpi) -> Deprecation | None:
    if kpi.deprecated_at is None or kpi.deprecated_from is None:
        return None
    return Deprecation(
        deprecated_at=kpi.deprecated_at,
        effective_from=kpi.deprecated_from,
        reason=kpi.deprecation_reason,
        successor=kpi.successor_code,
    )


def to_read(v: KpiVersion) -> KpiRead:
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
    )


def _release_or_current(session: Session, release_id: str | None) -> Release | None:
    if release_id is None:
        return repo.current_release(session)
    release = repo.get_release(session, release_id)
    if release is None:
        raise NotFound(f"Release {release_id!r} does not exist.", code="release_not_found")
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
        raise NotFound(f"KPI {code!r} does not exist.", code="kpi_not_found")
    return kpi


def _visible(versions: Sequence[KpiVersion], include_drafts: bool) -> list[KpiVersion]:
    return [v for v in versions if include_drafts or v.status == PUBLISHED]


def get_kpi(session: Session, *, code: str, include_drafts: bool = False) -> KpiDetail:
    """The KPI as the current release has it (else its latest published version)."""
    _kpi(session, code)
    versions = _visible(repo.kpi_versions(session, code), include_drafts)
    if not versions:
        raise NotFound(f"KPI {code!r} has no published version.", code="kpi_not_found")
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
            )
            for v in versions
        ],
    )


def get_version(
    session: Session, *, code: str, version: int, include_drafts: bool = False
) -> KpiRead:
    _kpi(session, code)
    found = repo.get_version(session, code, version)
    if found is None or (found.status != PUBLISHED and not include_drafts):
        raise NotFound(f"KPI {code!r} has no version {version}.", code="kpi_version_not_found")
    return to_read(found)


def list_versions(session: Session, *, code: str, include_drafts: bool = False) -> list[KpiRead]:
    _kpi(session, code)
    return [to_read(v) for v in _visible(repo.kpi_versions(session, code), include_drafts)]


# --- writing drafts ------------------------------------------------------------------------


def _validated(data: dict[str, Any]) -> KpiDefinition:
    try:
        return KpiDefinition.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(
            "The KPI definition breaks a catalogue rule; see errors.",
            code="invalid_definition",
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
        raise Unprocessable(
            "The KPI definition refers to unknown codes.", code="unknown_reference", errors=errors
        )


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
    if repo.get_kpi(session, data.code) is not None:
        raise Conflict(f"KPI {data.code!r} exists; add a version instead.", code="kpi_exists")
    if data.life_domain is not None and session.get(LifeDomain, data.life_domain) is None:
        raise Unprocessable(
            f"{data.life_domain!r} is not a life domain.",
            code="unknown_reference",
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
    """Start a new draft from the latest version, with the patch applied."""
    _kpi(session, code)
    versions = repo.kpi_versions(session, code)
    if any(v.status == DRAFT for v in versions):
        raise Conflict(f"KPI {code!r} already has a draft; edit that one.", code="draft_exists")
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
        raise NotFound(f"KPI {code!r} has no version {version}.", code="kpi_version_not_found")
    if found.status != DRAFT:
        raise Conflict(
            f"Version {version} of {code!r} is published and can never change; "
            "create a new version instead.",
            code="version_immutable",
        )
    return found


def update_draft(
    session: Session, *, code: str, version: int, patch: KpiDefinitionPatch
) -> KpiRead:
    draft = _draft(session, code, version)
    definition = _merge(draft, patch)
    _check_references(session, definition)
    for column, value in definition.columns().items():
        setattr(draft, column, value)
    session.flush()
    repo.set_work_fields(session, draft)
    return to_read(draft)


def delete_draft(session: Session, *, code: str, version: int) -> None:
    draft = _draft(session, code, version)
    kpi = draft.kpi
    session.delete(draft)
    session.flush()
    if not repo.kpi_versions(session, code):
        session.delete(kpi)


def deprecate(session: Session, *, code: str, data: DeprecationCreate, actor: str) -> KpiDetail:
    kpi = _kpi(session, code)
    if kpi.deprecated_at is not None:
        raise Conflict(f"KPI {code!r} is already deprecated.", code="kpi_already_deprecated")
    if data.successor is not None:
        successor = repo.get_kpi(session, data.successor)
        if successor is None or data.successor == code:
            raise Unprocessable(
                f"Successor {data.successor!r} is not another existing KPI.",
                code="unknown_reference",
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
        raise Conflict(
            f"KPI {code!r} was never published; delete its draft instead.",
            code="kpi_not_published",
        )
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


def publish_release(session: Session, *, data: ReleaseCreate, actor: str) -> ReleaseDetail:
    """Publish drafts and freeze the resulting set of KPI versions as a release."""
    if repo.get_release(session, data.id) is not None:
        raise Conflict(f"Release {data.id!r} exists and is immutable.", code="release_exists")
    current = repo.current_release(session)
    if current is not None and _release_key(data.id) <= _release_key(current.id):
        raise Conflict(
            f"Release {data.id!r} must come after the current release {current.id!r}.",
            code="release_out_of_order",
        )
    members = repo.release_versions(session, current.id) if current is not None else {}
    to_publish = repo.drafts(session, data.kpis)
    if data.kpis is not None:
        missing = sorted(set(data.kpis) - {v.kpi_code for v in to_publish})
        if missing:
            raise Unprocessable(
                "Some listed KPIs have no draft to publish.",
                code="no_draft",
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
            "Only KPIs of the current release can be removed.",
            code="not_in_release",
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
    if not to_publish and not data.remove:
        raise Conflict("Nothing to release: no drafts and no removals.", code="release_empty")
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
        members[v.kpi_code] = v
    for code in data.remove:
        members.pop(code, None)
    session.add_all(
        ReleaseKpi(release_id=release.id, kpi_code=code, kpi_version_id=v.id)
        for code, v in members.items()
    )
    session.flush()
    return get_release(session, release_id=release.id)


def list_releases(session: Session, *, limit: int = 50, cursor: str | None = None) -> ReleasePage:
    before = decode_cursor(cursor, "releases", int)
    rows = repo.list_releases(session, limit=limit + 1, before_sequence=before)
    rows, after_last = page(rows, limit, "releases", lambda r: r.sequence)
    sizes = repo.release_sizes(session, [r.id for r in rows])
    current = repo.current_release(session)
    return ReleasePage(
        items=[_release_read(r, sizes.get(r.id, 0), current) for r in rows], next=after_last
    )


def current_release(session: Session) -> ReleaseDetail:
    release = repo.current_release(session)
    if release is None:
        raise NotFound("No release has been published yet.", code="release_not_found")
    return get_release(session, release_id=release.id)


def get_release(session: Session, *, release_id: str) -> ReleaseDetail:
    release = _release_or_current(session, release_id)
    assert release is not None
    versions = repo.release_versions(session, release.id)
    base = _release_read(release, len(versions), repo.current_release(session))
    return ReleaseDetail(
        **base.model_dump(),
        kpis=[ReleaseMember(code=c, version=v.version) for c, v in sorted(versions.items())],
    )


def diff_releases(session: Session, *, release_id: str, base_id: str | None = None) -> ReleaseDiff:
    """Added, removed and changed KPIs (field by field) from ``base_id`` to ``release_id``."""
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
        da, db = (
            KpiDefinition.from_version(a).model_dump(mode="json"),
            KpiDefinition.from_version(b).model_dump(mode="json"),
        )
        changes = [FieldChange(field=f, old=da[f], new=db[f]) for f in da if da[f] != db[f]]
        if changes:
            changed.append(
                KpiChange(code=code, old_version=a.version, new_version=b.version, changes=changes)
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
    return [_code_list_read(c) for c in repo.code_lists(session)]


def code_list(session: Session, *, code: str) -> CodeListRead:
    found = session.get(CodeList, code)
    if found is None:
        raise NotFound(f"Code list {code!r} does not exist.", code="code_list_not_found")
    return _code_list_read(found)


def kpi_sets(session: Session, *, work_field: str | None = None) -> list[KpiSetRead]:
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

    Counts: ``range.max`` capped by the count limit; percentages, scores: ``range.max``;
    amounts (euros) and durations (days): ``range.max``, which every definition must set now.
    A version published before that rule that lacks it is bounded by its count limit.
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


@dataclass(frozen=True)
class CodeListSpec:
    code: str
    items: frozenset[str]
    pattern: re.Pattern[str] | None

    def accepts(self, value: str) -> bool:
        if self.pattern is not None:
            return self.pattern.fullmatch(value) is not None
        return value in self.items


def kpi_specs(session: Session, codes: Sequence[str]) -> dict[str, dict[int, KpiSpec]]:
    """Every version of the named KPIs, by code and version number."""
    out: dict[str, dict[int, KpiSpec]] = {}
    for v in repo.versions_of(session, codes):
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
    return {
        c.code: CodeListSpec(
            code=c.code,
            items=frozenset(i.code for i in c.items),
            pattern=re.compile(c.pattern, re.ASCII) if c.pattern else None,
        )
        for c in repo.code_lists(session)
    }


def governing_version(session: Session, code: str) -> KpiVersion | None:
    """The version of a KPI whose rules apply now: the current release's, else the latest
    published one (a KPI removed from the catalogue keeps its last definition)."""
    return repo.governing_version(session, code)
