"""The table printed after a run, from its result (the JSON written to bench/results/)."""

from __future__ import annotations

import io
from typing import Any


def report(result: dict[str, Any]) -> str:
    """The result of ``run`` as a table of text lines."""
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
