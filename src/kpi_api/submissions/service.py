"""Submitting measurements: validate a batch, store it in one transaction, report every row."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_api import freshness
from kpi_api.auth import Principal, Role
from kpi_api.catalogue import service as catalogue
from kpi_api.db import utcnow
from kpi_api.errors import Conflict, FieldError, Forbidden, KpiApiError, NotFound
from kpi_api.periods import parse_period
from kpi_api.reference import service as reference
from kpi_api.registry import service as registry
from kpi_api.submissions import repository as repo
from kpi_api.submissions import rules
from kpi_api.submissions.models import MeasurementVersion, PeriodLock, Submission
from kpi_api.submissions.parsing import media_type, parse_body
from kpi_api.submissions.schemas import (
    MeasurementHistory,
    MeasurementPage,
    MeasurementRead,
    MeasurementVersionRead,
    Mode,
    PeriodLockCreate,
    PeriodLockRead,
    RowError,
    SubmissionReport,
    ValidationRuleRead,
)
from kpi_api.submissions.validation import (
    Context,
    ValidRow,
    mark_duplicates,
    may_hold_nul,
    organisation_codes,
    validate_rows,
)
from kpi_api.web.pagination import decode_cursor, page

#: Who submits: vendors, and organisation keys through their organisation's own registration;
#: each sees only the submissions and measurements of the organisations its vendor acts for.
SUBMITTERS = frozenset({Role.vendor, Role.organisation})


@dataclass
class Outcome:
    """What the route answers: the HTTP status and the report (stored or dry run)."""

    status: int
    report: SubmissionReport
    replayed: bool = False


@dataclass
class Request:
    """A submission as received: the raw body and its Content-Type, the mode, whether it is a dry
    run, its Idempotency-Key and the client's language."""

    body: bytes
    content_type: str | None
    mode: Mode
    dry_run: bool
    idempotency_key: str | None
    lang: str


def request_digest(req: Request) -> str:
    """The SHA-256 (hex) of what makes two submissions the same request (media type, mode, dry run
    and body): an Idempotency-Key may be sent again only with the same digest."""
    h = hashlib.sha256()
    for part in (media_type(req.content_type), req.mode.value, str(req.dry_run)):
        h.update(part.encode() + b"\x00")
    h.update(req.body)
    return h.hexdigest()


def _context(session: Session, rows: list[Any], orgs: dict[str, Any], lang: str) -> Context:
    kpis = {r["kpi"].strip() for r in rows if isinstance(r, dict) and isinstance(r.get("kpi"), str)}
    named = {
        r["release"] for r in rows if isinstance(r, dict) and isinstance(r.get("release"), str)
    }
    releases: dict[str, dict[str, int] | None] = {}
    for release_id in named:
        found = catalogue.release_members(session, release_id.strip())
        releases[release_id.strip()] = found[1] if found else None
    locks = [parse_period(lock.period) for lock in repo.locks(session)]
    return Context(
        lang=lang,
        today=date.today(),
        specs=catalogue.kpi_specs(session, sorted(kpis)),
        current_release=catalogue.release_members(session),
        releases=releases,
        code_lists=catalogue.code_list_specs(session),
        municipalities=reference.municipalities(session),
        organisations=orgs,
        locks=locks,
    )


def _authorise(
    session: Session, principal: Principal, rows: list[Any], lang: str
) -> dict[str, Any]:
    codes = organisation_codes(rows)
    assert principal.vendor_id is not None
    orgs = registry.organisations_for_vendor(session, vendor_id=principal.vendor_id, codes=codes)
    refused = sorted(codes - orgs.keys())
    if refused:
        rule = rules.ORGANISATION_NOT_AUTHORISED
        raise Forbidden(
            rule,
            params={"organisation": refused[0]},
            errors=[
                FieldError(
                    location="body",
                    pointer="/measurements",
                    code=rule.code,
                    message=rule.render(lang, organisation=code),
                )
                for code in refused[:100]
            ],
        )
    return orgs


def _check_stored(
    session: Session, rows: list[ValidRow], lang: str
) -> tuple[list[ValidRow], list[RowError], dict[repo.NaturalKey, repo.Current]]:
    """Reject withdrawals of a measurement that never existed; return the stored state of the
    series the rows touch. (Withdrawing one already withdrawn is no error: ``_outcome`` calls it
    unchanged, so a batch sent again is accepted again.)"""
    stored = repo.existing(session, [r.natural_key for r in rows])
    kept, errors = [], []
    rule = rules.NOTHING_TO_WITHDRAW
    for r in rows:
        cur = stored.get(r.natural_key)
        if r.withdraw and (cur is None or cur.version_id is None):
            errors.append(
                RowError(row=r.row, field="withdraw", code=rule.code, message=rule.render(lang))
            )
        else:
            kept.append(r)
    return kept, errors, stored


def _series_row(r: ValidRow) -> repo.SeriesRow:
    """The new series of a row (its id drawn by ``repo.insert_series``)."""
    return repo.SeriesRow(
        id=None,
        organisation_id=r.organisation_id,
        kpi_code=r.kpi,
        period=r.period.code,
        period_type=r.period.type,
        period_start=r.period.start,
        period_end=r.period.end,
        municipality_code=r.municipality,
        disaggregation_key=r.natural_key[4],
        disaggregation=r.disaggregation,
    )


Change = Literal["created", "corrected", "unchanged", "withdrawn"]


def _outcome(r: ValidRow, cur: repo.Current | None) -> Change:
    """What storing a row does to its measurement: created, corrected, unchanged or withdrawn."""
    if cur is None or cur.version_id is None:
        return "created"  # never a withdrawal: _check_stored refused those
    if r.withdraw:
        return "unchanged" if cur.withdrawn else "withdrawn"
    if cur.payload == r.payload():
        return "unchanged"
    return "created" if cur.withdrawn else "corrected"


def _plan(
    rows: list[ValidRow], stored: dict[repo.NaturalKey, repo.Current]
) -> tuple[dict[Change, int], list[tuple[ValidRow, repo.Current | None]]]:
    """Classify every row against the stored measurements; return the counts and the rows that
    need a new version, with their series' current state. The dry run and the real run both
    call this, so a dry run reports what the real run would do."""
    counts: dict[Change, int] = {"created": 0, "corrected": 0, "unchanged": 0, "withdrawn": 0}
    writes = []
    for r in rows:
        cur = stored.get(r.natural_key)
        outcome = _outcome(r, cur)
        counts[outcome] += 1
        if outcome != "unchanged":
            writes.append((r, cur))
    return counts, writes


def _store(
    session: Session,
    rows: list[ValidRow],
    stored: dict[repo.NaturalKey, repo.Current],
    *,
    submission_id: str,
    vendor_id: str,
) -> dict[Change, int]:
    # Sorted, so concurrent batches take the unique-index locks in one order (no deadlock).
    fresh = sorted((r for r in rows if r.natural_key not in stored), key=lambda r: r.natural_key)
    new_ids: dict[repo.NaturalKey, int] = {}  # series created here (no version yet)
    if fresh:
        try:
            new_ids = repo.insert_series(session, [_series_row(r) for r in fresh])
        except (IntegrityError, psycopg.errors.UniqueViolation) as exc:
            raise _concurrent() from exc  # a concurrent batch created one of these series
        raced = [r.natural_key for r in fresh if r.natural_key not in new_ids]
        if raced:  # created by a concurrent batch since we looked (SQLite skips those)
            stored = stored | repo.existing(session, raced)
    counts, writes = _plan(rows, stored)
    now = utcnow()
    versions: list[repo.VersionRow] = []
    superseded: list[int] = []
    changed: set[tuple[str, int]] = set()  # (KPI, year) written
    for r, cur in writes:
        if cur is None:  # a series created above
            series_id, version = new_ids[r.natural_key], 1
        else:
            if cur.version_id is not None:
                superseded.append(cur.version_id)
            series_id, version = cur.series_id, (cur.version or 0) + 1
        changed.add((r.kpi, r.period.start.year))
        versions.append(
            repo.VersionRow(
                series_id=series_id,
                organisation_id=r.organisation_id,
                kpi_code=r.kpi,
                period_type=r.period.type,
                period_start=r.period.start,
                period_end=r.period.end,
                municipality_code=r.municipality,
                disaggregation_key=r.natural_key[4],
                version=version,
                kpi_version=r.kpi_version,
                withdrawn=r.withdraw,
                value=r.value,
                numerator=r.numerator,
                denominator=r.denominator,
                n=r.n,
                note=r.note,
                record_id=r.record_id,
                submission_id=submission_id,
                vendor_id=vendor_id,
                created_at=now,
                superseded_at=None,
                is_current=True,
            )
        )
    superseded.sort()
    if superseded and repo.supersede(session, superseded, now) != len(superseded):
        raise _concurrent()
    try:
        repo.insert_versions(session, versions)
        # Last: cached aggregate figures of these KPIs and years are now stale.
        freshness.bump_revisions(session, changed)
    except (IntegrityError, psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected) as exc:
        # (COPY on PostgreSQL raises the driver's own errors.)
        raise _concurrent() from exc
    return counts


def _concurrent() -> KpiApiError:
    return Conflict(rules.CONCURRENT_UPDATE, headers={"Retry-After": "1"})


def _replay(existing: Submission, digest: str) -> Outcome:
    if existing.request_sha256 != digest:
        raise Conflict(rules.IDEMPOTENCY_KEY_REUSED)
    return Outcome(existing.response_status, _stored_report(existing.report), replayed=True)


def submit(session: Session, *, principal: Principal, req: Request, max_rows: int) -> Outcome:
    """Validate a batch and, unless it is a dry run, store it in this transaction.

    The outcome's status: 201 stored (whole, or in partial mode the valid rows), 200 a dry run that
    would store, 422 nothing stored; a known Idempotency-Key replays the stored outcome. Raises
    Conflict (409 ``idempotency_key_reused`` for the key of another request; ``concurrent_update``,
    Retry-After: 1, when another batch wrote the same series at once), KpiApiError (422
    ``batch_empty``; 413 ``batch_too_large`` over ``max_rows`` rows), Forbidden (403
    ``organisation_not_authorised``) and what ``parsing.parse_body`` raises (400, 415).
    """
    # An organisation key submits through its organisation's own registration (a vendor).
    assert principal.role in SUBMITTERS and principal.vendor_id is not None
    digest = request_digest(req)
    if req.idempotency_key is not None and not req.dry_run:
        existing = repo.submission_by_key(session, principal.vendor_id, req.idempotency_key)
        if existing is not None:
            return _replay(existing, digest)

    raw_rows = parse_body(req.body, req.content_type, req.lang)
    if not raw_rows:
        raise KpiApiError(rules.BATCH_EMPTY, status=422)
    if len(raw_rows) > max_rows:
        raise KpiApiError(
            rules.BATCH_TOO_LARGE, params={"limit": max_rows, "rows": len(raw_rows)}, status=413
        )
    orgs = _authorise(session, principal, raw_rows, req.lang)
    ctx = _context(session, raw_rows, orgs, req.lang)

    valid, errors = validate_rows(raw_rows, ctx, check_nul=may_hold_nul(req.body))
    valid, dup_errors = mark_duplicates(valid, ctx)
    valid, stored_errors, stored = _check_stored(session, valid, req.lang)
    errors = sorted(errors + dup_errors + stored_errors, key=lambda e: e.row)
    rejected_rows = len({e.row for e in errors})
    accept = bool(valid) and (req.mode is Mode.partial or rejected_rows == 0)

    report = SubmissionReport(
        id=None,
        status="",
        mode=req.mode,
        dry_run=req.dry_run,
        received_at=utcnow(),
        rows=len(raw_rows),
        accepted=len(valid) if accept else 0,
        rejected=rejected_rows,
        not_stored=0 if accept else len(raw_rows) - rejected_rows,
        created=0,
        corrected=0,
        unchanged=0,
        withdrawn=0,
        errors=errors,
    )
    if req.dry_run:
        if accept:  # what the real run would store, read from the same stored state
            counts, _ = _plan(valid, stored)
            for name, n in counts.items():
                setattr(report, name, n)
        report.status = "valid" if rejected_rows == 0 else "invalid"
        return Outcome(200 if accept else 422, report)

    submission = _open_submission(session, principal, req, digest)
    if isinstance(submission, Outcome):
        return submission
    report.id = submission.id
    if accept:
        counts = _store(
            session, valid, stored, submission_id=submission.id, vendor_id=principal.vendor_id
        )
        for name, n in counts.items():
            setattr(report, name, n)
        report.status = "accepted" if rejected_rows == 0 else "partially_accepted"
        status = 201
    else:
        report.status = "rejected"
        status = 422
    submission.status = report.status
    submission.rows_total = report.rows
    submission.rows_accepted = report.accepted
    submission.rows_rejected = report.rejected
    submission.response_status = status
    submission.report = report.model_dump(mode="json")
    session.flush()
    return Outcome(status, report)


def _open_submission(
    session: Session, principal: Principal, req: Request, digest: str
) -> Submission | Outcome:
    """Insert the submission row first, so a concurrent retry with the same key waits for it."""
    submission = Submission(
        id=str(uuid.uuid4()),
        vendor_id=principal.vendor_id,
        api_key_id=principal.key_id,
        received_at=utcnow(),
        content_type=media_type(req.content_type),
        raw_body=req.body,
        body_sha256=hashlib.sha256(req.body).hexdigest(),
        mode=req.mode.value,
        status="processing",
        idempotency_key=req.idempotency_key,
        request_sha256=digest,
        report={},
    )
    try:
        with session.begin_nested():
            session.add(submission)
    except IntegrityError:
        assert req.idempotency_key is not None and principal.vendor_id is not None
        existing = repo.submission_by_key(session, principal.vendor_id, req.idempotency_key)
        if existing is None:
            raise
        return _replay(existing, digest)
    return submission


# --- reading ---------------------------------------------------------------------------------


def _scope(principal: Principal) -> str | None:
    """The vendor whose organisations bound what the principal sees; None for all."""
    return principal.vendor_id if principal.role in SUBMITTERS else None


def get_submission(session: Session, *, submission_id: str, principal: Principal) -> Submission:
    """A submission the principal may see (a submitter: its vendor's own). Raises NotFound (404
    ``submission_not_found``)."""
    found = session.get(Submission, submission_id)
    if found is None or (principal.role in SUBMITTERS and found.vendor_id != principal.vendor_id):
        raise NotFound(rules.SUBMISSION_NOT_FOUND, params={"submission": submission_id})
    return found


def report_of(submission: Submission) -> SubmissionReport:
    """A submission's report, in today's terms. Raises NotFound (404 ``submission_not_found``) while
    it has none."""
    if not submission.report:
        raise NotFound(rules.SUBMISSION_HAS_NO_REPORT)
    return _stored_report(submission.report)


def _stored_report(report: dict[str, Any]) -> SubmissionReport:
    """A kept report, in today's terms. Reports kept before ``not_stored`` existed counted every
    row of a batch rejected whole as rejected; they are recounted from their errors."""
    if "not_stored" not in report:
        rejected = len({e["row"] for e in report["errors"]})
        report = report | {
            "rejected": rejected,
            "not_stored": report["rows"] - report["accepted"] - rejected,
        }
    return SubmissionReport(**report)


def list_measurements(
    session: Session,
    *,
    principal: Principal,
    organisation: str | None,
    kpi: str | None,
    period: str | None,
    municipality: str | None,
    limit: int,
    cursor: str | None,
) -> MeasurementPage:
    """A page of current measurements by id, of the submitter's organisations (the publisher: all),
    filtered where given; values as sent (a percentage on a 0–100 scale). Raises KpiApiError (400
    ``invalid_cursor``)."""
    after = decode_cursor(cursor, "measurements", int)
    rows = repo.current_measurements(
        session,
        vendor_id=_scope(principal),
        organisation=organisation,
        kpi=kpi,
        period=period,
        municipality=municipality,
        after_id=after,
        limit=limit + 1,
    )
    rows, after_last = page(rows, limit, "measurements", lambda r: r[0].id)
    items = [
        MeasurementRead(
            id=s.id,
            kpi=s.kpi_code,
            kpi_version=v.kpi_version,
            organisation=org_code,
            municipality=s.municipality_code,
            period=s.period,
            disaggregation=s.disaggregation,
            **_as_sent(v),
            version=v.version,
            submission=v.submission_id,
            submitted_at=v.created_at,
        )
        for s, v, org_code in rows
    ]
    return MeasurementPage(items=items, next=after_last)


def _number(x: float | None) -> int | float | None:
    """A stored value as it was meant: 40, not 40.0 (values are bounded well below 2**53)."""
    return int(x) if x is not None and x.is_integer() else x


def _whole(x: float | None) -> int | None:
    return None if x is None else int(x)


def _as_sent(v: MeasurementVersion) -> dict[str, Any]:
    """A version's value, parts, note and record id as the vendor sent them."""
    return {
        "value": _number(v.value),
        "numerator": _whole(v.numerator),
        "denominator": _whole(v.denominator),
        "n": v.n,
        "note": v.note,
        "record_id": v.record_id,
    }


def measurement_history(
    session: Session, *, series_id: int, principal: Principal
) -> MeasurementHistory:
    """Every version of a measurement series, oldest first, values as sent. Raises NotFound (404
    ``measurement_not_found``, also for a series the principal may not see)."""
    found = repo.series(session, series_id, _scope(principal))
    if found is None:
        raise NotFound(rules.MEASUREMENT_NOT_FOUND, params={"measurement": series_id})
    s, org_code = found
    return MeasurementHistory(
        id=s.id,
        kpi=s.kpi_code,
        organisation=org_code,
        municipality=s.municipality_code,
        period=s.period,
        disaggregation=s.disaggregation,
        versions=[
            MeasurementVersionRead(
                version=v.version,
                kpi_version=v.kpi_version,
                withdrawn=v.withdrawn,
                current=v.is_current,
                **_as_sent(v),
                submission=v.submission_id,
                vendor=vendor_name,
                submitted_at=v.created_at,
                superseded_at=v.superseded_at,
            )
            for v, vendor_name in repo.history(session, s.id)
        ],
    )


# --- period locks ----------------------------------------------------------------------------


def _lock_read(lock: PeriodLock) -> PeriodLockRead:
    return PeriodLockRead(
        period=lock.period,
        start=lock.period_start.isoformat(),
        end=lock.period_end.isoformat(),
        reason=lock.reason,
        locked_at=lock.locked_at,
        locked_by=lock.locked_by,
    )


def lock_period(session: Session, *, data: PeriodLockCreate, actor: str) -> PeriodLockRead:
    """Close a period for writes. Raises Conflict (409 ``period_already_locked``)."""
    period = parse_period(data.period)
    if session.get(PeriodLock, period.code) is not None:
        raise Conflict(rules.PERIOD_ALREADY_LOCKED, params={"period": period.code})
    lock = PeriodLock(
        period=period.code,
        period_start=period.start,
        period_end=period.end,
        reason=data.reason,
        locked_by=actor,
    )
    session.add(lock)
    session.flush()
    return _lock_read(lock)


def closed_from(session: Session) -> Callable[[date], tuple[str, str] | None]:
    """For a day: the first closed period ending on or after it, as (period, reason), if any
    (a series break from that day would reach into it)."""
    closed = [(lock.period_end, lock.period, lock.reason) for lock in repo.locks(session)]

    def at(day: date) -> tuple[str, str] | None:
        hit = [(end, period, reason) for end, period, reason in closed if end >= day]
        return (min(hit)[1], min(hit)[2]) if hit else None

    return at


def ensure_locked(session: Session, *, period: str, reason: str, actor: str) -> None:
    """Close a period for writes unless it is closed already."""
    if session.get(PeriodLock, parse_period(period).code) is None:
        lock_period(session, data=PeriodLockCreate(period=period, reason=reason), actor=actor)


def unlock_period(session: Session, *, period: str) -> None:
    """Reopen a closed period. Raises NotFound (404 ``period_lock_not_found``)."""
    lock = session.get(PeriodLock, period)
    if lock is None:
        raise NotFound(rules.PERIOD_LOCK_NOT_FOUND, params={"period": period})
    session.delete(lock)
    session.flush()


def list_locks(session: Session) -> list[PeriodLockRead]:
    """Every period lock, by the start of its period."""
    return [_lock_read(lock) for lock in repo.locks(session)]


def validation_rules() -> list[ValidationRuleRead]:
    """Every validation rule: its code, level (``row`` or ``request``), field, and English and Dutch
    text."""
    return [
        ValidationRuleRead(
            code=r.code, level=r.level, field=r.field, message_en=r.en, message_nl=r.nl
        )
        for r in rules.RULES.values()
    ]
