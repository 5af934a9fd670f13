"""HTTP routes of the geography reference data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kpi_api.db import SessionDep
from kpi_api.errors import problem_responses
from kpi_api.reference import service
from kpi_api.reference.schemas import MunicipalityRead, ProvinceRead
from kpi_api.strict import IsoDate
from kpi_api.web.boundary import LiteralJSONRoute
from kpi_api.web.caching import NOT_MODIFIED, etag_response
from kpi_api.web.pagination import Items

router = APIRouter(prefix="/v1", tags=["reference"], route_class=LiteralJSONRoute)
READ = {**NOT_MODIFIED, **problem_responses(422)}


@router.get("/provinces", response_model=Items[ProvinceRead], responses=READ)
def provinces(request: Request, session: SessionDep) -> Response:
    """The twelve provinces (CBS codes PV20-PV31)."""
    return etag_response(request, Items[ProvinceRead](items=service.list_provinces(session)))


@router.get("/municipalities", response_model=Items[MunicipalityRead], responses=READ)
def municipalities(
    request: Request,
    session: SessionDep,
    valid_on: Annotated[
        IsoDate | None, Query(description="Only codes valid on this day (2026-01-01).")
    ] = None,
    province: Annotated[str | None, Query(pattern=r"^PV[0-9]{2}$")] = None,
) -> Response:
    """CBS municipality codes since 2019 with their validity and successors."""
    items = service.list_municipalities(session, valid_on=valid_on, province=province)
    return etag_response(request, Items[MunicipalityRead](items=items))
