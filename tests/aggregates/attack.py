"""An independent disclosure attacker for the published figures of one KPI and year.

Written against the HTTP contract only (README "Aggregates", issue 11): nothing here imports
``kpi_api.aggregates`` or ``kpi_api.publication``. It has four parts.

1. **Exact linear algebra** (`Span`, `determined_unknowns`): the row space of sparse vectors
   over the rationals, kept in reduced row echelon form with ``fractions.Fraction`` (entries
   stay Python integers while they are whole; no floats anywhere).
2. **Ground truth** (`Measure`, `Geography`, `Model`): what the vendors sent, release by
   release, and every cell of the linked table (boundaries x area x period x breakdown code)
   as a sum of unknowns. An unknown is the part of one municipality, reporting period and
   code that a group of organisations sent, and that stayed the same over a run of releases.
   Organisations are grouped only when no answer can tell them apart (same municipality,
   period, codes and history). The attacker is assumed to know this structure (who reports
   where, at which granularity, which breakdowns, and which measurements changed between
   releases), but none of the values. Beside the cells the attacker knows the identity that
   every organisation sends its total beside its breakdown (total = sum of the codes).
3. **The attack** (`attack`): what each knower (the analyst; each vendor, who also knows
   the measurements it sent itself) learns from the published figures. A quantity is
   determined iff its vector lies in the row space of the published cells, the identities
   and the knower's own measurements: the exact form of "every additive relation between
   cells", since the relations are all the identities between the cells' vectors. Two tiers:
   ``contract`` (issue 11: per release no hidden cell determined; for a vendor no cell whose
   part of the other organisations would have been hidden; no change between releases
   resting on too few organisations determined in both) and ``stronger`` (no single
   organisation's own part of a cell, where the structure isolates it; and all of it again
   for an attacker who knows which measurements changed between releases).
   `relations` and `determined_unknowns` give the contract's proof in the textbook form
   (unknowns are the hidden cells, equations the relations national = sum of provinces,
   province = sum of municipalities, current municipality = sum of its reported ones, year =
   sum of quarters, quarter = sum of months, total = sum of codes, each kept where it holds).
4. **A generator** of registries and submissions (`Org`, `Scenario`) and the collection of
   every answer through HTTP (`collect`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from itertools import combinations
from typing import Any

Number = int | Fraction
Vector = dict[Hashable, Number]

# --- 1. exact linear algebra ------------------------------------------------------------------


class Inconsistent(ValueError):
    """A row reduces to 0 = c with c != 0: the published figures contradict each other."""

    def __init__(self, label: Any, residue: Number, why: Mapping[Any, Number] | None) -> None:
        super().__init__(f"{label}: reduces to 0 = {residue}")
        self.label, self.residue, self.why = label, residue, why


def _over(x: Number, pivot: Number) -> Number:
    """x / pivot, exactly: an int when whole, a Fraction otherwise."""
    if pivot == 1:
        return x
    if pivot == -1:
        return -x
    q = Fraction(x) / pivot
    return q.numerator if q.denominator == 1 else q


def _axpy(target: dict, f: Number, source: Mapping) -> None:
    """target -= f * source, dropping zeros."""
    for col, x in source.items():
        y = target.get(col, 0) - f * x
        if y:
            target[col] = y
        else:
            target.pop(col, None)


class Span:
    """The row space of sparse rational vectors with right-hand sides, in reduced row echelon
    form at all times: every stored row has a pivot column holding 1 that no other row holds.

    ``add`` reduces a row by the stored ones and, if anything is left, stores it and clears
    its pivot column from the others. ``determines(v)`` reduces v: it lies in the row space iff
    nothing is left, and then its value is the same combination of right-hand sides. With
    ``track=True`` every row also carries the combination of added rows (labels) it is, so a
    determined quantity can be explained.
    """

    def __init__(self, *, track: bool = False) -> None:
        self.track = track
        self.rows: dict[Hashable, dict[Hashable, Number]] = {}
        self.rhs: dict[Hashable, Number] = {}
        self.why: dict[Hashable, dict[Any, Number]] = {}
        self._holders: dict[Hashable, set[Hashable]] = defaultdict(set)  # column -> pivots

    def __len__(self) -> int:
        return len(self.rows)

    def copy(self) -> Span:
        out = Span(track=self.track)
        out.rows = {p: dict(row) for p, row in self.rows.items()}
        out.rhs = dict(self.rhs)
        out.why = {p: dict(w) for p, w in self.why.items()}
        out._holders = defaultdict(set, {c: set(h) for c, h in self._holders.items()})
        return out

    def _reduce(self, vec: Mapping, rhs: Number, why: dict | None):
        out = {c: x for c, x in vec.items() if x}
        # A stored row holds no pivot column but its own, so one pass suffices.
        for pivot in [c for c in out if c in self.rows]:
            f = out.get(pivot)
            if not f:
                continue
            _axpy(out, f, self.rows[pivot])
            rhs -= f * self.rhs[pivot]
            if why is not None:
                _axpy(why, f, self.why[pivot])
        return out, rhs, why

    def add(self, vec: Mapping, rhs: Number = 0, label: Any = None) -> bool:
        """Add a row (vec . x = rhs); False when it was already in the row space."""
        why = {label: 1} if self.track else None
        out, rhs, why = self._reduce(vec, rhs, why)
        if not out:
            if rhs:
                raise Inconsistent(label, rhs, why)
            return False
        # The pivot: the column fewest stored rows hold, so clearing it costs least.
        pivot = min(out, key=lambda c: len(self._holders.get(c, ())))
        p = out[pivot]
        row = {c: _over(x, p) for c, x in out.items()}
        rhs = _over(rhs, p)
        if why is not None:
            why = {k: _over(x, p) for k, x in why.items()}
        for other in self._holders.pop(pivot, set()):
            target = self.rows[other]
            f = target[pivot]
            before = set(target)
            _axpy(target, f, row)
            for col in before - set(target):
                if col != pivot:
                    self._holders[col].discard(other)
            for col in set(target) - before:
                self._holders[col].add(other)
            self.rhs[other] -= f * rhs
            if why is not None:
                _axpy(self.why[other], f, why)
        self.rows[pivot] = row
        self.rhs[pivot] = rhs
        if why is not None:
            self.why[pivot] = why
        for col in row:
            if col != pivot:
                self._holders[col].add(pivot)
        return True

    def determines(self, vec: Mapping) -> tuple[bool, Number, dict[Any, Number] | None]:
        """(in the row space?, its value if so, the combination of added rows if tracked)."""
        out, rhs, why = self._reduce(vec, 0, {} if self.track else None)
        if out:
            return False, 0, None
        if why is not None:
            why = {k: -x for k, x in why.items()}
        return True, -rhs, why

    def rref(self) -> list[tuple[Hashable, dict[Hashable, Number], Number]]:
        """The stored rows (pivot, row, rhs), ordered by pivot column."""
        return [(p, self.rows[p], self.rhs[p]) for p in sorted(self.rows, key=repr)]


def determined_unknowns(
    equations: Iterable[Mapping[Hashable, Number]], known: Mapping[Hashable, Number]
) -> dict[Hashable, Number]:
    """The textbook form. Each equation says sum(coef * cell) = 0. Known cells (published,
    or absent from every answer: 0) move to the right-hand side; the rest are unknowns. An
    unknown is determined iff its unit vector lies in the row space of the equations
    restricted to the unknowns, i.e. iff some row of the reduced row echelon form is that
    unit vector (in RREF no other combination of rows has a single non-zero entry). Returns
    each determined unknown with its value."""
    span = Span()
    for i, equation in enumerate(equations):
        vec: Vector = {}
        rhs: Number = 0
        for var, coef in equation.items():
            if var in known:
                rhs -= coef * known[var]
            else:
                vec[var] = vec.get(var, 0) + coef
        span.add(vec, rhs, label=i)
    return {pivot: rhs for pivot, row, rhs in span.rref() if len(row) == 1}


# --- 2. ground truth ----------------------------------------------------------------------------

NATIONAL = "NL01"
BOUNDARIES = ("reported", "current")
Kind = tuple[str, str] | None  # (dimension, code); None for a total


@dataclass(frozen=True)
class Measure:
    """The natural key of one measurement."""

    org: str
    muni: str
    period: str
    kind: Kind

    def order(self) -> tuple[str, str, str, str]:
        return (self.org, self.muni, self.period, kind_text(self.kind))


State = dict[Measure, int]


@dataclass(frozen=True)
class CellKey:
    boundaries: str
    area: str
    period: str
    kind: Kind

    def order(self) -> tuple[str, str, str, str]:
        return (self.boundaries, self.area, self.period, kind_text(self.kind))

    def __str__(self) -> str:
        code = "total" if self.kind is None else f"{self.kind[0]}={self.kind[1]}"
        return f"{self.area}/{self.period}/{code}/{self.boundaries}"


def kind_text(kind: Kind) -> str:
    return "total" if kind is None else f"{kind[0]}={kind[1]}"


def level_of(area: str) -> str:
    return (
        "national" if area == NATIONAL else "province" if area.startswith("PV") else "municipality"
    )


def months(year: int) -> list[str]:
    return [f"{year}-{m:02d}" for m in range(1, 13)]


def quarters(year: int) -> list[str]:
    return [f"{year}-Q{q}" for q in range(1, 5)]


def period_type(code: str) -> str:
    return "year" if len(code) == 4 else "quarter" if code[5] == "Q" else "month"


def containing(code: str) -> list[str]:
    """The periods of the table a measurement of this period counts in (itself and up)."""
    year = code[:4]
    kind = period_type(code)
    if kind == "month":
        return [code, f"{year}-Q{(int(code[5:]) - 1) // 3 + 1}", year]
    if kind == "quarter":
        return [code, year]
    return [code]


def parts(code: str) -> list[str]:
    """The next finer periods of a year (quarters) or a quarter (months)."""
    year = int(code[:4])
    if period_type(code) == "year":
        return quarters(year)
    if period_type(code) == "quarter":
        q = int(code[6])
        return [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
    return []


def native_periods(year: int, grain: str) -> list[str]:
    return {"month": months(year), "quarter": quarters(year), "year": [str(year)]}[grain]


@dataclass(frozen=True)
class Geography:
    """CBS geography as ``GET /v1/municipalities`` gives it."""

    province: Mapping[str, str]
    successors: Mapping[str, tuple[str, ...]]
    valid: Mapping[str, tuple[date, date | None]]

    @classmethod
    def from_items(cls, items: Iterable[Mapping[str, Any]]) -> Geography:
        province, successors, valid = {}, {}, {}
        for m in items:
            province[m["code"]] = m["province"]
            successors[m["code"]] = tuple(m["successors"])
            valid[m["code"]] = (
                date.fromisoformat(m["valid_from"]),
                date.fromisoformat(m["valid_to"]) if m["valid_to"] else None,
            )
        return cls(province, successors, valid)

    def current(self, muni: str) -> str | None:
        """Today's municipality of a code; None for one split over several (unallocated)."""
        seen = set()
        while self.successors.get(muni):
            if len(self.successors[muni]) > 1 or muni in seen:
                return None
            seen.add(muni)
            muni = self.successors[muni][0]
        return muni

    def areas(self, muni: str, boundaries: str) -> list[str]:
        """The areas (national, province, municipality) a municipality counts in."""
        if boundaries == "reported":
            return [NATIONAL, self.province[muni], muni]
        now = self.current(muni)
        if now is None:  # split: counts in its province and the country, in no municipality
            return [NATIONAL, self.province[muni]]
        return [NATIONAL, self.province[now], now]

    def valid_all_year(self, muni: str, year: int) -> bool:
        start, end = self.valid[muni]
        return start <= date(year, 1, 1) and (end is None or end >= date(year, 12, 31))


def _runs(values: Sequence[int | None]) -> list[tuple[int, int, int]]:
    """Maximal runs of releases with the same (present) value: (first, last, value)."""
    out: list[tuple[int, int, int]] = []
    for k, v in enumerate(values):
        if v is None:
            continue
        if out and out[-1][1] == k - 1 and out[-1][2] == v:
            out[-1] = (out[-1][0], k, v)
        else:
            out.append((k, k, v))
    return out


@dataclass(frozen=True, order=True)
class Var:
    """An unknown: the part of (municipality, period, code) a group of organisations sent
    with the same history, as it stood in releases first..last (0-based)."""

    muni: str
    period: str
    group: int
    kind: str
    first: int
    last: int

    def __str__(self) -> str:
        span = f"r{self.first + 1}" + (f"-r{self.last + 1}" if self.last > self.first else "")
        return f"{self.muni}/{self.period}/{self.kind}#{self.group}@{span}"


class Model:
    """Every cell of the linked table, per release, as a vector of unknowns (`vector`) and as
    each organisation's contribution (`contributions`), for one KPI and year."""

    def __init__(self, geo: Geography, year: int, states: Sequence[State]) -> None:
        self.geo, self.year, self.states = geo, year, list(states)
        releases = range(len(self.states))
        measures = sorted({m for s in self.states for m in s}, key=Measure.order)
        histories = {m: [s.get(m) for s in self.states] for m in measures}

        units: dict[tuple[str, str, str], dict[Kind, list]] = defaultdict(dict)
        for m, values in histories.items():
            units[(m.org, m.muni, m.period)][m.kind] = _runs(values)
        groups: dict[tuple[str, str, tuple], list[str]] = defaultdict(list)
        for (org, muni, period), kinds in units.items():
            signature = tuple(
                sorted(
                    (kind_text(k), tuple((a, b) for a, b, _ in runs)) for k, runs in kinds.items()
                )
            )
            groups[(muni, period, signature)].append(org)

        self.var_orgs: dict[Var, tuple[str, ...]] = {}
        self.var_value: dict[Var, int] = {}
        self.identities: list[tuple[set[int], Vector, str]] = []  # (releases, vector, what)
        numbering: dict[tuple[str, str], int] = defaultdict(int)
        for (muni, period, signature), orgs in sorted(groups.items()):
            group = numbering[(muni, period)]
            numbering[(muni, period)] += 1
            orgs = sorted(orgs)
            by_kind = {kind_text(k): k for k in units[(orgs[0], muni, period)]}
            active: dict[int, dict[str, list[Var]]] = defaultdict(lambda: defaultdict(list))
            for text, runs in signature:
                kind = by_kind[text]
                for a, b in runs:
                    var = Var(muni, period, group, text, a, b)
                    self.var_orgs[var] = tuple(orgs)
                    self.var_value[var] = sum(
                        histories[Measure(o, muni, period, kind)][a] or 0 for o in orgs
                    )
                    for k in range(a, b + 1):
                        dim = "total" if kind is None else kind[0]
                        active[k][dim].append(var)
            # Every organisation sends its total beside each breakdown it sends.
            for k, by_dim in active.items():
                for dim, dim_vars in by_dim.items():
                    if dim == "total" or not by_dim.get("total"):
                        continue
                    vec: Vector = {v: 1 for v in by_dim["total"]}
                    for v in dim_vars:
                        vec[v] = -1
                    if sum(self.var_value[v] * c for v, c in vec.items()):
                        raise AssertionError(f"generator: total != sum of {dim} in {vec}")
                    self.identities.append(({k}, vec, f"r{k + 1} {muni}/{period} total={dim}"))

        self.vectors: dict[tuple[int, CellKey], dict[Var, int]] = defaultdict(dict)
        for var in self.var_orgs:
            kind = by_text(var.kind)
            for k in range(var.first, var.last + 1):
                for ck in self._cells_of(var.muni, var.period, kind):
                    self.vectors[(k, ck)][var] = 1
        self.contrib: dict[tuple[int, CellKey], dict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        for k in releases:
            for m, v in self.states[k].items():
                for ck in self._cells_of(m.muni, m.period, m.kind):
                    self.contrib[(k, ck)][m.org] += v

    def _cells_of(self, muni: str, period: str, kind: Kind) -> set[CellKey]:
        return {
            CellKey(b, area, p, kind)
            for b in BOUNDARIES
            for area in self.geo.areas(muni, b)
            for p in containing(period)
        }

    def cells(self, k: int) -> list[CellKey]:
        """The cells of release k that hold data."""
        return sorted((ck for (r, ck) in self.vectors if r == k), key=CellKey.order)

    def vector(self, k: int, ck: CellKey) -> dict[Var, int]:
        return self.vectors.get((k, ck), {})

    def contributions(self, k: int, ck: CellKey) -> dict[str, int]:
        return dict(self.contrib.get((k, ck), {}))

    def truth(self, k: int, ck: CellKey) -> int:
        return sum(self.contributions(k, ck).values())

    def exclusive_parts(self, k: int, ck: CellKey) -> dict[str, dict[Var, int]]:
        """Per organisation, the part of the cell only it sent (unknowns no other shares)."""
        out: dict[str, dict[Var, int]] = defaultdict(dict)
        for var in self.vector(k, ck):
            orgs = self.var_orgs[var]
            if len(orgs) == 1:
                out[orgs[0]][var] = 1
        return out


def by_text(text: str) -> Kind:
    if text == "total":
        return None
    dim, code = text.split("=", 1)
    return (dim, code)


def value_of(vec: Mapping[Var, Number], model: Model) -> Number:
    return sum(model.var_value[v] * c for v, c in vec.items())


# --- 3. the attack -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    min_organisations: int = 2
    min_people: int = 10

    def would_hide(self, contributions: Mapping[str, Number]) -> bool:
        """Primary suppression of a cell resting on these contributions (none: nothing)."""
        if not contributions:
            return False
        return (
            len(contributions) < self.min_organisations
            or sum(contributions.values()) < self.min_people
        )


@dataclass
class Release:
    """What an analyst can read of one release: published values and hidden cells."""

    published: dict[CellKey, Number] = field(default_factory=dict)
    hidden: set[CellKey] = field(default_factory=set)
    reasons: dict[CellKey, str] = field(default_factory=dict)  # why a hidden cell is hidden


@dataclass
class Finding:
    who: str
    what: str
    target: str
    value: Number
    truth: Number
    because: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)  # other targets with the same content
    explain: Any = None  # computes ``because`` when first shown

    def __str__(self) -> str:
        if self.explain is not None and not self.because:
            self.because = self.explain()
        head = f"[{self.who}] {self.what}: {self.target} = {self.value} (true {self.truth})"
        if self.same:
            head += f" (and {len(self.same)} more the same: {', '.join(self.same[:4])})"
        if not self.because:
            return head
        return head + "\n      = " + "\n      + ".join(self.because)


def _signed(coef: Number, label: str) -> str:
    return f"{coef} * {label}" if coef != 1 else label


class Knowledge:
    """A knower's span: the identities, the published cells of some releases and the
    unknowns it knows (a vendor's own measurements). ``base``: the same without the known
    unknowns, to start from (the analyst's span, for a vendor)."""

    def __init__(
        self,
        model: Model,
        releases: Sequence[Release],
        indexes: Sequence[int],
        known_vars: Iterable[Var] = (),
        *,
        track: bool = False,
        base: Knowledge | None = None,
    ) -> None:
        self.model = model
        self.known = set(known_vars)
        rows = []
        if base is None:
            self.span = Span(track=track)
            self.inconsistent: list[str] = []
            for k in indexes:
                for ck, value in releases[k].published.items():
                    rows.append((model.vector(k, ck), value, f"r{k + 1} {ck} [{value}]"))
            for ks, vec, what in model.identities:
                if ks & set(indexes):
                    rows.append((vec, 0, what))
        else:
            self.span = base.span.copy()
            self.inconsistent = []
        for var in sorted(self.known):
            rows.append(({var: 1}, model.var_value[var], f"own {var} [{model.var_value[var]}]"))
        # Short rows first keeps the echelon form sparse.
        rows.sort(key=lambda r: (len(r[0]), r[2]))
        seen: dict[frozenset, tuple[Number, str]] = {}
        for vec, value, label in rows:
            key = frozenset(vec.items())
            if key in seen:
                if seen[key][0] != value:
                    self.inconsistent.append(
                        f"{label} and {seen[key][1]} cover the same data but differ"
                    )
                continue
            seen[key] = (value, label)
            try:
                self.span.add(vec, value, label)
            except Inconsistent as exc:
                self.inconsistent.append(
                    f"published figures contradict each other at {label}: 0 = {exc.residue}"
                )

    def determines(self, vec: Mapping[Var, Number]) -> tuple[bool, Number, list[str]]:
        hit, value, why = self.span.determines(vec)
        because, identities = [], 0
        for label, c in (why or {}).items():
            if " total=" in str(label):
                identities += 1  # total = sum of codes of one unit: shown as a count
            else:
                because.append(_signed(c, str(label)))
        if identities:
            because.append(f"{identities} identities total = sum of codes (units sending both)")
        return hit, value, because


def _delta(a: Mapping[Var, int], b: Mapping[Var, int]) -> dict[Var, int]:
    out: dict[Var, int] = dict(b)
    for var, c in a.items():
        y = out.get(var, 0) - c
        if y:
            out[var] = y
        else:
            out.pop(var, None)
    return out


@dataclass
class Target:
    what: str
    label: str
    vec: dict[Var, int]


def _cell_targets(
    model: Model, releases: Sequence[Release], k: int, th: Thresholds, own: frozenset[str]
) -> list[Target]:
    """Cells of release k that must stay unknown to a knower who owns ``own``: for the
    analyst (owning nothing) every hidden cell; for a vendor every cell, published or not,
    whose part of the other organisations would have been hidden."""
    out = []
    for ck in model.cells(k):
        vec = model.vector(k, ck)
        if not own:
            if ck in releases[k].hidden:
                reason = releases[k].reasons.get(ck, "hidden")
                out.append(Target("hidden cell determined", f"r{k + 1} {ck} ({reason})", vec))
            continue
        others = {o: v for o, v in model.contributions(k, ck).items() if o not in own}
        if th.would_hide(others):
            shown = "published" if ck in releases[k].published else "hidden"
            out.append(
                Target(
                    f"cell minus own organisations = {','.join(sorted(others))} "
                    f"({sum(others.values())} people), which would have been hidden",
                    f"r{k + 1} {ck} ({shown})",
                    vec,
                )
            )
    return out


def _part_targets(model: Model, k: int, own: frozenset[str]) -> list[Target]:
    """Each other organisation's own part of a cell of release k, wherever the structure
    isolates it from the rest of the cell (e.g. the only quarterly reporter among monthly
    ones, or the only organisation of a province that sends no age breakdown)."""
    out = []
    for ck in model.cells(k):
        vec = model.vector(k, ck)
        for org, part in sorted(model.exclusive_parts(k, ck).items()):
            if org not in own and part != vec:
                out.append(Target(f"{org}'s own part of a cell determined", f"r{k + 1} {ck}", part))
    return out


def _change_targets(
    model: Model, i: int, j: int, th: Thresholds, own: frozenset[str]
) -> list[tuple[CellKey, Target]]:
    """Changes of a cell from release i to j that rest on fewer organisations than the
    threshold, not counting the knower's own."""
    out = []
    for ck in sorted(set(model.cells(i)) | set(model.cells(j)), key=CellKey.order):
        change = _delta(model.vector(i, ck), model.vector(j, ck))
        changed = {o for var in change for o in model.var_orgs[var]} - own
        if change and 0 < len(changed) < th.min_organisations:
            what = f"a change resting on {','.join(sorted(changed))} determined"
            out.append((ck, Target(what, f"{ck} r{j + 1} - r{i + 1}", change)))
    return out


class _Judge:
    """One knower's span and the targets it determines, each content judged once."""

    def __init__(
        self,
        model: Model,
        releases: Sequence[Release],
        indexes: Sequence[int],
        known: set[Var],
        who: str,
        *,
        skip: Iterable[frozenset] = (),
        base: _Judge | None = None,
    ) -> None:
        self.model, self.releases, self.indexes, self.known = model, releases, indexes, known
        self.who = who
        self.knowledge = Knowledge(
            model, releases, indexes, known, base=base.knowledge if base else None
        )
        self._tracked: Knowledge | None = None
        self.findings: list[Finding | str] = [f"[{who}] {t}" for t in self.knowledge.inconsistent]
        self.seen: dict[frozenset, Finding | None] = dict.fromkeys(skip)
        self._cache: dict[frozenset, tuple[bool, Number]] = {}

    def determines(self, vec: Mapping[Var, int]) -> tuple[bool, Number]:
        key = frozenset(vec.items())
        if key not in self._cache:
            self._cache[key] = self.knowledge.determines(vec)[:2]
        return self._cache[key]

    def because(self, vec: Mapping[Var, int]) -> list[str]:
        """The published cells (and identities, own measurements) that give ``vec``."""
        if self._tracked is None:
            self._tracked = Knowledge(
                self.model, self.releases, self.indexes, self.known, track=True
            )
        return self._tracked.determines(vec)[2]

    def judge(self, targets: Iterable[Target]) -> None:
        for target in targets:
            key = frozenset(target.vec.items())
            if not target.vec:
                continue
            if key in self.seen:
                if (earlier := self.seen[key]) is not None:
                    earlier.same.append(target.label)
                continue
            self.seen[key] = None
            hit, value = self.determines(target.vec)
            if not hit:
                continue
            truth = value_of(target.vec, self.model)
            if value != truth:
                self.findings.append(f"[{self.who}] attacker bug: {target.label}: {value}, {truth}")
            found = Finding(self.who, target.what, target.label, value, truth)
            found.explain = lambda vec=target.vec: self.because(vec)
            self.seen[key] = found
            self.findings.append(found)


def attack(
    model: Model,
    releases: Sequence[Release],
    th: Thresholds,
    vendors: Mapping[str, frozenset[str]],
) -> dict[str, list[Finding | str]]:
    """Every disclosure the analyst, or a vendor that also knows what it sent, can work out
    from the published figures. Two tiers:

    ``contract`` (issue 11 and the README): within each release no hidden cell is
    determined, and for a vendor no cell whose part of the other organisations would have
    been hidden; between two releases (each read on its own) no change resting on fewer
    organisations than the threshold is determined in both.

    ``stronger``: within each release no organisation's own part of a cell is determined
    where the structure isolates it; and over all releases together, for an attacker who
    also knows which measurements changed between them (not their values), nothing of the
    above nor any change resting on fewer organisations than the threshold.

    A finding shows the published cells behind it when printed."""
    out: dict[str, list[Finding | str]] = {"contract": [], "stronger": []}
    everything = list(range(len(releases)))
    knowers = [("analyst", frozenset())] + [(f"vendor {n}", o) for n, o in sorted(vendors.items())]
    analyst: dict[int | None, _Judge] = {}
    for name, own in knowers:
        known = {v for v, orgs in model.var_orgs.items() if set(orgs) <= own}
        judges = []
        for k in everything:
            judge = _Judge(
                model, releases, [k], known, f"{name}, release {k + 1}", base=analyst.get(k)
            )
            analyst.setdefault(k, judge)
            judge.judge(_cell_targets(model, releases, k, th, own))
            out["contract"] += judge.findings
            judge.findings = []
            judge.judge(_part_targets(model, k, own))
            out["stronger"] += judge.findings
            judges.append(judge)
        changes: dict[frozenset, Finding] = {}
        for i, j in combinations(everything, 2):
            for ck, target in _change_targets(model, i, j, th, own):
                key = frozenset(target.vec.items())
                if key in changes:
                    changes[key].same.append(target.label)
                    continue
                (hit_i, before), (hit_j, after) = (
                    judges[i].determines(model.vector(i, ck)),
                    judges[j].determines(model.vector(j, ck)),
                )
                if hit_i and hit_j:
                    found = Finding(
                        f"{name}, releases {i + 1} and {j + 1}",
                        target.what,
                        target.label,
                        after - before,
                        value_of(target.vec, model),
                    )
                    found.because = [f"r{i + 1}: {before}", f"r{j + 1}: {after}"]
                    changes[key] = found
                    out["contract"].append(found)
        if len(everything) < 2:
            continue
        done = {key for judge in judges for key, f in judge.seen.items() if f is not None}
        who = f"{name}, all releases, knowing which measurements changed"
        judge = _Judge(model, releases, everything, known, who, skip=done, base=analyst.get(None))
        analyst.setdefault(None, judge)
        for k in everything:
            judge.judge(_cell_targets(model, releases, k, th, own))
        for i, j in combinations(everything, 2):
            judge.judge(t for _, t in _change_targets(model, i, j, th, own))
        for k in everything:
            judge.judge(_part_targets(model, k, own))
        out["stronger"] += judge.findings
    return out


# --- the textbook form: unknowns are hidden cells, equations the relations between cells ------


def relations(model: Model, k: int) -> list[dict[CellKey, int]]:
    """The additive relations of the table that hold for release k's data: national = sum of
    provinces, province = sum of its municipalities (each boundaries), a municipality today =
    sum of the reported ones it took over, the same national and province under both
    boundaries, year = sum of quarters, quarter = sum of months, total = sum of each
    breakdown's codes. A candidate is kept iff it holds as an identity of the unknowns."""
    cells = set(model.cells(k))
    kinds = {ck.kind for ck in cells}
    periods = [str(model.year), *quarters(model.year), *months(model.year)]
    munis = sorted({ck.area for ck in cells if ck.boundaries == "reported"} - {NATIONAL})
    munis = [m for m in munis if m.startswith("GM")]
    geo = model.geo
    candidates: list[dict[CellKey, int]] = []

    def rel(whole: CellKey, parts_: Iterable[CellKey]) -> None:
        eq: dict[CellKey, int] = {whole: 1}
        for p in parts_:
            eq[p] = eq.get(p, 0) - 1
        candidates.append({c: x for c, x in eq.items() if x})

    for b in BOUNDARIES:
        homes = {m: geo.areas(m, b) for m in munis}
        provinces = sorted({a[1] for a in homes.values()})
        towns = sorted({a[2] for a in homes.values() if len(a) == 3})
        for p in periods:
            for kind in kinds:
                rel(CellKey(b, NATIONAL, p, kind), (CellKey(b, pv, p, kind) for pv in provinces))
                for pv in provinces:
                    rel(
                        CellKey(b, pv, p, kind),
                        (CellKey(b, t, p, kind) for t in towns if geo.province[t] == pv),
                    )
                if b == "current":
                    rel(CellKey(b, NATIONAL, p, kind), [CellKey("reported", NATIONAL, p, kind)])
                    for pv in provinces:
                        rel(CellKey(b, pv, p, kind), [CellKey("reported", pv, p, kind)])
                    for t in towns:
                        rel(
                            CellKey(b, t, p, kind),
                            (CellKey("reported", m, p, kind) for m in munis if homes[m][2:] == [t]),
                        )
        for area in [NATIONAL, *provinces, *towns]:
            for kind in kinds:
                for p in periods[:5]:
                    rel(CellKey(b, area, p, kind), (CellKey(b, area, q, kind) for q in parts(p)))
            for p in periods:
                for dim in sorted({kind[0] for kind in kinds if kind}):
                    codes = sorted({kind for kind in kinds if kind and kind[0] == dim})
                    rel(CellKey(b, area, p, None), (CellKey(b, area, p, c) for c in codes))
    out = []
    for eq in candidates:
        total: dict[Var, int] = defaultdict(int)
        for ck, coef in eq.items():
            for var, x in model.vector(k, ck).items():
                total[var] += coef * x
        if any(total.values()):
            continue  # does not hold for this data (e.g. a quarter with quarterly reporters)
        if any(model.vector(k, ck) for ck in eq):
            out.append(eq)
    return out


# --- 4. the generator ---------------------------------------------------------------------------

AGE_CODES = ("0-11", "12-17", "18-26", "27-64")
GENDER_CODES = ("M", "V")
DIMENSIONS = ("age_band", "gender")


@dataclass(frozen=True)
class Org:
    code: str
    vendor: str
    munis: tuple[str, ...]
    grain: str  # month | quarter | year: the periods it reports, always the same
    dims: tuple[str, ...]  # the breakdowns it sends beside every total


def unit_rows(rng: random.Random, org: Org, muni: str, period: str) -> State:
    """One organisation's measurements for one municipality and period: a total and, beside
    it, each breakdown it sends, adding up to the total exactly."""
    rows: State = {}
    if "age_band" in org.dims:
        codes = rng.sample(AGE_CODES, rng.randint(1, len(AGE_CODES)))
        for code in sorted(codes):
            rows[Measure(org.code, muni, period, ("age_band", code))] = rng.randint(1, 8)
        total = sum(rows.values())
    else:
        total = rng.randint(1, 30)
    if "gender" in org.dims:
        first = rng.randint(0, total)
        for code, v in zip(GENDER_CODES, (first, total - first), strict=True):
            if v:
                rows[Measure(org.code, muni, period, ("gender", code))] = v
    rows[Measure(org.code, muni, period, None)] = total
    return rows


def first_batch(rng: random.Random, org: Org, year: int) -> State:
    out: State = {}
    for muni in org.munis:
        for period in native_periods(year, org.grain):
            out |= unit_rows(rng, org, muni, period)
    return out


def corrections(
    rng: random.Random, state: State, orgs: Sequence[Org], units: int, *, withdraw: bool = False
) -> dict[Measure, int | None]:
    """New values for a few (organisation, municipality, period) units of these
    organisations (None withdraws a measurement); totals stay the sum of their codes."""
    by_code = {o.code: o for o in orgs}
    present = sorted({(m.org, m.muni, m.period) for m in state if m.org in by_code})
    out: dict[Measure, int | None] = {}
    for i, (org, muni, period) in enumerate(rng.sample(present, min(units, len(present)))):
        old = {m for m in state if (m.org, m.muni, m.period) == (org, muni, period)}
        if withdraw and i == 0:
            out |= dict.fromkeys(old)
            continue
        new = unit_rows(rng, by_code[org], muni, period)
        while all(state.get(m) == v for m, v in new.items()) and set(new) == old:
            new = unit_rows(rng, by_code[org], muni, period)
        out |= dict.fromkeys(old - set(new))
        out |= new
    return out


def apply(state: State, change: Mapping[Measure, int | None]) -> State:
    out = dict(state)
    for m, v in change.items():
        if v is None:
            out.pop(m, None)
        else:
            out[m] = v
    return out


def request_rows(kpi: str, change: Mapping[Measure, int | None]) -> list[dict[str, Any]]:
    rows = []
    for m, v in sorted(change.items(), key=lambda item: item[0].order()):
        r: dict[str, Any] = {
            "kpi": kpi,
            "organisation": m.org,
            "municipality": m.muni,
            "period": m.period,
        }
        if m.kind is not None:
            r["disaggregation"] = {m.kind[0]: m.kind[1]}
        r |= {"withdraw": True} if v is None else {"value": v}
        rows.append(r)
    return rows


# --- collecting every answer -------------------------------------------------------------------


def period_queries(year: int) -> list[dict[str, str]]:
    return [
        {"from": f"{year}-01", "to": f"{year}-12"},
        {"from": f"{year}-Q1", "to": f"{year}-Q4"},
        {"period": str(year)},
    ]


@dataclass
class Answers:
    """Every cell of a set of answers, merged by cell; problems seen while reading them."""

    cells: dict[CellKey, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    thresholds: Thresholds | None = None
    requests: int = 0
    scope: set[tuple[str, str, str, str | None]] = field(default_factory=set)

    def covers(self, ck: CellKey) -> bool:
        """Was a cell like this asked for (boundaries, level, period type, breakdown)?"""
        dim = ck.kind[0] if ck.kind else None
        shape = (ck.boundaries, level_of(ck.area), period_type(ck.period))
        return (*shape, dim) in self.scope or (
            dim is None and any(s[:3] == shape for s in self.scope)
        )

    def release(self) -> Release:
        out = Release()
        for ck, cell in self.cells.items():
            if cell["suppressed"] or cell["value"] is None:
                out.hidden.add(ck)
                out.reasons[ck] = cell.get("suppression_reason") or "hidden"
            else:
                out.published[ck] = exact(cell["value"])
        return out


def exact(x: int | float) -> Number:
    if isinstance(x, bool):
        raise TypeError(x)
    return x if isinstance(x, int) else Fraction(x)


SHOWN = ("value", "suppressed", "numerator", "denominator", "n", "organisations")


def collect(
    client,
    headers: Mapping[str, str],
    kpi: str,
    year: int,
    dims: Sequence[str | None],
    *,
    release: str | None = None,
    extra: Mapping[str, str] | None = None,
    levels: Sequence[str] = ("national", "province", "municipality"),
    periods: Sequence[Mapping[str, str]] | None = None,
) -> Answers:
    """GET /v1/aggregates/{kpi} at every level, period type, breakdown and boundaries."""
    out = Answers()
    for level in levels:
        for span in period_queries(year) if periods is None else periods:
            for dim in dims:
                for b in BOUNDARIES:
                    params = {"level": level, "boundaries": b, **span}
                    if dim:
                        params["dimension"] = dim
                    if release:
                        params["release"] = release
                    params |= dict(extra or {})
                    response = client.get(f"/v1/aggregates/{kpi}", params=params, headers=headers)
                    out.requests += 1
                    first = span.get("period") or span["from"]
                    out.scope.add((b, level, period_type(first), dim))
                    where = f"GET {kpi} {params}"
                    if response.status_code != 200:
                        out.problems.append(f"{where}: {response.status_code} {response.text}")
                        continue
                    body = response.json()
                    th = body.get("thresholds") or {}
                    if th:
                        out.thresholds = Thresholds(th["min_organisations"], th["min_people"])
                    for cell in body["cells"]:
                        _merge(out, where, level, b, dim, cell)
    return out


def _merge(out: Answers, where: str, level: str, b: str, dim: str | None, cell: dict) -> None:
    code = cell["dimension_code"]
    if code is not None and dim is None:
        out.problems.append(f"{where}: a code {code} in an answer without a breakdown")
        return
    if level_of(cell["area"]) != level:
        out.problems.append(f"{where}: area {cell['area']} at level {level}")
    ck = CellKey(b, cell["area"], cell["period"], None if code is None else (dim, code))
    seen = out.cells.get(ck)
    if seen is None:
        out.cells[ck] = cell
    elif any(seen[f] != cell[f] for f in SHOWN):
        shown = {f: (seen[f], cell[f]) for f in SHOWN if seen[f] != cell[f]}
        out.problems.append(f"{where}: {ck} answered differently by two requests: {shown}")
