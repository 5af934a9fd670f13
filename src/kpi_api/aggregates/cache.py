"""Linked tables with their suppression pattern, computed once per change of their data.

A KPI's figures for a year and the pattern that protects them are computed together over the
whole linked table (see ``linked`` and ``disclosure``); the answer changes only when a
measurement of that KPI in that year is written. So each process keeps the table per (KPI,
definition, year, thresholds), tagged with the revision of the KPI's year it was computed at
(``aggregate_revision``, changed in the same transaction as every write). A request reads the
revisions of its years (one indexed query) first, so a table is never older than the revision
it is stored under; a write committed in between changes the revision and the next request
recomputes. Tables as of a past moment and tables of one vendor's organisations are not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

#: Cells kept per process, ~200 bytes each (a national KPI-year holds up to ~150,000); least
#: recently used tables go first.
DEFAULT_MAX_ROWS = 2_000_000

T = TypeVar("T")


class TableCache(Generic[T]):
    """Values with a size (cells) per key, valid while their revision is current."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._entries: OrderedDict[Hashable, tuple[int, int, T]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, revision: int) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, key: Hashable, revision: int, size: int, value: T) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._rows -= old[1]
            self._entries[key] = (revision, size, value)
            self._rows += size
            while self._rows > self.max_rows and len(self._entries) > 1:
                _, (_, dropped, _) = self._entries.popitem(last=False)
                self._rows -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._rows = 0
