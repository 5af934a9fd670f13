"""Catalogue queries: the only place that knows the catalogue's tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from kpi_api.catalogue.models import (
    CodeList,
    Kpi,
    KpiSet,
    KpiVersion,
    KpiVersionWorkField,
    LifeDomain,
    Release,
    ReleaseKpi,
    WorkField,
)


def current_release(session: Session) -> Release | None:
    """The catalogue release with the highest sequence (None before the first)."""
    return session.scalar(select(Release).order_by(Release.sequence.desc()).limit(1))


def get_release(session: Session, release_id: str) -> Release | None:
    """The release with this id, or None."""
    if "\x00" in release_id:
        return None  # no stored id holds a NUL, and PostgreSQL refuses one even in a comparison
    return session.get(Release, release_id)


def previous_release(session: Session, release: Release) -> Release | None:
    """The release just before ``release`` in sequence, or None for the first."""
    return session.scalar(
        select(Release)
        .where(Release.sequence < release.sequence)
        .order_by(Release.sequence.desc())
        .limit(1)
    )


def list_releases(
    session: Session, *, limit: int, before_sequence: int | None
) -> Sequence[Release]:
    """At most ``limit`` releases, newest first, those before ``before_sequence`` if given."""
    stmt = select(Release).order_by(Release.sequence.desc()).limit(limit)
    if before_sequence is not None:
        stmt = stmt.where(Release.sequence < before_sequence)
    return session.scalars(stmt).all()


def release_sizes(session: Session, release_ids: Sequence[str]) -> dict[str, int]:
    """The number of KPIs in each of these releases, by release id (absent: none)."""
    rows = session.execute(
        select(ReleaseKpi.release_id, func.count())
        .where(ReleaseKpi.release_id.in_(release_ids))
        .group_by(ReleaseKpi.release_id)
    )
    return {rid: n for rid, n in rows}


def release_versions(session: Session, release_id: str) -> dict[str, KpiVersion]:
    """The KPI versions a release holds, by KPI code."""
    stmt = (
        select(KpiVersion)
        .join(ReleaseKpi, ReleaseKpi.kpi_version_id == KpiVersion.id)
        .where(ReleaseKpi.release_id == release_id)
    )
    return {v.kpi_code: v for v in session.scalars(stmt)}


def search_release(
    session: Session,
    *,
    release_id: str,
    layer: str | None,
    life_domain: str | None,
    work_field: str | None,
    core: bool | None,
    q: str | None,
    after_code: str | None,
    limit: int,
) -> Sequence[KpiVersion]:
    """At most ``limit`` KPI versions of a release, by code after ``after_code``, filtered by layer,
    life domain, work field, core and ``q`` (a case-insensitive substring of the Dutch or English
    name or the code)."""
    stmt = (
        select(KpiVersion)
        .join(ReleaseKpi, ReleaseKpi.kpi_version_id == KpiVersion.id)
        .join(Kpi, Kpi.code == KpiVersion.kpi_code)
        .where(ReleaseKpi.release_id == release_id)
        .order_by(KpiVersion.kpi_code)
        .limit(limit)
    )
    if layer is not None:
        stmt = stmt.where(Kpi.layer == layer)
    if life_domain is not None:
        stmt = stmt.where(Kpi.life_domain_code == life_domain)
    if core is not None:
        stmt = stmt.where(KpiVersion.core == core)
    if work_field is not None:
        stmt = stmt.where(
            select(KpiVersionWorkField)
            .where(
                KpiVersionWorkField.kpi_version_id == KpiVersion.id,
                KpiVersionWorkField.work_field_code == work_field,
            )
            .exists()
        )
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                KpiVersion.name_nl.ilike(pattern, escape="\\"),
                KpiVersion.name_en.ilike(pattern, escape="\\"),
                KpiVersion.kpi_code.ilike(pattern, escape="\\"),
            )
        )
    if after_code is not None:
        stmt = stmt.where(KpiVersion.kpi_code > after_code)
    return session.scalars(stmt).all()


def get_kpi(session: Session, code: str) -> Kpi | None:
    """The KPI with this code, or None."""
    return session.get(Kpi, code)


def kpi_versions(session: Session, code: str) -> Sequence[KpiVersion]:
    """Every version of a KPI, oldest first."""
    return session.scalars(
        select(KpiVersion).where(KpiVersion.kpi_code == code).order_by(KpiVersion.version)
    ).all()


def get_version(session: Session, code: str, version: int) -> KpiVersion | None:
    """One version of a KPI, or None."""
    return session.scalar(
        select(KpiVersion).where(KpiVersion.kpi_code == code, KpiVersion.version == version)
    )


def drafts(session: Session, codes: Sequence[str] | None = None) -> Sequence[KpiVersion]:
    """The draft versions, of ``codes`` if given, by KPI code."""
    stmt = select(KpiVersion).where(KpiVersion.status == "draft").order_by(KpiVersion.kpi_code)
    if codes is not None:
        stmt = stmt.where(KpiVersion.kpi_code.in_(codes))
    return session.scalars(stmt).all()


def max_version(session: Session, code: str) -> int:
    """The highest version number of a KPI (0 when it has none)."""
    return (
        session.scalar(
            select(func.coalesce(func.max(KpiVersion.version), 0)).where(
                KpiVersion.kpi_code == code
            )
        )
        or 0
    )


def set_work_fields(session: Session, version: KpiVersion) -> None:
    """Replace the rows linking ``version`` to work fields with its ``work_fields``."""
    session.execute(
        delete(KpiVersionWorkField).where(KpiVersionWorkField.kpi_version_id == version.id)
    )
    session.add_all(
        KpiVersionWorkField(kpi_version_id=version.id, work_field_code=wf)
        for wf in version.work_fields
    )


def life_domains(session: Session) -> Sequence[LifeDomain]:
    """The life domains, in their order."""
    return session.scalars(select(LifeDomain).order_by(LifeDomain.position)).all()


def impact_counts(session: Session, release_id: str) -> dict[str, int]:
    """The number of KPIs per life domain in a release, by life domain code (absent: none)."""
    rows = session.execute(
        select(Kpi.life_domain_code, func.count())
        .join(ReleaseKpi, ReleaseKpi.kpi_code == Kpi.code)
        .where(ReleaseKpi.release_id == release_id, Kpi.life_domain_code.is_not(None))
        .group_by(Kpi.life_domain_code)
    )
    return {code: n for code, n in rows if code is not None}


def work_fields(session: Session) -> Sequence[WorkField]:
    """The work fields, in their order."""
    return session.scalars(select(WorkField).order_by(WorkField.position)).all()


def code_lists(session: Session) -> Sequence[CodeList]:
    """The code lists, in their order."""
    return session.scalars(select(CodeList).order_by(CodeList.position)).all()


def kpi_sets(session: Session, work_field: str | None = None) -> Sequence[KpiSet]:
    """The KPI sets, in their order, of ``work_field`` if given."""
    stmt = select(KpiSet).order_by(KpiSet.position)
    if work_field is not None:
        stmt = stmt.where(KpiSet.work_field_code == work_field)
    return session.scalars(stmt).all()


def existing_codes(session: Session, model: type, codes: Sequence[str]) -> set[str]:
    """Those of ``codes`` that a row of ``model`` (a table with a ``code``) holds."""
    if not codes:
        return set()
    column = model.code  # type: ignore[attr-defined]
    return set(session.scalars(select(column).where(column.in_(codes))))


def next_release_sequence(session: Session) -> int:
    """The sequence number the next release gets (1 for the first)."""
    return (session.scalar(select(func.max(Release.sequence))) or 0) + 1


def versions_of(session: Session, codes: Sequence[str]) -> Sequence[KpiVersion]:
    """Every version of the KPIs with these codes, in no particular order."""
    codes = [code for code in codes if "\x00" not in code]  # as in get_release
    if not codes:
        return []
    return session.scalars(select(KpiVersion).where(KpiVersion.kpi_code.in_(codes))).all()


def governing_version(session: Session, code: str) -> KpiVersion | None:
    """The version of a KPI whose rules apply now: the current release's, else its latest published
    one (None: neither)."""
    current = select(Release.id).order_by(Release.sequence.desc()).limit(1).scalar_subquery()
    in_release = session.scalar(
        select(KpiVersion)
        .join(ReleaseKpi, ReleaseKpi.kpi_version_id == KpiVersion.id)
        .where(ReleaseKpi.release_id == current, ReleaseKpi.kpi_code == code)
    )
    if in_release is not None:
        return in_release
    return session.scalar(
        select(KpiVersion)
        .where(KpiVersion.kpi_code == code, KpiVersion.status == "published")
        .order_by(KpiVersion.version.desc())
        .limit(1)
    )


def code_list_in_use(session: Session, code: str) -> bool:
    """Whether a published KPI version is split by the code list."""
    published = session.scalars(
        select(KpiVersion.dimensions).where(KpiVersion.status == "published")
    )
    return any(code in dims for dims in published)
