"""Queries of agreements. Other domains' tables are read here for joins, never written."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.orm import Session

from kpi_api.agreements.models import (
    Agreement,
    AgreementExplanation,
    AgreementMunicipality,
    AgreementOrganisation,
    AgreementVersion,
)
from kpi_api.auth import Principal, Role
from kpi_api.registry.models import (
    Organisation,
    OrganisationMunicipality,
    Vendor,
    VendorOrganisation,
)
from kpi_api.submissions.models import MeasurementVersion


@dataclass(frozen=True)
class Org:
    """An organisation as agreements need it: its id, code and the municipality codes it works
    in."""

    id: str
    code: str
    municipalities: frozenset[str]


def readable(principal: Principal) -> Select[Agreement]:
    """The agreements a principal may read: the one place that decides it.

    The publisher reads all; a vendor those with an organisation it acts for; an organisation
    key those it is party to; a municipality key those with one of its municipalities. Parties
    are those of the current version. Analysts read none.
    """
    stmt = select(Agreement)
    role = principal.role
    if role is Role.publisher:
        return stmt
    orgs = AgreementOrganisation
    on_current = and_(orgs.agreement_id == Agreement.id, orgs.version == Agreement.current_version)
    if role is Role.vendor and principal.vendor_id is not None:
        mine = select(VendorOrganisation.organisation_id).where(
            VendorOrganisation.vendor_id == principal.vendor_id
        )
        return stmt.where(exists().where(on_current, orgs.organisation_id.in_(mine)))
    if role is Role.organisation and principal.organisation_id is not None:
        return stmt.where(
            exists().where(on_current, orgs.organisation_id == principal.organisation_id)
        )
    if role is Role.municipality and principal.municipalities:
        munis = AgreementMunicipality
        return stmt.where(
            exists().where(
                munis.agreement_id == Agreement.id,
                munis.version == Agreement.current_version,
                munis.municipality_code.in_(principal.municipalities),
            )
        )
    return stmt.where(Agreement.id.is_(None))  # nothing


def get_readable(session: Session, principal: Principal, agreement_id: str) -> Agreement | None:
    """The agreement with this id if the principal may read it (``readable``), else None."""
    return session.scalar(readable(principal).where(Agreement.id == agreement_id))


def listing(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    organisation_id: str | None,
    municipality: str | None,
    after: str | None,
    limit: int,
) -> Sequence[Agreement]:
    """At most ``limit`` agreements the principal reads, by id after ``after``, filtered by status,
    organisation id and municipality code (parties of the current version)."""
    stmt = readable(principal).order_by(Agreement.id).limit(limit)
    if status is not None:
        stmt = stmt.where(Agreement.status == status)
    if after is not None:
        stmt = stmt.where(Agreement.id > after)
    if organisation_id is not None:
        orgs = AgreementOrganisation
        stmt = stmt.where(
            exists().where(
                orgs.agreement_id == Agreement.id,
                orgs.version == Agreement.current_version,
                orgs.organisation_id == organisation_id,
            )
        )
    if municipality is not None:
        munis = AgreementMunicipality
        stmt = stmt.where(
            exists().where(
                munis.agreement_id == Agreement.id,
                munis.version == Agreement.current_version,
                munis.municipality_code == municipality,
            )
        )
    return session.scalars(stmt).all()


def version(session: Session, agreement_id: str, number: int) -> AgreementVersion | None:
    """One version of an agreement, or None."""
    return session.get(AgreementVersion, (agreement_id, number))


def versions(session: Session, agreement_id: str) -> Sequence[AgreementVersion]:
    """Every version of an agreement, oldest first."""
    return session.scalars(
        select(AgreementVersion)
        .where(AgreementVersion.agreement_id == agreement_id)
        .order_by(AgreementVersion.version)
    ).all()


def lock(session: Session, agreement_id: str) -> Agreement | None:
    """The agreement, locked for a change (PostgreSQL: FOR UPDATE; SQLite writers hold the
    database's write lock already), so two changes never make the same version."""
    return session.scalar(select(Agreement).where(Agreement.id == agreement_id).with_for_update())


# --- the registry, read for joins ---------------------------------------------------------------


def organisations_by_code(session: Session, codes: Collection[str]) -> dict[str, Org]:
    """The organisations with these codes, by code (unknown codes absent)."""
    return _orgs(session, Organisation.code.in_(sorted(codes)))


def organisations_by_id(session: Session, ids: Collection[str]) -> dict[str, Org]:
    """The organisations with these ids, by id (unknown ids absent)."""
    found = _orgs(session, Organisation.id.in_(sorted(ids)))
    return {o.id: o for o in found.values()}


def _orgs(session: Session, where: ColumnElement[bool]) -> dict[str, Org]:
    rows = session.execute(
        select(Organisation.id, Organisation.code, OrganisationMunicipality.municipality_code)
        .outerjoin(
            OrganisationMunicipality, OrganisationMunicipality.organisation_id == Organisation.id
        )
        .where(where)
    ).all()
    places: dict[str, set[str]] = {}
    ids: dict[str, str] = {}
    for org_id, code, municipality in rows:
        ids[code] = org_id
        places.setdefault(code, set())
        if municipality is not None:
            places[code].add(municipality)
    return {code: Org(ids[code], code, frozenset(places[code])) for code in ids}


def vendor_organisations(session: Session, vendor_id: str) -> set[str]:
    """Ids of the organisations a vendor acts for."""
    return set(
        session.scalars(
            select(VendorOrganisation.organisation_id).where(
                VendorOrganisation.vendor_id == vendor_id
            )
        )
    )


def vendor_names(session: Session, organisation_ids: Collection[str]) -> dict[str, list[str]]:
    """Names of the vendors that submit for each organisation (by organisation id)."""
    out: dict[str, list[str]] = {}
    rows = session.execute(
        select(VendorOrganisation.organisation_id, Vendor.name)
        .join(Vendor, Vendor.id == VendorOrganisation.vendor_id)
        .where(VendorOrganisation.organisation_id.in_(sorted(organisation_ids)))
        .order_by(Vendor.name)
    )
    for org_id, name in rows:
        out.setdefault(org_id, []).append(name)
    return out


# --- measurements, read for the notes beside figures ---------------------------------------------

V = MeasurementVersion.__table__


def notes(
    session: Session,
    *,
    kpi: str,
    organisation_ids: Collection[str],
    municipalities: Collection[str],
    breakdown_key: str,
    start: date,
    end: date,
    limit: int = 500,
) -> Sequence[Any]:
    """Notes sent with the current measurements of a KPI by these organisations in these
    municipalities, within a range: (organisation id, municipality, period type, period start,
    note)."""
    stmt = (
        select(
            V.c.organisation_id, V.c.municipality_code, V.c.period_type, V.c.period_start, V.c.note
        )
        .where(
            V.c.kpi_code == kpi,
            V.c.organisation_id.in_(sorted(organisation_ids)),
            V.c.municipality_code.in_(sorted(municipalities)),
            V.c.disaggregation_key == breakdown_key,
            V.c.period_start >= start,
            V.c.period_end <= end,
            V.c.is_current,
            V.c.withdrawn.is_(False),
            V.c.note.is_not(None),
        )
        .order_by(V.c.period_start, V.c.organisation_id, V.c.municipality_code)
        .limit(limit)
    )
    return session.execute(stmt).all()


def explanations(
    session: Session, agreement_id: str, *, kpi: str | None = None, period: str | None = None
) -> Sequence[AgreementExplanation]:
    """The messages of an agreement's threads, oldest first, of one KPI and period where given."""
    stmt = (
        select(AgreementExplanation)
        .where(AgreementExplanation.agreement_id == agreement_id)
        .order_by(AgreementExplanation.created_at, AgreementExplanation.id)
    )
    if kpi is not None:
        stmt = stmt.where(AgreementExplanation.kpi_code == kpi)
    if period is not None:
        stmt = stmt.where(AgreementExplanation.period == period)
    return session.scalars(stmt).all()


def due_agreements(session: Session, principal: Principal) -> Sequence[Agreement]:
    """Agreements whose monitoring periods fall due: active and ended ones the principal reads."""
    return session.scalars(
        readable(principal).where(Agreement.status.in_(("active", "ended"))).order_by(Agreement.id)
    ).all()


def organisation_names(session: Session, codes: Collection[str]) -> dict[str, str]:
    """The names of the organisations with these codes, by code."""
    rows = session.execute(
        select(Organisation.code, Organisation.name).where(Organisation.code.in_(sorted(codes)))
    )
    return {code: name for code, name in rows}
