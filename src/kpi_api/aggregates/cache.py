"""Figures per period, computed once per change of the data behind them.

Aggregating a five-year monthly series reads ~10^5 measurements; the answer changes only when a
measurement of that KPI in one of those years is written. So each process keeps the database's
answer per period (bucket) and query shape, tagged with the revision of the KPI's year it was
computed at (``aggregate_revision``, changed in the same transaction as every write). A request
reads the revisions of its years (one indexed query), takes every period whose revision still
matches from here and computes only the others, in one query over their span.

Correctness does not depend on timing: the revisions are read before the figures are computed,
so a figure is never older than the revision it is stored under; a write committed in between
changes the revision, and the next request recomputes. Figures as of a past moment and figures
of one vendor's organisations are not cached (the first are cheap to keep exact, the second
depend on authorisations). Suppression, coverage and notes are applied per request, after this.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from kpi_api.aggregates import repository as repo
from kpi_api.periods import Period

#: Figures (rows) kept per process, about 250 bytes each; the least recently used periods are
#: dropped beyond that.
DEFAULT_MAX_ROWS = 200_000


class FigureCache:
    """Rows of ``repository.aggregate`` per (query shape, bucket), with their revision."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._entries: OrderedDict[tuple, tuple[int, tuple[repo.Row, ...]]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, revision: int) -> tuple[repo.Row, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, revision: int, rows: tuple[repo.Row, ...]) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._rows -= len(old[1])
            self._entries[key] = (revision, rows)
            self._rows += len(rows)
            while self._rows > self.max_rows and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._rows -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._rows = 0


def cacheable(q: repo.Query) -> bool:
    return q.as_of is None and q.vendor_id is None


def figures(
    session: Session,
    q: repo.Query,
    periods: Mapping[int, Period],
    cache: FigureCache | None,
) -> list[repo.Row]:
    """``repository.aggregate`` for the periods of ``q`` (by bucket, see
    ``repository.bucket_of``), from the cache where still valid."""
    if cache is None or not cacheable(q) or not periods:
        return repo.aggregate(session, q)
    shape = replace(q, start=date.min, end=date.min)  # the query without its range
    revisions = repo.revisions(session, q.kpi, {p.start.year for p in periods.values()})
    out: list[repo.Row] = []
    missing = []
    for b, period in periods.items():
        rows = cache.get((shape, b), revisions.get(period.start.year, 0))
        if rows is None:
            missing.append(b)
        else:
            out.extend(rows)
    if missing:
        first, last = periods[min(missing)], periods[max(missing)]
        span = replace(q, start=first.start, end=last.end)
        fresh: dict[int, list[repo.Row]] = defaultdict(list)
        for row in repo.aggregate(session, span):
            fresh[row.bucket].append(row)
        for b in missing:
            rows = tuple(fresh.get(b, ()))
            cache.put((shape, b), revisions.get(periods[b].start.year, 0), rows)
            out.extend(rows)
    return out
