"""Aggregate queries: released figures as analysts read them, live figures warm, cold and
right after a correction, each next to the naive GROUP BY over the raw tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
from sqlalchemy import Engine, text

from bench.dataset import Setting
from bench.harness import Server, log
from kpi_api.periods import parse_period


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Call ``fn`` once to warm up, then ``repeat`` times; p50 and p95 in milliseconds."""
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def _percentiles(samples: list[float]) -> dict[str, float]:
    """``p50_ms`` and ``p95_ms`` of samples in milliseconds."""
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
    """The queries measured, over the setting's years: each a dict of ``name``, ``kpi``,
    ``level``, query ``params``, the ``period_type`` of its cells and whether it is ``heavy``."""
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
