"""Publication precision and value limits of a KPI version: defaults, reads, the functions other
domains call."""

from __future__ import annotations

import dataclasses

import pytest

from kpi_api.catalogue.loader import read_files
from kpi_api.catalogue.service import (
    KpiSpec,
    effective_count_max,
    effective_value_max,
    published_decimals,
)

FILES = read_files()

SPEC = KpiSpec(
    code="X-01",
    version=1,
    published=True,
    value_type="count",
    aggregation="sum",
    time_aggregation="sum",
    period_types=frozenset({"year"}),
    dimensions=(),
    range_min=0.0,
    range_max=None,
    deprecated_from=None,
    successor=None,
)


@pytest.mark.parametrize(
    ("value_type", "decimals"),
    [("count", 0), ("amount_eur", 2), ("percentage", 1), ("score", 2), ("duration_days", 1)],
)
def test_a_version_without_decimals_takes_its_value_types_default(value_type, decimals):
    spec = dataclasses.replace(SPEC, value_type=value_type)
    assert published_decimals(spec) == decimals
    assert published_decimals(dataclasses.replace(spec, decimals=4)) == 4


def test_the_count_limit_defaults_to_ten_million():
    assert effective_count_max(SPEC) == 10_000_000
    assert effective_count_max(dataclasses.replace(SPEC, count_max=250)) == 250


@pytest.mark.parametrize(
    ("changes", "high"),
    [
        ({}, 10_000_000),  # a count: the count limit
        ({"range_max": 500.0}, 500),  # ... or its range.max, whichever is lower
        ({"range_max": 500.0, "count_max": 300}, 300),
        ({"value_type": "percentage", "range_max": 100.0}, 100),
        ({"value_type": "score", "range_min": 1.0, "range_max": 5.0}, 5),
        ({"value_type": "duration_days", "range_max": 3650.0}, 3650),
        ({"value_type": "amount_eur", "range_max": 1e9}, 1e9),  # not capped by the count limit
        ({"value_type": "amount_eur"}, 10_000_000),  # a version from before range.max was needed
        ({"value_type": "amount_eur", "count_max": 70}, 70),
    ],
)
def test_every_value_has_a_finite_maximum(changes, high):
    assert effective_value_max(dataclasses.replace(SPEC, **changes)) == high


def test_kpi_reads_show_the_effective_precision_and_limits(client):
    items = client.get("/v1/kpis", params={"limit": 500}).json()["items"]
    assert len(items) == len(FILES.kpis) == 60
    expected = {k.code: k for k in FILES.kpis}
    for item in items:
        k = expected[item["code"]]
        assert item["decimals"] == k.decimals
        assert item["count_max"] == 10_000_000
        assert item["range"] == {"min": k.range.min, "max": k.range.max}
    one = client.get("/v1/kpis/IMP-FIN-04").json()
    assert (one["decimals"], one["count_max"], one["range"]["max"]) == (2, 10_000_000, 1e8)
    assert client.get("/v1/kpis/ACT-02/versions/1").json()["range"]["max"] == 1e9


def test_the_openapi_schema_documents_both_fields_with_their_units(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("KpiRead", "KpiDetail"):
        read = schemas[name]
        assert {"decimals", "count_max"} <= set(read["required"])
        assert "percentage" in read["properties"]["decimals"]["description"]
        assert "n" in read["properties"]["count_max"]["description"]
    create = schemas["KpiCreate"]["properties"]
    assert create["decimals"]["anyOf"][0] == {"type": "integer", "maximum": 6, "minimum": 0}
    assert create["count_max"]["anyOf"][0] == {
        "type": "integer",
        "maximum": 1_000_000_000,
        "minimum": 1,
    }
