"""Registry rules: the publisher manages it; a vendor sees only its own organisations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, object_session

from kpi_api.auth import ApiKey, Principal, Role, create_key, revoke_key
from kpi_api.db import insert_once
from kpi_api.errors import Conflict, FieldError, KpiApiError, NotFound, Unprocessable
from kpi_api.messages import Message
from kpi_api.reference import service as reference
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
from kpi_api.web.pagination import INVALID_CURSOR, decode_cursor, page

VENDOR_NOT_FOUND = Message(
    "vendor_not_found",
    "Vendor {vendor_id} does not exist.",
    "Leverancier {vendor_id} bestaat niet.",
)
VENDOR_EXISTS = Message(
    "vendor_exists",
    "A vendor named {name!r} exists.",
    "Er bestaat al een leverancier met de naam {name!r}.",
)
VENDOR_KEY_MISMATCH = Message(
    "vendor_key_mismatch",
    "A vendor key needs a vendor_id, and only a vendor key has one.",
    "Een leverancierssleutel heeft een vendor_id nodig, en alleen een leverancierssleutel "
    "heeft er een.",
)
MUNICIPALITY_UNKNOWN = Message(
    "municipality_unknown", "Unknown municipality codes.", "Onbekende gemeentecodes."
)
ORGANISATION_NOT_FOUND = Message(
    "organisation_not_found",
    "Organisation {organisation!r} does not exist.",
    "Organisatie {organisation!r} bestaat niet.",
)
ORGANISATION_KEY_MISMATCH = Message(
    "organisation_key_mismatch",
    "An organisation key needs an organisation, and only an organisation key has one.",
    "Een organisatiesleutel heeft een organisatie nodig, en alleen een organisatiesleutel "
    "heeft er een.",
)
MUNICIPALITY_KEY_MISMATCH = Message(
    "municipality_key_mismatch",
    "A municipality key needs municipalities, and only a municipality key has them.",
    "Een gemeentesleutel heeft gemeenten nodig, en alleen een gemeentesleutel heeft ze.",
)
VENDOR_IN_HOUSE = Message(
    "vendor_in_house",
    "Vendor {vendor_id} is an organisation's own registration; it submits for that "
    "organisation only.",
    "Leverancier {vendor_id} is de eigen registratie van een organisatie; zij levert alleen "
    "voor die organisatie aan.",
)
ORGANISATION_EXISTS = Message(
    "organisation_exists",
    "Organisation {organisation!r} exists.",
    "Organisatie {organisation!r} bestaat al.",
)


@dataclass(frozen=True)
class OrganisationInfo:
    """An organisation a vendor submits for: its id, code and the municipality codes it works in."""

    id: str
    code: str
    municipalities: frozenset[str]


def _vendor(session: Session, vendor_id: str) -> Vendor:
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(VENDOR_NOT_FOUND, params={"vendor_id": vendor_id})
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
    """Register a vendor. Raises Conflict (409 ``vendor_exists``) for a name taken already."""
    if session.scalar(select(Vendor).where(Vendor.name == data.name)) is not None:
        raise Conflict(VENDOR_EXISTS, params={"name": data.name})
    vendor = Vendor(name=data.name)
    if not insert_once(session, vendor):
        raise Conflict(VENDOR_EXISTS, params={"name": data.name})
    return _vendor_read(session, vendor)


def list_vendors(session: Session) -> list[VendorRead]:
    """Every vendor, by name, with its organisations' codes."""
    return [_vendor_read(session, v) for v in session.scalars(select(Vendor).order_by(Vendor.name))]


def get_vendor(session: Session, *, vendor_id: str, principal: Principal) -> VendorRead:
    """A vendor with its organisations' codes; a vendor key reads only its own. Raises NotFound (404
    ``vendor_not_found``)."""
    if principal.role is Role.vendor and principal.vendor_id != vendor_id:
        raise NotFound(VENDOR_NOT_FOUND, params={"vendor_id": vendor_id})
    return _vendor_read(session, _vendor(session, vendor_id))


def _key_base(key: ApiKey) -> ApiKeyBase:
    organisation = None
    session = object_session(key)
    if key.organisation_id is not None and session is not None:
        organisation = session.scalar(
            select(Organisation.code).where(Organisation.id == key.organisation_id)
        )
    return ApiKeyBase(
        id=key.id,
        name=key.name,
        role=key.role,
        vendor_id=key.vendor_id,
        organisation=organisation,
        municipalities=list(key.municipalities or []),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _key_read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(**_key_base(key).model_dump(), last_used_at=key.last_used_at)


def issue_key(session: Session, *, data: ApiKeyCreate) -> ApiKeyCreated:
    """Create an API key; the answer holds its secret, once. An organisation key submits through the
    organisation's own registration (``own_vendor``).

    Raises NotFound (404 ``vendor_not_found``, ``organisation_not_found``) and Unprocessable (422
    ``vendor_key_mismatch``, ``organisation_key_mismatch``, ``municipality_key_mismatch``, or
    ``municipality_unknown`` naming each unknown code).
    """
    if data.vendor_id is not None:
        _vendor(session, data.vendor_id)
    if (data.role is Role.vendor) != (data.vendor_id is not None):
        raise Unprocessable(
            VENDOR_KEY_MISMATCH,
            errors=[
                FieldError(
                    location="body",
                    pointer="/vendor_id",
                    code="vendor_key_mismatch",
                    message="vendor_id is required for, and only for, role vendor",
                )
            ],
        )
    if (data.role is Role.organisation) != (data.organisation is not None):
        raise _key_mismatch(ORGANISATION_KEY_MISMATCH, "/organisation")
    if (data.role is Role.municipality) != (data.municipalities is not None):
        raise _key_mismatch(MUNICIPALITY_KEY_MISMATCH, "/municipalities")
    vendor_id, organisation_id, municipalities = data.vendor_id, None, []
    if data.organisation is not None:
        org = session.scalar(select(Organisation).where(Organisation.code == data.organisation))
        if org is None:
            raise NotFound(ORGANISATION_NOT_FOUND, params={"organisation": data.organisation})
        organisation_id, vendor_id = org.id, own_vendor(session, org).id
    if data.municipalities is not None:
        municipalities = _check_municipalities(session, data.municipalities)
    key, raw = create_key(
        session,
        name=data.name,
        role=data.role,
        vendor_id=vendor_id,
        organisation_id=organisation_id,
        municipalities=municipalities,
    )
    return ApiKeyCreated(**_key_base(key).model_dump(), key=raw)


def _key_mismatch(message: Message, pointer: str) -> Unprocessable:
    text = message.render("en")
    return Unprocessable(
        message,
        errors=[FieldError(location="body", pointer=pointer, code=message.code, message=text)],
    )


def own_vendor(session: Session, org: Organisation) -> Vendor:
    """The organisation's own registration: the vendor through which it submits its own
    measurements (an organisation key), authorised for it alone; made on first use."""
    found = session.scalar(select(Vendor).where(Vendor.organisation_id == org.id))
    if found is None:
        found = Vendor(name=f"{org.code} (own registration)", organisation_id=org.id)
        if not insert_once(session, found):
            found = Vendor(name=f"{org.code} (own registration, {org.id})", organisation_id=org.id)
            session.add(found)
            session.flush()
        insert_once(session, VendorOrganisation(vendor_id=found.id, organisation_id=org.id))
    return found


def withdraw_key(session: Session, *, key_id: str) -> ApiKeyRead:
    """Revoke a key at once. Raises NotFound (404 ``api_key_not_found``)."""
    return _key_read(revoke_key(session, key_id=key_id))


def list_keys(
    session: Session,
    *,
    role: Role | None,
    vendor_id: str | None,
    limit: int,
    cursor: str | None,
) -> ApiKeyPage:
    """Every key, revoked ones included, oldest first; never a secret nor a hash. Raises KpiApiError
    (400 ``invalid_cursor``)."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit + 1)
    after_id = decode_cursor(cursor, "api-keys", str)
    if after_id is not None:
        after = session.get(ApiKey, after_id)
        if after is None:  # keys are never deleted: a cursor of this list names one
            raise KpiApiError(INVALID_CURSOR)
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
    known = reference.existing(session, codes)
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
        raise Unprocessable(MUNICIPALITY_UNKNOWN, errors=errors)
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
    if (
        org is None
        or (
            principal.role is Role.vendor
            and principal.vendor_id not in authorised_vendors(session, org.id)
        )
        or (principal.role is Role.organisation and principal.organisation_id != org.id)
    ):
        # A vendor cannot tell another vendor's organisation from a missing one.
        raise NotFound(ORGANISATION_NOT_FOUND, params={"organisation": code})
    return org


def vendors_of(session: Session) -> dict[str, set[str]]:
    """The ids of the vendors authorised for each organisation, by organisation id."""
    out: dict[str, set[str]] = {}
    stmt = select(VendorOrganisation.organisation_id, VendorOrganisation.vendor_id)
    for org, vendor in session.execute(stmt):
        out.setdefault(org, set()).add(vendor)
    return out


def authorised_vendors(session: Session, organisation_id: str) -> set[str]:
    """The ids of the vendors authorised to submit for an organisation."""
    return set(
        session.scalars(
            select(VendorOrganisation.vendor_id).where(
                VendorOrganisation.organisation_id == organisation_id
            )
        )
    )


def create_organisation(session: Session, *, data: OrganisationCreate) -> OrganisationRead:
    """Register an organisation with the municipalities it works in. Raises Conflict (409
    ``organisation_exists``) and Unprocessable (422 ``municipality_unknown``)."""
    if session.scalar(select(Organisation).where(Organisation.code == data.code)) is not None:
        raise Conflict(ORGANISATION_EXISTS, params={"organisation": data.code})
    codes = _check_municipalities(session, data.municipalities)
    org = Organisation(code=data.code, name=data.name)
    org.municipalities = [OrganisationMunicipality(municipality_code=c) for c in codes]
    if not insert_once(session, org):
        raise Conflict(ORGANISATION_EXISTS, params={"organisation": data.code})
    return _org_read(org)


def update_organisation(
    session: Session, *, code: str, data: OrganisationUpdate, principal: Principal
) -> OrganisationRead:
    """Change an organisation's name and/or municipalities (the whole list). Raises NotFound (404
    ``organisation_not_found``, also for one the principal may not see) and Unprocessable (422
    ``municipality_unknown``)."""
    org = _visible_org(session, code, principal)
    if data.name is not None:
        org.name = data.name
    if data.municipalities is not None:
        codes = _check_municipalities(session, data.municipalities)
        org.municipalities = [OrganisationMunicipality(municipality_code=c) for c in codes]
    session.flush()
    return _org_read(org)


def get_organisation(session: Session, *, code: str, principal: Principal) -> OrganisationRead:
    """An organisation the principal may see (a vendor its own, an organisation itself). Raises
    NotFound (404 ``organisation_not_found``)."""
    return _org_read(_visible_org(session, code, principal))


def list_organisations(
    session: Session, *, principal: Principal, limit: int, cursor: str | None
) -> OrganisationPage:
    """A page of organisations by code: a vendor's own, an organisation itself, else all. Raises
    KpiApiError (400 ``invalid_cursor``)."""
    after = decode_cursor(cursor, "organisations", str)
    stmt = select(Organisation).order_by(Organisation.code).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(Organisation.code > after)
    if principal.role is Role.vendor:
        stmt = stmt.join(
            VendorOrganisation, VendorOrganisation.organisation_id == Organisation.id
        ).where(VendorOrganisation.vendor_id == principal.vendor_id)
    if principal.role is Role.organisation:
        stmt = stmt.where(Organisation.id == principal.organisation_id)
    rows, after_last = page(session.scalars(stmt).all(), limit, "organisations", lambda o: o.code)
    return OrganisationPage(items=[_org_read(o) for o in rows], next=after_last)


def authorise(session: Session, *, vendor_id: str, code: str, grant: bool) -> VendorRead:
    """Grant or withdraw a vendor's authorisation to submit for an organisation (idempotent); the
    vendor as it then is. Raises NotFound (404 ``vendor_not_found``, ``organisation_not_found``) and
    Conflict (409 ``vendor_in_house``: an organisation's own registration submits for it alone)."""
    vendor = _vendor(session, vendor_id)
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(ORGANISATION_NOT_FOUND, params={"organisation": code})
    if grant and vendor.organisation_id not in (None, org.id):
        raise Conflict(VENDOR_IN_HOUSE, params={"vendor_id": vendor.id})
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
    """The organisations among ``codes`` that the vendor may submit for, by code (the others
    absent)."""
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
