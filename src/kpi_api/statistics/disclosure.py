"""Disclosure control over a linked table: which cells to hide, so that nothing small can be
worked out from everything published. Plain functions, no I/O.

1. **Primary** suppression (``primary``): a cell resting on fewer organisations or people than
   the thresholds, a cell one organisation dominates (its share of the cell above
   ``dominance``), and a cell whose complement for some vendor (the cell less that vendor's own
   organisations) would be any of these: a vendor knows its own figures and could subtract them.
   Residual cells (see ``linked``) are never published; those that are primary-sensitive must
   stay undetermined like any hidden cell.
2. **Complementary** suppression (``protect``): with the published cells as constants, every
   additive relation is an equation over the hidden cells. A hidden cell is *determined* when
   its unit vector lies in the row space of those equations; then a published cell of a relation
   holding it is hidden too, until no sensitive cell is determined. First cheaply, relation by
   relation (one unknown left), then by exact Gauss–Jordan elimination over all of them.

The elimination is exact arithmetic modulo the prime 2^61 − 1: the equations have coefficients
±1, so a cell determined over the rationals is determined modulo the prime; the converse could
only fail if the prime divided a minor of the system, which for tables of this size is
negligible and would only hide more. Tests check the result with rational arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from kpi_api.statistics.linked import Cell, Key, Relation, Vals
from kpi_api.vocabulary import Aggregation, ValueType

PRIME = (1 << 61) - 1
#: Rounds of choosing one cell per relation before hiding all around a cell that still leaks.
PATIENT_ROUNDS = 6
# Members compared with per cell and organisation, bound once (see ``kpi_api.vocabulary``).
_RATIO, _WEIGHTED, _COUNT = Aggregation.ratio_of_sums, Aggregation.weighted_mean, ValueType.count


@dataclass(frozen=True)
class Thresholds:
    """When a cell is hidden (primary suppression, after CBS's rules): fewer organisations than
    ``min_organisations``, fewer people than ``min_people``, or one organisation's share above
    ``dominance`` (a fraction in (0, 1], not × 100)."""

    min_organisations: int
    min_people: int
    dominance: float  # the largest organisation's share above which a cell is hidden (0..1]


def people(aggregation: str, value_type: str, vals: Vals) -> int | None:
    """How many people a figure rests on: the denominator of a percentage, the n of a mean, a
    count's value (None: amounts count no one)."""
    if aggregation == _RATIO:
        return int(vals[2])
    if aggregation == _WEIGHTED:
        return int(vals[4])
    if value_type == _COUNT:
        return int(vals[0])
    return None


def _weight(aggregation: str, vals: Vals) -> float:
    """An organisation's weight in a cell, for the dominance rule."""
    if aggregation == _RATIO:
        return abs(float(vals[2]))
    if aggregation == _WEIGHTED:
        return abs(float(vals[4]))
    return abs(float(vals[0]))


def verdict(
    by_org: Mapping[str, Vals], *, aggregation: str, value_type: str, limits: Thresholds
) -> str | None:
    """Why a figure made of these organisations' parts may not be published:
    ``too_few_organisations``, ``small_count`` or ``dominance`` (None: it may)."""
    parts = list(by_org.values())
    if len(parts) < limits.min_organisations:
        return "too_few_organisations"
    counted = [people(aggregation, value_type, v) for v in parts]
    if counted[0] is not None and sum(abs(c or 0) for c in counted) < limits.min_people:
        return "small_count"
    weights = [_weight(aggregation, v) for v in parts]
    total = sum(weights)
    if total > 0 and max(weights) > limits.dominance * total:
        return "dominance"
    return None


def primary(
    cells: Mapping[Key, Cell],
    *,
    aggregation: str,
    value_type: str,
    limits: Thresholds,
    vendors_of: Mapping[str, Collection[str]],
) -> None:
    """Mark primary-sensitive cells hidden (published ones) or sensitive (residuals: a vendor
    knows its own part of those too), with their reason: ``verdict``'s, or ``vendor_complement``."""
    for cell in cells.values():
        reason = verdict(cell.by_org, aggregation=aggregation, value_type=value_type, limits=limits)
        if reason is None:
            reason = _vendor_complement(cell, aggregation, value_type, limits, vendors_of)
        if reason is not None:
            cell.hidden, cell.sensitive, cell.reason = True, True, reason


def _vendor_complement(
    cell: Cell,
    aggregation: str,
    value_type: str,
    limits: Thresholds,
    vendors_of: Mapping[str, Collection[str]],
) -> str | None:
    vendors = {v for org in cell.by_org for v in vendors_of.get(org, ())}
    for vendor in sorted(vendors):
        rest = {o: v for o, v in cell.by_org.items() if vendor not in vendors_of.get(o, ())}
        if rest and verdict(rest, aggregation=aggregation, value_type=value_type, limits=limits):
            return "vendor_complement"
    return None


def _size(cell: Cell, aggregation: str, value_type: str) -> tuple[float, int]:
    counted = people(aggregation, value_type, cell.vals)
    return (abs(counted) if counted is not None else float("inf"), cell.organisations)


def protect(
    cells: Mapping[Key, Cell],
    relations: list[Relation],
    *,
    aggregation: str,
    value_type: str,
    fixed: Collection[Key] = (),
    frozen: Collection[Key] = (),
    limits: Thresholds | None = None,
    vendors_of: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Hide published cells (reason ``secondary``) until no sensitive cell is determined;
    then publish every hidden cell that is determined all the same (hiding it protects
    nothing, and a cell that looks hidden but can be worked out would mislead a later
    release's check of what changed). So in the end no hidden cell is determined.

    ``fixed``: published cells that hiding would not protect (published before, unchanged);
    chosen only when nothing else can be. ``frozen``: cells of earlier releases, part of the
    equations but never hidden or published here. With ``limits`` and ``vendors_of``, each
    vendor's view is checked too: a vendor knows its own organisations' part of every cell,
    so a hidden cell resting on its organisations alone is known to it, and what it can work
    out of a hidden cell less its own part must not be a figure that would have been hidden.
    """
    frozen = set(frozen)
    in_relations: dict[Key, list[int]] = defaultdict(list)
    for i, r in enumerate(relations):
        for k in r.members:
            if k in cells:
                in_relations[k].append(i)

    def unknown(k: Key) -> bool:
        cell = cells.get(k)
        return cell is not None and cell.hidden

    def hide_beside(k: Key) -> Key | None:
        """Hide the smallest published cell nearest to ``k`` in the web of relations: first
        those sharing a relation with it, else those sharing one with the hidden cells around
        it (a cell determined through a chain needs a cell hidden on that chain)."""
        seen, frontier = {k}, [k]
        while frontier:
            members = {m for f in frontier for i in in_relations[f] for m in relations[i].members}
            candidates = [
                m for m in members if m in cells and not cells[m].hidden and m not in frozen
            ]
            if candidates:
                free = [m for m in candidates if m not in fixed] or candidates
                victim = min(free, key=lambda m: (*_size(cells[m], aggregation, value_type), m))
                cells[victim].hidden, cells[victim].reason = True, "secondary"
                return victim
            frontier = [m for m in members if m in cells and m not in seen]
            seen.update(frontier)
        return None

    strikes: dict[Key, int] = defaultdict(int)

    def isolated(m: Key, known: set[Key], via: int) -> int | None:
        """A relation (other than ``via``) in which ``m`` would be the only unknown."""
        for j in in_relations[m]:
            if j == via:
                continue
            others = [x for x in relations[j].members if x in cells and x != m]
            if not any(cells[x].hidden and x not in known for x in others):
                return j
        return None

    def hide(m: Key, known: set[Key], via: int, depth: int, victims: list[Key]) -> None:
        """Hide ``m``; where that alone would leave it determined by another relation, hide a
        published cell there too (a province and one of its municipalities, say)."""
        cells[m].hidden, cells[m].reason = True, "secondary"
        victims.append(m)
        while depth > 0 and (j := isolated(m, known, via)) is not None:
            shown = [
                x
                for x in relations[j].members
                if x in cells and x != m and not cells[x].hidden and x not in frozen
            ]
            if not shown:
                return
            free = [x for x in shown if x not in fixed] or shown
            hide(min(free, key=rank), known, j, depth - 1, victims)

    def rank(m: Key) -> tuple[float, int, Key]:
        return (*_size(cells[m], aggregation, value_type), m)

    def cut(k: Key, known: set[Key]) -> list[Key]:
        """Hide a published cell in every relation that pins ``k`` down by itself (all its
        other members published or determined); from its second time, in every relation
        holding it (the final step publishes again what that hid in vain); BFS further where
        none is published. A cell that hiding would leave determined elsewhere is chosen last."""
        strikes[k] += 1
        victims: list[Key] = []
        for i in in_relations[k]:
            members = [m for m in relations[i].members if m in cells and m != k]
            pinned = not any(cells[m].hidden and m not in known for m in members)
            if not pinned and strikes[k] == 1:
                continue  # another unknown in it: this relation alone does not pin k
            shown = [m for m in members if not cells[m].hidden and m not in frozen]
            free = [m for m in shown if m not in fixed] or shown
            if free:
                effective = [m for m in free if isolated(m, known, i) is None]
                victim = min(effective or free, key=rank)
                hide(victim, known, i, 2, victims)
        if not victims and (beside := hide_beside(k)) is not None:
            victims.append(beside)
        return victims

    def vendor_leaks() -> list[tuple[Key, set[Key]]]:
        """Cells some vendor can work out less its own part, where that rest is sensitive."""
        if limits is None or not vendors_of:
            return []
        hidden = {k: c for k, c in cells.items() if c.hidden}
        vendors = sorted(
            {v for c in hidden.values() for o in c.by_org for v in vendors_of.get(o, ())}
        )
        out = []
        for vendor in vendors:
            own = {o for c in hidden.values() for o in c.by_org if vendor in vendors_of.get(o, ())}
            mine = {k for k, c in hidden.items() if c.by_org and own.issuperset(c.by_org)}
            if not mine:
                continue  # it knows no hidden cell whole: the public check covers it

            def beyond(k: Key, mine: set[Key] = mine) -> bool:
                return unknown(k) and k not in mine

            found = _determined_by_elimination(relations, beyond, memo)
            for k in sorted(found - mine):
                rest = {o: v for o, v in cells[k].by_org.items() if o not in own}
                if rest and verdict(
                    rest, aggregation=aggregation, value_type=value_type, limits=limits
                ):
                    out.append((k, found | mine))
        return out

    def surround(k: Key, known: set[Key]) -> list[Key]:
        """Hide every published cell sharing a relation with ``k``, and with the determined
        hidden cells there: bounded work where choosing one cell at a time crawls."""
        victims = []
        near = {k}
        for i in in_relations[k]:
            near.update(m for m in relations[i].members if m in known)
        for m in near:
            for i in in_relations[m]:
                for x in relations[i].members:
                    cell = cells.get(x)
                    if cell is not None and not cell.hidden and x not in frozen:
                        cell.hidden, cell.reason = True, "secondary"
                        victims.append(x)
        return victims

    memo: dict[frozenset[Key], set[Key]] = {}
    rounds = 0
    while True:
        _settle(relations, in_relations, cells, unknown, hide_beside)
        found = _determined_by_elimination(relations, unknown, memo)
        leaks = [(k, found) for k in sorted(k for k in found if cells[k].sensitive)]
        if not leaks:
            leaks = vendor_leaks()
        if not leaks:
            for k in found:
                cell = cells[k]
                if not cell.residual and k not in frozen:
                    cell.hidden, cell.reason = False, None
            return
        rounds += 1
        if rounds <= PATIENT_ROUNDS:
            hid = [v for k, known in leaks for v in cut(k, known)]
        else:  # still leaking: hide everything around each leak, two relations deep
            hid = [v for k, known in leaks for v in surround(k, known)]
        if not hid:
            return  # nothing left to hide: only zero-valued cells can be in this state


def _settle(
    relations: list[Relation],
    in_relations: Mapping[Key, list[int]],
    cells: Mapping[Key, Cell],
    unknown: Callable[[Key], bool],
    hide_beside: Callable[[Key], Key | None],
) -> None:
    """Relation by relation: a sensitive cell alone hidden in a relation is protected by hiding
    a sibling (the cheap, common case; the elimination finds the rest)."""
    queue = list(range(len(relations)))
    queued = set(queue)
    while queue:
        i = queue.pop()
        queued.discard(i)
        left = [k for k in relations[i].members if unknown(k)]
        if len(left) != 1:
            continue
        k = left[0]
        if not cells[k].sensitive or (victim := hide_beside(k)) is None:
            continue
        for j in in_relations[victim]:
            if j not in queued:
                queued.add(j)
                queue.append(j)


def _determined_by_elimination(
    relations: list[Relation],
    unknown: Callable[[Key], bool],
    memo: dict[frozenset[Key], set[Key]] | None = None,
) -> set[Key]:
    """The unknowns whose unit vector lies in the row space of the relations (Gauss–Jordan),
    per connected group of unknowns; ``memo`` keeps each group's answer, so a later round only
    eliminates the groups that a newly hidden cell changed."""
    index: dict[Key, int] = {}
    rows: list[dict[int, int]] = []
    for r in relations:
        row: dict[int, int] = {}
        for sign, k in ((1, r.total), *((-1, p) for p in r.parts), (-1, r.residual)):
            if k is not None and unknown(k):
                col = index.setdefault(k, len(index))
                row[col] = (row.get(col, 0) + sign) % PRIME
        row = {c: v for c, v in row.items() if v}
        if row:
            rows.append(row)
    keys = list(index)
    parent = list(range(len(keys)))

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for row in rows:
        first, *rest = row
        for c in rest:
            a, b = root(first), root(c)
            if a != b:
                parent[b] = a
    groups: dict[int, list[dict[int, int]]] = defaultdict(list)
    for row in rows:
        groups[root(next(iter(row)))].append(row)
    members: dict[int, set[int]] = defaultdict(set)
    for c in range(len(keys)):
        members[root(c)].add(c)
    out: set[Key] = set()
    for group, group_rows in groups.items():
        signature = frozenset(keys[c] for c in members[group])
        found = memo.get(signature) if memo is not None else None
        if found is None:
            found = {keys[c] for c in reduced_singletons(group_rows)}
            if memo is not None:
                memo[signature] = found
        out |= found
    return out


def reduced_singletons(rows: list[dict[int, int]]) -> set[int]:
    """Columns whose unit vector lies in the row space of ``rows`` (sparse, modulo PRIME).

    Keeps the rows in reduced row echelon form as they come in: a pivot column then appears in
    its own row only, and a unit vector lies in the row space exactly when it is such a row.
    """
    pivots: dict[int, dict[int, int]] = {}
    holding: dict[int, set[int]] = defaultdict(set)  # column -> pivots whose rows hold it
    for row in sorted(rows, key=len):
        r = dict(row)
        for c in [c for c in r if c in pivots]:
            f = r.pop(c)
            for cc, v in pivots[c].items():
                if cc == c:
                    continue
                nv = (r.get(cc, 0) - f * v) % PRIME
                if nv:
                    r[cc] = nv
                else:
                    r.pop(cc, None)
        if not r:
            continue
        p = min(r, key=lambda c: (len(holding[c]), c))
        if r[p] != 1:  # mostly ±1: no inverse to compute
            inv = PRIME - 1 if r[p] == PRIME - 1 else pow(r[p], PRIME - 2, PRIME)
            r = {c: v * inv % PRIME for c, v in r.items()}
        for q in list(holding[p]):
            other = pivots[q]
            f = other.pop(p)
            holding[p].discard(q)
            for cc, v in r.items():
                if cc == p:
                    continue
                nv = (other.get(cc, 0) - f * v) % PRIME
                if nv:
                    other[cc] = nv
                    holding[cc].add(q)
                else:
                    other.pop(cc, None)
                    holding[cc].discard(q)
        pivots[p] = r
        for c in r:
            holding[c].add(p)
    return {p for p, r in pivots.items() if len(r) == 1}
