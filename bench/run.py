"""Benchmark kpi-api against the database's own limits, side by side in one run.

    python -m bench.run --setting small              # PostgreSQL, a few minutes
    python -m bench.run --setting large              # PostgreSQL, ~10 million rows
    python -m bench.run --setting small --backend sqlite

Prints a table and writes bench/results/<setting>-<backend>.json. Absolute numbers vary with
the machine and its load; the ratios are measured in the same run and are what to compare.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.dataset import SETTINGS, Row, Setting, organisations, rows
from kpi_api import migrate
from kpi_api.auth import Role, create_key
from kpi_api.catalogue.loader import load as load_catalogue
from kpi_api.db import make_engine
from kpi_api.freshness import bump_revisions
from kpi_api.reference.loader import load as load_reference
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate
from kpi_api.submissions.repository import (  # the service's own COPY columns
    SERIES_COLUMNS,
    VERSION_COLUMNS,
)
from kpi_api.submissions.validation import disaggregation_key

RESULTS = Path(__file__).parent / "results"
BATCH = 10_000
ADMIN_URL = os.environ.get(
    "KPI_API_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the database and the service --------------------------------------------------------------


def fresh_database(backend: str, setting: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'bench-{setting}.db'}"
    name = f"kpi_bench_{setting}"
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(backend: str, setting: str) -> None:
    if backend != "postgresql":
        return
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "kpi_bench_{setting}" WITH (FORCE)'))
    admin.dispose()


def prepare(engine: Engine, setting: Setting) -> dict[str, Any]:
    """Schema, canonical data, one vendor for every organisation, and keys."""
    with Session(engine) as session, session.begin():
        load_reference(session)
        load_catalogue(session)
        vendor = registry.create_vendor(session, data=VendorCreate(name="Bench vendor"))
        org_ids = {}
        for org in organisations(setting):
            created = registry.create_organisation(
                session,
                data=OrganisationCreate(
                    code=org.code, name=org.code, municipalities=list(org.municipalities)
                ),
            )
            registry.authorise(session, vendor_id=vendor.id, code=created.code, grant=True)
        _, vendor_key = create_key(session, name="bench", role=Role.vendor, vendor_id=vendor.id)
        _, analyst_key = create_key(session, name="bench analyst", role=Role.analyst)
        _, publisher_key = create_key(session, name="bench publisher", role=Role.publisher)
        rows_ = session.execute(text("SELECT code, id FROM organisation")).all()
        org_ids = {code: oid for code, oid in rows_}
    return {
        "vendor_id": vendor.id,
        "vendor_key": vendor_key,
        "analyst_key": analyst_key,
        "publisher_key": publisher_key,
        "org_ids": org_ids,
    }


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real service: uvicorn in its own process, as deployed."""

    def __init__(self, url: str, workers: int = 1) -> None:
        self.port = free_port()
        env = os.environ | {
            "KPI_API_DATABASE_URL": url,
            "KPI_API_HOST": "127.0.0.1",
            "KPI_API_PORT": str(self.port),
            "KPI_API_RATE_LIMIT_PER_MINUTE": "0",
            "KPI_API_LOG_LEVEL": os.environ.get("KPI_API_BENCH_LOG_LEVEL", "warning"),
        }
        # As deployed: `kpi-api serve` (the database is migrated and loaded already).
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kpi_api.cli",
                "serve",
                "--no-migrate",
                "--no-load",
                "--workers",
                str(workers),
            ],
            env=env,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the service did not become ready")

    def peak_memory_mb(self) -> float:
        """Peak resident memory of the service: its process and, with workers, theirs summed."""
        pids = [self.process.pid, *_children(self.process.pid)]
        total = 0.0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- ingest ------------------------------------------------------------------------------------


def batches(items: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
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


def _series_tuple(sid: int, r: Row, org_id: str) -> tuple[Any, ...]:
    return (
        sid,
        org_id,
        r.kpi,
        r.period.code,
        r.period.type,
        r.period.start,
        r.period.end,
        r.municipality,
        disaggregation_key(r.disaggregation),
        json.dumps(r.disaggregation),
    )


def _version_tuple(
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
) -> tuple[Any, ...]:
    value = r.value
    if r.aggregation == "ratio_of_sums":
        value = 100.0 * r.numerator / r.denominator  # type: ignore[operator]
    if withdrawn:
        value = None
    return (
        sid,
        org_id,
        r.kpi,
        r.period.type,
        r.period.start,
        r.period.end,
        r.municipality,
        disaggregation_key(r.disaggregation),
        version,
        1,
        withdrawn,
        value,
        None if withdrawn else r.numerator,
        None if withdrawn else r.denominator,
        None if withdrawn else r.n,
        None,
        None,
        submission,
        vendor,
        at,
        superseded,
        current,
    )


def _copy_text(
    conn: Connection, table: str, columns: tuple[str, ...], tuples: Iterable[tuple]
) -> None:
    """COPY pre-formatted rows into a table, in the connection's transaction."""
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for t in tuples:
            copy.write_row(t)


def copy_rows(
    engine: Engine, table: str, columns: tuple[str, ...], tuples: Iterable[tuple]
) -> None:
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
    with engine.begin() as conn:
        for table in BARE_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS bare_{table}"))


def raw_copy_ingest(
    engine: Engine, ctx: dict[str, Any], chunks: list[list[Row]], streams: int, first_id: int
) -> dict[str, Any]:
    """COPY the same rows, pre-formatted, into the bare tables: one transaction per batch, from
    ``streams`` connections at once, as the API gets them."""
    now = datetime.now(UTC)
    prepared = []
    sid = first_id
    for chunk in chunks:
        series, versions = [], []
        for r in chunk:
            sid += 1
            org = ctx["org_ids"][r.organisation]
            series.append(_series_tuple(sid, r, org))
            versions.append(
                _version_tuple(
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
        prepared.append((series, versions))

    def copy_batch(batch: tuple[list[tuple], list[tuple]]) -> None:
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
    submitted): 2 % of the measurements corrected once, 0.5 % withdrawn."""
    import random

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
        series, versions = [], []
        for r in chunk:
            written.add((r.kpi, r.period.start.year))
            sid += 1
            org = ctx["org_ids"][r.organisation]
            series.append(_series_tuple(sid, r, org))
            roll = rng.random()
            common = {"submission": "bench-bulk", "vendor": ctx["vendor_id"]}
            if roll < 0.02 or roll > 0.995:
                versions.append(
                    _version_tuple(
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
                    _version_tuple(
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
                    _version_tuple(
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


# --- aggregates --------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))],
    }


def naive_sql(
    kpi: str,
    level: str,
    period_type: str,
    start: str,
    end: str,
    dimension: str | None,
    area: str | None,
) -> tuple[str, dict[str, Any]]:
    """The straightforward GROUP BY over the raw tables that gives the same answers."""
    area_expr = {
        "national": "'NL01'",
        "province": "m.province_code",
        "municipality": "s.municipality_code",
    }[level]
    bucket = {
        "year": "EXTRACT(YEAR FROM s.period_start)",
        "quarter": "EXTRACT(YEAR FROM s.period_start) * 10 + EXTRACT(QUARTER FROM s.period_start)",
        "month": "EXTRACT(YEAR FROM s.period_start) * 100 + EXTRACT(MONTH FROM s.period_start)",
    }[period_type]
    dim = (
        "s.disaggregation_key = ''"
        if dimension is None
        else (f"s.disaggregation_key LIKE '{dimension}=%' AND s.disaggregation_key NOT LIKE '%;%'")
    )
    where_area = "" if area is None else f"AND s.municipality_code = '{area}'"
    sql = f"""
        SELECT {area_expr} AS area, {bucket} AS bucket, s.disaggregation_key,
               SUM(v.value), SUM(v.numerator), SUM(v.denominator), SUM(v.value * v.n), SUM(v.n),
               COUNT(DISTINCT s.organisation_id), COUNT(DISTINCT s.municipality_code)
        FROM measurement_version v
        JOIN measurement_series s ON s.id = v.series_id
        JOIN municipality m ON m.code = s.municipality_code
        WHERE s.kpi_code = :kpi AND v.is_current AND NOT v.withdrawn AND {dim}
          AND s.period_start >= :start AND s.period_end <= :end {where_area}
        GROUP BY 1, 2, 3"""
    return sql, {"kpi": kpi, "start": start, "end": end}


def aggregate_queries(setting: Setting) -> list[dict[str, Any]]:
    first, last = setting.years[0], setting.years[-1]
    mid = setting.years[len(setting.years) // 2]
    q = [
        ("national, one quarter", "ACT-01", "national", {"period": f"{mid}-Q2"}, "quarter", False),
        (
            "provincial, one quarter",
            "ACT-01",
            "province",
            {"period": f"{mid}-Q2"},
            "quarter",
            False,
        ),
        (
            "municipal, one quarter",
            "ACT-01",
            "municipality",
            {"period": f"{mid}-Q2"},
            "quarter",
            False,
        ),
        ("national %, one year", "IMP-FIN-01", "national", {"period": str(mid)}, "year", False),
        (
            "national, series of all months",
            "ACT-01",
            "national",
            {"from": f"{first}-01", "to": f"{last}-12"},
            "month",
            True,
        ),
        (
            "provincial, series of all months",
            "ACT-01",
            "province",
            {"from": f"{first}-01", "to": f"{last}-12"},
            "month",
            True,
        ),
        (
            "national by age band, series of all months",
            "ACT-01",
            "national",
            {"from": f"{first}-01", "to": f"{last}-12", "dimension": "age_band"},
            "month",
            True,
        ),
        (
            "one municipality, series of all months",
            "ACT-01",
            "municipality",
            {"from": f"{first}-01", "to": f"{last}-12", "area": "GM0363"},
            "month",
            True,
        ),
        (
            "provincial %, series of all quarters",
            "IMP-FIN-01",
            "province",
            {"from": f"{first}-Q1", "to": f"{last}-Q4"},
            "quarter",
            True,
        ),
    ]
    return [
        {"name": n, "kpi": k, "level": lvl, "params": p, "period_type": t, "heavy": h}
        for n, k, lvl, p, t, h in q
    ]


def _correction(engine: Engine, kpi: str, year: int) -> dict[str, Any] | None:
    """A current total of the KPI in that year, as a row that submits it again."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT o.code, s.municipality_code, s.period, v.value, v.numerator, "
                "v.denominator, v.n FROM measurement_version v "
                "JOIN measurement_series s ON s.id = v.series_id "
                "JOIN organisation o ON o.id = s.organisation_id "
                "WHERE v.kpi_code = :k AND v.is_current AND NOT v.withdrawn "
                "AND v.disaggregation_key = '' AND v.period_start >= :a AND v.period_start < :b "
                "ORDER BY v.id LIMIT 1"
            ),
            {"k": kpi, "a": date(year, 1, 1), "b": date(year + 1, 1, 1)},
        ).first()
    if found is None:
        return None
    org, muni, period, value, numerator, denominator, n = found
    out: dict[str, Any] = {"kpi": kpi, "organisation": org, "municipality": muni, "period": period}
    if numerator is not None:
        return out | {"numerator": numerator, "denominator": denominator}
    if n is not None:
        return out | {"mean": value, "n": n}
    return out | {"value": value}


def _changed(row: dict[str, Any], i: int) -> dict[str, Any]:
    """The row with its figure changed (odd i) or back as it was (even i)."""
    if i % 2 == 0:
        return row
    if "denominator" in row:
        return row | {"denominator": row["denominator"] + 1}
    if "n" in row:
        return row | {"n": row["n"] + 1}
    return row | {"value": row["value"] + 1}


def bench_releases(server: Server, publisher_key: str, setting: Setting) -> list[dict[str, Any]]:
    """Release every year of the KPIs the aggregate queries read, one KPI and year at a time:
    each computes that KPI's linked table and its suppression pattern, and stores it."""
    out = []
    kpis = sorted({q["kpi"] for q in aggregate_queries(setting)})
    headers = {"Authorization": f"Bearer {publisher_key}"}
    with httpx.Client(base_url=server.base, timeout=3600, headers=headers) as client:
        for year in setting.years:
            for kpi in kpis:
                started = time.perf_counter()
                response = client.post(
                    "/v1/figure-releases", json={"period": str(year), "kpis": [kpi]}
                )
                seconds = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(f"release {kpi} {year}: {response.text[:300]}")
                body = response.json()["kpis"][0]
                out.append(
                    {
                        "kpi": kpi,
                        "year": year,
                        "seconds": seconds,
                        "cells": body["cells"],
                        "suppressed": body["suppressed"],
                    }
                )
                log(
                    f"release {kpi} {year}: {seconds:.1f} s, {body['cells']:,} cells "
                    f"({body['suppressed']:,} suppressed)"
                )
    return out


def bench_aggregates(
    server: Server,
    engine: Engine,
    keys: dict[str, str],
    setting: Setting,
    repeat: int,
) -> list[dict[str, Any]]:
    """Per query: p50/p95 of released figures as analysts read them (a lookup); of live
    figures (the publisher's) with their linked tables kept ("warm"), computed afresh ("cold",
    `Cache-Control: no-cache`) and right after a correction in the query's last year
    ("changed": that year's table is recomputed, the others are kept); next to the naive
    GROUP BY over the raw table."""
    out = []
    headers = {"Authorization": f"Bearer {keys['publisher']}"}
    with (
        httpx.Client(base_url=server.base, timeout=600, headers=headers) as client,
        httpx.Client(
            base_url=server.base,
            timeout=120,
            headers={"Authorization": f"Bearer {keys['analyst']}"},
        ) as analyst,
        httpx.Client(
            base_url=server.base, timeout=120, headers={"Authorization": f"Bearer {keys['vendor']}"}
        ) as vendor,
    ):
        for query in aggregate_queries(setting):
            params = {"level": query["level"], **query["params"]}
            url = f"/v1/aggregates/{query['kpi']}"

            def call(url: str = url, params: dict[str, Any] = params, fresh: bool = False) -> None:
                extra = {"Cache-Control": "no-cache"} if fresh else {}
                response = client.get(url, params=params, headers=extra)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{url} {params}: {response.status_code} {response.text[:300]}"
                    )

            def read(url: str = url, params: dict[str, Any] = params) -> None:
                response = analyst.get(url, params=params)
                if response.status_code != 200 or not response.json()["releases"]:
                    raise RuntimeError(
                        f"{url} {params}: no released figures: {response.text[:300]}"
                    )

            released = timed(read, repeat)
            api = timed(call, repeat)
            cold = timed(lambda call=call: call(fresh=True), 1 if setting.name == "large" else 2)
            p = query["params"]
            start = p.get("period") or p["from"]
            end = p.get("period") or p["to"]
            from kpi_api.periods import parse_period

            last_year = parse_period(end).start.year
            correction = _correction(engine, query["kpi"], last_year)
            changed = None
            if correction is not None:
                samples = []
                for i in range(2 if setting.name == "large" else 3):
                    response = vendor.post(
                        "/v1/submissions", json={"measurements": [_changed(correction, i)]}
                    )
                    if response.status_code != 201:
                        raise RuntimeError(f"correction refused: {response.text[:300]}")
                    started = time.perf_counter()
                    call()
                    samples.append((time.perf_counter() - started) * 1000)
                changed = _percentiles(samples)
            sql, binds = naive_sql(
                query["kpi"],
                query["level"],
                query["period_type"],
                str(parse_period(start).start),
                str(parse_period(end).end),
                p.get("dimension"),
                p.get("area"),
            )
            if engine.dialect.name == "sqlite":
                naive = {"p50_ms": float("nan"), "p95_ms": float("nan")}
            else:

                def run_naive(sql: str = sql, binds: dict[str, Any] = binds) -> None:
                    with engine.connect() as conn:
                        conn.execute(text(sql), binds).all()

                naive = timed(run_naive, max(3, repeat // 4))
            cells = len(client.get(url, params=params).json()["cells"])
            out.append(
                {
                    **query,
                    "cells": cells,
                    "released": released,
                    "api": api,
                    "api_cold": cold,
                    "api_after_change": changed,
                    "naive": naive,
                    "speedup_p50": naive["p50_ms"] / api["p50_ms"],
                    "speedup_cold_p50": naive["p50_ms"] / cold["p50_ms"],
                    "speedup_after_change_p50": (
                        naive["p50_ms"] / changed["p50_ms"] if changed else None
                    ),
                }
            )
            log(
                f"aggregate {query['name']}: p95 released {released['p95_ms']:.1f} ms, "
                f"warm {api['p95_ms']:.1f} ms, cold "
                f"{cold['p95_ms']:.1f} ms, after a change "
                f"{changed['p95_ms'] if changed else float('nan'):.1f} ms; "
                f"naive p50 {naive['p50_ms']:.1f} ms"
            )
    return out


def bench_catalogue(server: Server, requests: int) -> dict[str, Any]:
    out = {}
    with httpx.Client(base_url=server.base, timeout=30) as client:
        etag = client.get("/v1/kpis", params={"limit": 100}).headers["ETag"]
        for name, headers, expected in (
            ("without_etag", {}, 200),
            ("with_etag", {"If-None-Match": etag}, 304),
        ):
            samples = []
            started = time.perf_counter()
            for _ in range(requests):
                t = time.perf_counter()
                response = client.get("/v1/kpis", params={"limit": 100}, headers=headers)
                samples.append((time.perf_counter() - t) * 1000)
                assert response.status_code == expected, response.status_code
            total = time.perf_counter() - started
            samples.sort()
            out[name] = {
                "requests_per_second": requests / total,
                "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            }
    return out


# --- the run -----------------------------------------------------------------------------------


def run(setting_name: str, backend: str, repeat: int, keep: bool, streams: int) -> dict[str, Any]:
    setting = SETTINGS[setting_name]
    workdir = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    url = fresh_database(backend, setting_name, workdir)
    log(f"database ready: {backend}")
    migrate.upgrade(url)
    engine = make_engine(url, poolclass=NullPool)
    ctx = prepare(engine, setting)
    dataset = rows(setting)
    api_chunks = (
        list(islice(batches(dataset, setting.batch_rows), setting.api_batches))
        if setting.api_batches
        else list(batches(dataset, setting.batch_rows))
    )
    server = Server(url, workers=streams)
    result: dict[str, Any] = {
        "setting": asdict(setting),
        "backend": backend,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "service_workers": streams,
    }
    try:
        result["ingest"] = ingest(server, url, ctx, api_chunks, backend, streams)
        if setting.api_batches is not None and backend == "postgresql":
            log("bulk-loading the rest of the data set")
            result["bulk_loaded_rows"] = bulk_load(engine, ctx, dataset)
        if backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            with engine.connect() as conn:
                result["measurement_versions"] = conn.execute(
                    text("SELECT COUNT(*) FROM measurement_version")
                ).scalar()
        log("figure releases")
        result["releases"] = bench_releases(server, ctx["publisher_key"], setting)
        log("aggregates")
        keys = {
            "analyst": ctx["analyst_key"],
            "publisher": ctx["publisher_key"],
            "vendor": ctx["vendor_key"],
        }
        result["aggregates"] = bench_aggregates(server, engine, keys, setting, repeat)
        log("catalogue reads")
        result["catalogue"] = bench_catalogue(server, max(50, repeat * 10))
        result["service_peak_memory_mb"] = server.peak_memory_mb()
    finally:
        server.stop()
        engine.dispose()
        if not keep:
            drop_database(backend, setting_name)
    return result


def report(result: dict[str, Any]) -> str:
    out = io.StringIO()
    w = out.write
    w(
        f"kpi-api benchmark: setting {result['setting']['name']}, {result['backend']}, "
        f"{result['date']}, {result['machine']['cpus']} CPUs\n"
    )
    for name, phase in result["ingest"].items():
        if not isinstance(phase, dict):
            continue
        api = phase["api"]
        w(
            f"ingest  {name:10} API  {api['rows_per_second']:>9,.0f} rows/s "
            f"({api['rows']:,} rows, {api['batches']} batches of {result['ingest']['batch_rows']:,}, "
            f"{api['streams']} stream(s), {result['service_workers']} workers)\n"
        )
        if "copy" in phase:
            w(
                f"ingest  {name:10} COPY {phase['copy']['rows_per_second']:>9,.0f} rows/s "
                "(same rows, bare tables)\n"
            )
            w(f"ingest  {name:10} ratio API/COPY {phase['ratio_api_to_copy']:.2f}  (goal >= 0.5)\n")
    if "measurement_versions" in result:
        w(f"data    {result['measurement_versions']:,} measurement versions\n")
    releases = result.get("releases", [])
    if releases:
        slowest = max(releases, key=lambda r: r["seconds"])
        w(
            f"release {len(releases)} KPI-years: median "
            f"{sorted(r['seconds'] for r in releases)[len(releases) // 2]:.1f} s, slowest "
            f"{slowest['seconds']:.1f} s ({slowest['kpi']} {slowest['year']}, "
            f"{slowest['cells']:,} cells)\n"
        )
    w(
        "aggregates, p95 ms through the API: released (analysts), live warm (kept), cold\n"
        "(no-cache), after a change in the last year; speed-up = naive p50 / API p50\n"
    )
    w(
        f"{'query':44} {'cells':>5} {'rel':>6} {'warm':>6} {'cold':>7} {'changed':>7} "
        f"{'naive':>7} {'x warm':>7} {'x cold':>7} {'x chg':>6}\n"
    )
    for a in result["aggregates"]:
        changed = a["api_after_change"]
        w(
            f"{a['name'][:43] + ('*' if a['heavy'] else ''):44} {a['cells']:>5} "
            f"{a['released']['p95_ms']:>6.1f} "
            f"{a['api']['p95_ms']:>6.1f} {a['api_cold']['p95_ms']:>7.1f} "
            f"{changed['p95_ms'] if changed else float('nan'):>7.1f} "
            f"{a['naive']['p50_ms']:>7.1f} {a['speedup_p50']:>6.1f}x "
            f"{a['speedup_cold_p50']:>6.1f}x "
            f"{a['speedup_after_change_p50'] or float('nan'):>5.1f}x\n"
        )
    w("(* heavy)\n")
    cat = result["catalogue"]
    for name, c in cat.items():
        w(
            f"GET /v1/kpis {name:13} {c['requests_per_second']:>8.0f} req/s  p95 {c['p95_ms']:.1f} ms\n"
        )
    w(f"service peak memory {result['service_peak_memory_mb']:.0f} MB\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="small")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--repeat", type=int, default=30, help="samples per aggregate query")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--streams",
        type=int,
        default=2,
        help="service workers, and clients (and COPY connections) of the concurrent ingest",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/...)")
    args = parser.parse_args(argv)
    result = run(args.setting, args.backend, args.repeat, args.keep, args.streams)
    output = args.output or RESULTS / f"{args.setting}-{args.backend}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(report(result))
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
