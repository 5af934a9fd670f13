"""HTTP routes of the catalogue; thin wrappers around the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from kpi_api.auth import OptionalPrincipalDep, Principal, PublisherDep, Role
from kpi_api.catalogue import service
from kpi_api.catalogue.schemas import (
    CODE_PATTERN,
    RELEASE_PATTERN,
    CodeListRead,
    DeprecationCreate,
    KpiCreate,
    KpiDefinitionPatch,
    KpiDetail,
    KpiPage,
    KpiRead,
    KpiSetRead,
    LifeDomainRead,
    ReleaseCreate,
    ReleaseDetail,
    ReleaseDiff,
    ReleasePage,
    WorkFieldRead,
)
from kpi_api.db import SessionDep
from kpi_api.errors import problem_responses
from kpi_api.strict import NoNul
from kpi_api.submissions import service as submissions
from kpi_api.vocabulary import Layer
from kpi_api.web.boundary import LiteralJSONRoute
from kpi_api.web.caching import NOT_MODIFIED, etag_response
from kpi_api.web.pagination import CursorQuery, Items, LimitQuery

router = APIRouter(prefix="/v1", tags=["catalogue"], route_class=LiteralJSONRoute)

CodePath = Annotated[str, Path(max_length=40, pattern=CODE_PATTERN, examples=["IMP-FIN-01"])]
VersionPath = Annotated[int, Path(ge=1, le=1_000_000)]
ReleasePath = Annotated[str, Path(pattern=RELEASE_PATTERN, examples=["2026.11"])]

READ = {**NOT_MODIFIED, **problem_responses(401, 404, 422)}
PAGE = {**READ, **problem_responses(400)}  # 400: a cursor this list did not give out
WRITE = problem_responses(401, 403, 404, 409, 422)


def _is_publisher(principal: Principal | None) -> bool:
    return principal is not None and principal.role is Role.publisher


@router.get("/kpis", response_model=KpiPage, responses=PAGE)
def list_kpis(
    request: Request,
    session: SessionDep,
    _: OptionalPrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    release: Annotated[str | None, Query(pattern=RELEASE_PATTERN)] = None,
    layer: Layer | None = None,
    life_domain: Annotated[str | None, Query(max_length=10), NoNul] = None,
    work_field: Annotated[str | None, Query(max_length=60), NoNul] = None,
    core: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Search NL/EN names."), NoNul
    ] = None,
) -> Response:
    """List the KPIs of a release (the current one by default), filtered and paginated."""
    page = service.list_kpis(
        session,
        release_id=release,
        layer=layer.value if layer else None,
        life_domain=life_domain,
        work_field=work_field,
        core=core,
        q=q,
        limit=limit,
        cursor=cursor,
    )
    return etag_response(request, page)


@router.post("/kpis", status_code=status.HTTP_201_CREATED, response_model=KpiRead, responses=WRITE)
def create_kpi(
    body: KpiCreate, session: SessionDep, principal: PublisherDep, response: Response
) -> KpiRead:
    """Create a KPI with its first draft version (publisher)."""
    created = service.create_kpi(session, data=body, actor=principal.name)
    response.headers["Location"] = f"/v1/kpis/{created.code}/versions/{created.version}"
    return created


@router.get("/kpis/{code}", response_model=KpiDetail, responses=READ)
def get_kpi(
    code: CodePath, request: Request, session: SessionDep, principal: OptionalPrincipalDep
) -> Response:
    """A KPI as the current release defines it, with the list of its versions."""
    detail = service.get_kpi(session, code=code, include_drafts=_is_publisher(principal))
    return etag_response(request, detail)


@router.post("/kpis/{code}/deprecation", response_model=KpiDetail, responses=WRITE)
def deprecate_kpi(
    code: CodePath, body: DeprecationCreate, session: SessionDep, principal: PublisherDep
) -> KpiDetail:
    """Deprecate a KPI from a date on, optionally naming its successor (publisher)."""
    return service.deprecate(session, code=code, data=body, actor=principal.name)


@router.get("/kpis/{code}/versions", response_model=Items[KpiRead], responses=READ)
def list_versions(
    code: CodePath, request: Request, session: SessionDep, principal: OptionalPrincipalDep
) -> Response:
    """All versions of a KPI (drafts only for the publisher)."""
    versions = service.list_versions(session, code=code, include_drafts=_is_publisher(principal))
    return etag_response(request, Items[KpiRead](items=versions))


@router.post(
    "/kpis/{code}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=KpiRead,
    responses=WRITE,
)
def create_version(
    code: CodePath,
    body: KpiDefinitionPatch,
    session: SessionDep,
    principal: PublisherDep,
    response: Response,
) -> KpiRead:
    """Start a new draft version from the latest one, changing the given fields (publisher)."""
    created = service.create_version(session, code=code, patch=body, actor=principal.name)
    response.headers["Location"] = f"/v1/kpis/{code}/versions/{created.version}"
    return created


@router.get("/kpis/{code}/versions/{version}", response_model=KpiRead, responses=READ)
def get_version(
    code: CodePath,
    version: VersionPath,
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipalDep,
) -> Response:
    """One version of a KPI."""
    found = service.get_version(
        session, code=code, version=version, include_drafts=_is_publisher(principal)
    )
    return etag_response(request, found)


@router.patch("/kpis/{code}/versions/{version}", response_model=KpiRead, responses=WRITE)
def update_version(
    code: CodePath,
    version: VersionPath,
    body: KpiDefinitionPatch,
    session: SessionDep,
    _: PublisherDep,
) -> KpiRead:
    """Edit a draft version; a published version answers 409 (publisher)."""
    return service.update_draft(session, code=code, version=version, patch=body)


@router.delete(
    "/kpis/{code}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE
)
def delete_version(
    code: CodePath, version: VersionPath, session: SessionDep, _: PublisherDep
) -> Response:
    """Discard a draft version; a published version answers 409 (publisher)."""
    service.delete_draft(session, code=code, version=version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/releases", response_model=ReleasePage, responses=PAGE)
def list_releases(
    request: Request,
    session: SessionDep,
    _: OptionalPrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Response:
    """Published releases, newest first."""
    return etag_response(request, service.list_releases(session, limit=limit, cursor=cursor))


@router.post(
    "/releases", status_code=status.HTTP_201_CREATED, response_model=ReleaseDetail, responses=WRITE
)
def publish_release(
    body: ReleaseCreate, session: SessionDep, principal: PublisherDep, response: Response
) -> ReleaseDetail:
    """Publish drafts as a new immutable release (publisher).

    Each new version of a KPI states its comparability (`comparability`): a major change
    breaks the series on 1 January of `effective_from`, which may not fall in or before a
    closed period (a period lock or a final figure release).
    """
    release = service.publish_release(
        session, data=body, actor=principal.name, closed=submissions.closed_from(session)
    )
    response.headers["Location"] = f"/v1/releases/{release.id}"
    return release


@router.get("/releases/current", response_model=ReleaseDetail, responses=READ)
def current_release(request: Request, session: SessionDep, _: OptionalPrincipalDep) -> Response:
    """The newest published release."""
    return etag_response(request, service.current_release(session))


@router.get("/releases/{release_id}", response_model=ReleaseDetail, responses=READ)
def get_release(
    release_id: ReleasePath, request: Request, session: SessionDep, _: OptionalPrincipalDep
) -> Response:
    """A release and the KPI versions it holds."""
    return etag_response(request, service.get_release(session, release_id=release_id))


@router.get("/releases/{release_id}/diff", response_model=ReleaseDiff, responses=READ)
def diff_release(
    release_id: ReleasePath,
    request: Request,
    session: SessionDep,
    _: OptionalPrincipalDep,
    base: Annotated[
        str | None,
        Query(pattern=RELEASE_PATTERN, description="Release to compare with; default previous."),
    ] = None,
) -> Response:
    """KPIs added, removed and changed (field by field) since another release."""
    diff = service.diff_releases(session, release_id=release_id, base_id=base)
    return etag_response(request, diff)


@router.get("/life-domains", response_model=Items[LifeDomainRead], responses=READ)
def life_domains(request: Request, session: SessionDep, _: OptionalPrincipalDep) -> Response:
    """The seven life domains (leefgebieden) that group the impact KPIs."""
    return etag_response(request, Items[LifeDomainRead](items=service.life_domains(session)))


@router.get("/work-fields", response_model=Items[WorkFieldRead], responses=READ)
def work_fields(request: Request, session: SessionDep, _: OptionalPrincipalDep) -> Response:
    """Work fields (werkvelden) of social work."""
    return etag_response(request, Items[WorkFieldRead](items=service.work_fields(session)))


@router.get("/kpi-sets", response_model=Items[KpiSetRead], responses=READ)
def kpi_sets(
    request: Request,
    session: SessionDep,
    _: OptionalPrincipalDep,
    work_field: Annotated[str | None, Query(max_length=60), NoNul] = None,
) -> Response:
    """Standard KPI sets per work field."""
    sets = service.kpi_sets(session, work_field=work_field)
    return etag_response(request, Items[KpiSetRead](items=sets))


@router.get("/code-lists", response_model=Items[CodeListRead], responses=READ)
def code_lists(request: Request, session: SessionDep, _: OptionalPrincipalDep) -> Response:
    """Code lists of the disaggregation dimensions."""
    return etag_response(request, Items[CodeListRead](items=service.code_lists(session)))


@router.get("/code-lists/{code}", response_model=CodeListRead, responses=READ)
def code_list(
    code: Annotated[str, Path(max_length=60), NoNul],
    request: Request,
    session: SessionDep,
    _: OptionalPrincipalDep,
) -> Response:
    """One code list."""
    return etag_response(request, service.code_list(session, code=code))
