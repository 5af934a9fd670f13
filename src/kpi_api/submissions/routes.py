"""HTTP routes of submissions, measurements and period locks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kpi_api.auth import AnyRoleDep, PublisherDep, SubmitterDep, SubmitterOrPublisherDep
from kpi_api.db import SessionDep
from kpi_api.errors import PROBLEM_MEDIA_TYPE, problem_responses
from kpi_api.i18n import LangDep
from kpi_api.periods import PERIOD_PATTERN
from kpi_api.strict import NoNul
from kpi_api.submissions import rules, service
from kpi_api.submissions.parsing import CSV_COLUMNS
from kpi_api.submissions.schemas import (
    MeasurementHistory,
    MeasurementPage,
    Mode,
    PeriodLockCreate,
    PeriodLockRead,
    SubmissionRejected,
    SubmissionReport,
    ValidationRuleRead,
)
from kpi_api.web.boundary import LiteralJSONRoute
from kpi_api.web.pagination import CursorQuery, Items, LimitQuery

router = APIRouter(prefix="/v1", tags=["submissions"], route_class=LiteralJSONRoute)

CSV_DESCRIPTION = (
    "CSV with a header row of these columns (any order, any case; kpi, organisation, "
    f"municipality and period required): {', '.join(CSV_COLUMNS)}. An empty cell is an absent "
    "field; empty columns at the end are ignored; `disaggregation` is "
    "`dimension=code;dimension=code`. The separator is read from the file (a first line "
    "`sep=;` or `sep=,`, else the header): `,`-separated files write numbers with a decimal "
    "point and no thousands separator (`1234.5`); `;`-separated files (Excel on a Dutch "
    "machine) the Dutch way (`1.234,5`). A cell that is no number in its file's notation is a "
    "row error (`field_invalid`). UTF-8 (a BOM is fine), or the charset declared in "
    "Content-Type: `windows-1252` or `iso-8859-1`."
)
SUBMIT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}},
        "text/csv": {"schema": {"type": "string", "description": CSV_DESCRIPTION}},
    },
}
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SubmissionReport, "description": "Dry run: the report, nothing stored."},
    201: {"model": SubmissionReport, "description": "Stored (all rows, or the valid ones)."},
    **problem_responses(400, 401, 403, 409, 413, 415),
    422: {
        "description": "Rejected rows: `submission_rejected` with the report listing every "
        "rejected row and its rule. A request that is wrong as a whole (an empty batch, an "
        "invalid parameter) is a plain problem.",
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {
                    "allOf": [{"$ref": "#/components/schemas/Problem"}],
                    "properties": {"submission": {"$ref": "#/components/schemas/SubmissionReport"}},
                }
            }
        },
    },
}
READ = problem_responses(401, 403, 404, 422)
SubmissionIdPath = Annotated[str, Path(max_length=36), NoNul]
PAGE = problem_responses(400, 401, 403, 404, 422)  # 400: a cursor this list did not give out


@router.post(
    "/submissions",
    status_code=201,
    response_model=SubmissionReport,
    responses=SUBMIT_RESPONSES,
    openapi_extra={"requestBody": SUBMIT_BODY},
)
async def submit(
    request: Request,
    session: SessionDep,
    principal: SubmitterDep,
    lang: LangDep,
    mode: Annotated[
        Mode, Query(description="all_or_nothing (default): any rejected row rejects the batch.")
    ] = Mode.all_or_nothing,
    dry_run: Annotated[bool, Query(description="Validate and report; store nothing.")] = False,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=200, description="Retry safely: same key, same answer."),
        NoNul,
    ] = None,
) -> Response:
    """Submit a batch of up to 10,000 measurements as JSON or CSV (vendor).

    JSON is taken literally: a member named twice is 400 `duplicate_member`, NUL or a lone
    surrogate in text 400 `invalid_text` (both naming the JSON Pointer), and a value of the
    wrong JSON type (`"value": "40"`) a row error. CSV is read in the dialect the file shows
    (see the request body); an undeclared body that is not UTF-8 is 400 `invalid_encoding`
    naming the byte, an unknown charset 415 `unsupported_charset`.
    """
    req = service.Request(
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        mode=mode,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
        lang=lang,
    )
    settings = request.app.state.settings
    outcome = await run_in_threadpool(
        service.submit, session, principal=principal, req=req, max_rows=settings.max_batch_rows
    )
    headers = {"Content-Language": lang}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    body = outcome.report.model_dump(mode="json")
    if outcome.status == 422:
        rejected = rules.SUBMISSION_REJECTED
        problem = SubmissionRejected(
            type=f"urn:kpi-api:problem:{rejected.code}",
            title="Unprocessable Content",
            status=422,
            detail=None
            if outcome.report.accepted
            else rejected.render(lang, rejected=outcome.report.rejected, rows=outcome.report.rows),
            instance=request.url.path,
            code=rejected.code,
            submission=outcome.report,
        )
        return JSONResponse(
            # Leave out the problem's empty fields, not the report's (its `id` is null, not absent).
            problem.model_dump(mode="json", exclude_none=True, exclude={"submission"})
            | {"submission": body},
            status_code=422,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=headers,
        )
    if outcome.report.id is not None:
        headers["Location"] = f"/v1/submissions/{outcome.report.id}"
    return JSONResponse(body, status_code=outcome.status, headers=headers)


@router.get("/submissions/{submission_id}", response_model=SubmissionReport, responses=READ)
def get_submission(
    submission_id: SubmissionIdPath, session: SessionDep, principal: SubmitterOrPublisherDep
) -> SubmissionReport:
    """A submission's status and report (its vendor, or the publisher)."""
    found = service.get_submission(session, submission_id=submission_id, principal=principal)
    return service.report_of(found)


@router.get(
    "/submissions/{submission_id}/raw",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, **READ},
)
def get_raw_submission(
    submission_id: SubmissionIdPath, session: SessionDep, principal: SubmitterOrPublisherDep
) -> Response:
    """The body exactly as it was received, for audit and reprocessing."""
    found = service.get_submission(session, submission_id=submission_id, principal=principal)
    if found.content_type.startswith("text/") and not _is_utf8(found.raw_body):
        # A CSV sent as windows-1252: Starlette would label text/* as UTF-8, so leave it out.
        return Response(found.raw_body, headers={"Content-Type": found.content_type})
    return Response(found.raw_body, media_type=found.content_type)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@router.get("/measurements", response_model=MeasurementPage, responses=PAGE)
def list_measurements(
    session: SessionDep,
    principal: SubmitterOrPublisherDep,
    organisation: Annotated[str | None, Query(max_length=40), NoNul] = None,
    kpi: Annotated[str | None, Query(max_length=40), NoNul] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    municipality: Annotated[str | None, Query(pattern=r"^GM[0-9]{4}$")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> MeasurementPage:
    """Current measurements (a vendor sees only its organisations')."""
    return service.list_measurements(
        session,
        principal=principal,
        organisation=organisation,
        kpi=kpi,
        period=period,
        municipality=municipality,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/measurements/{measurement_id}/history", response_model=MeasurementHistory, responses=READ
)
def measurement_history(
    measurement_id: Annotated[int, Path(ge=1, le=2**62)],
    session: SessionDep,
    principal: SubmitterOrPublisherDep,
) -> MeasurementHistory:
    """Every version of a measurement: who sent what, when, and what superseded it."""
    return service.measurement_history(session, series_id=measurement_id, principal=principal)


@router.get("/validation-rules", response_model=Items[ValidationRuleRead])
def validation_rules() -> Items[ValidationRuleRead]:
    """Every rule a submission is checked against, with its stable code and messages."""
    return Items[ValidationRuleRead](items=service.validation_rules())


@router.get("/period-locks", response_model=Items[PeriodLockRead], responses=READ)
def list_period_locks(session: SessionDep, _: AnyRoleDep) -> Items[PeriodLockRead]:
    """Closed periods: no submission may write into a period that overlaps one."""
    return Items[PeriodLockRead](items=service.list_locks(session))


@router.post(
    "/period-locks",
    status_code=201,
    response_model=PeriodLockRead,
    responses=problem_responses(401, 403, 409, 422),
)
def lock_period(
    body: PeriodLockCreate, session: SessionDep, principal: PublisherDep
) -> PeriodLockRead:
    """Close a period for writes (publisher)."""
    return service.lock_period(session, data=body, actor=principal.name)


@router.delete(
    "/period-locks/{period}", status_code=204, responses=problem_responses(401, 403, 404, 422)
)
def unlock_period(
    period: Annotated[str, Path(pattern=PERIOD_PATTERN)], session: SessionDep, _: PublisherDep
) -> Response:
    """Reopen a closed period (publisher)."""
    service.unlock_period(session, period=period)
    return Response(status_code=204)
