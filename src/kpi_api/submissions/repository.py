"""Queries and bulk writes of submissions and measurements."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar, cast

from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    CursorResult,
    Select,
    Table,
    and_,
    any_,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kpi_api.registry.models import Organisation, Vendor, VendorOrganisation
from kpi_api.submissions.models import (
    MeasurementSeries,
    MeasurementVersion,
    PeriodLock,
    Submission,
)

CHUNK = 2000
#: A series' natural key: (organisation id, KPI code, period, municipality code,
#: disaggregation key).
NaturalKey = tuple[str, str, str, str, str]
SERIES = cast(Table, MeasurementSeries.__table__)
VERSIONS = cast(Table, MeasurementVersion.__table__)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def submission_by_key(session: Session, vendor_id: str, key: str) -> Submission | None:
    """The vendor's submission stored under this idempotency key, or None."""
    return session.scalar(
        select(Submission).where(
            Submission.vendor_id == vendor_id, Submission.idempotency_key == key
        )
    )


@dataclass(frozen=True)
class Current:
    """The series of a natural key and its current version (None for a new series)."""

    series_id: int
    version_id: int | None
    version: int | None
    payload: tuple[Any, ...] | None
    withdrawn: bool


_KEY_COLUMNS = (
    MeasurementSeries.organisation_id,
    MeasurementSeries.kpi_code,
    MeasurementSeries.period,
    MeasurementSeries.municipality_code,
    MeasurementSeries.disaggregation_key,
)
_PAYLOAD_COLUMNS = (
    MeasurementVersion.kpi_version,
    MeasurementVersion.withdrawn,
    MeasurementVersion.value,
    MeasurementVersion.numerator,
    MeasurementVersion.denominator,
    MeasurementVersion.n,
    MeasurementVersion.note,
)


# LATERAL ... LIMIT 1: one probe of the natural-key index per key, whatever the table
# statistics say. A plain join let the planner pick a merge join over the whole table on stale
# statistics during a large load: 250 ms for 10,000 keys on 300,000 series.
_EXISTING_PG = text(
    """
    SELECT s.id, s.organisation_id, s.kpi_code, s.period, s.municipality_code,
           s.disaggregation_key, v.id, v.version, v.kpi_version, v.withdrawn, v.value,
           v.numerator, v.denominator, v.n, v.note
    FROM unnest(string_to_array(:o, :sep), string_to_array(:k, :sep),
                string_to_array(:p, :sep), string_to_array(:m, :sep),
                string_to_array(:d, :sep)) AS t(o, k, p, m, d)
    CROSS JOIN LATERAL (
        SELECT id, organisation_id, kpi_code, period, municipality_code, disaggregation_key
        FROM measurement_series
        WHERE organisation_id = t.o AND kpi_code = t.k AND period = t.p
          AND municipality_code = t.m AND disaggregation_key = t.d
        LIMIT 1  -- the key is unique; LIMIT also keeps the planner from flattening the probe
    ) AS s
    LEFT JOIN LATERAL (
        SELECT id, version, kpi_version, withdrawn, value, numerator, denominator, n, note
        FROM measurement_version
        WHERE series_id = s.id AND is_current
        LIMIT 1  -- one current version per series (unique partial index)
    ) AS v ON true
    """
)


def existing(session: Session, keys: Sequence[NaturalKey]) -> dict[NaturalKey, Current]:
    """The stored series among ``keys`` with their current versions.

    PostgreSQL probes the natural-key index once per key, in one statement with one text
    parameter per key column (``_joined``); elsewhere row-value IN lists are used, in chunks.
    """
    if not keys:
        return {}
    wanted = list(dict.fromkeys(keys))
    if _is_postgres(session):
        columns = list(zip(*wanted, strict=True))
        params = dict(zip(("o", "k", "p", "m", "d"), map(_joined, columns), strict=True))
        results = [session.execute(_EXISTING_PG, params | {"sep": SEP})]
    else:
        stmt = select(
            MeasurementSeries.id,
            *_KEY_COLUMNS,
            MeasurementVersion.id,
            MeasurementVersion.version,
            *_PAYLOAD_COLUMNS,
        ).outerjoin(
            MeasurementVersion,
            and_(
                MeasurementVersion.series_id == MeasurementSeries.id,
                MeasurementVersion.is_current,
            ),
        )
        results = [
            session.execute(stmt.where(tuple_(*_KEY_COLUMNS).in_(chunk)))
            for chunk in _chunks(wanted, 500)
        ]
    out: dict[NaturalKey, Current] = {}
    for result in results:
        for row in result:
            version_id, version, *payload = row[6:]
            out[tuple(row[1:6])] = Current(
                series_id=row[0],
                version_id=version_id,
                version=version,
                payload=tuple(payload) if version_id is not None else None,
                withdrawn=bool(payload[1]) if version_id is not None else False,
            )
    return out


#: Joins the values of one key column into a single text parameter that PostgreSQL splits
#: again (``string_to_array``): binding one string is far cheaper than a 10,000-element array,
#: which the driver encodes element by element in Python. Every value is followed by the
#: separator, so a lone empty value (a total's disaggregation key) still splits into one
#: element; each array then ends in one extra empty element, whose all-empty key matches no
#: series. Every value has passed validation (codes, periods, ids); none can hold this
#: control character, and ``_joined`` refuses one that does rather than split it wrongly.
SEP = "\x1f"


def _joined(values: Iterable[str]) -> str:
    parts = list(values)
    text_ = "".join([v + SEP for v in parts])
    if text_.count(SEP) != len(parts):
        raise ValueError("a value contains the key separator")
    return text_


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class SeriesRow(NamedTuple):
    """One ``measurement_series`` row as it is written: the fields are the COPY columns, in
    COPY order (``SERIES_COLUMNS``).

    ``id`` is None until ``insert_series`` draws it from the sequence. ``disaggregation`` is
    the mapping (``{"age_band": "12-17"}``, ``{}`` for a total); a text COPY (the benchmark's)
    passes its JSON text instead.
    """

    id: int | None
    organisation_id: str
    kpi_code: str
    period: str  # its code: 2024, 2024-Q2, 2024-05
    period_type: str  # year, quarter or month
    period_start: date  # first day
    period_end: date  # last day
    municipality_code: str
    disaggregation_key: str  # validation.disaggregation_key of ``disaggregation``
    disaggregation: dict[str, str] | Jsonb | str


#: The columns of ``measurement_series`` that COPY writes, in order.
SERIES_COLUMNS: tuple[str, ...] = SeriesRow._fields
# The sequence of the BIGSERIAL id (named by PostgreSQL after the table and column), given by
# name: pg_get_serial_sequence() in the query would run once per row (20 ms for 10,000 ids).
_SERIES_IDS_PG = text(
    "SELECT nextval('measurement_series_id_seq') FROM generate_series(1, CAST(:n AS integer))"
)


#: PostgreSQL types of the columns written by binary COPY (twice as fast as text COPY).
_PG_TYPES = {
    "id": "int8",
    "series_id": "int8",
    "organisation_id": "varchar",
    "kpi_code": "varchar",
    "period": "varchar",
    "period_type": "varchar",
    "period_start": "date",
    "period_end": "date",
    "municipality_code": "varchar",
    "disaggregation_key": "varchar",
    "disaggregation": "jsonb",
    "version": "int4",
    "kpi_version": "int4",
    "withdrawn": "bool",
    "value": "float8",
    "numerator": "float8",
    "denominator": "float8",
    "n": "int4",
    "note": "text",
    "record_id": "varchar",
    "submission_id": "varchar",
    "vendor_id": "varchar",
    "created_at": "timestamptz",
    "superseded_at": "timestamptz",
    "is_current": "bool",
}


def _copy(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Append rows (tuples in ``columns`` order: a ``SeriesRow`` or ``VersionRow``) to a table
    by binary COPY, in this transaction. Raises the driver's errors (``psycopg.Error``), not
    SQLAlchemy's, on a broken constraint."""
    connection = session.connection().connection.driver_connection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.set_types([_PG_TYPES[c] for c in columns])
        for row in rows:
            copy.write_row(row)


def insert_series(session: Session, rows: Sequence[SeriesRow]) -> dict[NaturalKey, int]:
    """Insert new series (their ``id`` None, ``disaggregation`` a mapping); return their ids by
    natural key (organisation id, KPI, period code, municipality, disaggregation key).

    On PostgreSQL the ids are drawn from the sequence in one statement and the rows are COPied:
    a series another transaction created meanwhile fails the unique key with
    ``psycopg.errors.UniqueViolation`` (the caller answers 409, retryable). Elsewhere an INSERT
    skips such a series, which is then not in the answer.
    """
    if not rows:
        return {}
    if _is_postgres(session):
        ids = session.execute(_SERIES_IDS_PG, {"n": len(rows)}).scalars().all()
        created: dict[NaturalKey, int] = {}
        numbered = []
        # A batch holds few distinct disaggregations: serialise each once, not once a row.
        documents: dict[str, Jsonb] = {}
        for series_id, r in zip(ids, rows, strict=True):
            key = r.disaggregation_key
            document = documents.get(key)
            if document is None:
                document = Jsonb(r.disaggregation, dumps=_serialised(json.dumps(r.disaggregation)))
                documents[key] = document
            # The row with its id (the first field) and JSONB document (the last), as a plain
            # tuple: a sixth of the cost of r._replace(id=..., disaggregation=...).
            numbered.append((series_id, *r[1:-1], document))
            created[(r.organisation_id, r.kpi_code, r.period, r.municipality_code, key)] = series_id
        _copy(session, "measurement_series", SERIES_COLUMNS, numbered)
        return created
    table = SERIES
    stmt = sqlite_insert(table).on_conflict_do_nothing().returning(table.c.id, *_KEY_COLUMNS)
    values = [dict(zip(SERIES_COLUMNS[1:], r[1:], strict=True)) for r in rows]  # id: drawn
    return {tuple(row[1:]): row[0] for row in session.execute(stmt, values)}


def _serialised(text_: str) -> Callable[[object], str]:
    """A ``dumps`` for psycopg that hands back JSON text serialised once already."""

    def dumps(_: object) -> str:
        return text_

    return dumps


def supersede(session: Session, version_ids: Sequence[int], at: datetime) -> int:
    """Mark versions as no longer current; return how many were still current."""
    done = 0
    table = VERSIONS
    for chunk in _chunks(list(version_ids), 10_000 if _is_postgres(session) else 500):
        if _is_postgres(session):
            # One array parameter instead of thousands of bind parameters.
            condition = table.c.id == any_(literal(list(chunk), ARRAY(BigInteger())))
        else:
            condition = table.c.id.in_(chunk)
        result = session.execute(
            update(table)
            .where(condition, table.c.is_current)
            .values(is_current=False, superseded_at=at)
        )
        done += cast(CursorResult[Any], result).rowcount  # an UPDATE's result has one
    return done


class VersionRow(NamedTuple):
    """One ``measurement_version`` row as it is written: the fields are the COPY columns, in
    COPY order (``VERSION_COLUMNS``); the table's own ``id`` is left to the database.

    The series' key columns are repeated from its ``SeriesRow``. A withdrawal (``withdrawn``)
    has no value, numerator, denominator or n. ``value`` is the figure in the KPI's unit: a
    count or an amount in euros (sum), a percentage 0-100 (ratio of sums,
    ``validation.percentage``) or a mean (weighted mean, over ``n`` observations).
    """

    series_id: int
    organisation_id: str
    kpi_code: str
    period_type: str  # year, quarter or month
    period_start: date  # first day
    period_end: date  # last day
    municipality_code: str
    disaggregation_key: str
    version: int  # 1 for a new series, then one more per correction or withdrawal
    kpi_version: int  # the KPI definition version the value follows
    withdrawn: bool
    value: float | None
    numerator: float | None  # whole numbers (ratio of sums only)
    denominator: float | None
    n: int | None  # observations behind a mean (weighted mean only)
    note: str | None
    record_id: str | None
    submission_id: str
    vendor_id: str
    created_at: datetime  # aware, UTC
    superseded_at: datetime | None  # None while current
    is_current: bool


#: The columns of ``measurement_version`` that COPY writes, in order.
VERSION_COLUMNS: tuple[str, ...] = VersionRow._fields


def insert_versions(session: Session, rows: Sequence[VersionRow]) -> None:
    """Append versions: COPY on PostgreSQL, INSERTs elsewhere.

    A second current version of a series, or a version number taken already, fails the unique
    indexes: ``psycopg.errors.UniqueViolation`` on PostgreSQL, ``IntegrityError`` elsewhere.
    """
    if not rows:
        return
    if _is_postgres(session):
        _copy(session, "measurement_version", VERSION_COLUMNS, rows)
        return
    session.execute(
        VERSIONS.insert(),
        [r._asdict() for r in rows],
    )


def locks(session: Session) -> Sequence[PeriodLock]:
    """Every period lock, by the start of its period."""
    return session.scalars(select(PeriodLock).order_by(PeriodLock.period_start)).all()


#: Any SELECT, whatever its columns.
AnySelect = Select[*tuple[Any, ...]]
_S = TypeVar("_S", bound=AnySelect)


def _visible_series(stmt: _S, vendor_id: str | None) -> _S:
    if vendor_id is None:
        return stmt
    return stmt.join(
        VendorOrganisation,
        and_(
            VendorOrganisation.organisation_id == MeasurementSeries.organisation_id,
            VendorOrganisation.vendor_id == vendor_id,
        ),
    )


def current_measurements(
    session: Session,
    *,
    vendor_id: str | None,
    organisation: str | None,
    kpi: str | None,
    period: str | None,
    municipality: str | None,
    after_id: int | None,
    limit: int,
) -> Sequence[Any]:
    """At most ``limit`` current, not withdrawn measurements as rows (series, version, organisation
    code), by series id after ``after_id``; of the vendor's organisations if one, filtered by
    organisation code, KPI, period and municipality where given."""
    stmt: AnySelect = (
        select(MeasurementSeries, MeasurementVersion, Organisation.code)
        .join(MeasurementVersion, MeasurementVersion.series_id == MeasurementSeries.id)
        .join(Organisation, Organisation.id == MeasurementSeries.organisation_id)
        .where(MeasurementVersion.is_current, MeasurementVersion.withdrawn.is_(False))
        .order_by(MeasurementSeries.id)
        .limit(limit)
    )
    stmt = _visible_series(stmt, vendor_id)
    if organisation is not None:
        stmt = stmt.where(Organisation.code == organisation)
    if kpi is not None:
        stmt = stmt.where(MeasurementSeries.kpi_code == kpi)
    if period is not None:
        stmt = stmt.where(MeasurementSeries.period == period)
    if municipality is not None:
        stmt = stmt.where(MeasurementSeries.municipality_code == municipality)
    if after_id is not None:
        stmt = stmt.where(MeasurementSeries.id > after_id)
    return session.execute(stmt).all()


def series(session: Session, series_id: int, vendor_id: str | None) -> Any:
    """A series with its organisation's code as one row (series, organisation code), or None when it
    does not exist or is not the vendor's (``vendor_id`` given)."""
    stmt = (
        select(MeasurementSeries, Organisation.code)
        .join(Organisation, Organisation.id == MeasurementSeries.organisation_id)
        .where(MeasurementSeries.id == series_id)
    )
    return session.execute(_visible_series(stmt, vendor_id)).first()


def history(session: Session, series_id: int) -> Sequence[Any]:
    """Every version of a series with its vendor's name, as rows (version, vendor name), oldest
    first."""
    return session.execute(
        select(MeasurementVersion, Vendor.name)
        .join(Vendor, Vendor.id == MeasurementVersion.vendor_id)
        .where(MeasurementVersion.series_id == series_id)
        .order_by(MeasurementVersion.version)
    ).all()
