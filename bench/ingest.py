"""Ingest throughput: batches through the API (one client, then several at once) next to the
same rows COPied into bare tables, the database's own limit; and the bulk load of a large
data set straight into the service's tables.

Rows written by COPY are the service's own ``SeriesRow`` and ``VersionRow``, their values
computed by the service's rules (``disaggregation_key``, ``percentage``).
"""

from __future__ import annotations

import json
import queue
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from bench.dataset import Row
from bench.harness import Server, log
from kpi_api.db import make_engine
from kpi_api.freshness import bump_revisions
from kpi_api.submissions.repository import (  # the service's own COPY rows and columns
    SERIES_COLUMNS,
    VERSION_COLUMNS,
    SeriesRow,
    VersionRow,
)
from kpi_api.submissions.validation import disaggregation_key, percentage

BATCH = 10_000


def batches(items: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _in_streams(work: list[Any], streams: int, do: Callable[[Any], None]) -> list[float]:
    """Run ``do`` on every item from ``streams`` threads; the seconds each item took."""
    seconds: list[float] = []

    def timed_do(item: Any) -> None:
        started = time.perf_counter()
        do(item)
        seconds.append(time.perf_counter() - started)

    with ThreadPoolExecutor(streams) as pool:
        for future in [pool.submit(timed_do, item) for item in work]:
            future.result()
    return seconds


def api_ingest(server: Server, key: str, chunks: list[list[Row]], streams: int) -> dict[str, Any]:
    """POST the batches from ``streams`` clients at once (one each: one after the other)."""
    bodies = [json.dumps({"measurements": [r.as_json() for r in c]}).encode() for c in chunks]
    # One client per stream, made before the clock starts (making one builds a TLS context).
    clients: queue.Queue[httpx.Client] = queue.Queue()
    for _ in range(streams):
        clients.put(
            httpx.Client(
                base_url=server.base, timeout=300, headers={"Authorization": f"Bearer {key}"}
            )
        )

    def post(body: bytes) -> None:
        client = clients.get()
        try:
            response = client.post(
                "/v1/submissions",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                    # A new connection per batch, so that the workers share the batches: a kept-
                    # alive connection stays with the worker that accepted it.
                    "Connection": "close",
                },
            )
        finally:
            clients.put(client)
        if response.status_code != 201:
            raise RuntimeError(f"batch refused: {response.status_code} {response.text[:500]}")

    started = time.perf_counter()
    seconds = _in_streams(bodies, streams, post)
    wall = time.perf_counter() - started
    while not clients.empty():
        clients.get().close()
    rows_ = sum(len(c) for c in chunks)
    return {
        "rows": rows_,
        "batches": len(chunks),
        "streams": streams,
        "seconds": wall,
        "rows_per_second": rows_ / wall,
        "batch_p50_s": statistics.median(seconds),
    }


def series_row(sid: int, r: Row, org_id: str) -> SeriesRow:
    """The series of a data set row, its id given and its disaggregation as JSON text (for a
    text COPY)."""
    return SeriesRow(
        id=sid,
        organisation_id=org_id,
        kpi_code=r.kpi,
        period=r.period.code,
        period_type=r.period.type,
        period_start=r.period.start,
        period_end=r.period.end,
        municipality_code=r.municipality,
        disaggregation_key=disaggregation_key(r.disaggregation),
        disaggregation=json.dumps(r.disaggregation),
    )


def version_row(
    sid: int,
    r: Row,
    org_id: str,
    version: int,
    *,
    withdrawn: bool,
    current: bool,
    submission: str,
    vendor: str,
    at: datetime,
    superseded: datetime | None,
) -> VersionRow:
    """Version ``version`` of series ``sid`` as the service would store ``r`` (KPI definition
    version 1): a ratio of sums valued by the service's ``percentage``, which raises
    ``ValueError`` for a row that breaks its rules; a withdrawal without any value."""
    value = r.value
    if r.aggregation == "ratio_of_sums":
        assert r.numerator is not None and r.denominator is not None
        value = percentage(r.numerator, r.denominator)
    return VersionRow(
        series_id=sid,
        organisation_id=org_id,
        kpi_code=r.kpi,
        period_type=r.period.type,
        period_start=r.period.start,
        period_end=r.period.end,
        municipality_code=r.municipality,
        disaggregation_key=disaggregation_key(r.disaggregation),
        version=version,
        kpi_version=1,
        withdrawn=withdrawn,
        value=None if withdrawn else value,
        numerator=None if withdrawn else r.numerator,
        denominator=None if withdrawn else r.denominator,
        n=None if withdrawn else r.n,
        note=None,
        record_id=None,
        submission_id=submission,
        vendor_id=vendor,
        created_at=at,
        superseded_at=superseded,
        is_current=current,
    )


def _copy_text(
    conn: Connection, table: str, columns: tuple[str, ...], tuples: Iterable[tuple[Any, ...]]
) -> None:
    """COPY rows (tuples in ``columns`` order) into a table as text, in the connection's
    transaction."""
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for t in tuples:
            copy.write_row(t)


def copy_rows(
    engine: Engine, table: str, columns: tuple[str, ...], tuples: Iterable[tuple[Any, ...]]
) -> None:
    """COPY rows (tuples in ``columns`` order) into a table as text, in a transaction of its own."""
    with engine.begin() as conn:
        _copy_text(conn, table, columns, tuples)


BARE_TABLES = ("measurement_series", "measurement_version")


def create_bare_tables(engine: Engine) -> None:
    """Tables like the real ones, with the same indexes (and no foreign keys, no service)."""
    with engine.begin() as conn:
        for table in BARE_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS bare_{table}"))
            conn.execute(text(f"CREATE TABLE bare_{table} (LIKE {table} INCLUDING ALL)"))


def drop_bare_tables(engine: Engine) -> None:
    """Drop the tables ``create_bare_tables`` made."""
    with engine.begin() as conn:
        for table in BARE_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS bare_{table}"))


def raw_copy_ingest(
    engine: Engine, ctx: dict[str, Any], chunks: list[list[Row]], streams: int, first_id: int
) -> dict[str, Any]:
    """COPY the same rows, pre-formatted, into the bare tables: one transaction per batch, from
    ``streams`` connections at once, as the API gets them."""
    now = datetime.now(UTC)
    # Plain tuples, made before the clock starts: psycopg formats a tuple subclass (the
    # service's SeriesRow and VersionRow) a little slower, and this is the database's limit.
    prepared: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []
    sid = first_id
    for chunk in chunks:
        series: list[tuple[Any, ...]] = []
        versions: list[tuple[Any, ...]] = []
        for r in chunk:
            sid += 1
            org = ctx["org_ids"][r.organisation]
            series.append(tuple(series_row(sid, r, org)))
            versions.append(
                tuple(
                    version_row(
                        sid,
                        r,
                        org,
                        1,
                        withdrawn=False,
                        current=True,
                        submission="bench",
                        vendor=ctx["vendor_id"],
                        at=now,
                        superseded=None,
                    )
                )
            )
        prepared.append((series, versions))

    def copy_batch(batch: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
        series, versions = batch
        with engine.begin() as conn:  # one transaction per batch, as the service has
            _copy_text(conn, "bare_measurement_series", SERIES_COLUMNS, series)
            _copy_text(conn, "bare_measurement_version", VERSION_COLUMNS, versions)

    started = time.perf_counter()
    _in_streams(prepared, streams, copy_batch)
    wall = time.perf_counter() - started
    rows_ = sum(len(c) for c in chunks)
    return {"rows": rows_, "streams": streams, "seconds": wall, "rows_per_second": rows_ / wall}


def _combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result of several rounds: rows and seconds summed, rows per second over the sum."""
    rows_ = sum(p["rows"] for p in parts)
    seconds = sum(p["seconds"] for p in parts)
    out = {"rows": rows_, "seconds": seconds, "rows_per_second": rows_ / seconds}
    for key in ("batches", "streams"):
        if key in parts[0]:
            out[key] = sum(p[key] for p in parts) if key == "batches" else parts[0][key]
    if "batch_p50_s" in parts[0]:
        out["batch_p50_s"] = statistics.median(p["batch_p50_s"] for p in parts)
    return out


def ingest(
    server: Server,
    url: str,
    ctx: dict[str, Any],
    chunks: list[list[Row]],
    backend: str,
    streams: int,
) -> dict[str, Any]:
    """Half the batches one at a time, half from ``streams`` clients at once.

    On PostgreSQL the same rows also go by COPY into bare tables, in alternating rounds (a few
    batches through the API, the same batches by COPY, the next few ...), so that both see the
    same machine load, checkpoints and table sizes, and their ratio is fair on a shared machine.
    """
    half = len(chunks) // 2
    phases = {"sequential": (chunks[:half], 1), "concurrent": (chunks[half:], streams)}
    copy_engine = make_engine(url, pool_size=streams) if backend == "postgresql" else None
    out: dict[str, Any] = {"batch_rows": len(chunks[0]) if chunks else 0}
    try:
        if copy_engine is not None:
            create_bare_tables(copy_engine)
        copied = 0
        for name, (part, n) in phases.items():
            log(f"ingest ({name}, {n} stream(s)): {sum(map(len, part)):,} rows, API and COPY")
            size = max(2, n)
            api_parts, copy_parts = [], []
            for i in range(0, len(part), size):
                round_ = part[i : i + size]
                api_parts.append(api_ingest(server, ctx["vendor_key"], round_, n))
                if copy_engine is not None:
                    copy_parts.append(raw_copy_ingest(copy_engine, ctx, round_, n, copied))
                    copied += copy_parts[-1]["rows"]
            phase: dict[str, Any] = {"api": _combine(api_parts)}
            if copy_parts:
                phase["copy"] = _combine(copy_parts)
                phase["ratio_api_to_copy"] = (
                    phase["api"]["rows_per_second"] / phase["copy"]["rows_per_second"]
                )
            out[name] = phase
    finally:
        if copy_engine is not None:
            drop_bare_tables(copy_engine)
            copy_engine.dispose()
    return out


def bulk_load(engine: Engine, ctx: dict[str, Any], remaining: Iterable[Row], seed: int = 7) -> int:
    """Load the rest of a large data set straight into the service's tables (as if it had been
    submitted): 2 % of the measurements corrected once, 0.5 % withdrawn. Returns the rows
    loaded."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM measurement_series")).scalar()
        conn.execute(
            text(
                "INSERT INTO submission (id, vendor_id, api_key_id, received_at, content_type, "
                "raw_body, body_sha256, mode, status, rows_total, rows_accepted, rows_rejected, "
                "response_status, report, request_sha256) VALUES (:id, :v, 'bench', :t, "
                "'application/json', '', '', 'all_or_nothing', 'accepted', 0, 0, 0, 201, "
                "CAST('{}' AS jsonb), '')"
            ),
            {"id": "bench-bulk", "v": ctx["vendor_id"], "t": datetime.now(UTC)},
        )
    sid = int(first)
    loaded = 0
    written: set[tuple[str, int]] = set()
    old, new = datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 2, 10, tzinfo=UTC)
    for chunk in batches(remaining, 500_000):
        series: list[SeriesRow] = []
        versions: list[VersionRow] = []
        for r in chunk:
            written.add((r.kpi, r.period.start.year))
            sid += 1
            org = ctx["org_ids"][r.organisation]
            series.append(series_row(sid, r, org))
            roll = rng.random()
            common = {"submission": "bench-bulk", "vendor": ctx["vendor_id"]}
            if roll < 0.02 or roll > 0.995:
                versions.append(
                    version_row(
                        sid,
                        r,
                        org,
                        1,
                        withdrawn=False,
                        current=False,
                        at=old,
                        superseded=new,
                        **common,
                    )
                )
                versions.append(
                    version_row(
                        sid,
                        r,
                        org,
                        2,
                        withdrawn=roll > 0.995,
                        current=True,
                        at=new,
                        superseded=None,
                        **common,
                    )
                )
            else:
                versions.append(
                    version_row(
                        sid,
                        r,
                        org,
                        1,
                        withdrawn=False,
                        current=True,
                        at=old,
                        superseded=None,
                        **common,
                    )
                )
        copy_rows(engine, "measurement_series", SERIES_COLUMNS, series)
        copy_rows(engine, "measurement_version", VERSION_COLUMNS, versions)
        loaded += len(chunk)
        log(f"bulk-loaded {loaded:,} rows")
    with engine.begin() as conn:
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('measurement_series', 'id'), "
                "(SELECT MAX(id) FROM measurement_series))"
            )
        )
    with Session(engine) as session, session.begin():
        bump_revisions(session, written)  # as the service does for what it writes
    return loaded
