"""HTTP routes of agreements: the agreement and its versions, progress, interpretation,
completeness and the report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from kpi_api.agreements import report as rendering
from kpi_api.agreements import service
from kpi_api.agreements.auth import AgreementExplain, AgreementRead, AgreementWrite
from kpi_api.agreements.schemas import (
    AGREEMENT_ID_PATTERN,
    AgreementIn,
    AgreementPage,
    AgreementVersions,
    Completeness,
    ExplanationIn,
    ExplanationList,
    ExplanationRead,
    ProgressRead,
    StatusChange,
)
from kpi_api.agreements.schemas import AgreementRead as AgreementDocument
from kpi_api.agreements.schemas import Status as AgreementStatus
from kpi_api.catalogue.schemas import CODE_PATTERN
from kpi_api.db import SessionDep
from kpi_api.errors import problem_responses
from kpi_api.i18n import language
from kpi_api.periods import PERIOD_PATTERN
from kpi_api.registry.schemas import MUNICIPALITY_PATTERN, ORG_CODE_PATTERN
from kpi_api.web.boundary import LiteralJSONRoute
from kpi_api.web.pagination import CursorQuery, LimitQuery

router = APIRouter(prefix="/v1", tags=["agreements"], route_class=LiteralJSONRoute)

AgreementId = Annotated[
    str, Path(pattern=AGREEMENT_ID_PATTERN, description="The agreement's id (a UUID).")
]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=100,
        description='The agreement version the change applies to, as its ETag (`"3"`); 412 '
        "`version_mismatch` when the agreement has moved on.",
    ),
]
READ = problem_responses(401, 403, 404, 422)
PAGE = problem_responses(400, 401, 403, 404, 422)
WRITE = problem_responses(401, 403, 404, 409, 412, 422)
ETAG = {"ETag": {"description": "The version, for If-Match.", "schema": {"type": "string"}}}


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(header: str | None) -> int | None:
    """The version an If-Match names (None: any); one that names no version matches none."""
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",")[0].strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) < 10 else 0


@router.post(
    "/agreements",
    status_code=201,
    response_model=AgreementDocument,
    responses={**WRITE, 201: {"description": "Created (version 1, a draft)", "headers": ETAG}},
)
def create_agreement(
    body: AgreementIn, session: SessionDep, principal: AgreementWrite, response: Response
) -> AgreementDocument:
    """Make an agreement, as a draft (organisation side or publisher).

    Give the KPIs agreed, or a standard set of the work field (`kpi_set`) to start from: its
    KPIs are added with defaults, to be completed (goal, baseline, target) before sign-off.
    Every field is checked; a problem lists each offending field (`errors[].pointer`) with its
    rule (`errors[].code`).
    """
    created = service.create(session, data=body, principal=principal)
    response.headers["Location"] = f"/v1/agreements/{created.id}"
    response.headers["ETag"] = _etag(created.version)
    return created


@router.get("/agreements", response_model=AgreementPage, responses=PAGE)
def list_agreements(
    session: SessionDep,
    principal: AgreementRead,
    status: Annotated[AgreementStatus | None, Query(description="Only this status.")] = None,
    organisation: Annotated[str | None, Query(pattern=ORG_CODE_PATTERN)] = None,
    municipality: Annotated[str | None, Query(pattern=MUNICIPALITY_PATTERN)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> AgreementPage:
    """The agreements this key reads (its own party's; the publisher all), current versions."""
    return service.listing(
        session,
        principal=principal,
        status=status,
        organisation=organisation,
        municipality=municipality,
        limit=limit,
        cursor=cursor,
    )


@router.get("/agreements/completeness", response_model=Completeness, responses=READ)
def completeness_all(
    session: SessionDep,
    principal: AgreementRead,
    organisation: Annotated[str | None, Query(pattern=ORG_CODE_PATTERN)] = None,
) -> Completeness:
    """Across the agreements this key reads: agreed KPIs due for monitoring periods that have
    ended and still without data, per organisation (with its vendors). A vendor sees its own
    organisations' gaps, an organisation key its own."""
    return service.completeness(session, principal=principal, organisation=organisation)


@router.get(
    "/agreements/{agreement_id}",
    response_model=AgreementDocument,
    responses={**READ, 200: {"description": "The current version", "headers": ETAG}},
)
def get_agreement(
    agreement_id: AgreementId, session: SessionDep, principal: AgreementRead, response: Response
) -> AgreementDocument:
    """An agreement at its current version; another party's agreement answers 404."""
    found = service.get(session, agreement_id=agreement_id, principal=principal)
    response.headers["ETag"] = _etag(found.version)
    return found


@router.put(
    "/agreements/{agreement_id}",
    response_model=AgreementDocument,
    responses={**WRITE, 200: {"description": "The new version", "headers": ETAG}},
)
def replace_agreement(
    agreement_id: AgreementId,
    body: AgreementIn,
    session: SessionDep,
    principal: AgreementWrite,
    response: Response,
    if_match: IfMatch = None,
) -> AgreementDocument:
    """Change a draft: the whole agreement as it should be becomes its next version. An active
    (signed-off) or ended agreement never changes: 409 `agreement_active` / `agreement_ended`."""
    changed = service.replace(
        session,
        agreement_id=agreement_id,
        data=body,
        principal=principal,
        if_match=_if_match(if_match),
    )
    response.headers["ETag"] = _etag(changed.version)
    return changed


@router.post(
    "/agreements/{agreement_id}/status",
    response_model=AgreementDocument,
    responses={**WRITE, 200: {"description": "The new version", "headers": ETAG}},
)
def change_status(
    agreement_id: AgreementId,
    body: StatusChange,
    session: SessionDep,
    principal: AgreementWrite,
    response: Response,
    if_match: IfMatch = None,
) -> AgreementDocument:
    """Sign off a draft (`active`) or end an active agreement (`ended`); each makes a version.
    Sign-off needs a goal, a baseline and (where the KPI has a desired direction) a target for
    every agreed KPI, and takes baselines from the data again. Any other change is 409
    `status_transition_invalid`."""
    changed = service.change_status(
        session,
        agreement_id=agreement_id,
        data=body,
        principal=principal,
        if_match=_if_match(if_match),
    )
    response.headers["ETag"] = _etag(changed.version)
    return changed


@router.get("/agreements/{agreement_id}/versions", response_model=AgreementVersions, responses=READ)
def list_versions(
    agreement_id: AgreementId, session: SessionDep, principal: AgreementRead
) -> AgreementVersions:
    """Every version of an agreement, oldest first: its history."""
    return service.versions(session, agreement_id=agreement_id, principal=principal)


@router.get(
    "/agreements/{agreement_id}/versions/{version}",
    response_model=AgreementDocument,
    responses=READ,
)
def get_version(
    agreement_id: AgreementId,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    session: SessionDep,
    principal: AgreementRead,
) -> AgreementDocument:
    """One version of an agreement."""
    return service.get_version(
        session, agreement_id=agreement_id, version=version, principal=principal
    )


@router.get(
    "/agreements/{agreement_id}/progress",
    response_model=ProgressRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def get_progress(
    agreement_id: AgreementId, session: SessionDep, principal: AgreementRead
) -> ProgressRead:
    """Progress of every agreed KPI: the parties' own live figures (unsuppressed: only the
    parties see them) per monitoring period that has ended, with coverage, vendors' notes and
    the parties' explanations, against baseline and target, and a progress status by the
    Statistics Canada / Open SDG method. Always with the disclaimer (NL and EN). A municipality
    sees figures once the agreement is signed off (409 `agreement_draft` before)."""
    return await run_in_threadpool(
        service.progress, session, agreement_id=agreement_id, principal=principal
    )


@router.get(
    "/agreements/{agreement_id}/completeness",
    response_model=Completeness,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def completeness_one(
    agreement_id: AgreementId, session: SessionDep, principal: AgreementRead
) -> Completeness:
    """The agreed KPIs of one agreement due for ended periods without data, per organisation."""
    return service.completeness(session, principal=principal, agreement_id=agreement_id)


@router.get(
    "/agreements/{agreement_id}/explanations", response_model=ExplanationList, responses=READ
)
def list_explanations(
    agreement_id: AgreementId,
    session: SessionDep,
    principal: AgreementRead,
    kpi: Annotated[str | None, Query(max_length=40, pattern=CODE_PATTERN)] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> ExplanationList:
    """The interpretation threads of an agreement, oldest first."""
    return service.explanations(
        session, agreement_id=agreement_id, principal=principal, kpi=kpi, period=period
    )


@router.post(
    "/agreements/{agreement_id}/explanations",
    status_code=201,
    response_model=ExplanationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def add_explanation(
    agreement_id: AgreementId,
    body: ExplanationIn,
    session: SessionDep,
    principal: AgreementExplain,
) -> ExplanationRead:
    """Explain a figure (duiding): add a message to the thread of an agreed KPI and monitoring
    period (the parties: the organisation, its vendor, the municipality; never changed or
    removed afterwards)."""
    return service.add_explanation(
        session, agreement_id=agreement_id, data=body, principal=principal
    )


def _report_language(lang: str | None, accept_language: str | None) -> str:
    """Dutch unless ``lang`` or Accept-Language asks for English (Dutch first if both)."""
    return lang if lang is not None else language(accept_language, default="nl")


@router.get(
    "/agreements/{agreement_id}/report",
    response_class=HTMLResponse,
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "The report as HTML, with a print stylesheet (print to PDF).",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def get_report(
    agreement_id: AgreementId,
    request: Request,
    session: SessionDep,
    principal: AgreementRead,
    lang: Annotated[
        Literal["nl", "en"] | None,
        Query(description="`nl` (the default) or `en`; else Accept-Language decides."),
    ] = None,
) -> HTMLResponse:
    """The report for the periodic conversation: the agreement, its progress, figures with
    coverage and notes, the interpretation and the disclaimer, as readable HTML that prints
    well to PDF (A4). Dutch by default; English with `lang=en` or `Accept-Language: en`."""
    language = _report_language(lang, request.headers.get("accept-language"))
    found = await run_in_threadpool(
        service.report, session, agreement_id=agreement_id, principal=principal
    )
    html = rendering.render(found, lang=language)
    return HTMLResponse(html, headers={"Content-Language": language})
