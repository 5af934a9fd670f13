"""A small run of the benchmark, so it cannot rot (the real runs are `python -m bench.run`)."""

from __future__ import annotations

import json

import pytest
from bench import run as bench

from tests.conftest import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
def test_benchmark_smoke_run(backend, tmp_path):
    output = tmp_path / "result.json"
    assert (
        bench.main(
            ["--setting", "smoke", "--backend", backend, "--repeat", "2", "--output", str(output)]
        )
        == 0
    )
    result = json.loads(output.read_text())
    ingest = result["ingest"]
    assert ingest["api"]["rows"] == 4_000 and ingest["api"]["rows_per_second"] > 0
    if backend == "postgresql":
        assert ingest["copy"]["rows"] == 4_000 and ingest["ratio_api_to_copy"] > 0
    names = [a["name"] for a in result["aggregates"]]
    assert len(names) == len(set(names)) >= 8
    assert all(a["api"]["p95_ms"] >= a["api"]["p50_ms"] > 0 for a in result["aggregates"])
    assert any(a["cells"] > 0 for a in result["aggregates"])
    assert result["catalogue"]["with_etag"]["requests_per_second"] > 0
    assert result["service_peak_memory_mb"] > 0
    assert "ratio API/COPY" in bench.report(result) or backend == "sqlite"
