"""Figure releases: the time to release one KPI-year (its linked table and suppression
pattern, computed and stored)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.aggregates import aggregate_queries
from bench.dataset import Setting
from bench.harness import Server, log


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
