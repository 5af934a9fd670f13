"""Linked tables kept per KPI and year until their data change (aggregates/cache.py).

Each test counts the linked tables the service computes (per KPI and year), so that it shows
both what is served from the cache and that every write, correction, withdrawal or reference
change is seen by the very next request. Live figures: the publisher's.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from kpi_api import freshness
from kpi_api.aggregates import service
from kpi_api.aggregates.cache import TableCache
from kpi_api.freshness import AggregateRevision
from kpi_api.reference.loader import load as load_reference
from tests.aggregates.test_aggregates import get, parties, put  # noqa: F401 - fixture
from tests.submissions.conftest import row

SERIES = {"from": "2024-11", "to": "2025-02"}


@pytest.fixture
def spans(monkeypatch):
    """(first day, last day) of the year of every linked table the service computes."""
    seen: list[tuple[date, date]] = []
    real = service.compute

    def spy(session, **kwargs):
        year = kwargs["year"]
        seen.append((date(year, 1, 1), date(year, 12, 31)))
        return real(session, **kwargs)

    monkeypatch.setattr(service, "compute", spy)
    return seen


@pytest.fixture
def shown(app):
    """Every cell shown (no privacy thresholds), so values can be compared."""
    app.state.settings = app.state.settings.model_copy(
        update={
            "aggregate_min_organisations": 1,
            "aggregate_min_people": 0,
            "aggregate_dominance": 1.0,
        }
    )


def values(body):
    return {c["period"]: c["value"] for c in body["cells"]}


def seed(client, parties):  # noqa: F811
    put(
        client,
        parties,
        "ORG-A",
        [
            row(period="2024-11", value=10, record_id="1"),
            row(period="2024-12", value=11, record_id="2"),
            row(period="2025-01", value=12, record_id="3"),
            row(period="2025-02", value=13, record_id="4"),
        ],
    )


def test_a_repeated_query_is_answered_from_the_cache(client, parties, publisher, spans, shown):  # noqa: F811
    seed(client, parties)
    first = get(client, publisher, **SERIES)
    assert values(first) == {"2024-11": 10, "2024-12": 11, "2025-01": 12, "2025-02": 13}
    assert len(spans) == 2  # the tables of 2024 and 2025
    again = get(client, publisher, **SERIES)
    assert len(spans) == 2, "the second request must not aggregate again"
    assert again["cells"] == first["cells"]
    # A single period inside the series, and a shorter range, are in the cache as well.
    assert values(get(client, publisher, period="2025-01")) == {"2025-01": 12}
    assert values(get(client, publisher, **{"from": "2024-12", "to": "2025-01"})) == {
        "2024-12": 11,
        "2025-01": 12,
    }
    # Another level, dimension or boundaries is a selection from the same tables.
    get(client, publisher, level="province", **SERIES)
    get(client, publisher, boundaries="current", level="municipality", **SERIES)
    get(client, publisher, dimension="age_band", **SERIES)
    assert len(spans) == 2


def test_a_correction_is_seen_by_the_next_request_and_only_its_year_recomputed(
    client,
    parties,  # noqa: F811
    publisher,
    spans,
    shown,
):
    seed(client, parties)
    get(client, publisher, **SERIES)
    put(client, parties, "ORG-A", [row(period="2025-02", value=30, record_id="4")])
    assert values(get(client, publisher, **SERIES)) == {
        "2024-11": 10,
        "2024-12": 11,
        "2025-01": 12,
        "2025-02": 30,
    }
    # 2024 still comes from the cache; 2025's table is computed again.
    assert spans[2:] == [(date(2025, 1, 1), date(2025, 12, 31))]


def test_withdrawals_new_organisations_and_other_kpis(client, parties, publisher, spans, shown):  # noqa: F811
    seed(client, parties)
    get(client, publisher, **SERIES)
    put(client, parties, "ORG-A", [row(period="2024-12", value=None, withdraw=True)])
    assert "2024-12" not in values(get(client, publisher, **SERIES))
    put(client, parties, "ORG-B", [row(organisation="ORG-B", period="2025-01", value=5)])
    body = get(client, publisher, **SERIES)
    assert values(body)["2025-01"] == 17
    assert {c["period"]: c["organisations"] for c in body["cells"]}["2025-01"] == 2
    calls = len(spans)
    # Writing another KPI, or the same values again, leaves these figures cached.
    put(
        client,
        parties,
        "ORG-A",
        [row(kpi="IMP-FIN-01", period="2025-Q1", value=None, numerator=1, denominator=2)],
    )
    put(client, parties, "ORG-A", [row(period="2025-02", value=13, record_id="4")])
    get(client, publisher, **SERIES)
    assert len(spans) == calls


def test_no_cache_header_as_of_and_vendor_queries_are_always_computed(
    client,
    parties,  # noqa: F811
    publisher,
    spans,
    shown,
):
    seed(client, parties)
    put(client, parties, "ORG-B", [row(organisation="ORG-B", period="2025-01", value=5)])
    cached = get(client, publisher, level="province", **SERIES)
    again = get(client, publisher, level="province", **SERIES)
    assert again | {"generated_at": None} == cached | {"generated_at": None}
    assert len(spans) == 2
    response = client.get(
        "/v1/aggregates/ACT-01",
        params=SERIES | {"level": "province"},
        headers=publisher | {"Cache-Control": "no-cache"},
    )
    assert response.status_code == 200
    assert response.json()["cells"] == cached["cells"]
    get(client, publisher, **SERIES)
    assert len(spans) == 4
    latest = get(client, publisher, **SERIES)["latest_change"]
    get(client, publisher, as_of=latest, **SERIES)
    get(client, publisher, as_of=latest, **SERIES)
    vendor = parties["ORG-A"].headers
    get(client, vendor, **SERIES)
    get(client, vendor, **SERIES)
    assert len(spans) == 12


def test_loading_changed_reference_data_changes_every_revision(client, parties, db, tmp_path):  # noqa: F811
    seed(client, parties)
    before = dict(db.execute(select(AggregateRevision.year, AggregateRevision.revision)).all())
    assert set(before) == {2024, 2025}
    load_reference(db)  # unchanged data: nothing to recompute
    db.expire_all()
    same = dict(db.execute(select(AggregateRevision.year, AggregateRevision.revision)).all())
    assert same == before
    freshness.bump_all_revisions(db)
    db.expire_all()
    after = dict(db.execute(select(AggregateRevision.year, AggregateRevision.revision)).all())
    assert after.keys() == before.keys() and all(after[y] != before[y] for y in before)


def test_the_cache_keeps_at_most_its_rows_and_drops_the_least_recently_used():
    tables: TableCache[str] = TableCache(max_rows=3)
    tables.put(("k", 1), 7, 1, "one")
    tables.put(("k", 2), 7, 2, "two")
    assert tables.get(("k", 1), 7) == "one"  # 1 is now the most recently used
    tables.put(("k", 3), 7, 1, "three")
    assert tables.get(("k", 2), 7) is None and tables.get(("k", 1), 7) == "one"
    assert tables.get(("k", 1), 8) is None  # another revision: stale
    tables.clear()
    assert tables.get(("k", 3), 7) is None
