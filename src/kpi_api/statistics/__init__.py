"""The statistical engine, in pure Python: no database, no HTTP, no domain package.

- ``linked``: the linked table of a KPI (every level, period and breakdown, with its
  contributions) and the relations between its cells;
- ``disclosure``: statistical disclosure control over that whole table (threshold, dominance,
  vendor complements, secondary suppression by rational elimination);
- ``maths``: exact published numbers (fractions, decimals, rounding half away from zero).

Aggregates (live figures) and publication (released figures) both compute with it.
"""
