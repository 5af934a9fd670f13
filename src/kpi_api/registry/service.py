"""Registry rules: the publisher manages it; a vendor sees only its own organisations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from kpi_api.auth import ApiKey, Principal, Role, create_key, revoke_key
from kpi_api.db import insert_once
from kpi_api.errors import Conflict, FieldError, KpiApiError, NotFound, Unprocessable
from kpi_api.reference.models import Municipality
from kpi_api.registry.models import (
    Organisation,
    OrganisationMunicipality,
    Vendor,
    VendorOrganisation,
)
from kpi_api.registry.schemas import (
    ApiKeyBase,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    OrganisationCreate,
    OrganisationPage,
    OrganisationRead,
    OrganisationUpdate,
    VendorCreate,
    VendorRead,
)
from kpi_api.web.pagination import decode_cursor, page


@dataclass(frozen=True)
class OrganisationInfo:
    id: str
    code: str
    municipalities: frozenset[str]


def _vendor(session: Session, vendor_id: str) -> Vendor:
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(f"Vendor {vendor_id} does not exist.", code="vendor_not_found")
    return vendor


def _vendor_read(session: Session, vendor: Vendor) -> VendorRead:
    codes = session.scalars(
        select(Organisation.code)
        .join(VendorOrganisation, VendorOrganisation.organisation_id == Organisation.id)
        .where(VendorOrganisation.vendor_id == vendor.id)
        .order_by(Organisation.code)
    ).all()
    return VendorRead(
        id=vendor.id, name=vendor.name, created_at=vendor.created_at, organisations=list(codes)
    )


def create_vendor(session: Session, *, data: VendorCreate) -> VendorRead:
    if session.scalar(select(Vendor).where(Vendor.name == data.name)) is not None:
        raise Conflict(f"A vendor named {data.name!r} exists.", code="vendor_exists")
    vendor = Vendor(name=data.name)
    if not insert_once(session, vendor):
        raise Conflict(f"A vendor named {data.name!r} exists.", code="vendor_exists")
    return _vendor_read(session, vendor)


def list_vendors(session: Session) -> list[VendorRead]:
    return [_vendor_read(session, v) for v in session.scalars(select(Vendor).order_by(Vendor.name))]


def get_vendor(session: Session, *, vendor_id: str, principal: Principal) -> VendorRead:
    if principal.role is Role.vendor and principal.vendor_id != vendor_id:
        raise NotFound(f"Vendor {vendor_id} does not exist.", code="vendor_not_found")
    return _vendor_read(session, _vendor(session, vendor_id))


def _key_base(key: ApiKey) -> ApiKeyBase:
    return ApiKeyBase(
        id=key.id,
        name=key.name,
        role=key.role,
        vendor_id=key.vendor_id,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _key_read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(**_key_base(key).model_dump(), last_used_at=key.last_used_at)


def issue_key(session: Session, *, data: ApiKeyCreate) -> ApiKeyCreated:
    if data.vendor_id is not None:
        _vendor(session, data.vendor_id)
    if (data.role is Role.vendor) != (data.vendor_id is not None):
        raise Unprocessable(
            "A vendor key needs a vendor_id, and only a vendor key has one.",
            code="vendor_key_mismatch",
            errors=[
                FieldError(
                    location="body",
                    pointer="/vendor_id",
                    code="vendor_key_mismatch",
                    message="vendor_id is required for, and only for, role vendor",
                )
            ],
        )
    key, raw = create_key(session, name=data.name, role=data.role, vendor_id=data.vendor_id)
    return ApiKeyCreated(**_key_base(key).model_dump(), key=raw)


def withdraw_key(session: Session, *, key_id: str) -> ApiKeyRead:
    return _key_read(revoke_key(session, key_id=key_id))


def list_keys(
    session: Session,
    *,
    role: Role | None,
    vendor_id: str | None,
    limit: int,
    cursor: str | None,
) -> ApiKeyPage:
    """Every key, revoked ones included, oldest first; never a secret nor a hash."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit + 1)
    after_id = decode_cursor(cursor, "api-keys", str)
    if after_id is not None:
        after = session.get(ApiKey, after_id)
        if after is None:  # keys are never deleted: a cursor of this list names one
            raise KpiApiError("The cursor is not one this list gave out.", code="invalid_cursor")
        stmt = stmt.where(
            or_(
                ApiKey.created_at > after.created_at,
                and_(ApiKey.created_at == after.created_at, ApiKey.id > after.id),
            )
        )
    if role is not None:
        stmt = stmt.where(ApiKey.role == role)
    if vendor_id is not None:
        stmt = stmt.where(ApiKey.vendor_id == vendor_id)
    rows, next_cursor = page(session.scalars(stmt).all(), limit, "api-keys", lambda k: k.id)
    return ApiKeyPage(items=[_key_read(k) for k in rows], next=next_cursor)


def _check_municipalities(session: Session, codes: list[str]) -> list[str]:
    known = set(session.scalars(select(Municipality.code).where(Municipality.code.in_(codes))))
    errors = [
        FieldError(
            location="body",
            pointer=f"/municipalities/{i}",
            code="municipality_unknown",
            message=f"{c!r} is not a CBS municipality code",
        )
        for i, c in enumerate(codes)
        if c not in known
    ]
    if errors:
        raise Unprocessable(
            "Unknown municipality codes.", code="municipality_unknown", errors=errors
        )
    return sorted(set(codes))


def _org_read(org: Organisation) -> OrganisationRead:
    return OrganisationRead(
        code=org.code,
        name=org.name,
        municipalities=[m.municipality_code for m in org.municipalities],
        created_at=org.created_at,
    )


def _visible_org(session: Session, code: str, principal: Principal) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None or (
        principal.role is Role.vendor
        and principal.vendor_id not in authorised_vendors(session, org.id)
    ):
        # A vendor cannot tell another vendor's organisation from a missing one.
        raise NotFound(f"Organisation {code!r} does not exist.", code="organisation_not_found")
    return org


def authorised_vendors(session: Session, organisation_id: str) -> set[str]:
    return set(
        session.scalars(
            select(VendorOrganisation.vendor_id).where(
                VendorOrganisation.organisation_id == organisation_id
            )
        )
    )


def create_organisation(session: Session, *, data: OrganisationCreate) -> OrganisationRead:
    if session.scalar(select(Organisation).where(Organisation.code == data.code)) is not None:
        raise Conflict(f"Organisation {data.code!r} exists.", code="organisation_exists")
    codes = _check_municipalities(session, data.municipalities)
    org = Organisation(code=data.code, name=data.name)
    org.municipalities = [OrganisationMunicipality(municipality_code=c) for c in codes]
    if not insert_once(session, org):
        raise Conflict(f"Organisation {data.code!r} exists.", code="organisation_exists")
    return _org_read(org)


def update_organisation(
    session: Session, *, code: str, data: OrganisationUpdate, principal: Principal
) -> OrganisationRead:
    org = _visible_org(session, code, principal)
    if data.name is not None:
        org.name = data.name
    if data.municipalities is not None:
        codes = _check_municipalities(session, data.municipalities)
        org.municipalities = [OrganisationMunicipality(municipality_code=c) for c in codes]
    session.flush()
    return _org_read(org)


def get_organisation(session: Session, *, code: str, principal: Principal) -> OrganisationRead:
    return _org_read(_visible_org(session, code, principal))


def list_organisations(
    session: Session, *, principal: Principal, limit: int, cursor: str | None
) -> OrganisationPage:
    after = decode_cursor(cursor, "organisations", str)
    stmt = select(Organisation).order_by(Organisation.code).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(Organisation.code > after)
    if principal.role is Role.vendor:
        stmt = stmt.join(
            VendorOrganisation, VendorOrganisation.organisation_id == Organisation.id
        ).where(VendorOrganisation.vendor_id == principal.vendor_id)
    rows, after_last = page(session.scalars(stmt).all(), limit, "organisations", lambda o: o.code)
    return OrganisationPage(items=[_org_read(o) for o in rows], next=after_last)


def authorise(session: Session, *, vendor_id: str, code: str, grant: bool) -> VendorRead:
    vendor = _vendor(session, vendor_id)
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"Organisation {code!r} does not exist.", code="organisation_not_found")
    link = session.get(VendorOrganisation, (vendor.id, org.id))
    if grant and link is None:
        # A concurrent identical grant is the same outcome, not a conflict.
        insert_once(session, VendorOrganisation(vendor_id=vendor.id, organisation_id=org.id))
    elif not grant and link is not None:
        session.delete(link)
    session.flush()
    return _vendor_read(session, vendor)


def organisations_for_vendor(
    session: Session, *, vendor_id: str, codes: Iterable[str]
) -> dict[str, OrganisationInfo]:
    """The organisations among ``codes`` that the vendor may submit for."""
    # No stored code holds a NUL, and PostgreSQL refuses one even in a comparison.
    codes = [code for code in set(codes) if "\x00" not in code]
    if not codes:
        return {}
    # One query for the organisations and their municipalities (no lazy load per organisation).
    rows = session.execute(
        select(Organisation.id, Organisation.code, OrganisationMunicipality.municipality_code)
        .join(VendorOrganisation, VendorOrganisation.organisation_id == Organisation.id)
        .outerjoin(
            OrganisationMunicipality, OrganisationMunicipality.organisation_id == Organisation.id
        )
        .where(VendorOrganisation.vendor_id == vendor_id, Organisation.code.in_(codes))
    ).all()
    ids: dict[str, str] = {}
    places: dict[str, set[str]] = {}
    for org_id, code, municipality in rows:
        ids[code] = org_id
        places.setdefault(code, set())
        if municipality is not None:
            places[code].add(municipality)
    return {
        code: OrganisationInfo(id=org_id, code=code, municipalities=frozenset(places[code]))
        for code, org_id in ids.items()
    }
