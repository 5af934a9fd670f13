"""Benchmark kpi-api against the database's own limits, side by side in one run.

    python -m bench.run --setting small              # PostgreSQL, a few minutes
    python -m bench.run --setting large              # PostgreSQL, ~10 million rows
    python -m bench.run --setting small --backend sqlite

Prints a table and writes bench/results/<setting>-<backend>.json. Absolute numbers vary with
the machine and its load; the ratios are measured in the same run and are what to compare.
"""

# What is measured lives in one module each: ``ingest`` (API against COPY, bulk load),
# ``releases``, ``aggregates`` and ``catalogue``; ``harness`` makes the database and runs the
# service, ``report`` prints the table. (Not in the docstring: it is the --help text.)

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from bench.aggregates import bench_aggregates
from bench.catalogue import bench_catalogue
from bench.dataset import SETTINGS, rows
from bench.harness import Server, drop_database, fresh_database, log, prepare
from bench.ingest import batches, bulk_load, ingest
from bench.releases import bench_releases
from bench.report import report
from kpi_api import migrate
from kpi_api.db import make_engine

__all__ = ["main", "report", "run"]

RESULTS = Path(__file__).parent / "results"


def run(setting_name: str, backend: str, repeat: int, keep: bool, streams: int) -> dict[str, Any]:
    """Measure everything on a fresh database; the result as written to bench/results/ (keys
    ``ingest``, ``releases``, ``aggregates``, ``catalogue``, ... ; times in seconds or ms as
    their names say). The database is dropped afterwards unless ``keep``."""
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


def main(argv: list[str] | None = None) -> int:
    """The command line: run, write the result as JSON, print the table; 0 on success."""
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
