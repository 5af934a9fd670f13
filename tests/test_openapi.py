"""The committed OpenAPI document must match the app."""

from __future__ import annotations

from pathlib import Path

from kpi_api.openapi import render

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_openapi_document_is_in_sync():
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "openapi/openapi.json is out of date: run `kpi-api openapi` and commit it"
    )


def test_every_operation_with_input_documents_its_problems():
    import json

    spec = json.loads(render())
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if path.startswith("/v1") and (op.get("parameters") or op.get("requestBody")):
                assert "422" in op["responses"], (method, path)
                problem = op["responses"]["422"]["content"]
                assert "application/problem+json" in problem, (method, path)
