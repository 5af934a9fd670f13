"""HTTP routes of the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kpi_api.auth import AnyRoleDep, PublisherDep, Role, VendorOrPublisherDep
from kpi_api.db import SessionDep
from kpi_api.errors import problem_responses
from kpi_api.registry import service
from kpi_api.registry.schemas import (
    ORG_CODE_PATTERN,
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
from kpi_api.strict import NoNul
from kpi_api.web.boundary import LiteralJSONRoute
from kpi_api.web.pagination import CursorQuery, Items, LimitQuery

router = APIRouter(prefix="/v1", tags=["registry"], route_class=LiteralJSONRoute)

OrgPath = Annotated[str, Path(pattern=ORG_CODE_PATTERN)]
IdPath = Annotated[str, Path(max_length=36), NoNul]
WRITE = problem_responses(401, 403, 404, 409, 422)
READ = problem_responses(401, 403, 404, 422)
PAGE = problem_responses(400, 401, 403, 404, 422)  # 400: a cursor this list did not give out


@router.post("/vendors", status_code=201, response_model=VendorRead, responses=WRITE)
def create_vendor(body: VendorCreate, session: SessionDep, _: PublisherDep) -> VendorRead:
    """Register a registration-software vendor (publisher)."""
    return service.create_vendor(session, data=body)


@router.get("/vendors", response_model=Items[VendorRead], responses=READ)
def list_vendors(session: SessionDep, _: PublisherDep) -> Items[VendorRead]:
    """All vendors with the organisations they may submit for (publisher)."""
    return Items[VendorRead](items=service.list_vendors(session))


@router.get("/vendors/{vendor_id}", response_model=VendorRead, responses=READ)
def get_vendor(
    vendor_id: IdPath, session: SessionDep, principal: VendorOrPublisherDep
) -> VendorRead:
    """One vendor (the publisher, or the vendor itself)."""
    return service.get_vendor(session, vendor_id=vendor_id, principal=principal)


@router.put("/vendors/{vendor_id}/organisations/{code}", response_model=VendorRead, responses=WRITE)
def authorise(vendor_id: IdPath, code: OrgPath, session: SessionDep, _: PublisherDep) -> VendorRead:
    """Allow the vendor to submit for the organisation (publisher)."""
    return service.authorise(session, vendor_id=vendor_id, code=code, grant=True)


@router.delete(
    "/vendors/{vendor_id}/organisations/{code}", response_model=VendorRead, responses=WRITE
)
def unauthorise(
    vendor_id: IdPath, code: OrgPath, session: SessionDep, _: PublisherDep
) -> VendorRead:
    """Stop the vendor submitting for the organisation (publisher)."""
    return service.authorise(session, vendor_id=vendor_id, code=code, grant=False)


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, responses=WRITE)
def create_api_key(body: ApiKeyCreate, session: SessionDep, _: PublisherDep) -> ApiKeyCreated:
    """Issue an API key; the secret is in this response only (publisher)."""
    return service.issue_key(session, data=body)


@router.get("/api-keys", response_model=ApiKeyPage, responses=PAGE)
def list_api_keys(
    session: SessionDep,
    _: PublisherDep,
    role: Annotated[Role | None, Query(description="Only keys of this role.")] = None,
    vendor_id: Annotated[
        str | None, Query(max_length=36, description="Only the keys of this vendor."), NoNul
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ApiKeyPage:
    """API keys, revoked ones included, oldest first: never a secret nor its hash (publisher)."""
    return service.list_keys(session, role=role, vendor_id=vendor_id, limit=limit, cursor=cursor)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, responses=WRITE)
def revoke_api_key(key_id: IdPath, session: SessionDep, _: PublisherDep) -> ApiKeyRead:
    """Revoke an API key; it stops working at once (publisher)."""
    return service.withdraw_key(session, key_id=key_id)


@router.post("/organisations", status_code=201, response_model=OrganisationRead, responses=WRITE)
def create_organisation(
    body: OrganisationCreate, session: SessionDep, _: PublisherDep, response: Response
) -> OrganisationRead:
    """Register a social-work organisation and the municipalities it works in (publisher)."""
    created = service.create_organisation(session, data=body)
    response.headers["Location"] = f"/v1/organisations/{created.code}"
    return created


@router.get("/organisations", response_model=OrganisationPage, responses=PAGE)
def list_organisations(
    session: SessionDep,
    principal: AnyRoleDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> OrganisationPage:
    """Organisations; a vendor sees only those it may submit for."""
    return service.list_organisations(session, principal=principal, limit=limit, cursor=cursor)


@router.get("/organisations/{code}", response_model=OrganisationRead, responses=READ)
def get_organisation(code: OrgPath, session: SessionDep, principal: AnyRoleDep) -> OrganisationRead:
    """One organisation; another vendor's organisation answers 404."""
    return service.get_organisation(session, code=code, principal=principal)


@router.patch("/organisations/{code}", response_model=OrganisationRead, responses=WRITE)
def update_organisation(
    code: OrgPath, body: OrganisationUpdate, session: SessionDep, principal: PublisherDep
) -> OrganisationRead:
    """Rename an organisation or change its municipalities (publisher)."""
    return service.update_organisation(session, code=code, data=body, principal=principal)
