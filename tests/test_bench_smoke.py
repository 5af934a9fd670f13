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
    phases = [ingest["sequential"], ingest["concurrent"]]
    assert ingest["batch_rows"] == 1_000
    assert [p["api"]["streams"] for p in phases] == [1, 2]
    assert sum(p["api"]["rows"] for p in phases) == 4_000
    assert all(p["api"]["rows_per_second"] > 0 for p in phases)
    if backend == "postgresql":
        assert [p["copy"]["rows"] for p in phases] == [p["api"]["rows"] for p in phases]
        assert all(p["ratio_api_to_copy"] > 0 for p in phases)
    names = [a["name"] for a in result["aggregates"]]
    assert len(names) == len(set(names)) >= 8
    assert all(a["api"]["p95_ms"] >= a["api"]["p50_ms"] > 0 for a in result["aggregates"])
    assert any(a["cells"] > 0 for a in result["aggregates"])
    assert result["catalogue"]["with_etag"]["requests_per_second"] > 0
    assert result["service_peak_memory_mb"] > 0
    assert "ratio API/COPY" in bench.report(result) or backend == "sqlite"
