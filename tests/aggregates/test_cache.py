"""Figures kept per period until their data change (aggregates/cache.py).

Each test counts the aggregation queries the service sends to the database (and the spans they
cover), so that it shows both what is served from the cache and that every write, correction,
withdrawal or reference change is seen by the very next request.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from kpi_api.aggregates import cache as cache_module
from kpi_api.aggregates import repository as repo
from kpi_api.aggregates.cache import FigureCache
from kpi_api.aggregates.models import AggregateRevision
from kpi_api.periods import parse_period
from kpi_api.reference.loader import load as load_reference
from tests.aggregates.test_aggregates import get, parties, put  # noqa: F401 - fixture
from tests.submissions.conftest import row

SERIES = {"from": "2024-11", "to": "2025-02"}


@pytest.fixture
def spans(monkeypatch):
    """The (start, end) of every aggregation query the service runs."""
    seen: list[tuple[date, date]] = []
    real = repo.aggregate

    def spy(session, q):
        seen.append((q.start, q.end))
        return real(session, q)

    monkeypatch.setattr(cache_module.repo, "aggregate", spy)
    return seen


@pytest.fixture
def shown(app):
    """Every cell shown (no privacy thresholds), so values can be compared."""
    app.state.settings = app.state.settings.model_copy(
        update={"aggregate_min_organisations": 1, "aggregate_min_people": 0}
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


def test_a_repeated_query_is_answered_from_the_cache(client, parties, analyst, spans, shown):  # noqa: F811
    seed(client, parties)
    first = get(client, analyst, **SERIES)
    assert values(first) == {"2024-11": 10, "2024-12": 11, "2025-01": 12, "2025-02": 13}
    assert len(spans) == 1
    again = get(client, analyst, **SERIES)
    assert len(spans) == 1, "the second request must not aggregate again"
    assert again["cells"] == first["cells"]
    # A single period inside the series, and a shorter range, are in the cache as well.
    assert values(get(client, analyst, period="2025-01")) == {"2025-01": 12}
    assert values(get(client, analyst, **{"from": "2024-12", "to": "2025-01"})) == {
        "2024-12": 11,
        "2025-01": 12,
    }
    assert len(spans) == 1
    # Another level, dimension or boundaries is another query.
    get(client, analyst, level="province", **SERIES)
    get(client, analyst, boundaries="current", **SERIES)
    assert len(spans) == 3


def test_a_correction_is_seen_by_the_next_request_and_only_its_year_recomputed(
    client,
    parties,  # noqa: F811
    analyst,
    spans,
    shown,
):
    seed(client, parties)
    get(client, analyst, **SERIES)
    put(client, parties, "ORG-A", [row(period="2025-02", value=30, record_id="4")])
    assert values(get(client, analyst, **SERIES)) == {
        "2024-11": 10,
        "2024-12": 11,
        "2025-01": 12,
        "2025-02": 30,
    }
    # 2024 still comes from the cache; 2025's months are computed again, in one query.
    assert spans[1:] == [(date(2025, 1, 1), date(2025, 2, 28))]


def test_withdrawals_new_organisations_and_other_kpis(client, parties, analyst, spans, shown):  # noqa: F811
    seed(client, parties)
    get(client, analyst, **SERIES)
    put(client, parties, "ORG-A", [row(period="2024-12", value=None, withdraw=True)])
    assert "2024-12" not in values(get(client, analyst, **SERIES))
    put(client, parties, "ORG-B", [row(organisation="ORG-B", period="2025-01", value=5)])
    body = get(client, analyst, **SERIES)
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
    get(client, analyst, **SERIES)
    assert len(spans) == calls


def test_no_cache_header_as_of_and_vendor_queries_are_always_computed(
    client,
    parties,  # noqa: F811
    analyst,
    spans,
    shown,
):
    seed(client, parties)
    put(client, parties, "ORG-B", [row(organisation="ORG-B", period="2025-01", value=5)])
    cached = get(client, analyst, level="province", **SERIES)
    again = get(client, analyst, level="province", **SERIES)
    assert again | {"generated_at": None} == cached | {"generated_at": None}
    assert len(spans) == 1
    response = client.get(
        "/v1/aggregates/ACT-01",
        params=SERIES | {"level": "province"},
        headers=analyst | {"Cache-Control": "no-cache"},
    )
    assert response.status_code == 200
    assert response.json()["cells"] == cached["cells"]
    get(client, analyst, **SERIES)
    assert len(spans) == 3
    latest = get(client, analyst, **SERIES)["latest_change"]
    get(client, analyst, as_of=latest, **SERIES)
    get(client, analyst, as_of=latest, **SERIES)
    vendor = parties["ORG-A"].headers
    get(client, vendor, **SERIES)
    get(client, vendor, **SERIES)
    assert len(spans) == 7


def test_loading_changed_reference_data_changes_every_revision(client, parties, db, tmp_path):  # noqa: F811
    seed(client, parties)
    before = dict(db.execute(select(AggregateRevision.year, AggregateRevision.revision)).all())
    assert set(before) == {2024, 2025}
    load_reference(db)  # unchanged data: nothing to recompute
    db.expire_all()
    same = dict(db.execute(select(AggregateRevision.year, AggregateRevision.revision)).all())
    assert same == before
    repo.bump_all_revisions(db)
    db.expire_all()
    after = dict(db.execute(select(AggregateRevision.year, AggregateRevision.revision)).all())
    assert after.keys() == before.keys() and all(after[y] != before[y] for y in before)


def test_the_cache_keeps_at_most_its_rows_and_drops_the_least_recently_used():
    figures = FigureCache(max_rows=3)
    one = (object(),)
    figures.put(("q", 1), 7, one)  # type: ignore[arg-type]
    figures.put(("q", 2), 7, one + one)  # type: ignore[arg-type]
    assert figures.get(("q", 1), 7) == one  # 1 is now the most recently used
    figures.put(("q", 3), 7, one)  # type: ignore[arg-type]
    assert figures.get(("q", 2), 7) is None and figures.get(("q", 1), 7) == one
    assert figures.get(("q", 1), 8) is None  # another revision: stale
    figures.clear()
    assert figures.get(("q", 3), 7) is None


@pytest.mark.parametrize(
    ("period_type", "bucket", "code"),
    [("year", 2025, "2025"), ("quarter", 20253, "2025-Q3"), ("month", 202411, "2024-11")],
)
def test_buckets_are_keyed_by_their_periods(period_type, bucket, code):
    period = parse_period(code)
    assert repo.bucket_of(period_type, period.start.year, period.start.month) == bucket
